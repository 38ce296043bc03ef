"""The retention schedule: the database is the truth of what is due; this runs it, idempotently.

On every tick (at start-up, every ``retention.tick_seconds``, and when an in-memory APScheduler timer fires
at the next due moment) the schedule recomputes each live delivery's plan with the pure rules of
``retention.py``, purges what is due, and sends each reminder once. A persisted APScheduler job store is
never used: it drops jobs missed while the agent was down (FIELD-NOTES). A purge due during downtime
therefore runs at the first tick after start-up, with its lateness recorded.

Clock sanity: while the agent runs, wall-clock time must advance like the monotonic clock. A jump backwards,
or forwards by more than the margin, is audited and notified; purges that became due only through a
forward jump wait for ``purge --due --confirm-clock``. Downtime between runs is not a jump.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from retention_agent.clock import parse_utc, utc_iso
from retention_agent.errors import RetentionAgentError
from retention_agent.rules import retention
from retention_agent.runtime.context import AgentContext
from retention_agent.store import deliveries, purges, reminders
from retention_agent.store.notifications import Notifier

log = logging.getLogger(__name__)
AWAITING = "clock.awaiting-confirmation"
LAST_SEEN = "clock.last-seen"


class PurgeRunner(Protocol):
    def __call__(self, delivery_id: str, *, trigger: str, reason: str, requested_by: str,
                 due_at: datetime | None) -> Any: ...


def facts_of(row: dict[str, Any]) -> retention.RetentionFacts:
    return retention.RetentionFacts(
        delivery_id=row["id"], state=row["state"], received_at=parse_utc(row["received_at"]),
        ceremony_date=date.fromisoformat(row["ceremony_date"]) if row.get("ceremony_date") else None,
        legal_basis=row["legal_basis"],
        hold_until=date.fromisoformat(row["hold_until"]) if row.get("hold_until") else None,
        channel=row["channel"])


def plan_for(ctx: AgentContext, row: dict[str, Any], now: datetime) -> retention.PurgePlan:
    basis = retention.legal_basis(row["legal_basis"])
    return retention.purge_plan(facts_of(row), now, basis, ctx.config.retention.max_without_ceremony_months)


def live_rows(ctx: AgentContext) -> list[dict[str, Any]]:
    return deliveries.plan_rows(ctx.store)


def store_plan(ctx: AgentContext, plan: retention.PurgePlan) -> None:
    """Keep the derived deadline columns current (what ``deliveries`` and ``status`` show)."""
    deliveries.set_plan(ctx.store, plan.delivery_id, deadline=plan.deadline.isoformat() if plan.deadline else None,
                        due_at=utc_iso(plan.due_at) if plan.due_at else None, reason=plan.reason)


@dataclass
class ClockGuard:
    """Notices wall-clock jumps by comparing them with the monotonic clock between ticks."""

    margin: timedelta
    last_wall: datetime | None = None
    last_mono: float | None = None

    def observe(self, wall: datetime, mono: float) -> retention.ClockJump | None:
        jump = None
        if self.last_wall is not None and self.last_mono is not None:
            drift = (wall - self.last_wall) - timedelta(seconds=mono - self.last_mono)
            if drift < -timedelta(seconds=5) or drift > self.margin:
                kind: retention.JumpKind = "backward" if drift < timedelta(0) else "forward"
                jump = retention.ClockJump(kind, self.last_wall, wall)
        self.last_wall, self.last_mono = wall, mono
        return jump


class Schedule:
    def __init__(self, ctx: AgentContext, purge: PurgeRunner, notifier: Notifier,
                 wake_at: Callable[[datetime], None] | None = None) -> None:
        self.ctx = ctx
        self.purge = purge
        self.notifier = notifier
        self.wake_at = wake_at
        self.guard = ClockGuard(timedelta(hours=ctx.config.retention.clock_forward_margin_hours))
        self.wall_now: datetime | None = None  # the wall clock at the latest check (before ``effective_now``)
        self.reminder_settings = retention.ReminderSettings.from_config(ctx.config.retention)

    # ---- the tick ---------------------------------------------------------------------------------------

    def tick(self) -> None:
        now = self._now_checked()
        rows = live_rows(self.ctx)
        plans = [(row, plan_for(self.ctx, row, now)) for row in rows]
        with self.ctx.store.transaction():
            for row, plan in plans:
                if (row["deadline"], row["due_at"]) != (
                        plan.deadline.isoformat() if plan.deadline else None,
                        utc_iso(plan.due_at) if plan.due_at else None):
                    store_plan(self.ctx, plan)
        self._finish_unfinished()
        awaiting = self.awaiting()
        for _row, plan in plans:
            if plan.is_due and plan.delivery_id not in awaiting and not self._due_only_by_memory(plan):
                self._purge(plan, "schedule", requested_by="agent")
        self._remind([(row, plan) for row, plan in plans if not plan.is_due], now)
        self.ctx.health.last_tick = utc_iso(now)
        self._arm_timer(plans, now)

    def _now_checked(self) -> datetime:
        now, mono = self.ctx.clock.now(), self.ctx.clock.monotonic()
        self.wall_now = now
        last_seen_text = self.ctx.store.get_meta(LAST_SEEN)
        last_seen = parse_utc(last_seen_text) if last_seen_text else None
        first = self.guard.last_mono is None
        jump = self.guard.observe(now, mono)
        if jump is None and first and last_seen is not None and now < last_seen - timedelta(minutes=5):
            jump = retention.ClockJump("backward", last_seen, now)  # set back while the agent was down
        if jump is not None:
            self._record_jump(jump, last_seen or jump.last_seen, now)
        effective = retention.effective_now(last_seen, now)
        self.ctx.store.set_meta(LAST_SEEN, utc_iso(effective))
        return effective

    def _due_only_by_memory(self, plan: retention.PurgePlan) -> bool:
        """Due by the latest time remembered, not by the wall clock now (it went back since).

        Remembering that time keeps a clock set back from un-doing a due purge; but if the remembered time
        came from a clock that was wrong (a jump ahead, corrected since), purging at the wall clock's due
        moments would destroy data early. Such a purge waits: for the officer (``--confirm-clock``) or for
        the wall clock to reach its due moment, whichever comes first.
        """
        return plan.due_at is not None and self.wall_now is not None and plan.due_at > self.wall_now

    def _record_jump(self, jump: retention.ClockJump, last_seen: datetime, now: datetime) -> None:
        hours = round(abs(jump.delta.total_seconds()) / 3600, 1)
        self.ctx.audit.append("agent", "clock.jump", "ok", [], {"direction": jump.kind, "hours": hours})
        self.notifier.notify("officer", "clock-jump", direction=jump.kind, hours=hours)
        if jump.kind != "forward":
            return
        newly_due = [row["id"] for row in live_rows(self.ctx)
                     if (plan := plan_for(self.ctx, row, now)).is_due and plan.due_at is not None
                     and plan.due_at > last_seen]
        if newly_due:
            self._set_awaiting(self.awaiting() | set(newly_due))
            self.ctx.audit.append("agent", "purge.awaiting-clock-confirmation", "ok", sorted(newly_due))

    # ---- purges -----------------------------------------------------------------------------------------

    def _purge(self, plan: retention.PurgePlan, trigger: str, requested_by: str) -> bool:
        try:
            self.purge(plan.delivery_id, trigger=trigger, reason=plan.reason or "deadline",
                       requested_by=requested_by, due_at=plan.due_at)
        except RetentionAgentError as exc:
            log.warning("purge of %s failed: %s", plan.delivery_id, exc.error_id)
            self._remind_once(f"purge-failed:{plan.delivery_id}:{exc.error_id}", "officer", "purge-failed",
                              plan.delivery_id, delivery=plan.delivery_id, error=exc.error_id)
            return False
        return True

    def _finish_unfinished(self) -> None:
        """Finish every purge that stopped half-way (a step failed): the database says it started."""
        rows = purges.unfinished(self.ctx.store, by_start=True)
        for row in rows:
            try:
                self.purge(row["delivery_id"], trigger=row["trigger"], reason=row["reason"],
                           requested_by=row["requested_by"],
                           due_at=parse_utc(row["due_at"]) if row["due_at"] else None)
            except RetentionAgentError as exc:
                log.warning("purge of %s still unfinished: %s", row["delivery_id"], exc.error_id)

    def run_due(self, requested_by: str, *, confirm_clock: bool) -> dict[str, list[str]]:
        """``purge --due``: everything due now; with ``confirm_clock`` also what waits for confirmation."""
        now = self._now_checked()
        awaiting = self.awaiting()
        done: list[str] = []
        waiting: list[str] = []
        failed: list[str] = []
        for row in live_rows(self.ctx):
            plan = plan_for(self.ctx, row, now)
            if not plan.is_due:
                continue
            jumped = plan.delivery_id in awaiting or self._due_only_by_memory(plan)
            if jumped and not confirm_clock:
                waiting.append(plan.delivery_id)
                continue
            (done if self._purge(plan, "due-command", requested_by) else failed).append(plan.delivery_id)
        if confirm_clock:
            self._set_awaiting(set())
        return {"purged": done, "awaiting_clock_confirmation": waiting, "failed": failed}

    def awaiting(self) -> set[str]:
        return set(json.loads(self.ctx.store.get_meta(AWAITING) or "[]"))

    def _set_awaiting(self, ids: set[str]) -> None:
        self.ctx.store.set_meta(AWAITING, json.dumps(sorted(ids)))

    # ---- reminders ----------------------------------------------------------------------------------------

    def _remind(self, plans: list[tuple[dict[str, Any], retention.PurgePlan]], now: datetime) -> None:
        sent = reminders.sent_keys(self.ctx.store)
        for row, plan in plans:
            basis = retention.legal_basis(row["legal_basis"])
            for reminder in retention.reminders_due(facts_of(row), plan, now, self.reminder_settings, sent,
                                                    basis):
                params: dict[str, Any] = {"delivery": reminder.delivery_id}
                if reminder.kind == "purge-soon":
                    params |= {"deadline": str(plan.deadline), "days": plan.days_left}
                if reminder.kind == "legal-basis-lapsed":
                    params |= {"channel": row["channel"]}
                self._remind_once(reminder.key, reminder.audience, reminder.kind, reminder.delivery_id,
                                  **params)

    def _remind_once(self, key: str, audience: str, kind: str, delivery_id: str, **params: Any) -> None:
        with self.ctx.store.transaction():
            inserted = reminders.record(self.ctx.store, key, delivery_id=delivery_id, kind=kind, audience=audience,
                                        sent_at=utc_iso(self.ctx.clock.now()))
        if inserted:
            self.notifier.notify(audience, kind, **params)

    # ---- timers -------------------------------------------------------------------------------------------

    def _arm_timer(self, plans: list[tuple[dict[str, Any], retention.PurgePlan]], now: datetime) -> None:
        upcoming = [p.due_at for _, p in plans if p.due_at and p.due_at > now and not p.blocked_by_hold]
        # a hold that ends after the deadline makes the purge due the moment it ends
        upcoming += [p.hold_ends_at for _, p in plans if p.blocked_by_hold and p.hold_ends_at
                     and p.hold_ends_at > now and p.due_at and p.due_at <= p.hold_ends_at]
        if self.wake_at and upcoming:
            self.wake_at(min(upcoming))
