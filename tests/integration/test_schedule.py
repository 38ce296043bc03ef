"""The retention schedule (issue 5): the database is the truth of what is due, and purges run on time —
after downtime, across clock jumps, after a crash in the middle — exactly once.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_schedule.py.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from retention_agent.clock import BRUSSELS, parse_utc
from retention_agent.i18n import catalogue as i18n
from retention_agent.rules import retention
from tests.support.agent import ME, AgentProcess
from tests.support.retention import (
    AGII_HEAD,
    Agents,
    ClockFile,
    api,
    audit_entries,
    db_audit,
    delivery_row,
    due_moment,
    grant_me,
    ingest_bytes,
    proof_doc,
    received_days_ago,
    set_ceremony_api,
    started_at,
    wait_for,
    wait_ticks,
)

# ---- end to end: the real agent process ----------------------------------------------------------------------


def _set(agent: AgentProcess, delivery: str, day: date, *extra: str) -> str:
    done = agent.cli("ceremony", "set", delivery, "--date", day.isoformat(), *extra)
    return f"{done.returncode}|{done.stdout.decode()}|{done.stderr.decode()}"


def test_the_real_agent_destroys_at_once_what_a_ceremony_date_makes_due_only_on_purpose_and_schedules_the_rest(
        agents: Agents, tmp_path: Path) -> None:
    """A date whose deadline has passed is an early destruction: refused without the role destroy, a reason and
    the confirmation; done at once with them, its proof not late (the deadline did not exist before)."""
    old = received_days_ago(agents.home, 60, b"received two months ago " + tmp_path.name.encode())
    agent = agents.start()
    grant_me(agent.home, "import", "modify")
    future = ingest_bytes(agent.home, AGII_HEAD + b"future ceremony " + tmp_path.name.encode())
    today = datetime.now(BRUSSELS).date()
    past = today - timedelta(days=40)
    before = delivery_row(agent.home, old)

    refused = _set(agent, old, past)
    assert refused.startswith("3|"), refused  # modify and officer, not destroy
    grant_me(agent.home, "import", "modify", "destroy")
    assert _set(agent, old, past).startswith("2|")  # no reason
    unconfirmed = _set(agent, old, past, "--reason", "ceremony was held, recorded late")  # no TTY, no --yes
    assert unconfirmed.startswith("2|") and "deadline" in unconfirmed, unconfirmed
    assert delivery_row(agent.home, old) == before  # nothing changed: no date, no purge
    assert audit_entries(agent.home, "purge.started") == []

    recorded = datetime.now(UTC).replace(microsecond=0)
    done = _set(agent, old, past, "--reason", "ceremony was held, recorded late", "--yes")
    assert done.startswith("0|") and "destroyed" in done, done
    assert (started_at(agent.home, old) - recorded).total_seconds() < 5  # in the request: no tick waited for
    doc = proof_doc(agent.home, old)
    deadline = retention.deadline(past, retention.VCMP_05_2024)
    assert (doc["trigger"], doc["reason"], doc["lateness_seconds"]) == (
        "early", "ceremony-recorded-after-the-fact", 0)
    assert (doc["ceremony_date"], doc["deadline"]) == (past.isoformat(), deadline.isoformat())
    assert doc["due_at"] == before["due_at"]  # measured against the deadline it had: the 24-month maximum
    assert doc["reason_sha256"] == hashlib.sha256(b"ceremony was held, recorded late").hexdigest()

    in_20_days = today + timedelta(days=20)
    later = retention.deadline(in_20_days, retention.VCMP_05_2024)
    out = _set(agent, future, in_20_days)
    assert out.startswith("0|") and f"purged on {i18n.format_day(later, 'en')}" in out, out
    listed = {r["id"]: r for r in json.loads(agent.cli("deliveries", "--json").stdout)}
    assert listed[old]["state"] == "purged"
    assert (listed[future]["state"], listed[future]["ceremony_date"], listed[future]["deadline"]) == (
        "scheduled", in_20_days.isoformat(), later.isoformat())
    assert listed[future]["due_at"] == due_moment(in_20_days).strftime("%Y-%m-%dT%H:%M:%SZ")
    wait_ticks(agent.home, 2)  # more ticks: the future one stays, the purged one is not purged twice
    assert delivery_row(agent.home, future)["state"] == "scheduled"
    assert [e["subject"] for e in audit_entries(agent.home, "delivery.purged")] == [[old]]
    assert sorted(p.name for p in (agent.home / "proofs").iterdir()) == [f"{old}.json", f"{old}.json.sig",
                                                                         f"{old}.pdf"]


def test_moving_a_deadline_later_needs_the_officer_and_a_reason(agents: Agents, tmp_path: Path) -> None:
    agent = agents.start()
    grant_me(agent.home, "import", "modify")
    delivery = ingest_bytes(agent.home, AGII_HEAD + b"moving " + tmp_path.name.encode())
    today = datetime.now(BRUSSELS).date()
    first, later, latest = (today + timedelta(days=d) for d in (10, 17, 24))
    assert _set(agent, delivery, first).startswith("0|")

    no_reason = agent.cli("ceremony", "set", delivery, "--date", later.isoformat())
    assert no_reason.returncode == 2, no_reason.stderr
    assert delivery_row(agent.home, delivery)["ceremony_date"] == first.isoformat()

    reason = "ceremony postponed: the hall is closed"
    assert _set(agent, delivery, later, "--reason", reason).startswith("0|")
    [extended] = [e for e in audit_entries(agent.home, "ceremony.set") if e["details"].get("old_date")]
    assert (extended["details"]["old_date"], extended["details"]["new_date"]) == (
        first.isoformat(), later.isoformat())
    assert extended["details"]["extends"] is True
    assert extended["details"]["reason_sha256"] == hashlib.sha256(reason.encode()).hexdigest()
    assert reason not in json.dumps(audit_entries(agent.home))
    # the command asks the agent first (a dry run), then records: the one without a reason stopped at the dry
    # run, granted and then failed (audited as such)
    assert [e["outcome"] for e in audit_entries(agent.home, "ceremony.extend")] == [
        "granted", "failed", "granted", "granted"]

    # the officer hands the officer role to someone else and keeps only modify
    api(agent.home, "staff.add", {"account": "nobody", "name": "Other officer", "roles": ["officer"]})
    api(agent.home, "staff.add", {"account": ME, "name": "Staff", "roles": ["modify"]})
    denied = agent.cli("ceremony", "set", delivery, "--date", latest.isoformat(), "--reason", "why not")
    assert denied.returncode == 3, denied.stderr
    last = db_audit(agent.home, "ceremony.extend")[-1]
    assert (last["outcome"], last["actor"], last["subject"], last["details"]["subjects"]) == ("denied", ME, [], 1)
    assert delivery_row(agent.home, delivery)["ceremony_date"] == later.isoformat()
    earlier = agent.cli("ceremony", "set", delivery, "--date", first.isoformat())  # shortening: modify may
    assert earlier.returncode == 0, earlier.stderr
    assert delivery_row(agent.home, delivery)["ceremony_date"] == first.isoformat()


def test_the_running_agent_purges_when_the_deadline_passes_within_a_tick(agents: Agents, tmp_path: Path) -> None:
    """Lateness while running: the ceremony is recorded, the agent is restarted with its clock 40 h before the
    deadline (downtime, not a jump), then the clock is put 2 s before it (a step below the 48 h jump margin:
    time passing, not a jump)."""
    ceremony = datetime.now(BRUSSELS).date() + timedelta(days=20)
    due = due_moment(ceremony)
    clock = ClockFile(tmp_path / "clock-offset")
    agent = agents.start(clock.env)
    grant_me(agent.home, "import", "modify")
    delivery = ingest_bytes(agent.home, AGII_HEAD + b"running " + tmp_path.name.encode())
    assert set_ceremony_api(agent.home, delivery, ceremony)["due_now"] is False
    assert agent.stop() == 0
    clock.set(due - timedelta(hours=40) - datetime.now(UTC))
    agent = agents.start(clock.env)
    clock.set(due - timedelta(seconds=2) - datetime.now(UTC))
    wait_for(lambda: (agent.home / "proofs" / f"{delivery}.json.sig").exists(), 20, "the proof")
    doc = json.loads((agent.home / "proofs" / f"{delivery}.json").read_bytes())
    assert doc["trigger"] == "schedule" and doc["due_at"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (started_at(agent.home, delivery) - due).total_seconds() <= 2  # the goal: under 2 s
    assert doc["lateness_seconds"] <= 10  # purge start + the purge itself (PDF included), on a busy machine
    assert audit_entries(agent.home, "clock.jump") == []


def test_a_clock_jump_seen_by_the_running_agent_waits_for_confirmation(agents: Agents, tmp_path: Path) -> None:
    clock = ClockFile(tmp_path / "clock-offset")
    agent = agents.start(clock.env)
    grant_me(agent.home, "import", "modify")
    delivery = ingest_bytes(agent.home, AGII_HEAD + b"jump " + tmp_path.name.encode())
    ceremony = datetime.now(BRUSSELS).date() + timedelta(days=20)
    assert set_ceremony_api(agent.home, delivery, ceremony)["due_now"] is False
    clock.set(timedelta(days=55))
    wait_for(lambda: audit_entries(agent.home, "purge.awaiting-clock-confirmation"), 10, "the jump")
    wait_ticks(agent.home, 2)  # a few more ticks: it keeps waiting
    assert delivery_row(agent.home, delivery)["state"] == "scheduled"
    assert not (agent.home / "proofs" / f"{delivery}.json").exists()
    [jump] = audit_entries(agent.home, "clock.jump")
    assert jump["details"]["direction"] == "forward"

    waiting = agent.cli("purge", "--due", "--json")
    assert waiting.returncode == 0, waiting.stderr
    assert json.loads(waiting.stdout)["awaiting_clock_confirmation"] == [delivery]
    assert delivery_row(agent.home, delivery)["state"] == "scheduled"
    confirmed = agent.cli("purge", "--due", "--confirm-clock", "--json")
    assert confirmed.returncode == 0, confirmed.stderr
    assert json.loads(confirmed.stdout)["purged"] == [delivery]
    doc = json.loads((agent.home / "proofs" / f"{delivery}.json").read_bytes())
    assert doc["trigger"] == "due-command" and all(doc["verification"].values())
    assert len(audit_entries(agent.home, "delivery.purged")) == 1


def test_after_downtime_the_restarted_agent_purges_within_seconds_without_confirmation(
        agents: Agents, tmp_path: Path) -> None:
    clock = ClockFile(tmp_path / "clock-offset")
    agent = agents.start(clock.env)
    grant_me(agent.home, "import", "modify")
    delivery = ingest_bytes(agent.home, AGII_HEAD + b"downtime " + tmp_path.name.encode())
    ceremony = datetime.now(BRUSSELS).date() + timedelta(days=20)
    assert set_ceremony_api(agent.home, delivery, ceremony)["due_now"] is False
    due_at = parse_utc(delivery_row(agent.home, delivery)["due_at"])
    assert agent.stop() == 0

    clock.set(timedelta(days=55))
    launched = datetime.now(UTC)
    agent = agents.start(clock.env)
    wait_for(lambda: (agent.home / "proofs" / f"{delivery}.json.sig").exists(), 30, "the proof")
    doc = json.loads((agent.home / "proofs" / f"{delivery}.json").read_bytes())
    agent_launch = launched + timedelta(days=55)
    assert doc["lateness_seconds"] >= int((agent_launch - due_at).total_seconds()) - 1
    assert doc["trigger"] == "schedule" and all(doc["verification"].values())
    assert audit_entries(agent.home, "clock.jump") == []
    assert audit_entries(agent.home, "purge.awaiting-clock-confirmation") == []
    assert (started_at(agent.home, delivery) - agent_launch).total_seconds() < 5  # the goal: < 5 s from start-up
