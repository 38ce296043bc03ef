"""The desktop app's Qt-free logic: which views a role sees, rows, filters, the timeline, the status page, words,
nl-BE dates. No Qt is imported here."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from retention_agent.app import roles, settings, status_page, timeline
from retention_agent.app.audit_rows import AuditFilter, audit_table, newest_first, window
from retention_agent.app.rows import (
    DeliveryFilter,
    count_needing_date,
    days_left,
    deliveries_table,
    needs_ceremony_date,
)
from retention_agent.i18n import catalogue as i18n
from retention_agent.rules import access
from retention_agent.session.words import AUDIT_ACTIONS, CHANNELS, STATES

ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 2)


def _row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {"id": "01JD5Z8K3Q4W7E2R9T6Y", "state": "vaulted", "received_at": "2026-10-30T09:15:00Z",
                              "channel": "email", "source": "agii", "size": 10, "sha256": "00", "ceremony_date": None,
                              "deadline": None, "due_at": "2028-10-30T23:00:00Z", "hold_until": None,
                              "legal_basis": "VCMP-05-2024", "openings": 2}
    row.update(changes)
    return row


def test_the_qt_free_modules_import_no_qt() -> None:
    app = [ROOT / "retention_agent" / "app" / f"{name}.py"
           for name in ("roles", "rows", "audit_rows", "timeline", "status_page", "session", "settings")]
    for path in [*app, *(ROOT / "retention_agent" / "session").glob("*.py")]:
        name = path.name
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(m.startswith("PySide6") for m in imported), name


# ---- roles ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("granted", "views"), [
    ({"import"}, ["deliveries"]),
    ({"read"}, ["deliveries", "timeline"]),
    ({"modify"}, ["deliveries", "timeline"]),
    ({"officer"}, ["deliveries", "timeline", "status", "audit", "proofs", "reports", "staff"]),
    (set(), []),
])
def test_views_follow_the_agents_own_table(granted: set[str], views: list[str]) -> None:
    assert [v.key for v in roles.views_for(granted)] == views


def test_actions_follow_the_agents_own_table() -> None:
    assert roles.delivery_actions({"read"}) == {"add": False, "list": True, "ceremony": False, "open": True,
                                                "destroy": False, "release": False}
    assert roles.delivery_actions({"officer"})["ceremony"] and not roles.delivery_actions({"officer"})["open"]
    assert roles.delivery_actions({"officer"})["release"] and not roles.delivery_actions({"destroy"})["release"]
    for action in roles.DELIVERY_ACTIONS.values():
        assert action in access.REQUIRED_ROLES


def test_every_audited_action_has_words() -> None:
    """Each request the agent decides, and each event it records, is shown in words, not as a code."""
    events = set()
    for path in (ROOT / "retention_agent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "append" and len(node.args) >= 3:
                action = node.args[1]
                if isinstance(action, ast.Constant) and isinstance(action.value, str) and "." in action.value:
                    events.add(action.value)
    missing = (set(access.REQUIRED_ROLES) | events) - set(AUDIT_ACTIONS)
    assert not missing, f"add these audit actions to session/words.py: {sorted(missing)}"


# ---- deliveries ------------------------------------------------------------------------------------------


def test_the_needs_a_date_group_and_days_left() -> None:
    waiting, scheduled = _row(), _row(state="scheduled", ceremony_date="2026-11-20", deadline="2026-12-20")
    held = _row(state="held")
    assert needs_ceremony_date(waiting) and needs_ceremony_date(held) and not needs_ceremony_date(scheduled)
    assert not needs_ceremony_date(_row(state="quarantined"))
    assert count_needing_date([waiting, scheduled, held]) == 2
    assert days_left(scheduled, TODAY) == 48 and days_left(_row(state="purged"), TODAY) is None


def test_delivery_rows_in_dutch_and_english() -> None:
    table = deliveries_table(TODAY)
    row = _row(state="scheduled", ceremony_date="2026-11-20", deadline="2026-12-20")
    assert table.headers("nl")[:4] == ["Levering", "Ontvangen", "Bron", "Toestand"]
    assert table.cells(row, "nl") == ["01JD5Z8K3Q4W7E2R9T6Y", "30/10/2026 10:15", "e-mail", "gepland", "20/11/2026",
                                      "20/12/2026", "48", "2"]
    assert table.cells(_row(), "nl")[5] == "uiterlijk 30/10/2028"
    assert table.cells(row, "en")[3] == "scheduled"
    overdue = _row(state="scheduled", ceremony_date="2026-09-01", deadline="2026-10-01")
    assert table.flags(overdue) == {"overdue"} and table.flags(_row(state="held")) >= {"held"}


def test_every_state_and_channel_has_dutch_words() -> None:
    for code, text in {**STATES, **CHANNELS}.items():
        assert i18n.translate(text, "nl"), code


def test_the_delivery_filter() -> None:
    live, purged = _row(), _row(id="01JD5Z8K3Q4W7E2R9XXXXX", state="purged")
    assert DeliveryFilter().matches(live) and not DeliveryFilter().matches(purged)
    assert DeliveryFilter("all").matches(purged) and DeliveryFilter("purged").matches(purged)
    assert not DeliveryFilter("purged").matches(live)
    assert DeliveryFilter("all", "xxxxx").matches(purged) and not DeliveryFilter("all", "xxxxx").matches(live)


# ---- audit -------------------------------------------------------------------------------------------------


def _entry(seq: int, **changes: object) -> dict[str, object]:
    entry: dict[str, object] = {"v": 1, "seq": seq, "time": "2026-11-01T23:30:00Z", "actor": "mpeeters",
                                "action": "delivery.opened", "subject": ["01JD5Z8K3Q4W7E2R9T6Y"], "outcome": "ok",
                                "details": {"purpose": "phone"}, "prev": "00"}
    entry.update(changes)
    return entry


def test_audit_filter_by_delivery_account_purpose_result_and_local_period() -> None:
    opened, denied = _entry(1), _entry(2, action="open", outcome="denied", actor="jdewit", details={"uid": 1})
    assert AuditFilter(delivery="r9t6y").matches(opened) and not AuditFilter(delivery="zzz").matches(opened)
    assert AuditFilter(account="jdewit").matches(denied) and not AuditFilter(account="jdewit").matches(opened)
    assert AuditFilter(purpose="phone").matches(opened) and not AuditFilter(purpose="phone").matches(denied)
    assert AuditFilter(outcome="denied").matches(denied) and not AuditFilter(outcome="denied").matches(opened)
    # 23:30 UTC on 1 November is 2 November in Brussels
    assert AuditFilter(since=date(2026, 11, 2), until=date(2026, 11, 2)).matches(opened)
    assert not AuditFilter(until=date(2026, 11, 1)).matches(opened)


def test_audit_rows_newest_first_with_why_and_result_in_words() -> None:
    entries = newest_first([_entry(1), _entry(3), _entry(2)])
    assert [e["seq"] for e in entries] == [3, 2, 1]
    assert audit_table().cells(_entry(1), "nl") == ["2/11/2026 00:30", "mpeeters", "opende een levering",
                                                   "telefoon", "01JD5Z8K3Q4W7E2R9T6Y", "uitgevoerd", "1"]
    assert window(10, shown=4) == {"after": 6, "limit": 4} and window(3, shown=4) == {"after": 0, "limit": 4}


# ---- timeline ----------------------------------------------------------------------------------------------


def test_timeline_kinds_and_scale() -> None:
    rows = [_row(id="A"), _row(id="B", state="scheduled", ceremony_date="2026-09-01", deadline="2026-10-01"),
            _row(id="C", state="held"), _row(id="D", state="scheduled", ceremony_date="2026-11-20",
                                             deadline="2026-12-20"), _row(id="E", state="purged")]
    scale, bars = timeline.build(rows, TODAY)
    assert {b.delivery: b.kind for b in bars} == {"A": "needs-date", "B": "overdue", "C": "held", "D": "scheduled"}
    assert scale.first <= date(2026, 10, 1) and scale.last >= date(2028, 10, 30)
    assert 0 < scale.fraction(TODAY) < 1 and scale.fraction(date(2000, 1, 1)) == 0.0
    assert scale.months()[0].day == 1
    assert timeline.summary(bars, "nl").startswith("4 leveringen met gegevens; te laat: vervaldag voorbij: 1")


# ---- status page ---------------------------------------------------------------------------------------------


def test_the_status_page_says_why_not_and_escapes_values() -> None:
    status = {
        "compliant": False, "municipality": "De <Panne>", "generated_at": "2026-11-02T09:00:00Z",
        "problems": [{"code": "checklist-open", "message": "{count} conditions of the deliberation are still "
                      "open: {items}", "params": {"count": 2, "items": "commitment, website"}}],
        "warnings": [], "checklist": {"items": [{"description": "A data protection officer is appointed.",
                                                 "done": True, "done_on": "2026-02-01", "evidence": "<b>x</b>"}]},
        "health": {"intake": [{"name": "folder:inbox", "state": "failing", "last_success": None,
                               "last_error_id": "intake-folder-unavailable"}],
                   "key_store": {"backend": "file", "file_store": True}},
    }
    page = status_page.render(status, "nl")
    assert "In orde: NEE" in page and "De &lt;Panne&gt;" in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "ondertekende verbintenis, publicatie op de website" in page
    assert ("dropmap: inbox" in page and "faalt" in page.lower()) or "mislukt" in page.lower()
    assert "bestand in de map van de agent" in page and ">file<" not in page


# ---- settings and dates ------------------------------------------------------------------------------------


def test_language_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RETENTION_AGENT_LANG", raising=False)
    i18n.set_language(None)
    path = tmp_path / "app.json"
    assert settings.choose_language(None, path) == "nl"
    settings.save_language("en", path)
    assert settings.choose_language(None, path) == "en" and settings.choose_language("nl", path) == "nl"
    path.write_text("{broken")
    assert settings.choose_language(None, path) == "nl"


def test_nl_be_dates_in_brussels_time() -> None:
    assert i18n.format_day("2026-11-28", "nl") == "28/11/2026"
    assert i18n.format_day(date(2026, 11, 28), "nl", long=True) == "28 november 2026"
    assert i18n.format_moment("2026-07-28T22:30:00Z", "nl") == "29/07/2026 00:30"  # summer time, next day
    assert i18n.format_moment(datetime(2026, 1, 5, 8, 0, tzinfo=UTC), "nl") == "5/01/2026 09:00"
    assert i18n.format_day(None) == "-" and i18n.format_day("soon") == "soon"
