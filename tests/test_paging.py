"""Lists of any length over the API's 1 MiB frames: deliveries, the audit log and proofs in pages with a cursor,
through the real agent and the real command line; an answer that still does not fit is an internal error."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from retention_agent.api.client import Client
from retention_agent.audit.log import AuditLog
from retention_agent.clock import SystemClock, utc_iso
from retention_agent.evidence.checkpoint import log_origin
from retention_agent.store.database import Store
from retention_agent.system.home import Home
from retention_agent.system.init_home import load_signing_key
from retention_agent.vault.keys import FileKeyStore
from tests.conftest import ME, AgentProcess, make_home

DELIVERIES = 4000  # each row is about 350 bytes of JSON: 1.4 MB in all, more than one frame
PROOFS = 5200
ENTRIES = 2500
PADDING = "x" * 700  # audit entries of about 1 KB


def ulid(n: int) -> str:
    return f"01K{n:023d}"


def fill_home(home: Home) -> None:
    """Rows as a long-lived home has them, written beside the running agent (SQLite serialises the writers)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with contextlib.closing(sqlite3.connect(home.database, timeout=30)) as db, db:
        db.executemany(
            "INSERT INTO deliveries(id, received_at, channel, source, sha256, size, key_id, state, legal_basis, "
            "purged_at) VALUES (?, ?, 'zivver', 'agii', ?, 40000, ?, 'purged', 'VCMP-05-2024', ?)",
            [(ulid(n), utc_iso(now), hashlib.sha256(str(n).encode()).hexdigest(), f"{n:032x}", utc_iso(now))
             for n in range(DELIVERIES)])
        db.executemany(
            "INSERT INTO purges(delivery_id, trigger, reason, requested_by, started_at, finished_at, proof_sha256) "
            "VALUES (?, 'schedule', 'deadline', 'agent', ?, ?, ?)",
            [(f"01P{n:023d}", utc_iso(now), utc_iso(now + timedelta(seconds=n // 3)), "ab" * 32)
             for n in range(PROOFS)])
    store = Store.open(home.database)
    try:
        key = load_signing_key(FileKeyStore(home.keys))
        audit = AuditLog(store, SystemClock(), key, log_origin("de-panne", store.get_meta("installation_id") or ""))
        audit.append_many((SystemClock().now(), "medewerker", "deliveries", "granted", [ulid(n)],
                           {"uid": 1000, "n": n, "padding": PADDING}) for n in range(ENTRIES))
    finally:
        store.close()


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    home = make_home(tmp_path_factory.mktemp("paging") / "home")
    agent = AgentProcess(home.root, env={"RETENTION_AGENT_LANG": "en"}).start()
    fill_home(home)
    yield agent
    assert agent.stop() == 0


def test_the_command_line_lists_every_delivery_page_by_page(big: AgentProcess) -> None:
    done = big.cli("deliveries", "--json")
    assert done.returncode == 0, done.stderr.decode()[-500:]
    rows = json.loads(done.stdout)
    assert [r["id"] for r in rows] == [ulid(n) for n in range(DELIVERIES)]


def test_the_command_line_lists_every_proof_page_by_page(big: AgentProcess) -> None:
    done = big.cli("proof", "list", "--json")
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert [r["delivery"] for r in json.loads(done.stdout)] == [f"01P{n:023d}" for n in range(PROOFS)]


def test_audit_show_pages_both_ways_without_gaps_or_overlaps(big: AgentProcess) -> None:
    done = big.cli("audit", "show", "--limit", "100000", "--oldest-first", "--json")
    assert done.returncode == 0, done.stderr.decode()[-500:]
    shown = json.loads(done.stdout)
    seqs = [e["seq"] for e in shown["entries"]]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= ENTRIES and shown["next"] is None
    with Client(big.home / "agent.sock") as client:
        first = client.call("audit.show", {"limit": 1000, "order": "desc"})
        assert len(json.dumps(first)) < 1 << 20 and first["next"]
        newest = [e["seq"] for e in client.pages("audit.show", "entries", {"order": "desc", "limit": 700})]
    assert newest == list(range(newest[0], 0, -1))  # the newest first, every entry once


def test_an_answer_that_cannot_fit_a_frame_is_an_internal_error_not_a_usage_error(big: AgentProcess) -> None:
    store = Store.open(big.home / "agent.db")
    try:
        key = load_signing_key(FileKeyStore(big.home / "keys"))
        audit = AuditLog(store, SystemClock(), key, log_origin("de-panne", store.get_meta("installation_id") or ""))
        seq = audit.append("agent", "report.made", "ok", [], {"padding": "y" * (1200 * 1024)})  # one huge entry
    finally:
        store.close()
    done = big.cli("audit", "show", "--after", str(seq - 1), "--limit", "1", "--oldest-first")
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "unexpected problem (reply-too-large)" in stderr and "Traceback" not in stderr
    assert big.cli("staff", "list").returncode == 0  # the agent goes on
    assert ME in big.cli("whoami").stdout.decode()
