"""People read Brussels local time in their language's format; JSON output and signed documents keep UTC.

The unit tests pin the conversion (a winter evening, both DST changes of 2026); the tour runs the real agent
and the real command line, as a staff member (a real OS account) and as the privacy officer, through the
commands a person reads, in Dutch, and fails on any ISO date or UTC timestamp in what they print.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from retention_agent.cli.main import main, register_commands
from retention_agent.clock import BRUSSELS
from retention_agent.errors import DeliveryPurgedError
from retention_agent.i18n import catalogue as i18n
from retention_agent.rules import retention
from retention_agent.session.status_table import table_lines
from retention_agent.store import notifications as notify
from tests.accounts import as_account, create_account, needs_root, remove_account
from tests.conftest import ME, AgentProcess, make_home
from tests.retention_support import api, fast_ticks, received_days_ago, wait_for

# what must never reach a person: a stored UTC moment, any ISO timestamp, or an ISO date
ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d|\d\d:\d\d:\d\dZ")
ISO_DAY = re.compile(r"(?<![\d-])\d{4}-\d\d-\d\d(?![\d-])")


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


# ---- the tour -----------------------------------------------------------------------------------------------


def deadline_in(days: int) -> date:
    """A ceremony date whose deadline (one month later) is ``days`` days from today in Brussels."""
    today = datetime.now(BRUSSELS).date()
    for back in range(25, 35):
        ceremony = today - timedelta(days=back)
        if retention.add_months_clipped(ceremony, 1) == today + timedelta(days=days):
            return ceremony
    raise AssertionError("no ceremony date found")


class Tour:
    def __init__(self, home: Path, clerk: str, workdir: Path) -> None:
        self.home, self.clerk, self.workdir = home, clerk, workdir
        self.printed: list[tuple[str, str]] = []  # (command, what a person read)

    def run(self, who: str, *args: str, env: dict[str, str | None] | None = None, ok: bool = True) -> str:
        """The real command line as ``who`` (the clerk's OS account, or this process: the officer), Dutch by
        default (no language chosen)."""
        command = ["--home", str(self.home), *args]

        def invoke() -> tuple[int, str, str]:
            result = CliRunner().invoke(main, command, env={"RETENTION_AGENT_LANG": None, **(env or {})})
            return result.exit_code, result.stdout, result.stderr

        code, out, err = as_account(self.clerk, invoke) if who == "clerk" else invoke()
        assert (code == 0) == ok, (args, code, out, err)
        self.printed.append((" ".join(args), out + err))
        return out + err


@pytest.fixture
def tour() -> Iterator[Tour]:
    register_commands()  # the clerk's child process cannot read this Python's files under /root:
    i18n.catalogue("nl")  # everything it runs is loaded beforehand (Babel: tests/accounts.py)
    clerk = f"ra17-clerk-{os.getpid() % 10000}"
    create_account(clerk)
    base = Path(tempfile.mkdtemp(prefix="ra-tour-", dir="/var/tmp"))  # reachable by the clerk
    try:
        base.chmod(0o755)
        home = make_home(base / "home")
        fast_ticks(home.root)
        workdir = base / "clerk"
        workdir.mkdir()
        shutil.chown(workdir, clerk, clerk)
        yield Tour(home.root, clerk, workdir)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        remove_account(clerk)


@needs_root
def test_a_tour_of_the_commands_shows_local_time_and_the_json_keeps_utc(tour: Tour) -> None:
    home = tour.home
    soon = received_days_ago(home, 60, b"%PDF-1.7\n AgII list with a ceremony soon")
    spare = received_days_ago(home, 60, b"%PDF-1.7\n AgII list destroyed early")
    held = received_days_ago(home, 10, b"%PDF-1.7\n AgII list under a legal hold")
    odd = received_days_ago(home, 1, b"not an AgII file", quarantine=True)
    agent = AgentProcess(home).start()
    try:
        api(home, "staff.add", {"account": ME, "name": "Officer", "roles": ["officer", "destroy"]})
        api(home, "staff.add", {"account": tour.clerk, "name": "Clerk", "roles": ["import", "read", "modify"]})
        _clerk_tour(tour, soon)
        _officer_tour(tour, soon, spare, held, odd)
    finally:
        agent.stop()

    assert len(tour.printed) > 20
    iso = [(command, line) for command, text in tour.printed for line in text.splitlines()
           if ISO_MOMENT.search(line) or ISO_DAY.search(line)]
    assert iso == []


def _clerk_tour(tour: Tour, soon: str) -> None:
    source = tour.workdir / "inburgeraars.pdf"
    source.write_bytes(b"%PDF-1.7\n AgII list added by the clerk")
    shutil.chown(source, tour.clerk, tour.clerk)
    tour.run("clerk", "whoami")
    added = tour.run("clerk", "ingest", str(source))
    new = re.search(r"in de kluis als (\w+)", added)
    assert new, added
    listed = tour.run("clerk", "deliveries")
    assert i18n.format_day(datetime.now(BRUSSELS).date(), "nl") in listed, listed  # received today, local date
    ceremony = deadline_in(3)
    recorded = tour.run("clerk", "ceremony", "set", soon, "--date", ceremony.isoformat())
    assert i18n.format_day(ceremony, "nl") in recorded, recorded
    tour.run("clerk", "ceremony", "list")
    opened = tour.run("clerk", "open", new.group(1), "--purpose", "invite", "--no-launch")
    wipe = re.search(r"wordt automatisch gewist op (\d{1,2}/\d\d/\d{4} \d\d:\d\d)\)", opened)
    assert wipe, opened
    shown = datetime.strptime(wipe.group(1), "%d/%m/%Y %H:%M").replace(tzinfo=BRUSSELS)
    assert abs(shown - (datetime.now(UTC) + timedelta(hours=8))) < timedelta(minutes=5)  # local, not UTC
    tour.run("clerk", "open", new.group(1), "--purpose", "phone", "--to", str(tour.workdir))


def _officer_tour(tour: Tour, soon: str, spare: str, held: str, odd: str) -> None:
    home = tour.home
    out = tour.workdir.parent / "officer"
    out.mkdir()
    until = datetime.now(BRUSSELS).date() + timedelta(days=90)
    tour.run("officer", "hold", held, "--reason", "klacht 2026/17", "--until", until.isoformat())
    tour.run("officer", "checklist", "set", "website", "--done", "2026-02-01", "--evidence", "www.gemeente.be")
    tour.run("officer", "quarantine", "release", odd, "--reason", "nieuw formaat")
    tour.run("officer", "purge", spare, "--reason", "ceremonie geannuleerd", "--yes")
    refused = tour.run("clerk", "open", spare, "--purpose", "invite", "--no-launch", ok=False)
    assert "vernietigd" in refused or "gewist" in refused, refused
    wait_for(lambda: any(n["kind"] == "purge-soon" for n in api(home, "notifications")["notifications"]), 60,
             "the reminder of the coming purge")
    for command in (["status"], ["deliveries"], ["audit", "show"], ["proof", "list"], ["ceremony", "list"],
                    ["staff", "list"], ["whoami"], ["audit", "verify"], ["vault", "verify"], ["keys", "public"]):
        tour.run("officer", *command)
    summary = tour.run("officer", "report")
    assert "Rapport voor de DPO" in summary and "{" not in summary, summary
    tour.run("officer", "proof", "export", spare, "--out", str(out))
    verified = tour.run("officer", "proof", "verify", str(out / f"{spare}.json"))
    assert re.search(r"\d{1,2}/\d\d/\d{4} \d\d:\d\d", verified), verified
    shown = tour.run("officer", "notifier", "--once", "--no-sweep",
                     env={"XDG_STATE_HOME": str(out / "state"), "DISPLAY": None, "WAYLAND_DISPLAY": None,
                          "DBUS_SESSION_BUS_ADDRESS": None})
    assert soon in shown, shown

    # the JSON output and the signed proof keep UTC
    rows: list[dict[str, Any]] = json.loads(tour.run("officer", "deliveries", "--json"))
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["received_at"]) for r in rows)
    tour.printed.pop()
    proof = json.loads((out / f"{spare}.json").read_text())
    assert proof["purged_at"].endswith("Z")
