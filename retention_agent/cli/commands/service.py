"""``retention-agent service install|uninstall|status``: the agent as a service (installer/ + deployment.py)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from retention_agent.cli.main import emit_json, handle_errors, main, pass_state
from retention_agent.errors import ServiceAdminRequiredError, UsageError
from retention_agent.i18n.catalogue import t, translate
from retention_agent.installer import ServiceParams, current_platform, default_params, driver, linux
from retention_agent.installer import write_definitions as write_files
from retention_agent.installer.params import pointer_path
from retention_agent.installer.runner import MESSAGES as DRY_RUN_NOTES
from retention_agent.installer.runner import RecordingRunner, Result, SystemRunner
from retention_agent.session.state import State
from retention_agent.system.home import HOME_ENV, Home
from retention_agent.system.service import HomeSetup, api_caller, install_service, is_admin, start_command
from retention_agent.system.service import uninstall_service as run_uninstall

MODES = ("user", "shared")
PLATFORMS = ("linux", "windows", "macos")


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--mode", type=click.Choice(MODES), default="user", show_default=True,
                     help="user: the agent runs as you, at logon; shared: one agent for the whole machine, "
                          "under its own service account."),
        click.option("--platform", "target", type=click.Choice(PLATFORMS), default=None,
                     help="The platform (default: this one); another one only with --dry-run."),
        click.option("--account", default=None,
                     help="Shared mode: the service account (default retention-agent); user mode: the staff "
                          "member (default: you)."),
        click.option("--executable", default=None,
                     help="The program the service starts (default: this retention-agent; on Windows the "
                          "python.exe it runs on)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@main.group()
def service() -> None:
    """Install, remove or check the agent as a service that starts with the computer (shared mode) or at
    logon (user mode).

    Example: sudo retention-agent service install --mode shared --municipality "De Panne" --officer jdewit
    """


@service.command("install")
@_common
@click.option("--municipality", default=None, help="For a new home: the municipality's name.")
@click.option("--officer", default=None, help="For a new home: the privacy officer's account (user mode: you).")
@click.option("--officer-name", default="", help="For a new home: the officer's full name.")
@click.option("--key-store", type=click.Choice(["keyring", "file"]), default=None,
              help="For a new home: where keys live (default: keyring in user mode, file in shared mode).")
@click.option("--inbox", "inboxes", multiple=True, help="A drop folder the agent watches (repeatable).")
@click.option("--no-start", is_flag=True, help="Install, but do not start the agent now.")
@click.option("--dry-run", is_flag=True, help="Change nothing: write the definitions into --out and show the "
                                              "commands an installation would run.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With --dry-run: the folder for the definitions.")
@pass_state
@handle_errors
def service_install(state: State, mode: str, target: str | None, account: str | None, executable: str | None,
                    municipality: str | None, officer: str | None, officer_name: str, key_store: str | None,
                    inboxes: tuple[str, ...], no_start: bool, dry_run: bool, out: Path | None) -> None:
    """Install the agent as a service and start it; creates the home first when there is none.

    Example: sudo retention-agent service install --mode shared --municipality "De Panne" --officer jdewit
    Example: retention-agent service install --platform windows --mode shared --dry-run --out ./gpo
    """
    inbox_paths = tuple(str(Path(folder).absolute()) if not dry_run else folder for folder in inboxes)
    params = _params(mode, target, account, executable, inbox_paths, dry_run=dry_run)
    if dry_run:
        if out is None:
            raise UsageError(problem=t("--dry-run needs --out DIR."), command="service install")
        for path in write_files(params, out):
            click.echo(t("Written: {path}", path=path))
        click.echo(t("These commands would be run:"))
        recorder = RecordingRunner(echo=sys.stdout, respond=_as_on_a_new_machine, notes=_dry_run_notes())
        shared = mode == "shared"
        driver.install(params, recorder, start=not no_start and not shared)
        if shared and params.platform == "linux":
            setup = _placeholder_setup(municipality, officer, officer_name, key_store, inbox_paths)
            recorder.run(linux.as_service_account(params, *setup.init_args()))
        if shared and not no_start:
            recorder.run(start_command(params))
        return
    _require_admin(params)
    setup = HomeSetup(municipality=municipality or "",
                      officer=officer or (params.account if mode == "user" else ""), officer_name=officer_name,
                      key_store=key_store or ("file" if mode == "shared" else "keyring"), inboxes=inbox_paths)
    created = install_service(params, SystemRunner(), setup=setup, start=not no_start)
    if created:
        click.echo(t("Home created at {home}.", home=params.home))
    click.echo(t("Service installed ({mode} mode, {platform}).", mode=mode, platform=params.platform))
    if no_start:
        click.echo(t("Start it with: {command}", command=" ".join(start_command(params))))
    else:
        click.echo(t("The agent was started."))
    if mode == "shared":
        click.echo(t("Every account on this computer now finds the agent through {pointer}.",
                     pointer=pointer_path(params)))
        click.echo(t("Next: the privacy officer, logged in as the account given to --officer, adds staff with "
                     "'retention-agent staff add ACCOUNT --name NAME --role ROLE'."))


@service.command("uninstall")
@_common
@click.option("--purge", is_flag=True, help="First purge every delivery still in the vault, each with a proof "
                                            "of deletion (irreversible; held deliveries are never purged).")
@click.option("--keep-home", is_flag=True, help="Remove the service but keep the home (vault, keys, audit log) "
                                                "for a later installation.")
@click.option("--yes", is_flag=True, help="With --purge: do not ask for confirmation (scripts).")
@click.option("--export", "export_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the proofs, reports, allowed_signers and last audit checkpoint are saved before the "
                   "home is removed (default: a new folder here).")
@click.option("--dry-run", is_flag=True, help="Change nothing: show the commands an uninstallation would run.")
@pass_state
@handle_errors
def service_uninstall(state: State, mode: str, target: str | None, account: str | None, executable: str | None,
                      purge: bool, keep_home: bool, yes: bool, export_dir: Path | None, dry_run: bool) -> None:
    """Remove the service. Refuses while the vault holds deliveries, unless --purge or --keep-home.

    Example: sudo retention-agent service uninstall --mode shared --purge
    Example: retention-agent service uninstall --keep-home
    """
    if purge and keep_home:
        raise UsageError(problem=t("Choose --purge or --keep-home, not both."), command="service uninstall")
    params = _params(mode, target, account, executable, (), dry_run=dry_run)
    if dry_run:
        click.echo(t("These commands would be run:"))
        driver.uninstall(params, RecordingRunner(echo=sys.stdout, notes=_dry_run_notes()),
                         has_live_deliveries=lambda: 0, keep_home=keep_home)
        return
    _require_admin(params)
    folder = export_dir or Path.cwd() / f"retention-agent-records-{time.strftime('%Y%m%d-%H%M%S')}"
    home = Home(Path(params.home))
    result = run_uninstall(params, SystemRunner(), api=api_caller(home.socket), purge=purge, keep_home=keep_home,
                           export_dir=folder.absolute(), confirm=None if yes else _ask_confirmation)
    if result.purged:
        click.echo(t("Purged {n} deliveries, each with a proof of deletion.", n=len(result.purged)))
    if result.export_dir is not None:
        click.echo(t("Saved {n} files in {folder}: proofs of deletion, reports, allowed_signers and the last "
                     "audit checkpoint. Give them to the DPO.", n=len(result.exported), folder=result.export_dir))
    click.echo(t("The service was removed."))
    if keep_home:
        click.echo(t("The home {home} was kept.", home=params.home))


def _as_on_a_new_machine(argv: tuple[str, ...]) -> Result:
    """Dry run: the probes (``getent passwd``: does the account exist?) answer no, so every step is shown."""
    return Result(2 if argv[:1] == ("getent",) else 0)


def _placeholder_setup(municipality: str | None, officer: str | None, officer_name: str, key_store: str | None,
                       inboxes: tuple[str, ...]) -> HomeSetup:
    return HomeSetup(municipality=municipality or "NAME", officer=officer or "ACCOUNT", officer_name=officer_name,
                     key_store=key_store or "file", inboxes=inboxes, deployment="shared")


def _ask_confirmation(count: int) -> bool:
    """On a terminal: type the number of deliveries. Without one (GPO, Intune) --purge is the decision."""
    if not sys.stdin.isatty():
        return True
    typed = click.prompt(t("The vault holds {n} deliveries. Type {n} to purge them all now, each with a proof "
                           "of deletion", n=count), default="", show_default=False)
    return typed.strip() == str(count)


@service.command("status")
@_common
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")
@pass_state
@handle_errors
def service_status(state: State, mode: str, target: str | None, account: str | None, executable: str | None,
                   as_json: bool) -> None:
    """Show whether the service is installed and running, and whether its home and agent are there.

    Example: retention-agent service status --mode shared --json
    """
    params = _params(mode, target, account, executable, (), dry_run=False)
    found = driver.status(params, SystemRunner())
    home = Home(Path(params.home))
    answers = _agent_answers(home)
    report = {"mode": mode, "platform": params.platform, "installed": found.installed, "running": found.running,
              "detail": found.detail, "home": params.home, "home_exists": home.exists(), "agent_answers": answers}
    if as_json:
        emit_json(report)
        return

    def yes_no(value: bool | None) -> str:
        return t("unknown") if value is None else t("yes") if value else t("no")

    # the detail is the service manager's own words (systemctl's "enabled, inactive"): kept in the JSON; people
    # get the service's name, and the answers below in their language
    name = found.detail.partition(":")[0].removeprefix("task ")
    click.echo(t("Service: {detail}", detail=name))
    click.echo(t("Installed: {answer}", answer=yes_no(found.installed)))
    click.echo(t("Running: {answer}", answer=yes_no(found.running)))
    click.echo(t("Home: {home} ({answer})", home=params.home,
                 answer=t("present") if home.exists() else t("missing")))
    click.echo(t("The agent answers on {socket}: {answer}", socket=home.socket, answer=yes_no(answers)))


def _dry_run_notes() -> dict[str, str]:
    return {kind: translate(text) for kind, text in DRY_RUN_NOTES.items()}


def _agent_answers(home: Home) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(str(home.socket))
        except OSError:
            return False
    return True


def _params(mode: str, target: str | None, account: str | None, executable: str | None,
            drop_folders: tuple[str, ...], *, dry_run: bool) -> ServiceParams:
    platform = target or current_platform()
    if platform != current_platform() and not dry_run:
        raise UsageError(problem=t("--platform {platform} can only be written on this machine, with --dry-run "
                                   "--out DIR.", platform=platform), command="service")
    root = click.get_current_context().find_root().params
    explicit = root.get("home") or os.environ.get(HOME_ENV) or None
    home = None
    if explicit:
        home = str(Path(explicit).expanduser().absolute()) if platform == current_platform() else str(explicit)
    try:
        return default_params(mode, platform, home=home,
                              account=account, executable=executable, drop_folders=drop_folders)
    except ValueError as exc:  # the installer names the parameter, the value and what it expects
        raise UsageError(problem=str(exc), command="service") from exc


def _require_admin(params: ServiceParams) -> None:
    if params.mode == "shared" and not is_admin():
        raise ServiceAdminRequiredError()
