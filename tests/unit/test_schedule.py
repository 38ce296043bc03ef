"""The retention schedule (issue 5): the database is the truth of what is due, and purges run on time —
after downtime, across clock jumps, after a crash in the middle — exactly once.

In process: the real Purger, Notifier and Schedule on a real home, ticked by the test while the injected
ManualClock moves (``advance`` moves wall and monotonic time together, as time passing; ``set`` moves only
the wall clock, as someone changing the system clock). End to end: the real agent process, its real CLI,
and its test-only clock file to travel in time.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from retention_agent.api.services import Services, WiredContext
from retention_agent.clock import BRUSSELS, ManualClock, parse_utc, start_of_local_day
from retention_agent.errors import DeliveryHeldError, DeliveryStateError
from retention_agent.lifecycle import decisions as ceremonies
from retention_agent.lifecycle.purge import Purger
from retention_agent.lifecycle.purge_schedule import AWAITING, Schedule
from retention_agent.runtime.capabilities import WakeTimer
from retention_agent.runtime.context import AgentContext
from retention_agent.store.notifications import Notifier
from tests.support.agent import ME
from tests.support.retention import (
    Rig,
    due_moment,
    entries,
    ingest,
    notifications,
    proof_doc,
    proofs_of,
    reminder_keys,
    set_ceremony,
    state_of,
    view,
)

SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def assert_purged_once(ctx: AgentContext, delivery_id: str) -> dict[str, object]:
    """Purged, with exactly one proof (JSON, signature, PDF) and one ``delivery.purged`` audit entry."""
    assert state_of(ctx, delivery_id) == "purged"
    assert [p.name for p in proofs_of(ctx.home.root, delivery_id)] == [
        f"{delivery_id}.json", f"{delivery_id}.json.sig", f"{delivery_id}.pdf"]
    assert len(entries(ctx, "delivery.purged", delivery_id)) == 1
    assert len(entries(ctx, "purge.started", delivery_id)) == 1
    assert len(entries(ctx, "proof.written", delivery_id)) == 1
    doc = proof_doc(ctx.home.root, delivery_id)
    assert all(doc["verification"].values()), doc["verification"]
    return doc


def assert_not_purged(ctx: AgentContext, delivery_id: str) -> None:
    assert state_of(ctx, delivery_id) != "purged"
    assert proofs_of(ctx.home.root, delivery_id) == []
    assert entries(ctx, "purge.started", delivery_id) == []


# ---- ceremonies and deadlines ------------------------------------------------------------------------------


def test_a_recorded_ceremony_stores_the_deadline_that_deliveries_shows(ctx: AgentContext) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    rig.tick()
    before = view(ctx, delivery)
    assert (before["state"], before["ceremony_date"]) == ("vaulted", None)
    assert before["deadline"] == "2028-11-02"  # no ceremony: the 24-month maximum from receipt

    changed = set_ceremony(ctx, [delivery], date(2026, 11, 20))
    assert changed == [{"delivery": delivery, "ceremony_date": "2026-11-20", "deadline": "2026-12-20",
                        "due_now": False, "extends": False, "early": False, "after_the_fact": False,
                        "destroyed": False}]
    shown = view(ctx, delivery)
    assert (shown["state"], shown["ceremony_date"], shown["deadline"], shown["due_at"]) == (
        "scheduled", "2026-11-20", "2026-12-20", "2026-12-19T23:00:00Z")
    [entry] = entries(ctx, "ceremony.set", delivery)
    assert entry["details"]["old_date"] is None and entry["details"]["new_date"] == "2026-11-20"
    assert entry["details"]["new_deadline"] == "2026-12-20"
    rig.tick(2)
    assert view(ctx, delivery) == shown  # a tick keeps what the ceremony stored


@pytest.mark.parametrize(("ceremony", "due"), [
    (date(2026, 11, 10), "2026-12-09T23:00:00Z"),  # winter time: 00:00 CET
    (date(2026, 9, 25), "2026-10-24T22:00:00Z"),  # deadline on the day summer time ends: 00:00 is still CEST
    (date(2026, 9, 26), "2026-10-25T23:00:00Z"),  # the first day of winter time
    (date(2027, 2, 28), "2027-03-27T23:00:00Z"),  # deadline on the day summer time starts: 00:00 is still CET
    (date(2027, 3, 1), "2027-03-31T22:00:00Z"),  # summer time: 00:00 CEST
])
def test_purged_at_midnight_brussels_on_the_deadline_day_exactly_once(ctx: AgentContext, clock: ManualClock,
                                                                      ceremony: date, due: str) -> None:
    clock.set(datetime(2026, 9, 1, 9, 0, tzinfo=UTC))  # before any tick: the start of this home's life
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    set_ceremony(ctx, [delivery], ceremony)
    assert view(ctx, delivery)["due_at"] == due
    rig.tick()

    rig.advance_to(parse_utc(due) - SECOND)
    rig.tick(2)
    assert_not_purged(ctx, delivery)

    rig.advance_to(parse_utc(due))
    rig.tick()
    rig.tick()
    doc = assert_purged_once(ctx, delivery)
    assert (doc["due_at"], doc["purged_at"], doc["lateness_seconds"]) == (due, due, 0)
    assert (doc["trigger"], doc["reason"], doc["ceremony_date"]) == ("schedule", "deadline", ceremony.isoformat())
    assert entries(ctx, "clock.jump") == []


def test_after_downtime_a_restarted_agent_purges_at_once_and_records_the_lateness(
        ctx: AgentContext, clock: ManualClock) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    set_ceremony(ctx, [delivery], date(2026, 11, 10))
    due = due_moment(date(2026, 11, 10))
    rig.tick()

    # the workstation is off for weeks: the wall clock moves, the next agent process has a fresh monotonic clock
    clock.set(due + timedelta(days=21, hours=3))
    restarted = rig.restart()
    restarted.tick()
    doc = assert_purged_once(ctx, delivery)
    assert doc["lateness_seconds"] == (21 * 24 + 3) * 3600
    assert doc["trigger"] == "schedule"
    [purged] = entries(ctx, "delivery.purged", delivery)
    assert purged["details"]["lateness_seconds"] == (21 * 24 + 3) * 3600
    assert entries(ctx, "clock.jump") == []  # downtime is not a clock jump
    assert restarted.schedule.awaiting() == set()


# ---- clock jumps ---------------------------------------------------------------------------------------------


def test_a_forward_jump_while_running_makes_newly_due_purges_wait_for_the_officer(
        ctx: AgentContext, clock: ManualClock) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    later = ingest(ctx)
    set_ceremony(ctx, [delivery], date(2026, 11, 10))
    set_ceremony(ctx, [later], date(2027, 6, 1))
    due = due_moment(date(2026, 11, 10))
    rig.advance_to(due - DAY)
    rig.tick()

    clock.set(due + 2 * DAY)  # the wall clock jumps 3 days while the monotonic clock does not move
    rig.tick(3)
    assert_not_purged(ctx, delivery)
    [jump] = entries(ctx, "clock.jump")
    assert jump["details"] == {"direction": "forward", "hours": 72.0}
    [waiting] = entries(ctx, "purge.awaiting-clock-confirmation")
    assert waiting["subject"] == [delivery]
    assert [n["audience"] for n in notifications(ctx, "clock-jump")] == ["officer"]

    assert rig.schedule.run_due(ME, confirm_clock=False) == {
        "purged": [], "awaiting_clock_confirmation": [delivery], "failed": []}
    rig.restart().tick()  # the wait survives a restart: it is in the database, not in memory
    assert_not_purged(ctx, delivery)

    result = rig.schedule.run_due(ME, confirm_clock=True)
    assert result == {"purged": [delivery], "awaiting_clock_confirmation": [], "failed": []}
    doc = assert_purged_once(ctx, delivery)
    assert doc["trigger"] == "due-command"
    assert state_of(ctx, later) == "scheduled"  # not due: confirming the clock purges nothing else
    assert ctx.store.get_meta(AWAITING) == "[]"
    rig.tick(2)
    assert_purged_once(ctx, delivery)


def test_a_forward_step_within_the_margin_is_time_passing_not_a_jump(ctx: AgentContext,
                                                                     clock: ManualClock) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    set_ceremony(ctx, [delivery], date(2026, 11, 10))
    due = due_moment(date(2026, 11, 10))
    rig.advance_to(due - timedelta(hours=1))
    rig.tick()
    clock.set(due + timedelta(hours=46))  # 47 h: below the 48 h margin
    rig.tick()
    assert_purged_once(ctx, delivery)
    assert entries(ctx, "clock.jump") == []


def test_a_backward_jump_is_audited_and_makes_nothing_undue(ctx: AgentContext, clock: ManualClock) -> None:
    rig = Rig.on(ctx)
    waiting = ingest(ctx)
    set_ceremony(ctx, [waiting], date(2026, 11, 10))
    due = due_moment(date(2026, 11, 10))
    rig.advance_to(due - DAY)
    rig.tick()
    clock.set(due + 3 * DAY)
    rig.tick()
    assert rig.schedule.awaiting() == {waiting}

    clock.set(due - 10 * DAY)  # set back, past the due moment
    rig.tick(2)
    jumps = [e["details"]["direction"] for e in entries(ctx, "clock.jump")]
    assert jumps == ["forward", "backward"]
    assert view(ctx, waiting)["due_at"] == "2026-12-09T23:00:00Z"
    assert rig.schedule.run_due(ME, confirm_clock=False)["awaiting_clock_confirmation"] == [waiting]
    assert rig.schedule.run_due(ME, confirm_clock=True)["purged"] == [waiting]
    assert_purged_once(ctx, waiting)


def test_a_clock_set_back_while_the_agent_was_down_is_audited_and_the_due_purge_is_not_forgotten(
        ctx: AgentContext, clock: ManualClock) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    set_ceremony(ctx, [delivery], date(2026, 11, 10))
    ceremonies.hold(ctx, ME, delivery, "complaint pending", date(2027, 1, 31))
    due = due_moment(date(2026, 11, 10))
    rig.advance_to(due + timedelta(hours=2))
    rig.tick()
    assert state_of(ctx, delivery) == "held"

    clock.set(due - 5 * DAY)  # set back while the agent was off
    restarted = rig.restart()
    restarted.tick()
    [jump] = entries(ctx, "clock.jump")
    assert jump["details"]["direction"] == "backward"
    ceremonies.release(ctx, ME, delivery)
    restarted.tick()
    # not forgotten: either purged, or listed for the officer's confirmation
    result = restarted.schedule.run_due(ME, confirm_clock=False)
    if state_of(ctx, delivery) != "purged":
        assert result["awaiting_clock_confirmation"] == [delivery]
        assert restarted.schedule.run_due(ME, confirm_clock=True)["purged"] == [delivery]
    assert_purged_once(ctx, delivery)


def test_a_corrected_forward_jump_does_not_purge_later_deliveries_before_their_deadline(
        ctx: AgentContext, clock: ManualClock) -> None:
    """A clock that was wrong for one tick (a year ahead, then corrected by NTP) must not make every
    deadline before that wrong date due: data needed for a ceremony would be destroyed weeks early."""
    rig = Rig.on(ctx)
    rig.tick()
    real = clock.now()
    clock.set(real + timedelta(days=365))
    rig.tick()
    clock.set(real + timedelta(minutes=1))
    rig.tick()
    assert [e["details"]["direction"] for e in entries(ctx, "clock.jump")] == ["forward", "backward"]

    delivery = ingest(ctx)  # arrives after the correction; its ceremony is next week
    set_ceremony(ctx, [delivery], date(2026, 11, 10))
    rig.tick(2)
    assert_not_purged(ctx, delivery)
    assert state_of(ctx, delivery) == "scheduled"

    rig.advance_to(due_moment(date(2026, 11, 10)))  # its real deadline: purged then, without anyone acting
    rig.tick()
    assert_purged_once(ctx, delivery)


# ---- reminders -----------------------------------------------------------------------------------------------


def tick_through(rig: Rig, until: datetime, step: timedelta = timedelta(hours=12), ticks: int = 2) -> None:
    while rig.clock.now() + step <= until:
        rig.clock.advance(step)
        rig.tick(ticks)


def test_reminders_seven_days_and_one_day_before_fire_once_each(ctx: AgentContext, clock: ManualClock) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    set_ceremony(ctx, [delivery], date(2026, 11, 10))
    rig.tick()
    due = due_moment(date(2026, 11, 10))
    first_seen: dict[int, date] = {}
    while clock.now() + timedelta(hours=12) < due:
        clock.advance(timedelta(hours=12))
        rig.tick(2)
        for note in notifications(ctx, "purge-soon"):
            first_seen.setdefault(note["days"], clock.now().astimezone(BRUSSELS).date())
    soon = notifications(ctx, "purge-soon")
    assert [(n["audience"], n["days"], n["deadline"]) for n in soon] == [
        ("staff", 7, "2026-12-10"), ("staff", 1, "2026-12-10")]
    assert first_seen == {7: date(2026, 12, 3), 1: date(2026, 12, 9)}  # 7 and 1 local days before
    assert reminder_keys(ctx) == [f"purge-1d:{delivery}:2026-12-10", f"purge-7d:{delivery}:2026-12-10"]


def test_no_ceremony_reminders_go_to_staff_after_14_days_and_to_the_officer_after_30(
        ctx: AgentContext, clock: ManualClock) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    received = clock.now()
    firsts: dict[str, datetime] = {}
    while clock.now() < received + 35 * DAY:
        clock.advance(timedelta(hours=12))
        rig.tick(2)
        for note in notifications(ctx, "no-ceremony"):
            firsts.setdefault(note["audience"], clock.now())
    sent = notifications(ctx, "no-ceremony")
    assert [(n["audience"], n["delivery"]) for n in sent] == [("staff", delivery), ("officer", delivery)]
    assert (firsts["staff"] - received).days == 14
    assert (firsts["officer"] - received).days == 30
    assert_not_purged(ctx, delivery)


def test_a_moved_ceremony_moves_its_purge_and_reminds_afresh(ctx: AgentContext, clock: ManualClock) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    set_ceremony(ctx, [delivery], date(2026, 11, 10))
    first_due = due_moment(date(2026, 11, 10))
    tick_through(rig, first_due - 5 * DAY)
    assert [n["days"] for n in notifications(ctx, "purge-soon")] == [7]

    set_ceremony(ctx, [delivery], date(2026, 11, 24), reason="ceremony postponed by the mayor")
    [moved] = [e for e in entries(ctx, "ceremony.set", delivery) if e["details"].get("old_date")]
    assert moved["details"]["old_date"] == "2026-11-10" and moved["details"]["new_date"] == "2026-11-24"
    assert moved["details"]["extends"] is True
    assert view(ctx, delivery)["deadline"] == "2026-12-24"

    tick_through(rig, first_due + DAY)
    assert_not_purged(ctx, delivery)  # the old deadline passes: nothing happens
    second_due = due_moment(date(2026, 11, 24))
    tick_through(rig, second_due - SECOND)
    assert_not_purged(ctx, delivery)
    soon = notifications(ctx, "purge-soon")
    assert [(n["days"], n["deadline"]) for n in soon] == [(7, "2026-12-10"), (7, "2026-12-24"), (1, "2026-12-24")]
    rig.advance_to(second_due)
    rig.tick(2)
    doc = assert_purged_once(ctx, delivery)
    assert (doc["deadline"], doc["ceremony_date"], doc["lateness_seconds"]) == ("2026-12-24", "2026-11-24", 0)


# ---- holds, the no-ceremony maximum, crashes -----------------------------------------------------------------


def test_a_hold_blocks_the_purge_until_released_and_then_the_next_tick_purges(ctx: AgentContext) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    set_ceremony(ctx, [delivery], date(2026, 11, 10))
    ceremonies.hold(ctx, ME, delivery, "complaint 2026/17", date(2027, 3, 1))
    due = due_moment(date(2026, 11, 10))
    tick_through(rig, due + 10 * DAY)
    assert state_of(ctx, delivery) == "held"
    assert_not_purged(ctx, delivery)
    assert rig.schedule.run_due(ME, confirm_clock=False)["purged"] == []  # purge --due skips it too

    assert ceremonies.release(ctx, ME, delivery)["due_now"] is True
    rig.tick()
    doc = assert_purged_once(ctx, delivery)
    assert doc["lateness_seconds"] >= 9 * 24 * 3600  # the hold kept it past the deadline, and that is shown


def test_a_hold_that_ends_lets_the_schedule_purge_without_a_release(ctx: AgentContext) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    set_ceremony(ctx, [delivery], date(2026, 11, 10))
    ceremonies.hold(ctx, ME, delivery, "complaint 2026/17", date(2026, 12, 20))
    hold_ends = start_of_local_day(date(2026, 12, 20))  # "until 20 December": the hold ends as that day starts
    tick_through(rig, hold_ends - SECOND)
    assert_not_purged(ctx, delivery)
    rig.advance_to(hold_ends)
    rig.tick(2)
    assert_purged_once(ctx, delivery)
    assert notifications(ctx, "purge-failed") == []


def test_without_a_ceremony_a_delivery_is_purged_after_24_months_with_that_reason(ctx: AgentContext) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)  # received 2026-11-02 10:00 Brussels
    rig.tick()
    due = datetime(2028, 11, 1, 23, 0, tzinfo=UTC)  # 00:00 Brussels on 2 November 2028
    rig.advance_to(due - SECOND)
    rig.tick(2)
    assert_not_purged(ctx, delivery)
    rig.advance_to(due)
    rig.tick(2)
    doc = assert_purged_once(ctx, delivery)
    assert (doc["reason"], doc["trigger"], doc["ceremony_date"], doc["deadline"]) == (
        "no-ceremony-maximum", "schedule", None, "2028-11-02")


STEPS = ["_destroy_key", "_erase_object", "_wipe_copies", "_delete_rows", "_scrub", "_verify", "_write_proof"]


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_in_the_middle_of_a_purge_is_finished_at_restart_with_one_proof(
        ctx: AgentContext, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    set_ceremony(ctx, [delivery], date(2026, 11, 10))
    rig.advance_to(due_moment(date(2026, 11, 10)))  # due now

    def crash(self: Purger, *args: object) -> object:
        raise OSError(5, "simulated crash")

    monkeypatch.setattr(Purger, step, crash)
    rig.tick()
    unfinished = ctx.store.one("SELECT steps, finished_at FROM purges WHERE delivery_id = ?", (delivery,))
    assert unfinished is not None and unfinished["finished_at"] is None
    # the state says "purged" only once the purge's audit entry is written, in the same transaction
    assert state_of(ctx, delivery) == ("purged" if step == "_write_proof" else "purging")
    assert proofs_of(ctx.home.root, delivery) == []
    assert [n["delivery"] for n in notifications(ctx, "purge-failed")] == [delivery]
    monkeypatch.undo()

    restarted = rig.restart()  # a new Purger and resume_unfinished, as at start-up
    restarted.tick(2)
    doc = assert_purged_once(ctx, delivery)
    assert [s["step"] for s in doc["steps"]] == ["key", "object", "workspace", "copies", "rows", "scrub"]
    assert not ctx.vault.path(delivery).exists()


def test_a_purge_that_failed_midway_is_retried_by_the_next_tick_without_a_restart(
        ctx: AgentContext, monkeypatch: pytest.MonkeyPatch) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    set_ceremony(ctx, [delivery], date(2026, 11, 10))
    rig.advance_to(due_moment(date(2026, 11, 10)))

    def unavailable(self: Purger, *args: object) -> object:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Purger, "_scrub", unavailable)
    rig.tick(2)
    assert state_of(ctx, delivery) == "purging"
    monkeypatch.undo()
    rig.tick()
    assert_purged_once(ctx, delivery)


def test_a_held_delivery_is_refused_by_the_scheduled_purge_path(ctx: AgentContext) -> None:
    rig = Rig.on(ctx)
    delivery = ingest(ctx)
    set_ceremony(ctx, [delivery], date(2026, 11, 10))
    ceremonies.hold(ctx, ME, delivery, "court order", date(2027, 6, 1))
    rig.advance_to(due_moment(date(2026, 11, 10)))
    with pytest.raises(DeliveryStateError):
        rig.purger(delivery, trigger="schedule", reason="deadline", requested_by="agent", due_at=None)
    assert_not_purged(ctx, delivery)


def test_a_date_recorded_after_the_fact_does_not_destroy_a_held_delivery_while_the_hold_lasts(
        ctx: AgentContext, clock: ManualClock) -> None:
    """A hold is the officer's to lift: the date is refused while it lasts (not recorded, to destroy the
    delivery the moment the hold ends); once released, it is an early destruction like any other."""
    rig = Rig.on(ctx)
    ctx.staff.put(ME, "Officer", ["officer", "destroy"])
    delivery = ingest(ctx)
    received = clock.now().date()
    ceremonies.hold(ctx, ME, delivery, "court order", date(2027, 6, 1))
    rig.advance_to(clock.now() + 40 * DAY)
    with pytest.raises(DeliveryHeldError):
        ceremonies.set_ceremony(ctx, ME, [delivery], received,
                                purger=ctx.services.purger, reason="recorded late", confirm_destroy=[delivery])
    assert (view(ctx, delivery)["state"], view(ctx, delivery)["ceremony_date"]) == ("held", None)
    assert_not_purged(ctx, delivery)
    later = received + 20 * DAY  # deadline still ahead: a date that destroys nothing is recorded as usual
    set_ceremony(ctx, [delivery], later)
    assert (view(ctx, delivery)["state"], view(ctx, delivery)["ceremony_date"]) == ("held", later.isoformat())

    ceremonies.release(ctx, ME, delivery)
    [changed] = ceremonies.set_ceremony(ctx, ME, [delivery], received, purger=ctx.services.purger,
                                        reason="recorded late", confirm_destroy=[delivery])
    assert (changed["early"], changed["after_the_fact"], changed["destroyed"]) == (True, True, True)
    doc = assert_purged_once(ctx, delivery)
    assert (doc["trigger"], doc["reason"], doc["lateness_seconds"]) == ("early", "ceremony-recorded-after-the-fact", 0)


def test_the_wake_timer_is_armed_for_the_next_due_moment_and_for_the_end_of_a_hold(ctx: WiredContext) -> None:
    """The in-memory timer (APScheduler in the agent) wakes the ticker exactly when the next purge is due,
    so a running agent is not up to a whole tick interval late; a hold's end counts as such a moment."""
    armed: list[datetime] = []
    purger, notifier = Purger(ctx), Notifier(ctx.store, ctx.clock)
    schedule = Schedule(ctx, purger, notifier, wake_at=armed.append)
    ctx.wire(Services(notifier=notifier, purger=purger, schedule=schedule, wake=lambda: None))
    soon, later = ingest(ctx), ingest(ctx)
    set_ceremony(ctx, [soon], date(2026, 11, 10))
    set_ceremony(ctx, [later], date(2026, 11, 20))
    schedule.tick()
    assert armed[-1] == due_moment(date(2026, 11, 10))
    ceremonies.hold(ctx, ME, soon, "court order", date(2026, 12, 15))
    schedule.tick()
    assert armed[-1] == start_of_local_day(date(2026, 12, 15))  # before the other deadline (20 December)


def test_the_wake_timer_fires_at_its_moment_even_when_armed_before_it_started() -> None:
    """The real APScheduler timer: the agent's first tick runs before the timer service starts, and what
    that tick asks for must not be dropped."""
    woken = threading.Event()
    fired: list[float] = []
    timer = WakeTimer(lambda: (fired.append(time.time()), woken.set()))
    target = datetime.now(UTC) + timedelta(seconds=0.5)
    timer.at(target)  # before start, as from the first tick
    timer.start()
    try:
        assert woken.wait(5), "the timer armed before start-up never fired"
        assert -0.05 <= fired[0] - target.timestamp() < 0.5
        woken.clear()
        again = datetime.now(UTC) + timedelta(seconds=0.3)
        timer.at(again)
        assert woken.wait(5)
        assert -0.05 <= fired[1] - again.timestamp() < 0.5
    finally:
        timer.stop()
