"""Secure purge and its proof in this process: the real vault and key store, the real SQLite database and the
real ``ssh-keygen``.

The tests of this subject that need no agent process, Dovecot or OS account; the others are in
tests/integration/test_purge.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from retention_agent.clock import ManualClock
from retention_agent.errors import (
    DeliveryHeldError,
    DeliveryStateError,
    VaultIntegrityError,
)
from retention_agent.evidence.proof_verify import verify_proof
from retention_agent.lifecycle import decisions as ceremonies
from retention_agent.lifecycle.opening import _PurgeAware
from retention_agent.lifecycle.purge import Purger
from retention_agent.runtime.agent import build_context
from retention_agent.runtime.context import AgentContext
from retention_agent.vault import workspace
from retention_agent.vault.format import DEFAULT_CHUNK_SIZE
from tests.support.agent import ME, make_home
from tests.support.retention import (
    ingest,
    set_ceremony,
    wait_for,
)


def test_the_purge_itself_refuses_an_early_purge_while_a_hold_lasts_and_not_after(ctx: AgentContext,
                                                                                    clock: ManualClock) -> None:
    """Decided in the purge's own transaction: a hold set after the request was checked still counts; a hold
    that has ended (not yet released) no longer blocks, as for the schedule."""
    purger = Purger(ctx)
    delivery = ingest(ctx, b"held in process " + secrets.token_bytes(500))
    until = (clock.now() + timedelta(days=10)).date()
    ceremonies.hold(ctx, ME, delivery, "complaint 2026/19", until)
    with pytest.raises(DeliveryHeldError):
        purger(delivery, trigger="early", reason="cancelled", requested_by=ME, due_at=None)
    assert ctx.store.scalar("SELECT state FROM deliveries WHERE id = ?", (delivery,)) == "held"
    assert ctx.store.scalar("SELECT count(*) FROM purges") == 0

    clock.advance(timedelta(days=11))  # past the hold's end date
    purger(delivery, trigger="early", reason="cancelled", requested_by=ME, due_at=None)
    assert ctx.store.scalar("SELECT state FROM deliveries WHERE id = ?", (delivery,)) == "purged"


# ---- the purge wins over an opening in progress --------------------------------------------------------------


class PurgeOnFirstWrite:
    """A reader's output that, on the first chunk of plaintext, lets a purge run to the end (in another
    thread, as the API would) before it returns: the opening is exactly mid-way when the purge happens."""

    def __init__(self, ctx: AgentContext, purger: Purger, delivery_id: str) -> None:
        self.ctx, self.purger, self.delivery_id = ctx, purger, delivery_id
        self.received: list[int] = []
        self.purge_result: dict[str, Any] | None = None

    def write(self, data: bytes) -> int:
        self.received.append(len(data))
        if len(self.received) == 1:
            def purge() -> None:
                self.purge_result = self.purger(self.delivery_id, trigger="early", reason="cancelled",
                                                requested_by=ME, due_at=None)

            thread = threading.Thread(target=purge)
            thread.start()
            thread.join(timeout=60)
        return len(data)


def test_an_opening_in_progress_when_the_purge_starts_fails_and_the_purge_wins(ctx: AgentContext) -> None:
    purger = Purger(ctx)
    ctx.health.purging = purger.purging  # what the opening consults, as in the running agent
    content = secrets.token_bytes(5 * DEFAULT_CHUNK_SIZE + 100)  # several vault chunks
    delivery = ingest(ctx, content)
    key_id = str(ctx.store.scalar("SELECT key_id FROM deliveries WHERE id = ?", (delivery,)))
    sink = PurgeOnFirstWrite(ctx, purger, delivery)

    # The next chunk is read from the object the purge overwrote, so decryption fails before the
    # purge-aware writer is asked again: today the opening ends with vault-integrity (a misleading message,
    # reported to the owner of ops_vault) rather than "purging". Either way it ends, and nothing more leaks.
    with pytest.raises((DeliveryStateError, VaultIntegrityError)):
        ctx.vault.read(delivery, key_id, _PurgeAware(ctx, delivery, sink))  # type: ignore[arg-type]
    assert sink.received == [DEFAULT_CHUNK_SIZE]  # not one byte after the purge began
    assert sink.purge_result is not None and sink.purge_result["purged_at"]
    doc = json.loads((ctx.home.proofs / f"{delivery}.json").read_bytes())
    assert all(doc["verification"].values())
    # and any later attempt is refused as "purging/purged", never served from memory
    with pytest.raises(DeliveryStateError):
        _PurgeAware(ctx, delivery, sink).write(b"x")


def test_a_copy_still_being_written_when_the_purge_starts_is_wiped_too(ctx: AgentContext) -> None:
    purger = Purger(ctx)
    delivery = ingest(ctx, b"copy in progress " + secrets.token_bytes(1000))
    set_ceremony(ctx, [delivery], date(2026, 11, 10), purger=purger)
    # what an opening has on disk before it records the copy: the private file, partly written
    workspace.prepare_folder(ctx.home, ME)
    partial = workspace.copy_path(ctx.home, ME, delivery, 7, "xlsx")
    fd = workspace.create_copy(partial)
    os.write(fd, b"PK\x03\x04 partial plaintext")
    os.close(fd)
    purger(delivery, trigger="schedule", reason="deadline", requested_by="agent", due_at=None)
    assert not partial.exists()
    doc = json.loads((ctx.home.proofs / f"{delivery}.json").read_bytes())
    assert doc["verification"]["no_workspace_copy"] is True


def test_audit_entries_other_threads_append_while_the_proof_is_made_do_not_break_it(
        ctx: AgentContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the agent, API threads audit every request while the ticker's purge signs its proof. The proof's
    checkpoint, tree size and inclusion proof must describe one and the same tree."""
    purger = Purger(ctx)
    delivery = ingest(ctx, b"race " + secrets.token_bytes(1000))
    signed = ctx.audit.checkpoint

    def checkpoint_while_a_request_is_audited() -> str:
        note = signed()
        request = threading.Thread(target=ctx.audit.append, args=(ME, "deliveries", "granted"))
        request.start()
        request.join(timeout=1.0)  # it gets its turn here, unless the purge holds the log
        return note

    monkeypatch.setattr(ctx.audit, "checkpoint", checkpoint_while_a_request_is_audited)
    purger(delivery, trigger="early", reason="cancelled", requested_by=ME, due_at=None)
    monkeypatch.undo()
    data = (ctx.home.proofs / f"{delivery}.json").read_bytes()
    signature = (ctx.home.proofs / f"{delivery}.json.sig").read_text()
    doc = verify_proof(data, signature, ctx.signing_key.public_bytes(), origin=ctx.origin)
    assert all(doc["verification"].values())
    wait_for(lambda: any(e["action"] == "deliveries" for e in ctx.audit.entries()), 5, "the request's entry")


# ---- the scrub: what the purge touched, never a copy of the whole database ------------------------------------


@pytest.mark.parametrize("existing_home", [False, True])
def test_a_purge_scrubs_what_it_deleted_without_a_full_vacuum_and_leaves_no_residue(
        tmp_path: Path, existing_home: bool) -> None:
    """A full VACUUM needed free space the size of the database and held the lock for seconds (19 s for 1 GB).
    New databases give freed pages back by incremental vacuum; an existing one (created before) keeps them,
    zeroed by secure_delete, until the upkeep duty VACUUMs it."""
    clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    home = make_home(tmp_path / "home", clock=clock)
    if existing_home:
        with contextlib.closing(sqlite3.connect(home.database, isolation_level=None)) as db:
            db.execute("PRAGMA auto_vacuum = NONE")
            db.execute("VACUUM")
    ctx = build_context(home, clock)
    try:
        purger = Purger(ctx)
        canary = f"CANARYNOTE{secrets.token_hex(6)}"
        delivery = ingest(ctx, b"scrubbed " + secrets.token_bytes(500))
        with ctx.store.transaction():  # many openings with a note: rows spread over pages that will be freed
            ctx.store.conn.executemany(
                "INSERT INTO openings(delivery_id, account, purpose, note, mode, opened_at) "
                "VALUES (?, ?, 'other', ?, 'stdout', '2026-11-02T09:00:00Z')",
                [(delivery, ME, f"{canary} {'x' * 300}") for _ in range(400)])
        ctx.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert canary.encode() in home.database.read_bytes()  # the search can find it
        vacuums: list[str] = []
        ctx.store.conn.set_trace_callback(lambda sql: vacuums.append(sql) if sql.strip() == "VACUUM" else None)
        purger(delivery, trigger="early", reason="test", requested_by=ME, due_at=None)
        ctx.store.conn.set_trace_callback(None)
        assert vacuums == []
        doc = json.loads((home.proofs / f"{delivery}.json").read_bytes())
        assert doc["verification"]["database_scrubbed"] is True
        [scrub] = [s for s in doc["steps"] if s["step"] == "scrub"]
        facts = ctx.store.size_facts()
        if existing_home:
            assert scrub["result"].endswith("vacuum=none") and facts["free_pages"] > 0
        else:
            assert scrub["result"] == "secure_delete=1 wal_bytes=0 free_pages=0 vacuum=incremental"
        for path in home.root.glob("agent.db*"):
            assert canary.encode() not in path.read_bytes(), path
    finally:
        ctx.store.close()


def test_the_proofs_inclusion_path_comes_from_the_frontier_saved_before_the_purge_entry(ctx: AgentContext) -> None:
    """Not from rehashing the whole log under the store's lock (a million entries blocked the API)."""
    for n in range(3):
        ctx.audit.append_many([(ctx.clock.now(), "agent", "filler", "ok", [], {"n": n * 1000 + i})
                               for i in range(1000)])
    purger = Purger(ctx)
    delivery = ingest(ctx, b"included " + secrets.token_bytes(100))
    calls: list[int] = []
    full = ctx.audit.leaf_hashes
    ctx.audit.leaf_hashes = lambda: calls.append(1) or full()  # type: ignore[method-assign]
    purger(delivery, trigger="early", reason="test", requested_by=ME, due_at=None)
    assert calls == []
    data, signature = (ctx.home.proofs / f"{delivery}.json").read_bytes(), \
        (ctx.home.proofs / f"{delivery}.json.sig").read_text()
    doc = verify_proof(data, signature, ctx.signing_key.public_bytes(), origin=ctx.origin)  # inclusion checked
    assert doc["audit"]["tree_size"] > 3000
