"""People read Brussels local time in their language's format; JSON output and signed documents keep UTC.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_local_time.py.
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
from retention_agent.i18n import catalogue as i18n
from retention_agent.rules import retention
from tests.support.accounts import as_account, create_account, needs_root, remove_account
from tests.support.agent import ME, AgentProcess, make_home
from tests.support.retention import api, fast_ticks, received_days_ago, wait_for

# what must never reach a person: a stored UTC moment, any ISO timestamp, or an ISO date
ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d|\d\d:\d\d:\d\dZ")
ISO_DAY = re.compile(r"(?<![\d-])\d{4}-\d\d-\d\d(?![\d-])")


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
    i18n.catalogue("nl")  # everything it runs is loaded beforehand (Babel: tests/support/accounts.py)
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
