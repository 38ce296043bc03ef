"""Commands for ceremonies, holds and purges."""

from __future__ import annotations

import sys

import click

from retention_agent.cli import State, emit_json, handle_errors, main, pass_state, table
from retention_agent.errors import ConfirmationRequiredError
from retention_agent.i18n import t


@main.group()
def ceremony() -> None:
    """Ceremony dates: they decide when deliveries are purged (one month later, VCMP 05/2024 nr. 41).

    Example: retention-agent ceremony list
    """


@ceremony.command("set")
@click.argument("deliveries", nargs=-1, required=True)
@click.option("--date", "day", required=True, help="The ceremony date, YYYY-MM-DD.")
@click.option("--label", default="", help="A short label for the ceremony; never put personal data here.")
@click.option("--reason", default="",
              help="Why, when the new date keeps data longer (officer only); never put personal data here.")
@pass_state
@handle_errors
def ceremony_set(state: State, deliveries: tuple[str, ...], day: str, label: str, reason: str) -> None:
    """Record or move the ceremony date of one or more deliveries; shows the new deadline.

    Example: retention-agent ceremony set 01JD5Z8K3Q4W7E2R9T6Y --date 2026-12-12
    """
    changed = state.call("ceremony.set", {"deliveries": list(deliveries), "date": day, "label": label,
                                          "reason": reason})
    for row in changed:
        message = ("{delivery}: ceremony {ceremony_date}; purge due now." if row["due_now"]
                   else "{delivery}: ceremony {ceremony_date}; purged on {deadline} at the latest.")
        click.echo(t(message, **row))


@ceremony.command("list")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")
@pass_state
@handle_errors
def ceremony_list(state: State, as_json: bool) -> None:
    """List ceremonies with their deliveries and deadline.

    Example: retention-agent ceremony list --json
    """
    rows = state.call("ceremony.list")
    if as_json:
        emit_json(rows)
        return
    table([t("date"), t("label"), t("deliveries"), t("live"), t("deadline")],
          [(r["date"], r["label"], r["deliveries"], r["live"], r["deadline"] or "-") for r in rows])


@main.command()
@click.argument("delivery")
@click.option("--reason", required=True, help="Why the data must be kept; never put personal data here.")
@click.option("--until", required=True, help="Keep it until this date, YYYY-MM-DD.")
@pass_state
@handle_errors
def hold(state: State, delivery: str, reason: str, until: str) -> None:
    """Put a legal hold on a delivery: it is not purged until the hold ends (officer; shown in reports).

    Example: retention-agent hold 01JD5Z8K3Q4W7E2R9T6Y --reason "klacht 2026/17" --until 2027-03-01
    """
    result = state.call("hold", {"delivery": delivery, "reason": reason, "until": until})
    click.echo(t("{delivery} is on hold until {hold_until}.", **result))


@main.command()
@click.argument("delivery")
@pass_state
@handle_errors
def release(state: State, delivery: str) -> None:
    """End a legal hold; a delivery past its deadline is purged at once.

    Example: retention-agent release 01JD5Z8K3Q4W7E2R9T6Y
    """
    result = state.call("release", {"delivery": delivery})
    click.echo(t("{delivery} released ({state}).", delivery=result["delivery"], state=t(result["state"])))


@main.command()
@click.argument("delivery", required=False)
@click.option("--due", is_flag=True, help="Purge everything that is due now (officer).")
@click.option("--confirm-clock", is_flag=True, help="Also purge what became due through a clock jump.")
@click.option("--reason", default="",
              help="Why this delivery is purged early (required with DELIVERY); never put personal data here.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")
@pass_state
@handle_errors
def purge(state: State, delivery: str | None, due: bool, confirm_clock: bool, reason: str, yes: bool,
          as_json: bool) -> None:
    """Purge what is due now, or one delivery early (role destroy; irreversible, asks for confirmation).

    Example: retention-agent purge --due
    Example: retention-agent purge 01JD5Z8K3Q4W7E2R9T6Y --reason "ceremonie geannuleerd"
    """
    if due == bool(delivery):
        raise click.UsageError(t("Give either --due or one DELIVERY."))
    if due:
        result = state.call("purge.due", {"confirm_clock": confirm_clock})
        if as_json:
            emit_json(result)
            return
        click.echo(t("Purged: {n}.", n=len(result["purged"])))
        if result["awaiting_clock_confirmation"]:
            click.echo(t("Waiting for clock confirmation: {ids} (use --confirm-clock).",
                         ids=", ".join(result["awaiting_clock_confirmation"])))
        sys.exit(1 if result["failed"] else 0)
    assert delivery is not None
    if not yes:
        if not sys.stdin.isatty():
            raise ConfirmationRequiredError()
        typed = click.prompt(t("Type the delivery id to purge it irreversibly"), default="", show_default=False)
        if typed.strip() != delivery:
            raise ConfirmationRequiredError()
    result = state.call("purge.one", {"delivery": delivery, "reason": reason})
    if as_json:
        emit_json(result)
        return
    click.echo(t("{delivery} purged; proof of deletion: {proof}", **result))
