"""Commands for ceremonies, holds, quarantine and purges.

A command that can destroy a delivery first asks the agent what it would do (``dry_run``: the caller's roles,
the options and the dates are all checked there), and only then asks for the typed confirmation.
"""

from __future__ import annotations

import sys

import click

from retention_agent.cli.main import emit_json, handle_errors, main, pass_state, table
from retention_agent.errors import ConfirmationRequiredError
from retention_agent.i18n.catalogue import t
from retention_agent.i18n.msgids import N_
from retention_agent.session.state import State


@main.group()
def ceremony() -> None:
    """Ceremony dates: they decide when deliveries are purged (one month later, VCMP 05/2024 nr. 41).

    Example: retention-agent ceremony list
    """


@ceremony.command("set")
@click.argument("deliveries", nargs=-1, required=True)
@click.option("--date", "day", required=True, help="The ceremony date, YYYY-MM-DD.")
@click.option("--label", default="", help="A short label for the ceremony; never put personal data here.")
@click.option("--reason", default="", help="Why: needed when the date keeps data longer (officer) or makes a "
              "delivery due now, which destroys it at once (role destroy); never put personal data here.")
@click.option("--yes", is_flag=True, help="Do not ask to confirm a destruction the date causes (scripts).")
@pass_state
@handle_errors
def ceremony_set(state: State, deliveries: tuple[str, ...], day: str, label: str, reason: str, yes: bool) -> None:
    """Record or move the ceremony date of one or more deliveries; shows the new deadline.

    A date before the delivery was received, or more than 24 months after it, is refused. A date that makes a
    delivery due now (its deadline has passed) or within 24 hours destroys it at once: that needs the role
    destroy, --reason, and typing the delivery id.

    Example: retention-agent ceremony set 01JD5Z8K3Q4W7E2R9T6Y --date 2026-12-12
    """
    args = {"deliveries": list(deliveries), "date": day, "label": label, "reason": reason}
    planned = state.call("ceremony.set", {**args, "dry_run": True})
    confirmed = []
    for row in planned:
        if row["early"]:
            click.echo(t(N_("{delivery}: with the ceremony date {ceremony_date} its deadline is {deadline}: "
                            "recording it destroys the delivery now (ceremony recorded after the fact).")
                         if row["after_the_fact"] else
                         N_("{delivery}: with the ceremony date {ceremony_date} its deadline is {deadline}, within "
                            "24 hours: recording it destroys the delivery now."), **row))
            confirm_destruction(row["delivery"], yes)
            confirmed.append(row["delivery"])
    changed = state.call("ceremony.set", {**args, "confirm_destroy": confirmed})
    for row in changed:
        message = (N_("{delivery}: ceremony {ceremony_date} recorded; the delivery was destroyed, proof of "
                      "deletion: {proof}") if row["destroyed"]
                   else N_("{delivery}: ceremony {ceremony_date}; purged on {deadline} at the latest."))
        click.echo(t(message, **row))


def confirm_destruction(delivery: str, yes: bool) -> None:
    """The typed confirmation of an irreversible destruction: the delivery id, or ``--yes`` in a script."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConfirmationRequiredError()
    typed = click.prompt(t("Type the delivery id to purge it irreversibly"), default="", show_default=False)
    if typed.strip() != delivery:
        raise ConfirmationRequiredError()


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
    state.call("purge.one", {"delivery": delivery, "reason": reason, "dry_run": True})  # may I? before asking
    confirm_destruction(delivery, yes)
    result = state.call("purge.one", {"delivery": delivery, "reason": reason})
    if as_json:
        emit_json(result)
        return
    click.echo(t("{delivery} purged; proof of deletion: {proof}", **result))


@main.group()
def quarantine() -> None:
    """Files that were not recognised as AgII deliveries: the privacy officer decides what happens to them.

    Example: retention-agent quarantine release 01JD5Z8K3Q4W7E2R9T6Y --reason "nieuw bestandsformaat van AgII"
    """


@quarantine.command("release")
@click.argument("delivery")
@click.option("--reason", default="", help="Why it is an AgII delivery after all; never put personal data here.")
@pass_state
@handle_errors
def quarantine_release(state: State, delivery: str, reason: str) -> None:
    """Release a quarantined file: it becomes an ordinary delivery that staff can open and give a ceremony date
    (officer; audited with the reason).

    Example: retention-agent quarantine release 01JD5Z8K3Q4W7E2R9T6Y --reason "nieuw bestandsformaat van AgII"
    """
    result = state.call("quarantine.release", {"delivery": delivery, "reason": reason})
    click.echo(t("{delivery} is released from quarantine: an ordinary delivery now, purged on {deadline} at the "
                 "latest unless a ceremony date is recorded.", **result))
