"""Commands for setting up and running the agent, the staff list, the audit log and keys."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from retention_agent.cli.main import echo_agent, emit_json, handle_errors, main, pass_state, table
from retention_agent.clock import SystemClock
from retention_agent.errors import EXIT_INTEGRITY, AccessDeniedError
from retention_agent.i18n.catalogue import t
from retention_agent.rules.access import PURPOSES, ROLES
from retention_agent.session.state import State
from retention_agent.session.status_table import finding_text
from retention_agent.session.words import AUDIT_ACTIONS, OUTCOMES, word


@main.command()
@click.option("--municipality", required=True, help="The municipality's name, e.g. 'De Panne'.")
@click.option("--officer", required=True, help="OS account of the local privacy officer.")
@click.option("--officer-name", default="", help="Full name of the officer (default: the account).")
@click.option("--key-store", type=click.Choice(["keyring", "file"]), default="keyring", show_default=True,
              help="Where keys live: the OS key store, or a private file store in the home.")
@click.option("--inbox", "inboxes", multiple=True, type=click.Path(file_okay=False),
              help="A drop folder to watch (repeatable).")
@click.option("--deployment", type=click.Choice(["user", "shared"]), default="user", show_default=True,
              help="shared: the agent runs as a service account of its own ('service install --mode shared' "
                   "passes it).")
@pass_state
@handle_errors
def init(state: State, municipality: str, officer: str, officer_name: str, key_store: str,
         inboxes: tuple[str, ...], deployment: str) -> None:
    """Create a new home: configuration, database, signing key and the first officer.

    Example: retention-agent init --municipality "De Panne" --officer jdewit --inbox /srv/agii
    """
    from retention_agent.system.home import refuse_hidden_home
    from retention_agent.system.init_home import init_home

    refuse_hidden_home(state.home)
    installation_id = init_home(state.home, municipality=municipality, officer=officer,
                                officer_name=officer_name or officer, key_store=key_store,
                                inboxes=list(inboxes), clock=SystemClock(), deployment=deployment)
    click.echo(t("Home created at {home} (installation {id}).", home=state.home.root, id=installation_id))
    click.echo(t("Start the agent with: retention-agent --home {home} run", home=state.home.root))


@main.command()
@pass_state
@handle_errors
def run(state: State) -> None:
    """Run the agent in the foreground (what the installed service runs). Stops on Ctrl+C or SIGTERM.

    Example: retention-agent --home /var/lib/retention-agent run
    """
    from retention_agent.runtime.agent import Agent
    from retention_agent.system.home import refuse_hidden_home

    refuse_hidden_home(state.home)
    agent = Agent(state.home.require())
    agent.install_signal_handlers()
    agent.run(ready=lambda: click.echo(t("Agent running; the API listens on {socket}.",
                                         socket=state.home.socket), err=True))


@main.command()
@click.option("--keep", is_flag=True, help="Keep the demo home instead of removing it.")
@click.option("--app", "with_app", is_flag=True, help="Then open the desktop app on the demo home (extra [app]).")
@pass_state
@handle_errors
def demo(state: State, keep: bool, with_app: bool) -> None:
    """Run the whole job on a temporary home with synthetic data, with no set-up.

    Example: retention-agent demo --app
    """
    from retention_agent.demo import run_demo

    run_demo(keep=keep, app=with_app)


@main.group()
def staff() -> None:
    """The list of authorised persons and their roles (officer only).

    Example: retention-agent staff list
    """


@staff.command("add")
@click.argument("account")
@click.option("--name", required=True, help="Full name of the staff member.")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(ROLES),
              help="A role; repeat for several.")
@pass_state
@handle_errors
def staff_add(state: State, account: str, name: str, roles: tuple[str, ...]) -> None:
    """Add a staff member, or update the name and roles of an existing one.

    Example: retention-agent staff add mpeeters --name "Mia Peeters" --role read --role modify
    """
    result = state.call("staff.add", {"account": account, "name": name, "roles": list(roles)})
    message = "{account} updated: {roles}." if result["updated"] else "{account} added: {roles}."
    click.echo(t(message, account=account, roles=", ".join(result["roles"])))


@staff.command("remove")
@click.argument("account")
@pass_state
@handle_errors
def staff_remove(state: State, account: str) -> None:
    """Remove a staff member from the list (the last officer cannot be removed).

    Example: retention-agent staff remove mpeeters
    """
    state.call("staff.remove", {"account": account})
    click.echo(t("{account} removed from the staff list.", account=account))


@staff.command("list")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")
@pass_state
@handle_errors
def staff_list(state: State, as_json: bool) -> None:
    """Show the list of authorised persons with their roles.

    Example: retention-agent staff list --json
    """
    members = state.call("staff.list")
    if as_json:
        emit_json(members)
        return
    table([t("account"), t("name"), t("roles")],
          [(m["account"], m["name"], ", ".join(m["roles"])) for m in members])


@main.group()
def audit() -> None:
    """The tamper-evident audit log (officer only).

    Example: retention-agent audit verify
    """


@audit.command("show")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")
@click.option("--delivery", default="", help="Only entries about this delivery.")
@click.option("--account", default="", help="Only what this account did (or tried).")
@click.option("--purpose", type=click.Choice(PURPOSES), default=None, help="Only openings for this purpose.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="From this day on, YYYY-MM-DD (Brussels time).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="Up to and including this day, YYYY-MM-DD (Brussels time).")
@click.option("--denied", is_flag=True, help="Only refused requests.")
@click.option("--oldest-first", is_flag=True, help="Oldest entries first (default: newest first).")
@click.option("--after", default=0, type=click.IntRange(min=0), help="Show entries after this sequence number.")
@click.option("--limit", default=100, type=click.IntRange(min=1), show_default=True,
              help="At most this many entries.")
@click.option("--cursor", default="", help="Continue where the previous page ended (the command says how).")
@pass_state
@handle_errors
def audit_show(state: State, as_json: bool, delivery: str, account: str, purpose: str | None,
               since: datetime | None, until: datetime | None, denied: bool, oldest_first: bool, after: int,
               limit: int, cursor: str) -> None:
    """Show audit entries, newest first: who did what, when, to which delivery, why (the purpose of an
    opening, and whether a note was given; the note itself is never kept) and with what outcome. The filters
    are applied by the agent. Text that others typed is shown with its control characters escaped.

    Example: retention-agent audit show --delivery 01JD5Z8K3Q4W7E2R9T6Y --since 2026-11-01
    """
    given = {"delivery": delivery, "account": account, "purpose": purpose, "denied": denied, "after": after,
             "since": since.date().isoformat() if since else None, "until": until.date().isoformat() if until else None}
    filters = {name: value for name, value in given.items() if value}
    result = _audit_entries(state, {**filters, "order": "asc" if oldest_first else "desc"}, limit, cursor)
    if as_json:
        emit_json(result)
        return
    table([t("seq"), t("time"), t("account"), t("action"), t("outcome"), t("subject"), t("purpose"), t("note")],
          [(e["seq"], e["time"], e["actor"], word(AUDIT_ACTIONS, e["action"]), word(OUTCOMES, e["outcome"]),
            " ".join(e["subject"]),
            *_why(e.get("details") or {})) for e in result["entries"]])
    if result.get("next"):
        click.echo(t("More entries: repeat the command with --cursor {next}", next=result["next"]))


def _why(details: dict[str, Any]) -> tuple[str, str]:
    """The purpose of an opening, and whether a note was given (the log keeps only the note's hash)."""
    purpose = details.get("purpose")
    return (t(purpose) if isinstance(purpose, str) and purpose else "-",
            t("yes") if details.get("note_sha256") else "-")


def _audit_entries(state: State, args: dict[str, Any], limit: int, cursor: str) -> dict[str, Any]:
    """Up to ``limit`` entries from ``cursor`` on, fetched page by page: ``{size, entries, next}``."""
    entries: list[dict[str, Any]] = []
    page: dict[str, Any] = {"size": 0, "next": cursor or None}
    with state.client() as client:
        while True:
            position = {"cursor": page["next"]} if page["next"] else {}
            page = client.call("audit.show", {**args, **position, "limit": min(limit - len(entries), 1000)})
            entries += page["entries"]
            if not page["next"] or len(entries) >= limit:
                return {"size": page["size"], "entries": entries, "next": page["next"]}


@audit.command("checkpoint")
@pass_state
@handle_errors
def audit_checkpoint(state: State) -> None:
    """Print the current signed checkpoint of the audit log (keep a copy elsewhere).

    Example: retention-agent audit checkpoint > checkpoint-2026-11.txt
    """
    click.echo(state.call("audit.checkpoint")["checkpoint"], nl=False)


@audit.command("verify")
@click.option("--checkpoint", "checkpoints", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A checkpoint kept elsewhere (e.g. from a DPO report); the log must extend it.")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")
@pass_state
@handle_errors
def audit_verify(state: State, checkpoints: tuple[Path, ...], as_json: bool) -> None:
    """Check that no entry was edited, inserted, reordered or removed. Exit 4 on any finding.

    Example: retention-agent audit verify --checkpoint checkpoint-2026-10.txt
    """
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in checkpoints]
    result = state.call("audit.verify", {"checkpoints": texts})
    if as_json:
        emit_json(result)
    elif result["ok"]:
        click.echo(t("Audit log verified: {size} entries, {n} checkpoints checked.",
                     size=result["size"], n=result["checkpoints_checked"]))
    for finding in result["findings"]:
        click.echo(t("Finding: ") + finding_text(finding), err=True)
    if not result["ok"]:
        raise SystemExit(EXIT_INTEGRITY)


@main.group()
def keys() -> None:
    """The installation's signing key.

    Example: retention-agent keys public > allowed_signers
    """


@keys.command("public")
@pass_state
@handle_errors
def keys_public(state: State) -> None:
    """Print the allowed-signers line with which anyone verifies proofs and reports using ssh-keygen.

    Example: retention-agent keys public > allowed_signers
    """
    click.echo(state.call("keys.public")["allowed_signers"])


@main.command()
@pass_state
@handle_errors
def whoami(state: State) -> None:
    """Show the account the agent sees for you, your roles, and which agent answered.

    Example: retention-agent whoami
    """
    try:
        result = state.call("whoami")
    except AccessDeniedError as exc:  # the agent refused (and audited) an account that is not on the list
        click.echo(t("{account}: none (not on the staff list)", account=exc.params.get("account", "?")))
    else:
        click.echo(t("{account}: {roles}", account=result["account"], roles=", ".join(result["roles"])))
    echo_agent(state)
