"""The audit log: append and verify on a real store, then try to break invariant 5 — edit, insert, delete,
reorder, truncate, rewrite, forge — directly in SQLite, in process and through the real agent and CLI.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_audit.py.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from retention_agent.crypto import SigningKey
from retention_agent.evidence import checkpoint as notes
from retention_agent.system.home import Home
from tests.support.agent import AgentProcess, shared_agent
from tests.unit.test_audit import Tamperer

# ---- through the real agent and the CLI ----------------------------------------------------------------


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[AgentProcess, Path]]:
    """One real agent for the tampering scenarios, and a copy of its database from before any of them."""
    with shared_agent() as process:
        pristine = process.home.parent / "pristine.db"
        copy_database(process.home / "agent.db", pristine)
        yield process, pristine


@pytest.fixture
def running(shared: tuple[AgentProcess, Path]) -> AgentProcess:
    """The shared agent, its database put back as it was before the previous scenario tampered with it."""
    process, pristine = shared
    copy_database(pristine, process.home / "agent.db")
    return process


def copy_database(source: Path, target: Path) -> None:
    """SQLite's online backup: safe while the agent has ``target`` open, which then sees the new content."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target, timeout=10)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def tamper(home: Home, change: Callable[[Tamperer], None]) -> None:
    conn = sqlite3.connect(home.database, isolation_level=None, timeout=10)
    try:
        change(Tamperer(conn))
    finally:
        conn.close()


def edit_and_hide(t: Tamperer) -> None:
    t.edit(1, actor="somebody-else")
    t.rechain()
    t.rewrite_frontier()


def forge_stored_checkpoint(t: Tamperer) -> None:
    origin = notes.parse(t.conn.execute("SELECT note FROM checkpoints").fetchone()[0])[0].origin
    t.add_checkpoint(3, notes.sign(notes.Checkpoint(origin, 3, b"\x00" * 32), origin, SigningKey.generate()))


# The agent's log when it is tampered with: 1 installation.created, 2 staff.changed (signed checkpoint 2,
# from init), 3 agent.started. The `audit verify` request is itself entry 4, written before the check.
CLI_TAMPERING: dict[str, tuple[Callable[[Tamperer], None], str]] = {
    "edit": (lambda t: t.edit(2, details={"before": [], "after": ["officer", "read"]}),
             "Finding: entry 3 does not follow entry 2"),
    "edit-rechain-rewrite": (edit_and_hide, "Finding: the first 2 entries no longer match stored checkpoint 2"),
    "delete": (lambda t: t.delete(3), "Finding: entry 3 is out of place (numbered 4)"),
    "reorder": (lambda t: t.swap(2, 3), "Finding: entry 2 was changed"),
    "truncate": (lambda t: t.truncate(2), "Finding: the log holds 3 entries but the agent recorded 4"),
    "forged-checkpoint": (forge_stored_checkpoint,
                          "Finding: stored checkpoint 3 is not a checkpoint of this log signed by this installation"),
    # a row slipped in where the agent's next entry goes: the request cannot be audited, so it is refused
    "insert": (lambda t: t.insert(2), "The audit log does not verify: an entry 4 exists, but the agent recorded 3"),
}


@pytest.mark.parametrize("scenario", sorted(CLI_TAMPERING))
def test_audit_verify_exits_4_on_tampering(running: AgentProcess, scenario: str) -> None:
    change, expected = CLI_TAMPERING[scenario]
    tamper(Home(running.home), change)
    result = running.cli("audit", "verify")
    assert result.returncode == 4, (result.stdout, result.stderr)
    assert expected in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_audit_verify_against_a_checkpoint_held_elsewhere(running: AgentProcess, tmp_path: Path) -> None:
    home = Home(running.home)
    exported = running.cli("audit", "checkpoint")
    assert exported.returncode == 0
    body, _, signature = exported.stdout.decode().partition("\n\n")
    assert body.startswith("retention-agent/de-panne/")
    assert signature.startswith("\u2014 retention-agent/de-panne/")
    cp, _ = notes.parse(exported.stdout)
    assert cp.size == 4  # init 2, agent.started, audit.checkpoint
    held = tmp_path / "checkpoint-2026-10.txt"
    held.write_bytes(exported.stdout)

    honest = running.cli("audit", "verify", "--checkpoint", str(held), "--json")
    assert honest.returncode == 0, honest.stderr
    report = json.loads(honest.stdout)
    assert (report["ok"], report["size"], report["findings"]) == (True, 5, [])
    assert report["checkpoints_checked"] >= 2  # the file and init's; the agent may have signed others

    def rewrite(t: Tamperer) -> None:  # keep only entry 1, as if nothing had happened since init
        t.truncate(1)
        t.drop_checkpoints_above(1)
        t.rewrite_frontier()

    tamper(home, rewrite)
    local = running.cli("audit", "verify")
    assert local.returncode == 0, "a full same-host rewrite passes the local checks"
    caught = running.cli("audit", "verify", "--checkpoint", str(held))
    assert caught.returncode == 4
    assert "Finding: the log has 3 entries but checkpoint file 1 covers 4: the log was truncated" in (
        caught.stderr.decode())
