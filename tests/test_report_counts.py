"""A DPO report counts what happened, from the same facts as the proofs and the status.

A known October is built through the real request dispatcher (authorised and audited as the API server does),
the real schedule and the real purger: refused attempts and checks that change nothing, ceremony dates first
recorded, moved, extended and recorded after the fact (an early destruction), a legal hold, a quarantine
purge and a quarantine release, early purges, a purge on its deadline and one after a clock jump. Every figure
of the signed report is then checked against that history, each purge against its own proof, and the
situation section against ``status`` at the same moment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from retention_agent.evidence import proof
from retention_agent.reports.generate import make_report
from retention_agent.reports.period import parse_period
from retention_agent.status.document import build_status
from tests.conftest import ME
from tests.report_support import Office, new_office, receive, report_doc, request

SEPTEMBER = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
CLERK, READER = "clerk", "reader"


def at(office: Office, month: int, day: int, hour: int = 8) -> None:
    office.rig.advance_to(datetime(2026, month, day, hour, 0, tzinfo=UTC))


def ok(office: Office, account: str, op: str, args: dict[str, Any]) -> Any:
    session = request(office.ctx, account, op, args)
    assert not session.errors, session.errors
    return session.replies[-1]


def refused(office: Office, account: str, op: str, args: dict[str, Any]) -> None:
    assert [e.error_id for e in request(office.ctx, account, op, args).errors] == ["access-denied"]


def ceremony(delivery: str, day: date, **more: Any) -> dict[str, Any]:
    return {"deliveries": [delivery], "date": day.isoformat(), **more}


@pytest.fixture
def october(tmp_path: Path) -> Iterator[tuple[Office, dict[str, str], dict[str, Any]]]:
    office = new_office(tmp_path / "home", start=SEPTEMBER)
    ctx = office.ctx
    ctx.staff.put(ME, "Officer", ["officer", "import", "read", "modify", "destroy"])
    ctx.staff.put(CLERK, "Clerk", ["read", "modify"])
    ctx.staff.put(READER, "Reader", ["read"])
    ids = {name: receive(ctx, "zivver", extra=name) for name in ("A", "B", "C", "D", "G")}
    ids["Q"] = receive(ctx, "folder", quarantine=True, extra="Q")
    ok(office, CLERK, "ceremony.set", ceremony(ids["A"], date(2026, 9, 20)))  # deadline 20 October
    ok(office, CLERK, "ceremony.set", ceremony(ids["G"], date(2026, 9, 25)))  # deadline 25 October

    at(office, 10, 1)
    ids["E"] = receive(ctx, "zivver", extra="E")
    ids["Q2"] = receive(ctx, "folder", quarantine=True, extra="Q2")
    ok(office, CLERK, "ceremony.set", ceremony(ids["E"], date(2026, 11, 10), dry_run=True))  # only a check
    refused(office, CLERK, "ceremony.set", ceremony(ids["B"], date(2026, 9, 1)))  # would destroy it at once
    refused(office, READER, "ceremony.set", ceremony(ids["E"], date(2026, 11, 10)))
    ok(office, CLERK, "ceremony.set", ceremony(ids["E"], date(2026, 11, 10)))  # 1: first date
    at(office, 10, 2)
    ok(office, CLERK, "ceremony.set", ceremony(ids["E"], date(2026, 11, 5)))  # 2: moved, earlier
    ok(office, ME, "ceremony.set", ceremony(ids["E"], date(2026, 11, 25), reason="hall closed"))  # 3: extended
    at(office, 10, 3)
    ok(office, ME, "ceremony.set", ceremony(ids["B"], date(2026, 9, 1), reason="held, recorded late",
                                            dry_run=True))
    ok(office, ME, "ceremony.set", ceremony(ids["B"], date(2026, 9, 1), reason="held, recorded late",
                                            confirm_destroy=[ids["B"]]))  # 4: after the fact: destroyed
    ok(office, ME, "hold", {"delivery": ids["C"], "reason": "complaint", "until": "2026-12-01"})
    at(office, 10, 5)
    ok(office, ME, "purge.one", {"delivery": ids["Q"], "reason": "not from AgII"})
    ok(office, ME, "quarantine.release", {"delivery": ids["Q2"], "reason": "AgII's new format"})
    at(office, 10, 6)
    ok(office, ME, "purge.one", {"delivery": ids["D"], "reason": "sent twice", "dry_run": True})
    ok(office, ME, "purge.one", {"delivery": ids["D"], "reason": "sent twice"})
    ok(office, READER, "open", {"delivery": ids["E"], "purpose": "invite", "mode": "stdout"})
    at(office, 10, 10)
    ok(office, ME, "release", {"delivery": ids["C"]})
    at(office, 10, 20, 9)
    office.rig.tick()  # A, on its deadline day
    at(office, 10, 23, 12)
    office.rig.tick()
    office.clock.set(datetime(2026, 10, 26, 12, 0, tzinfo=UTC))  # the wall clock jumps three days
    office.rig.tick()  # G became due only through the jump: it waits for the officer
    done = office.rig.schedule.run_due(ME, confirm_clock=True)
    assert done["purged"] == [ids["G"]]
    at(office, 11, 2, 9)
    make_report(ctx, parse_period("2026-10"))
    now_status = build_status(ctx)
    yield office, ids, now_status
    office.close()


def test_every_figure_of_the_report_is_the_history(october: tuple[Office, dict[str, str], dict[str, Any]]) -> None:
    office, ids, now_status = october
    doc = report_doc(office, "2026-10")
    summary = doc["summary"]
    assert summary["deliveries_received"] == {"count": 2, "by_channel": {"folder": 1, "zivver": 1},
                                              "quarantined": 1, "duplicates_refused": 0,
                                              "bytes": summary["deliveries_received"]["bytes"]}

    ceremonies = summary["ceremonies"]  # recorded, not requested: no refusal, no check, each once
    assert {k: v for k, v in ceremonies.items() if k != "recorded_after_the_fact"} == {
        "dates_recorded": 4, "moved": 2, "extensions": 1, "early_destructions": 1}
    [late_record] = ceremonies["recorded_after_the_fact"]
    assert (late_record["delivery"], late_record["ceremony_date"], late_record["deadline"], late_record["by"]) == (
        ids["B"], "2026-09-01", "2026-10-01", ME)

    assert summary["refused_requests"] == {"count": 2, "by_account_action": [
        {"account": CLERK, "action": "ceremony.early", "count": 1},
        {"account": READER, "action": "ceremony.set", "count": 1}]}
    holds = summary["holds"]
    assert [(h["delivery"], h["until"], h["by"]) for h in holds["placed"]] == [(ids["C"], "2026-12-01", ME)]
    assert [(h["delivery"], h["by"]) for h in holds["released"]] == [(ids["C"], ME)]
    assert [(q["delivery"], q["by"]) for q in summary["quarantine"]["released"]] == [(ids["Q2"], ME)]
    assert (summary["openings"]["count"], summary["openings"]["by_account_purpose"]) == (
        1, [{"account": READER, "purpose": "invite", "count": 1}])

    purges = summary["purges"]
    by_delivery = {p["delivery"]: p for p in purges["items"]}
    assert {name: (by_delivery[ids[name]]["trigger"], by_delivery[ids[name]]["reason"])
            for name in ("A", "B", "D", "G", "Q")} == {
        "A": ("schedule", "deadline"), "B": ("early", "ceremony-recorded-after-the-fact"),
        "D": ("early", "early"), "G": ("due-command", "deadline"), "Q": ("quarantine", "quarantine")}
    assert (purges["count"], purges["on_time"], purges["late"]) == (5, 4, 1)
    assert purges["by_trigger"] == {"due-command": 1, "early": 2, "quarantine": 1, "schedule": 1}
    assert set(purges["by_trigger"]) <= set(proof.TRIGGERS)
    assert [p["delivery"] for p in purges["items"] if p["late"]] == [ids["G"]]
    assert by_delivery[ids["B"]]["lateness_seconds"] == 0  # its deadline did not exist before 3 October
    assert by_delivery[ids["G"]]["lateness_seconds"] == int(
        (datetime(2026, 10, 26, 12, 0, tzinfo=UTC) - datetime(2026, 10, 24, 22, 0, tzinfo=UTC)).total_seconds())
    assert purges["max_lateness_seconds"] == by_delivery[ids["G"]]["lateness_seconds"]

    # each purge as its own proof states it: the same trigger, reason, due moment, time and lateness
    embedded = {item["delivery_id"]: json.loads(item["json"]) for item in doc["proofs"]}
    assert set(embedded) == set(by_delivery)
    for delivery, row in by_delivery.items():
        stated = embedded[delivery]
        assert (row["trigger"], row["reason"], row["due_at"], row["purged_at"], row["lateness_seconds"]) == (
            stated["trigger"], stated["reason"], stated["due_at"], stated["purged_at"],
            stated["lateness_seconds"]), delivery
    assert embedded[ids["B"]]["due_at"] == "2028-08-31T22:00:00Z"  # B's deadline before: the 24-month maximum

    assert sorted(i["kind"] for i in doc["incidents"]) == [
        "clock-jump", "late-purge", "purge-awaiting-clock-confirmation"]
    assert [i["delivery"] for i in doc["incidents"] if i["kind"] == "late-purge"] == [ids["G"]]
    current = doc["current"]  # the situation: status itself, at the moment of the report
    assert current["deliveries_by_state"] == now_status["deliveries"]["by_state"] == {
        "vaulted": 2, "scheduled": 1, "held": 0, "quarantined": 0, "purging": 0, "purged": 5}
    assert current["overdue_purges"] == now_status["overdue_purges"]
    assert current["holds"] == now_status["holds"] and current["quarantined"] == now_status["quarantined"]


def test_the_proof_trigger_and_the_report_trigger_are_one_list() -> None:
    """The names, documented once (docs/formats/deletion-proof.md), shown in words in the report and the
    certificate; a purge record from before the list was one is read as its proof names it."""
    from retention_agent.pdf import proof as proof_pdf
    from retention_agent.pdf.words import Words
    from retention_agent.reports.render import trigger_name

    docs = (Path(__file__).resolve().parents[1] / "docs" / "formats" / "deletion-proof.md").read_text()
    section = docs.split("### `trigger`", 1)[1].split("###", 1)[0]
    documented = [line.split("`")[1] for line in section.splitlines() if line.startswith("| `")]
    assert documented == list(proof.TRIGGERS)
    reasons = docs.split("### `reason`", 1)[1].split("###", 1)[0]
    assert [line.split("`")[1] for line in reasons.splitlines() if line.startswith("| `")] == list(proof.REASONS)
    words = Words("en")
    for trigger in proof.TRIGGERS:
        assert trigger_name(trigger, words) != trigger
        assert proof_pdf._trigger(trigger, words) != trigger
    for reason in proof.REASONS:
        assert proof_pdf._reason(reason, words) != reason
    assert proof.trigger_of("clock-confirmed") == "due-command"
    assert [proof.trigger_of(t) for t in proof.TRIGGERS] == list(proof.TRIGGERS)
