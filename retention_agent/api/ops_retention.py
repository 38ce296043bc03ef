"""Operations on ceremonies, holds and purges."""

from __future__ import annotations

from typing import Any, cast

from retention_agent import ceremonies
from retention_agent.api.handlers import arg_str, operation
from retention_agent.api.server import Session
from retention_agent.context import AgentContext
from retention_agent.deliveries import get_live
from retention_agent.errors import DeliveryHeldError, ReasonRequiredError, RetentionAgentError, UsageError
from retention_agent.purge import Purger
from retention_agent.schedule import Schedule


def schedule_of(ctx: AgentContext) -> Schedule:
    return cast(Schedule, ctx.components["schedule"])


def purger_of(ctx: AgentContext) -> Purger:
    return cast(Purger, ctx.components["purger"])


def _delivery_ids(args: dict[str, Any]) -> list[str]:
    ids = args.get("deliveries")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and len(i) <= 64 for i in ids):
        raise UsageError(problem="give one or more delivery ids", command="ceremony set")
    return list(dict.fromkeys(ids))


def _ceremony_action(ctx: AgentContext, args: dict[str, Any]) -> str:
    """Moving a deadline later keeps data longer: only the officer may, with a reason (nr. 41).

    Never raises: a bad date or an unknown delivery is reported by the operation itself, after the
    request was authorised and audited (invariant 5: every request is in the audit log)."""
    try:
        day = ceremonies.parse_user_date(args.get("date"))
        return "ceremony.extend" if ceremonies.extends_any(ctx, _delivery_ids(args), day) else "ceremony.set"
    except RetentionAgentError:
        return "ceremony.set"


@operation("ceremony.set", action=_ceremony_action)
def ceremony_set(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    day = ceremonies.parse_user_date(args.get("date"))
    ids = _delivery_ids(args)
    extends = ceremonies.extends_any(ctx, ids, day)
    changed = ceremonies.set_ceremony(ctx, session.peer.account, ids, day,
                                      arg_str(args, "label", default="", max_len=100),
                                      arg_str(args, "reason", default="", max_len=500), extends=extends)
    ctx.components["wake"]()
    session.reply(changed)


@operation("ceremony.list")
def ceremony_list(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    session.reply(ceremonies.list_ceremonies(ctx))


@operation("hold")
def hold(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    until = ceremonies.parse_user_date(args.get("until"))
    session.reply(ceremonies.hold(ctx, session.peer.account, arg_str(args, "delivery", max_len=64),
                                  arg_str(args, "reason", default="", max_len=500), until))


@operation("release")
def release(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    result = ceremonies.release(ctx, session.peer.account, arg_str(args, "delivery", max_len=64))
    ctx.components["wake"]()
    session.reply(result)


@operation("purge.due")
def purge_due(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    session.reply(schedule_of(ctx).run_due(session.peer.account, confirm_clock=bool(args.get("confirm_clock"))))


def _purge_action(ctx: AgentContext, args: dict[str, Any]) -> str:
    """Never raises (see ``_ceremony_action``): an unknown delivery needs ``destroy`` like any early purge,
    so whoever lacks it learns nothing about which ids exist, and the refusal is audited."""
    try:
        row = get_live(ctx.store, arg_str(args, "delivery", max_len=64))
    except RetentionAgentError:
        return "purge.early"
    return "purge.quarantined" if row["state"] == "quarantined" else "purge.early"


@operation("purge.one", action=_purge_action)
def purge_one(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    """An early purge (role destroy) or the officer's purge of a quarantined file, with a reason."""
    delivery_id = arg_str(args, "delivery", max_len=64)
    reason = arg_str(args, "reason", default="", max_len=500)
    if not reason.strip():
        raise ReasonRequiredError()
    row = get_live(ctx.store, delivery_id)
    trigger = "quarantine" if row["state"] == "quarantined" else "early"
    try:
        result = purger_of(ctx)(delivery_id, trigger=trigger, reason=reason, requested_by=session.peer.account,
                                due_at=None)
    except DeliveryHeldError:  # decided in the purge's own transaction, so a hold set meanwhile counts too
        ctx.audit.append(session.peer.account, "purge.refused", "denied", [delivery_id], {"why": "held"})
        raise
    session.reply(result)
