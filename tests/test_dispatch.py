"""The request dispatcher in process (the real one, with a session object in place of the socket): what an
unexpected exception, a database error, a refusal below the disk floor and an upkeep VACUUM leave behind."""

from __future__ import annotations

import contextlib
import io
import logging
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from retention_agent.api import handlers
from retention_agent.api.server import Session
from retention_agent.clock import ManualClock
from retention_agent.errors import DiskSpaceLowError
from retention_agent.rules.access import REQUIRED_ROLES
from retention_agent.runtime.agent import build_context
from retention_agent.runtime.context import AgentContext
from retention_agent.runtime.upkeep import IDLE_S, DatabaseUpkeep
from retention_agent.status.document import build_status
from retention_agent.store.database import INCREMENTAL
from retention_agent.store.diskspace import FreeSpace, floor_bytes
from retention_agent.system.home import Home
from tests.conftest import ME, make_home
from tests.report_support import request


@pytest.fixture
def op() -> Iterator[list[Any]]:
    """A test operation ``test.op`` (officer only) that runs whatever the test puts in the list."""
    actions: list[Any] = []
    REQUIRED_ROLES["test.op"] = frozenset({"officer"})  # type: ignore[index]

    @handlers.operation("test.op")
    def run(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
        actions[0](ctx)
        session.reply("done")

    yield actions
    del handlers.REGISTRY["test.op"]
    del REQUIRED_ROLES["test.op"]  # type: ignore[attr-defined]


def failed_entries(ctx: AgentContext) -> list[dict[str, Any]]:
    return [e for e in ctx.audit.entries() if e["outcome"] == "failed"]


def test_an_unexpected_exception_is_an_internal_error_logged_once_with_its_stack_and_uid(
        ctx: AgentContext, op: list[Any], caplog: pytest.LogCaptureFixture) -> None:
    """It used to be answered as a "usage" error and logged without a stack: a bug looked like a user mistake."""
    typed = "88031412365"  # what a caller sent, which an exception's message may quote

    def boom(_ctx: AgentContext) -> None:
        raise KeyError(typed)

    op.append(boom)
    with caplog.at_level(logging.WARNING, logger="retention_agent"):
        first = request(ctx, ME, "test.op")
        again = request(ctx, ME, "test.op")
    for session in (first, again):
        [error] = session.errors
        assert (error.error_id, error.exit_code, error.params["problem"]) == ("internal", 1, "KeyError")
    logged = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert len(logged) == 1, "once a minute for the same failure"
    text = logged[0].getMessage()
    assert "uid 4242" in text and "Traceback" in text and "builtins.KeyError" in text
    assert "88031412365" not in text
    assert [(e["action"], e["details"]) for e in failed_entries(ctx)] == [
        ("test.op", {"uid": 4242, "error": "internal"})] * 2  # the fallback entry of each failed request


def test_a_database_error_is_told_by_its_code_not_by_the_words_of_its_message(
        ctx: AgentContext, op: list[Any], tmp_path: Path) -> None:
    def no_such_table(context: AgentContext) -> None:
        context.store.conn.execute("SELECT * FROM full")  # "no such table: full": not a full disk

    def really_full(context: AgentContext) -> None:
        with contextlib.closing(sqlite3.connect(tmp_path / "small.db")) as small:
            small.execute("PRAGMA max_page_count = 2")
            small.execute("CREATE TABLE t(x)")
            small.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))  # SQLITE_FULL

    def busy(context: AgentContext) -> None:
        with contextlib.closing(sqlite3.connect(tmp_path / "busy.db", isolation_level=None)) as holder, \
                contextlib.closing(sqlite3.connect(tmp_path / "busy.db", timeout=0, isolation_level=None)) as other:
            holder.execute("BEGIN EXCLUSIVE")
            other.execute("SELECT * FROM sqlite_master")  # SQLITE_BUSY: "database is locked"

    found = []
    for action in (no_such_table, really_full, busy):
        op[:] = [action]
        [error] = request(ctx, ME, "test.op").errors
        found.append(error.error_id)
    assert found == ["internal", "disk-full", "database-locked"]


def test_below_the_disk_floor_accounts_outside_the_list_and_intake_are_refused_and_status_says_so(
        ctx: AgentContext) -> None:
    ctx.free_space = FreeSpace(ctx.home.root, floor_mib=1 << 30, floor_percent=100, monotonic=ctx.clock.monotonic)
    [refused] = request(ctx, "mallory", "deliveries").errors
    assert refused.error_id == "disk-space-low"
    entry = ctx.audit.entries()[-1]
    assert (entry["actor"], entry["action"], entry["outcome"], entry["details"]["reason"]) == (
        "mallory", "deliveries", "denied", "disk-space-low")
    ctx.ingest.room = ctx.free_space.require_room
    with pytest.raises(DiskSpaceLowError):
        ctx.ingest.receive(io.BytesIO(b"x"), channel="manual", source="manual", quarantine=False, actor=ME)
    assert ctx.store.scalar("SELECT COUNT(*) FROM pending_objects") == 0
    assert request(ctx, ME, "staff.list").errors == []  # staff work goes on: status, purges, proofs
    status = build_status(ctx)
    assert status["health"]["disk"]["low"] is True and status["compliant"] is False
    assert "disk-space-low" in [p["code"] for p in status["problems"]]


def test_the_floor_is_the_smaller_of_its_two_figures() -> None:
    assert floor_bytes(10 << 30, 100, 5) == 100 << 20  # a 10 GiB disk: 100 MiB
    assert floor_bytes(1 << 30, 100, 5) == int((1 << 30) * 0.05)  # a 1 GiB disk: 5 % of it
    assert floor_bytes(1 << 30, 0, 5) == 0


def _old_style_home(root: Path, clock: ManualClock) -> Home:
    """A home whose database was created before incremental auto-vacuum was used."""
    home = make_home(root, clock=clock)
    with contextlib.closing(sqlite3.connect(home.database, isolation_level=None)) as db:
        db.execute("PRAGMA auto_vacuum = NONE")
        db.execute("VACUUM")
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    return home


def test_an_existing_database_is_switched_to_incremental_vacuum_only_when_quiet(tmp_path: Path) -> None:
    clock = ManualClock()
    ctx = build_context(_old_style_home(tmp_path / "home", clock), clock)
    try:
        upkeep = DatabaseUpkeep(ctx)
        assert upkeep() is False  # needed, there is room, but the agent just started
        clock.advance(timedelta(seconds=IDLE_S - 1))
        request(ctx, ME, "staff.list")  # someone works
        clock.advance(timedelta(seconds=IDLE_S - 1))
        assert upkeep() is False
        clock.advance(timedelta(seconds=2))
        assert upkeep() is True
        assert ctx.store.size_facts()["auto_vacuum"] == INCREMENTAL
        assert upkeep() is False  # done once
        [entry] = [e for e in ctx.audit.entries() if e["action"] == "database.vacuumed"]
        assert entry["details"]["auto_vacuum"] == INCREMENTAL and entry["details"]["wal_bytes"] == 0
    finally:
        ctx.store.close()


def test_no_vacuum_without_room_for_it(tmp_path: Path) -> None:
    clock = ManualClock()
    ctx = build_context(_old_style_home(tmp_path / "home", clock), clock)
    try:
        reading = ctx.free_space.reading()
        # a floor that leaves less than twice the database free
        ctx.free_space = FreeSpace(ctx.home.root, floor_mib=(reading.free >> 20) - 1, floor_percent=100,
                                   monotonic=clock.monotonic)
        clock.advance(timedelta(seconds=IDLE_S + 1))
        assert DatabaseUpkeep(ctx)() is False
        assert ctx.store.size_facts()["auto_vacuum"] != INCREMENTAL
    finally:
        ctx.store.close()
