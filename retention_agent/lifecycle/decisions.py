"""Ceremonies, holds and quarantine: the decisions that set when a delivery must go (deliberation nr. 41).

Recording a ceremony date is judged first, for every delivery it concerns, before anything changes
(``retention.judge_ceremony``): a date before the receipt, or later than the no-ceremony maximum, is refused; a
date that keeps data longer needs the officer and a reason; a date that makes a delivery due now, or within
24 hours, is an *early destruction* (role ``destroy``, a reason, and an explicit confirmation), and the delivery
is destroyed at once, its purge begun in the same transaction that records the date. So no single mistyped
date destroys a delivery (invariant 11), and no deadline that only came into being after it had passed is
ever reported as missed: such a date is recorded as "ceremony recorded after the fact".
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from retention_agent.audit.log import note_digest
from retention_agent.clock import utc_iso
from retention_agent.errors import (
    AccessDeniedError,
    CeremonyBeforeReceiptError,
    CeremonyBeyondMaximumError,
    DateFormatError,
    DeliveryHeldError,
    DeliveryQuarantinedError,
    DeliveryStateError,
    EarlyDestructionUnconfirmedError,
    ReasonRequiredError,
)
from retention_agent.ids import new_ulid
from retention_agent.lifecycle import states as lifecycle
from retention_agent.lifecycle.purge import Purger, hold_blocks
from retention_agent.lifecycle.purge_schedule import facts_of, plan_for, store_plan
from retention_agent.rules import access, retention
from retention_agent.runtime.context import AgentContext
from retention_agent.store import ceremonies, deliveries
from retention_agent.store.deliveries import get_live
from retention_agent.testing_hooks import fault_point

# the access action a ceremony date needs, from the least to the most it may do
SET, EXTEND, EARLY = "ceremony.set", "ceremony.extend", "ceremony.early"


def parse_user_date(text: Any) -> date:
    try:
        return retention.parse_date(str(text))
    except retention.InvalidDate as exc:
        raise DateFormatError(value=str(text)[:40]) from exc


@dataclass(frozen=True)
class Judged:
    delivery: lifecycle.Delivery
    row: dict[str, Any]  # as the store shows it (dates as text, for the audit entry)
    judgement: retention.CeremonyJudgement

    @property
    def held(self) -> bool:
        return self.delivery.state == lifecycle.HELD


def judge(ctx: AgentContext, delivery_ids: list[str], day: date) -> list[Judged]:
    """What recording ``day`` would mean for each delivery; refused for a delivery that takes no ceremony date
    (quarantined, purged, being purged, unknown)."""
    now = ctx.clock.now()
    judged = []
    for delivery_id in delivery_ids:
        row = get_live(ctx.store, delivery_id)
        delivery = lifecycle.Delivery.from_row(row)
        if delivery.state == lifecycle.QUARANTINED:
            raise DeliveryQuarantinedError(delivery=delivery_id)
        if delivery.state not in lifecycle.TAKES_CEREMONY:
            raise DeliveryStateError(delivery=delivery_id, state=delivery.state.value)
        basis = retention.legal_basis(delivery.legal_basis)
        judgement = retention.judge_ceremony(facts_of(row), day, now, basis,
                                             ctx.config.retention.max_without_ceremony_months)
        judged.append(Judged(delivery, row, judgement))
    return judged


def required_action(judged: list[Judged]) -> str:
    """The access action these changes need: an early destruction, an extension, or a plain date. A date the
    rules refuse anyway (before the receipt, beyond the maximum) asks no more than a plain date."""
    possible = [j.judgement for j in judged if not (j.judgement.before_receipt or j.judgement.beyond_maximum)]
    if any(j.early for j in possible):
        return EARLY
    return EXTEND if any(j.extends for j in possible) else SET


def action_for(ctx: AgentContext, delivery_ids: list[str], day: date) -> str:
    return required_action(judge(ctx, delivery_ids, day))


def set_ceremony(ctx: AgentContext, actor: str, delivery_ids: list[str], day: date, *, purger: Purger,
                 label: str = "", reason: str = "", confirm_destroy: Collection[str] = (), dry_run: bool = False
                 ) -> list[dict[str, Any]]:
    """Record ``day`` as the ceremony of these deliveries, all or none; with ``dry_run``, only say what that
    would do (every check made, nothing changed). Deliveries the date makes due now are destroyed at once, each
    with its proof (the result names it), if ``actor`` has the role destroy and each is in ``confirm_destroy``
    (the ids the person confirmed, having been told what the date would do).
    """
    with ctx.store.transaction():
        judged = judge(ctx, delivery_ids, day)
        _refuse_impossible(ctx, judged)
        action = required_action(judged)
        members = ctx.staff.members()
        if not access.decide(members, actor, action).granted:  # the staff list may have changed since the request
            raise AccessDeniedError(**access.refusal(members, actor, action))
        early = [j for j in judged if j.judgement.early]
        if action != SET and not reason.strip():
            raise ReasonRequiredError()
        for item in early:
            if item.held and hold_blocks(item.row, ctx.clock.now()):
                raise DeliveryHeldError(delivery=item.row["id"], until=item.row["hold_until"] or "-")
        if dry_run:
            return [_result(j, destroyed=False) for j in judged]
        unconfirmed = [j.judgement for j in early if j.judgement.delivery_id not in confirm_destroy]
        if unconfirmed:
            raise EarlyDestructionUnconfirmedError(delivery=unconfirmed[0].delivery_id, date=day.isoformat(),
                                                   deadline=unconfirmed[0].new_deadline.isoformat())
        ceremony_id = _ceremony_for(ctx, day, label)
        for item in judged:
            _record(ctx, purger, actor, item, ceremony_id, reason)
    if early:
        fault_point("purge.after-start")
    return [_result(j, destroyed=j.judgement.early, proof=_carry_out(purger, j, actor, reason))
            for j in judged]


def _refuse_impossible(ctx: AgentContext, judged: list[Judged]) -> None:
    months = ctx.config.retention.max_without_ceremony_months
    for item in judged:
        j = item.judgement
        if j.before_receipt:
            raise CeremonyBeforeReceiptError(delivery=j.delivery_id, date=j.ceremony_date.isoformat(),
                                             received=j.received_on.isoformat())
        if j.beyond_maximum:
            raise CeremonyBeyondMaximumError(delivery=j.delivery_id, date=j.ceremony_date.isoformat(),
                                             received=j.received_on.isoformat(), latest=j.latest_date.isoformat(),
                                             months=months)


def _record(ctx: AgentContext, purger: Purger, actor: str, item: Judged, ceremony_id: str, reason: str) -> None:
    """One delivery's new ceremony, its plan and audit entry — and, for an early destruction, its purge begun."""
    row, j = item.row, item.judgement
    delivery_id = row["id"]
    deliveries.set_ceremony(ctx.store, delivery_id, ceremony_id)
    deliveries.transition(ctx.store, delivery_id, lifecycle.HELD if item.held else lifecycle.SCHEDULED)
    plan = plan_for(ctx, get_live(ctx.store, delivery_id), ctx.clock.now())
    store_plan(ctx, plan)
    ctx.audit.append(actor, "ceremony.set", "ok", [delivery_id, ceremony_id], {
        "old_date": row["ceremony_date"], "new_date": j.ceremony_date.isoformat(), "old_deadline": row["deadline"],
        "new_deadline": j.new_deadline.isoformat(), "extends": j.extends and not j.early, "early": j.early,
        "after_the_fact": j.after_the_fact, "reason_sha256": note_digest(reason)})
    if j.early:
        purger.begin(
            delivery_id, trigger="early", reason=reason, requested_by=actor, due_at=j.previous_due_at,
            reason_code="ceremony-recorded-after-the-fact" if j.after_the_fact else "ceremony-due-within-24h")


def _carry_out(purger: Purger, item: Judged, actor: str, reason: str) -> str | None:
    """Run the purge an early destruction began (it resumes the record made with the date); its proof."""
    if not item.judgement.early:
        return None
    done = purger(item.row["id"], trigger="early", reason=reason, requested_by=actor,
                  due_at=item.judgement.previous_due_at)
    return str(done["proof"])


def _result(item: Judged, *, destroyed: bool, proof: str | None = None) -> dict[str, Any]:
    j = item.judgement
    found: dict[str, Any] = {
        "delivery": j.delivery_id, "ceremony_date": j.ceremony_date.isoformat(),
        "deadline": j.new_deadline.isoformat(), "due_now": j.after_the_fact, "extends": j.extends and not j.early,
        "early": j.early, "after_the_fact": j.after_the_fact, "destroyed": destroyed}
    if proof is not None:
        found["proof"] = proof
    return found


def _ceremony_for(ctx: AgentContext, day: date, label: str) -> str:
    existing = ceremonies.on_day(ctx.store, day.isoformat())
    if existing:
        if label:
            ceremonies.set_label(ctx.store, existing, label)
        return existing
    ceremony_id = new_ulid(ctx.clock)
    ceremonies.insert(ctx.store, ceremony_id, day=day.isoformat(), label=label, created_at=utc_iso(ctx.clock.now()))
    return ceremony_id


def list_ceremonies(ctx: AgentContext) -> list[dict[str, Any]]:
    return ceremonies.listing(ctx.store)


# ---- holds ------------------------------------------------------------------------------------------------


def hold(ctx: AgentContext, actor: str, delivery_id: str, reason: str, until: date) -> dict[str, Any]:
    if not reason.strip():
        raise ReasonRequiredError()
    with ctx.store.transaction():
        row = get_live(ctx.store, delivery_id)
        if row["state"] == lifecycle.QUARANTINED:
            raise DeliveryQuarantinedError(delivery=delivery_id)
        deliveries.transition(ctx.store, delivery_id, lifecycle.HELD)
        deliveries.set_hold(ctx.store, delivery_id, reason=reason, until=until.isoformat())
        ctx.audit.append(actor, "hold.set", "ok", [delivery_id], {
            "until": until.isoformat(), "previous_state": row["state"], "reason_sha256": note_digest(reason)})
    return {"delivery": delivery_id, "state": lifecycle.HELD.value, "hold_until": until.isoformat()}


def release(ctx: AgentContext, actor: str, delivery_id: str) -> dict[str, Any]:
    with ctx.store.transaction():
        row = get_live(ctx.store, delivery_id)
        if row["state"] != lifecycle.HELD:
            raise DeliveryStateError(delivery=delivery_id, state=row["state"])
        state = lifecycle.SCHEDULED if row["ceremony_date"] else lifecycle.VAULTED
        deliveries.transition(ctx.store, delivery_id, state)
        deliveries.clear_hold(ctx.store, delivery_id)
        ctx.audit.append(actor, "hold.released", "ok", [delivery_id], {"state": state.value})
        plan = plan_for(ctx, get_live(ctx.store, delivery_id), ctx.clock.now())
    return {"delivery": delivery_id, "state": state.value, "due_now": plan.is_due}


# ---- quarantine -------------------------------------------------------------------------------------------


def release_quarantine(ctx: AgentContext, actor: str, delivery_id: str, reason: str) -> dict[str, Any]:
    """The officer's decision that a quarantined file is an AgII delivery after all (a new file format, another
    sender address): from now on it is an ordinary vaulted delivery — it can be opened by staff with the role
    read, and gets a ceremony date and a deadline."""
    if not reason.strip():
        raise ReasonRequiredError()
    with ctx.store.transaction():
        row = get_live(ctx.store, delivery_id)
        if row["state"] != lifecycle.QUARANTINED:
            raise DeliveryStateError(delivery=delivery_id, state=row["state"])
        deliveries.transition(ctx.store, delivery_id, lifecycle.VAULTED)
        plan = plan_for(ctx, get_live(ctx.store, delivery_id), ctx.clock.now())
        store_plan(ctx, plan)
        ctx.audit.append(actor, "quarantine.released", "ok", [delivery_id],
                         {"state": lifecycle.VAULTED.value, "reason_sha256": note_digest(reason)})
    return {"delivery": delivery_id, "state": lifecycle.VAULTED.value,
            "deadline": plan.deadline.isoformat() if plan.deadline else None}
