"""``retention-agent app``: the desktop app for staff and the privacy officer (the optional extra ``[app]``)."""

from __future__ import annotations

import click

from retention_agent.cli.main import handle_errors, main, pass_state
from retention_agent.errors import AppUnavailableError
from retention_agent.session.state import State


@main.command("app")
@click.option("--minimized", is_flag=True,
              help="Start in the tray (what the logon task does); without Qt, run the notifier instead.")
@pass_state
@handle_errors
def app_command(state: State, minimized: bool) -> None:
    """Open the desktop app: deliveries, the ceremony date on a calendar, opening with a purpose and, for the
    privacy officer, status, audit, proofs, reports and staff. Dutch by default.

    Example: retention-agent app
    """
    try:
        from retention_agent.app.main import run
    except ImportError as exc:  # PySide6 is an optional extra; a headless host runs without it
        if not minimized:
            raise AppUnavailableError(problem=str(exc)[:200]) from exc
        from retention_agent.cli.commands.notifier import notifier_command

        click.get_current_context().invoke(notifier_command, once=False, interval=300.0)
        return
    lang = click.get_current_context().find_root().params.get("lang")
    raise SystemExit(run(state.home, lang=lang, minimized=minimized))
