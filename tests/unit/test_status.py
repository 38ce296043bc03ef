"""``status``: the privacy officer's view, checked field by field on a home populated through the real parts,
through the real agent process and command line, and against the query plans that keep it fast."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from retention_agent.audit import query as audit_query
from retention_agent.i18n.catalogue import translate
from retention_agent.lifecycle import decisions as ceremonies
from retention_agent.session import status_table as status_view
from retention_agent.status import checklist
from retention_agent.status.document import build_status
from retention_agent.testing_hooks import FAULTS_ENV
from tests.support.agent import ME
from tests.support.reports import (
    CANARY,
    CANARY_NOTE,
    Office,
    new_office,
    office_copy,
    populated_template,
    receive,
    request,
)


@pytest.fixture
def office(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Office]:
    built = office_copy(populated_template(tmp_path_factory), tmp_path / "home")
    yield built
    built.close()


def codes(findings: list[dict[str, Any]]) -> set[str]:
    return {f["code"] for f in findings}


def test_deliveries_purges_holds_and_quarantine(office: Office) -> None:
    ids = office.ids
    status = build_status(office.ctx)
    assert status["version"] == 1
    assert status["municipality"] == "De Panne"
    assert status["deliveries"]["by_state"] == {"vaulted": 2, "scheduled": 2, "held": 1, "quarantined": 1,
                                                "purging": 0, "purged": 2}
    assert status["deliveries"]["total"] == 8 and status["deliveries"]["live"] == 6
    assert status["deliveries"]["without_ceremony"]["count"] == 2  # vaulted + email
    upcoming = [p["delivery"] for p in status["next_purges"]]
    assert upcoming[0] == ids["overdue"]  # the overdue one is also the next one
    assert upcoming[1] == ids["scheduled"]
    scheduled = status["next_purges"][1]
    assert scheduled["deadline"] == "2026-12-20" and scheduled["reason"] == "deadline"
    assert scheduled["days_left"] == (date(2026, 12, 20) - date(2026, 10, 2)).days
    assert ids["held"] not in upcoming and ids["quarantined"] not in upcoming
    overdue = status["overdue_purges"]
    assert overdue["count"] == 1
    assert overdue["items"][0]["delivery"] == ids["overdue"]
    assert overdue["items"][0]["due_at"] == "2026-10-01T22:00:00Z"
    assert status["holds"] == {"count": 1, "items": [{"delivery": ids["held"], "hold_until": "2027-01-31",
                                                      "deadline": "2026-11-05", "days_left": 121}]}
    assert status["quarantined"]["count"] == 1
    assert status["quarantined"]["items"][0]["delivery"] == ids["quarantined"]
    assert status["quarantined"]["items"][0]["source"] == "agii-folder"
    assert status["unfinished_purges"] == 0


def test_access_openings_copies_and_refusals(office: Office) -> None:
    status = build_status(office.ctx)
    assert status["workspace_copies"]["count"] == 1
    assert status["workspace_copies"]["by_account"] == {ME: 1}
    # the opening of a delivery purged since is still counted: the audit log keeps it
    assert status["openings_30d"] == {"count": 3, "by_account_purpose": [
        {"account": ME, "purpose": "invite", "count": 2}, {"account": ME, "purpose": "phone", "count": 1}]}
    refused = status["refused_30d"]
    assert refused["count"] == 2
    assert refused["by_account_action"] == [{"account": "intruder", "action": "status", "count": 1},
                                            {"account": "tjerry", "action": "purge.due", "count": 1}]
    office.clock.advance(timedelta(days=31))
    later = build_status(office.ctx)
    assert later["openings_30d"]["count"] == 0 and later["refused_30d"]["count"] == 0


def test_integrity_audit_and_legal_bases(office: Office) -> None:
    ctx = office.ctx
    status = build_status(ctx)
    assert status["audit"]["size"] == ctx.audit.size
    assert status["audit"]["last_checkpoint"]["size"] <= ctx.audit.size
    assert status["audit"]["last_verification"] is None
    assert status["vault"]["integrity_failures"] == {"count": 0, "deliveries": []}
    assert status["legal_bases"] == [{"legal_basis": "VCMP-05-2024", "channel": "email", "valid_until": "2025-11-18",
                                      "lapsed": True, "live_deliveries": 1, "received_after_lapse": 1,
                                      "intake_configured": False}]
    assert status["health"]["key_store"] == {"backend": "file", "file_store": True}
    assert status["health"]["last_intake"] == "2026-10-01T08:00:00Z"
    assert status["health"]["test_hooks"] == {"active": False, "first_seen": None}
    request(ctx, ME, "vault.verify")
    request(ctx, ME, "audit.verify", {"checkpoints": []})
    verified = build_status(ctx)
    assert verified["vault"]["last_verification"]["ok"] is True
    assert verified["audit"]["last_verification"]["ok"] is True
    assert "vault-not-verified" not in codes(verified["warnings"])


def test_problems_make_it_non_compliant(office: Office) -> None:
    status = build_status(office.ctx)
    assert status["compliant"] is False
    assert codes(status["problems"]) == {"overdue-purges", "legal-basis-lapsed", "checklist-open"}
    assert {"no-ceremony", "quarantined", "file-key-store", "audit-not-verified",
            "vault-not-verified"} <= codes(status["warnings"])
    assert status["checklist"]["open"] == ["privacy-statement", "website", "processors", "staff-informed", "register"]
    done = {i["id"]: i for i in status["checklist"]["items"]}
    assert done["commitment"]["done_on"] == "2026-09-15" and done["commitment"]["updated_by"] == ME


def test_a_home_in_order_is_compliant(tmp_path: Path) -> None:
    office = new_office(tmp_path / "home")
    try:
        receive(office.ctx, "zivver")
        for item in checklist.IDS:
            checklist.set_item(office.ctx, ME, item, date(2026, 9, 1), "ok")
        status = build_status(office.ctx)
        assert status["problems"] == [] and status["compliant"] is True
        office.ctx.health.integrity_failures = ["X"]
        assert codes(build_status(office.ctx)["problems"]) == {"integrity-failures"}
    finally:
        office.close()


def test_a_ceremony_recorded_after_the_fact_is_a_warning_not_a_late_purge(tmp_path: Path) -> None:
    """The delivery is destroyed when the date is recorded (an early destruction): nothing is overdue, no purge
    is late, the home stays compliant, and for 30 days the officer is told the data was kept too long."""
    office = new_office(tmp_path / "home")
    try:
        ctx = office.ctx
        ctx.staff.put(ME, "Officer", ["officer", "destroy"])
        for item in checklist.IDS:
            checklist.set_item(ctx, ME, item, date(2026, 9, 1), "ok")
        delivery = receive(ctx, "zivver")
        office.rig.advance_to(office.clock.now() + timedelta(days=45))
        ceremonies.set_ceremony(ctx, ME, [delivery], office.clock.now().date() - timedelta(days=44),
                                purger=ctx.services.purger,
                                reason="held in time, recorded late", confirm_destroy=[delivery])
        status = build_status(ctx)
        assert status["deliveries"]["by_state"]["purged"] == 1
        assert status["overdue_purges"]["count"] == 0 and status["compliant"] is True
        after = status["ceremonies_after_the_fact_30d"]
        assert (after["count"], [i["delivery"] for i in after["items"]]) == (1, [delivery])
        [warning] = [w for w in status["warnings"] if w["code"] == "ceremony-after-the-fact"]
        assert warning["params"] == {"count": 1}
        assert status_view.finding_text(warning).startswith("1 ceremony date was recorded after its deadline")
        office.rig.advance_to(office.clock.now() + timedelta(days=31))
        assert build_status(ctx)["ceremonies_after_the_fact_30d"]["count"] == 0
    finally:
        office.close()


def test_test_hooks_are_remembered(office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULTS_ENV, "purge.after-key")
    seen = build_status(office.ctx)
    assert seen["health"]["test_hooks"]["active"] is True
    assert "test-hooks" in codes(seen["problems"])
    monkeypatch.delenv(FAULTS_ENV)
    later = build_status(office.ctx)
    assert later["health"]["test_hooks"] == {"active": False, "first_seen": "2026-10-02T09:00:00Z"}
    assert "test-hooks" in codes(later["problems"])


def test_intake_watchers_are_shown(office: Office) -> None:
    from retention_agent.intake.base import IntakeStatus

    class Watcher:
        status = IntakeStatus().failed("imap-auth", office.clock.now(), 60, permanent=True)

    office.ctx.health.intake = {"agii-mail": Watcher(), "drop": IntakeStatus().succeeded(office.clock.now())}
    status = build_status(office.ctx)
    assert status["health"]["intake"] == [
        {"name": "agii-mail", "state": "failing", "last_success": None, "last_error_id": "imap-auth", "refused": []},
        {"name": "drop", "state": "ok", "last_success": "2026-10-02T09:00:00Z", "last_error_id": None,
         "refused": []}]
    assert "intake-failing" in codes(status["problems"])


def test_no_personal_data_in_status(office: Office) -> None:
    text = json.dumps(build_status(office.ctx), ensure_ascii=False)
    for canary in (CANARY, CANARY_NOTE, "85.07.30-033.28", "Kerkstraat", "an.vermeulen"):
        assert canary not in text


def test_the_table_shows_overdue_purges_in_red(office: Office) -> None:
    status = build_status(office.ctx)

    @click.command()
    def show() -> None:
        status_view.echo_status(status)

    result = CliRunner().invoke(show, color=True)
    assert result.exit_code == 0, result.output
    red = [line for line in result.output.splitlines() if "\x1b[31m" in line]
    assert any(office.ids["overdue"] in line for line in red)
    assert any(translate("{count} purges are overdue: run 'retention-agent purge --due' and find out why", count=1)
               .format(count=1) in line for line in red)
    plain = CliRunner().invoke(show).output
    assert "Tom" not in plain  # staff names are not needed on this screen
    for item in checklist.IDS:
        assert item in plain


def test_queries_use_the_partial_indexes(office: Office) -> None:
    for where, index in ((audit_query.DENIED, "audit_denied"), (audit_query.OPENED, "audit_opened")):
        plan = office.ctx.store.query(f"EXPLAIN QUERY PLAN SELECT entry FROM audit WHERE {where} "
                                      "AND seq >= ? AND seq < ? ORDER BY seq", (1, 10))
        assert any(index in row["detail"] for row in plan), plan


def test_a_lapsed_channel_is_a_warning_only_while_an_intake_takes_it(tmp_path: Path) -> None:
    quiet = new_office(tmp_path / "quiet")
    try:
        assert "channel-lapsed" not in codes(build_status(quiet.ctx)["warnings"])
    finally:
        quiet.close()
    mail = new_office(tmp_path / "mail", config=f'[[inbox]]\npath = "{tmp_path}"\nchannel = "email"\n')
    try:
        status = build_status(mail.ctx)
        assert status["legal_bases"][0]["intake_configured"] is True
        assert "channel-lapsed" in codes(status["warnings"])
    finally:
        mail.close()
