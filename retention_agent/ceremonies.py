"""Ceremonies and holds: the facts that decide when a delivery must go (deliberation nr. 41)."""

from __future__ import annotations

from datetime import date
from typing import Any

from retention_agent import retention
from retention_agent.audit import note_digest
from retention_agent.clock import utc_iso
from retention_agent.context import AgentContext
from retention_agent.deliveries import get_live
from retention_agent.errors import DateFormatError, DeliveryStateError, ReasonRequiredError
from retention_agent.ids import new_ulid
from retention_agent.schedule import plan_for, store_plan


def parse_user_date(text: Any) -> date:
    try:
        return retention.parse_date(str(text))
    except retention.InvalidDate as exc:
        raise DateFormatError(value=str(text)[:40]) from exc


def extends_any(ctx: AgentContext, delivery_ids: list[str], new_date: date) -> bool:
    """Would giving these deliveries this ceremony date keep any of them longer than now planned?"""
    now = ctx.clock.now()
    for delivery_id in delivery_ids:
        row = get_live(ctx.store, delivery_id)
        basis = retention.legal_basis(row["legal_basis"])
        new_deadline = retention.deadline(new_date, basis)
        if row["ceremony_date"]:
            old_deadline = retention.deadline(date.fromisoformat(row["ceremony_date"]), basis)
            limit = None
        else:
            old_deadline = None
            limit = plan_for(ctx, row, now).deadline
        if retention.extends_retention(old_deadline, new_deadline, no_ceremony_limit=limit):
            return True
    return False


def set_ceremony(ctx: AgentContext, actor: str, delivery_ids: list[str], day: date, label: str,
                 reason: str, *, extends: bool) -> list[dict[str, Any]]:
    if extends and not reason.strip():
        raise ReasonRequiredError()
    changed = []
    with ctx.store.transaction():
        ceremony_id = _ceremony_for(ctx, day, label)
        for delivery_id in delivery_ids:
            row = get_live(ctx.store, delivery_id)
            if row["state"] == "quarantined":
                raise DeliveryStateError(delivery=delivery_id, state=row["state"])
            state = "held" if row["state"] == "held" else "scheduled"
            ctx.store.conn.execute("UPDATE deliveries SET ceremony_id = ?, state = ? WHERE id = ?",
                                   (ceremony_id, state, delivery_id))
            updated = get_live(ctx.store, delivery_id)
            plan = plan_for(ctx, updated, ctx.clock.now())
            store_plan(ctx, plan)
            new_deadline = plan.deadline.isoformat() if plan.deadline else None
            ctx.audit.append(actor, "ceremony.set", "ok", [delivery_id, ceremony_id], {
                "old_date": row["ceremony_date"], "new_date": day.isoformat(),
                "old_deadline": row["deadline"],
                "new_deadline": new_deadline, "extends": extends, "reason_sha256": note_digest(reason)})
            changed.append({"delivery": delivery_id, "ceremony_date": day.isoformat(),
                            "deadline": new_deadline, "due_now": plan.is_due})
    return changed


def _ceremony_for(ctx: AgentContext, day: date, label: str) -> str:
    existing = ctx.store.scalar("SELECT id FROM ceremonies WHERE date = ?", (day.isoformat(),))
    if existing:
        if label:
            ctx.store.conn.execute("UPDATE ceremonies SET label = ? WHERE id = ?", (label, existing))
        return str(existing)
    ceremony_id = new_ulid(ctx.clock)
    ctx.store.conn.execute("INSERT INTO ceremonies(id, date, label, created_at) VALUES (?, ?, ?, ?)",
                           (ceremony_id, day.isoformat(), label, utc_iso(ctx.clock.now())))
    return ceremony_id


def list_ceremonies(ctx: AgentContext) -> list[dict[str, Any]]:
    rows = ctx.store.query(
        "SELECT c.id, c.date, c.label, COUNT(d.id) AS deliveries, "
        "SUM(CASE WHEN d.state != 'purged' THEN 1 ELSE 0 END) AS live, MIN(d.deadline) AS deadline "
        "FROM ceremonies c LEFT JOIN deliveries d ON d.ceremony_id = c.id GROUP BY c.id ORDER BY c.date")
    return [{**r, "live": r["live"] or 0} for r in rows]


def hold(ctx: AgentContext, actor: str, delivery_id: str, reason: str, until: date) -> dict[str, Any]:
    if not reason.strip():
        raise ReasonRequiredError()
    with ctx.store.transaction():
        row = get_live(ctx.store, delivery_id)
        ctx.store.conn.execute(
            "UPDATE deliveries SET state = 'held', hold_reason = ?, hold_until = ? WHERE id = ?",
            (reason, until.isoformat(), delivery_id))
        ctx.audit.append(actor, "hold.set", "ok", [delivery_id], {
            "until": until.isoformat(), "previous_state": row["state"], "reason_sha256": note_digest(reason)})
    return {"delivery": delivery_id, "state": "held", "hold_until": until.isoformat()}


def release(ctx: AgentContext, actor: str, delivery_id: str) -> dict[str, Any]:
    with ctx.store.transaction():
        row = get_live(ctx.store, delivery_id)
        if row["state"] != "held":
            raise DeliveryStateError(delivery=delivery_id, state=row["state"])
        state = "scheduled" if row["ceremony_date"] else "vaulted"
        ctx.store.conn.execute(
            "UPDATE deliveries SET state = ?, hold_reason = NULL, hold_until = NULL WHERE id = ?",
            (state, delivery_id))
        ctx.audit.append(actor, "hold.released", "ok", [delivery_id], {"state": state})
        plan = plan_for(ctx, get_live(ctx.store, delivery_id), ctx.clock.now())
    return {"delivery": delivery_id, "state": state, "due_now": plan.is_due}

