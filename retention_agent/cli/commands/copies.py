"""``delivery unlock`` (give a workbook's password once) and ``copies sweep`` (sweep your own folders now)."""

from __future__ import annotations

import sys

import click

from retention_agent.cli.main import emit_json, handle_errors, main, pass_state
from retention_agent.i18n.catalogue import current_language, t
from retention_agent.session.state import State


@main.group()
def delivery() -> None:
    """One delivery: give the password of its workbook.

    Example: retention-agent delivery unlock 01JD5Z8K3Q4W7E2R9T6Y
    """


@delivery.command("unlock")
@click.argument("delivery_id", metavar="DELIVERY")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@pass_state
@handle_errors
def unlock(state: State, delivery_id: str, password_stdin: bool) -> None:
    """Give the workbook's password once (asked for, never on the command line): the agent counts its people and
    keeps their fingerprints, so that lists made from it (a CSV, a mail merge) are found on workstations too.
    The password is kept in the key store and destroyed with the delivery.

    Example: retention-agent delivery unlock 01JD5Z8K3Q4W7E2R9T6Y
    """
    check = state.call("delivery.unlock", {"delivery": delivery_id, "check": True})
    password = ""
    if check["needs_password"]:
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt(t("Password of the workbook"), hide_input=True)
    result = state.call("delivery.unlock", {"delivery": delivery_id, "password": password})
    click.echo(t("Delivery {delivery}: {people} inburgeraars in {rows} rows ({invalid} invalid, {missing} missing and "
                 "{duplicates} repeated national register numbers). Lists made from it are now found on "
                 "workstations too.", delivery=result["delivery"], people=result["people"], rows=result["rows"],
                 invalid=result["invalid_numbers"], missing=result["missing_numbers"],
                 duplicates=result["duplicates"]))
    if result["missing_columns"]:
        click.echo(t("Columns not found: {columns}.", columns=", ".join(result["missing_columns"])), err=True)


@main.group()
def copies() -> None:
    """Copies of deliveries in your own folders (Desktop, Documents, Downloads, Outlook's cache, ...).

    Example: retention-agent copies sweep
    """


@copies.command("sweep")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")
@pass_state
@handle_errors
def sweep(state: State, as_json: bool) -> None:
    """Sweep your folders now, with your own rights: the agent learns only the places of copies found. Copies of
    deliveries whose purge has begun are erased. The notifier and the app do this by themselves.

    Example: retention-agent copies sweep
    """
    from retention_agent.copies.session import Sweeper, cache_path, messages
    from retention_agent.session.copies_link import ApiLink

    result = Sweeper(ApiLink(state.home.socket), cache_path(state.home.socket), exclude=[state.home.root]).run()
    if as_json:
        emit_json({"complete": result.complete, "stats": result.stats,
                   "found": [{"delivery": f.delivery, "match": f.match, "kind": f.kind, "path": "/".join(f.parts),
                              "people": f.people} for f in result.found],
                   "settled": [{"delivery": s.delivery, "match": s.match, "kind": s.kind, "path": s.path,
                                "outcome": s.outcome, "why": s.why} for s in result.settled]})
        return
    for line in messages(result, current_language()):
        click.echo(line)
    click.echo(t("{files} files looked at; {found} copies found.", files=result.stats.get("files", 0),
                 found=len(result.found)))
