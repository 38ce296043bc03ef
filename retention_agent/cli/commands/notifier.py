"""``retention-agent notifier``: shows the agent's notifications on the staff member's own desktop."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from retention_agent.cli.main import handle_errors, main, pass_state
from retention_agent.i18n.catalogue import t
from retention_agent.session.notifier import (
    POLL_SECONDS,
    SWEEP_SECONDS,
    LastShown,
    poll_once,
    run,
    state_file,
    sweep_copies,
    user_language,
)
from retention_agent.session.state import State


@main.command("notifier")
@click.option("--once", is_flag=True, help="Show what is new, then stop (for a test or a logon script).")
@click.option("--interval", type=click.FloatRange(min=10), default=POLL_SECONDS, show_default=True,
              help="Seconds between two questions to the agent (each one is audited).")
@click.option("--no-sweep", is_flag=True, help="Do not sweep your folders for copies of deliveries.")
@pass_state
@handle_errors
def notifier_command(state: State, once: bool, interval: float, no_sweep: bool) -> None:
    """Show your notifications from the agent on your desktop; without a desktop they are printed.
    In shared mode the installation starts this at every staff member's logon.

    Example: retention-agent --home /var/lib/retention-agent notifier --once
    """
    socket = state.home.socket
    remembered = LastShown(state_file(socket))
    lang = user_language(click.get_current_context().find_root().params.get("lang"))
    if once:
        result = poll_once(socket, remembered, echo=click.echo, lang=lang)
        if not result.texts:
            click.echo(t("No new notifications."))
        if not no_sweep:
            try:
                sweep_copies(socket, echo=click.echo, lang=lang, home=state.home.root)
            except OSError as exc:  # its cache beside the notifier's state cannot be written (no home folder)
                click.echo(t("Your folders were not searched for copies of deliveries: {file} cannot be written. "
                             "Ask IT to give your account a home folder (or to set XDG_STATE_HOME).",
                             file=exc.filename or "-"), err=True)
        if remembered.problem:
            click.echo(t("These notifications could not be marked as shown in {file}, so they will be shown "
                         "again. Ask IT to give your account a home folder (or to set XDG_STATE_HOME).",
                         file=remembered.problem), err=True)
        return
    logging.basicConfig(level=logging.INFO, format="retention-agent notifier: %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run(socket, remembered, interval=interval, echo=click.echo, stop=stop, lang=lang,
        sweep_every=None if no_sweep else SWEEP_SECONDS)
