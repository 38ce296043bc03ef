"""Operations on ceremonies, holds, quarantine and purges.

Each operation that can destroy a delivery takes ``dry_run``: every check is made (the caller's roles, the
options, the dates, a hold) and the answer says what would happen, so a client asks for a typed confirmation
only after the agent has said yes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from retention_agent.api.handlers import arg_str, operation
from retention_agent.api.requests import NoArguments, a_date, arg, flag, free_text, text, texts
from retention_agent.api.server import Session
from retention_agent.api.services import WiredContext
from retention_agent.errors import (
    AccessDeniedError,
    DeliveryHeldError,
    ReasonRequiredError,
    RetentionAgentError,
    UsageError,
)
from retention_agent.i18n.msgids import N_
from retention_agent.lifecycle import decisions as ceremonies
from retention_agent.lifecycle import states as lifecycle
from retention_agent.lifecycle.purge import hold_blocks
from retention_agent.lifecycle.purge_schedule import plan_for
from retention_agent.rules.subjects import recorded
from retention_agent.runtime.context import AgentContext
from retention_agent.store.deliveries import get_live

MAX_DELIVERIES = 1000  # in one ceremony.set


def _delivery_ids(args: dict[str, Any]) -> list[str]:
    ids = args.get("deliveries")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and len(i) <= 64 for i in ids):
        raise UsageError(problem=N_("give one or more delivery ids"), command="ceremony set")
    return list(dict.fromkeys(ids))


def _ceremony_action(ctx: AgentContext, args: dict[str, Any]) -> str:
    """A date that makes a delivery due now destroys it: only the role destroy may (invariant 11); moving a
    deadline later keeps data longer: only the officer may, with a reason (nr. 41).

    Never raises: a bad date or an unknown delivery is reported by the operation itself, after the
    request was authorised and audited (invariant 5: every request is in the audit log)."""
    try:
        return ceremonies.action_for(ctx, _delivery_ids(args), ceremonies.parse_user_date(args.get("date")))
    except RetentionAgentError:
        return ceremonies.SET


@dataclass(frozen=True)
class CeremonySet:
    """``dry_run``: what the date would do; ``confirm_destroy``: the ids of the deliveries the date makes due
    now whose destruction, at once, the person confirmed (any other such delivery: the date is refused)."""

    deliveries: tuple[str, ...] = arg(texts(text(64), min_items=1, max_items=MAX_DELIVERIES))
    date: date = arg(a_date)
    label: str = arg(free_text(100, "--label"), default="")
    reason: str = arg(free_text(500, "--reason"), default="")
    dry_run: bool = arg(flag, default=False)
    confirm_destroy: tuple[str, ...] = arg(texts(text(64), min_items=0, max_items=MAX_DELIVERIES), default=())


@operation("ceremony.set", action=_ceremony_action, request=CeremonySet)
def ceremony_set(ctx: WiredContext, session: Session, request: CeremonySet) -> None:
    ids = list(dict.fromkeys(request.deliveries))
    try:
        changed = ceremonies.set_ceremony(
            ctx, session.peer.account, ids, request.date, purger=ctx.services.purger, label=request.label,
            reason=request.reason,
            confirm_destroy=list(request.confirm_destroy), dry_run=request.dry_run)
    except AccessDeniedError as exc:  # the dates or the staff list changed after the request was authorised
        subjects, details = recorded({"deliveries": ids}, ctx.subject_key)
        ctx.audit.append(session.peer.account, str(exc.params["action"]), "denied", subjects,
                         {"why": "changed", **details})
        raise
    if not request.dry_run:
        ctx.services.wake()
    session.reply(changed)


@operation("ceremony.list", request=NoArguments)
def ceremony_list(ctx: AgentContext, session: Session, request: NoArguments) -> None:
    session.reply(ceremonies.list_ceremonies(ctx))


@dataclass(frozen=True)
class Hold:
    delivery: str = arg(text(64))
    until: date = arg(a_date)
    reason: str = arg(free_text(500, "--reason"), default="")  # required: ceremonies.hold says so


@operation("hold", request=Hold)
def hold(ctx: AgentContext, session: Session, request: Hold) -> None:
    session.reply(ceremonies.hold(ctx, session.peer.account, request.delivery, request.reason, request.until))


@dataclass(frozen=True)
class Release:
    delivery: str = arg(text(64))


@operation("release", request=Release)
def release(ctx: WiredContext, session: Session, request: Release) -> None:
    result = ceremonies.release(ctx, session.peer.account, request.delivery)
    ctx.services.wake()
    session.reply(result)


@dataclass(frozen=True)
class PurgeDue:
    confirm_clock: bool = arg(flag, default=False)


@operation("purge.due", request=PurgeDue, command="purge")
def purge_due(ctx: WiredContext, session: Session, request: PurgeDue) -> None:
    session.reply(ctx.services.schedule.run_due(session.peer.account, confirm_clock=request.confirm_clock))


def _purge_action(ctx: AgentContext, args: dict[str, Any]) -> str:
    """Never raises (see ``_ceremony_action``): an unknown delivery needs ``destroy`` like any early purge,
    so whoever lacks it learns nothing about which ids exist, and the refusal is audited."""
    try:
        row = get_live(ctx.store, arg_str(args, "delivery", max_len=64))
    except RetentionAgentError:
        return "purge.early"
    return "purge.quarantined" if row["state"] == lifecycle.QUARANTINED else "purge.early"


@dataclass(frozen=True)
class PurgeOne:
    delivery: str = arg(text(64))
    reason: str = arg(free_text(500, "--reason"), default="")
    dry_run: bool = arg(flag, default=False)


@operation("purge.one", action=_purge_action, request=PurgeOne, command="purge")
def purge_one(ctx: WiredContext, session: Session, request: PurgeOne) -> None:
    """An early purge (role destroy) or the officer's purge of a quarantined file, with a reason; ``dry_run``:
    every check, nothing destroyed. Its lateness is measured against the delivery's deadline of before."""
    delivery_id, reason = request.delivery, request.reason
    if not reason.strip():
        raise ReasonRequiredError()
    row = get_live(ctx.store, delivery_id)
    trigger = "quarantine" if row["state"] == lifecycle.QUARANTINED else "early"
    now = ctx.clock.now()
    try:
        if request.dry_run:
            if trigger == "early" and row["state"] == lifecycle.HELD and hold_blocks(row, now):
                raise DeliveryHeldError(delivery=delivery_id, until=row["hold_until"] or "-")
            session.reply({"delivery": delivery_id, "state": row["state"], "trigger": trigger,
                           "deadline": row["deadline"], "destroyed": False})
            return
        result = ctx.services.purger(delivery_id, trigger=trigger, reason=reason,
                                     requested_by=session.peer.account, due_at=plan_for(ctx, row, now).due_at)
    except DeliveryHeldError:  # decided in the purge's own transaction, so a hold set meanwhile counts too
        ctx.audit.append(session.peer.account, "purge.refused", "denied", [delivery_id], {"why": "held"})
        raise
    session.reply(result)


@dataclass(frozen=True)
class QuarantineRelease:
    delivery: str = arg(text(64))
    reason: str = arg(free_text(500, "--reason"), default="")


@operation("quarantine.release", request=QuarantineRelease, command="quarantine release")
def quarantine_release(ctx: WiredContext, session: Session, request: QuarantineRelease) -> None:
    """The officer's decision: a quarantined file is an ordinary delivery after all (with a reason)."""
    result = ceremonies.release_quarantine(ctx, session.peer.account, request.delivery, request.reason)
    ctx.services.wake()
    session.reply(result)
