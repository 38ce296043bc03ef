"""People read Brussels local time in their language's format; JSON output and signed documents keep UTC.

The unit tests pin the conversion (a winter evening, both DST changes of 2026); the tour runs the real agent
and the real command line, as a staff member (a real OS account) and as the privacy officer, through the
commands a person reads, in Dutch, and fails on any ISO date or UTC timestamp in what they print.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from retention_agent.clock import BRUSSELS
from retention_agent.errors import DeliveryPurgedError
from retention_agent.i18n import catalogue as i18n
from retention_agent.session.status_table import table_lines
from retention_agent.store import notifications as notify

# ---- the conversion -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stored", "nl", "en"), [
    ("2026-11-28T19:00:30Z", "28/11/2026 20:00", "28/11/2026 20:00"),  # winter: UTC+1
    ("2026-07-01T19:00:30Z", "1/07/2026 21:00", "01/07/2026 21:00"),  # summer: UTC+2; nl-BE: d/MM/y
    # last Sunday of March: 02:00 CET becomes 03:00 CEST
    ("2026-03-29T00:59:59Z", "29/03/2026 01:59", "29/03/2026 01:59"),
    ("2026-03-29T01:00:00Z", "29/03/2026 03:00", "29/03/2026 03:00"),
    # last Sunday of October: 03:00 CEST becomes 02:00 CET
    ("2026-10-25T00:59:00Z", "25/10/2026 02:59", "25/10/2026 02:59"),
    ("2026-10-25T01:00:00Z", "25/10/2026 02:00", "25/10/2026 02:00"),
    # the evening of the 31st in UTC is already the next year in Brussels
    ("2026-12-31T23:30:00Z", "1/01/2027 00:30", "01/01/2027 00:30"),
])
def test_a_stored_utc_moment_is_shown_in_brussels_time(stored: str, nl: str, en: str) -> None:
    assert i18n.for_people(stored, "nl") == nl
    assert i18n.for_people(stored, "en") == en
    assert i18n.for_people(datetime.fromisoformat(stored), "nl") == nl
    assert i18n.for_people(datetime.fromisoformat(stored).astimezone(BRUSSELS), "en") == en


def test_dates_are_shown_in_the_languages_format_and_other_values_as_they_are() -> None:
    assert i18n.for_people("2026-12-12", "nl") == "12/12/2026"
    assert i18n.for_people(date(2026, 12, 12), "en") == "12/12/2026"
    for value in ("2026-11", "2026-Q4", "01JD5Z8K3Q4W7E2R9T6Y", "2026-13-45", 12, None, "abc 2026-12-12"):
        assert i18n.for_people(value, "nl") == value


def test_the_open_message_says_when_the_copy_is_wiped_in_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTION_AGENT_LANG", "nl")
    text = i18n.t("Opened copy: {path} (wiped automatically at {wipe_at}).", path="/w/x.xlsx",
                  wipe_at="2026-11-28T19:00:30Z")
    assert text == "Geopende kopie: /w/x.xlsx (wordt automatisch gewist op 28/11/2026 20:00)."


def test_errors_notifications_and_tables_show_local_time() -> None:
    error = DeliveryPurgedError(delivery="01JD", purged_at="2026-11-28T19:00:30Z")
    assert "28/11/2026 20:00" in error.render("nl") and "T19" not in error.render("nl")
    assert "28/11/2026 20:00" in error.render("en")
    reminder = notify.render("purge-soon", {"delivery": "01JD", "deadline": "2026-12-12", "days": 3}, "nl")
    assert "12/12/2026" in reminder and "2026-12-12" not in reminder
    assert "28/11/2026 20:00" in "\n".join(table_lines(["a"], [["2026-11-28T19:00:30Z"]]))
