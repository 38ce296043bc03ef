"""The audit log: append and verify on a real store, then try to break invariant 5 — edit, insert, delete,
reorder, truncate, rewrite, forge — directly in SQLite, in process and through the real agent and CLI."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retention_agent.audit.log import AuditLog, verify_entries
from retention_agent.canonical import canonical
from retention_agent.clock import ManualClock
from retention_agent.crypto import SigningKey
from retention_agent.evidence import checkpoint as notes
from retention_agent.evidence import merkle
from retention_agent.runtime.context import AgentContext
from retention_agent.system.home import Home
from tests.conftest import AgentProcess
from tests.helpers_accounts import shared_agent

FRONTIER = "audit.frontier"  # the agent's record of the log's size, Merkle frontier and head (on-disk format)


# ---- an attacker with write access to the database --------------------------------------------------


class Tamperer:
    """Changes the audit tables directly in SQLite, as someone with the agent's file access could."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rows(self) -> list[tuple[int, bytes]]:
        return [(int(s), bytes(e)) for s, e in self.conn.execute("SELECT seq, entry FROM audit ORDER BY seq")]

    def fields(self, seq: int) -> dict[str, Any]:
        return dict(json.loads(self.conn.execute("SELECT entry FROM audit WHERE seq = ?", (seq,)).fetchone()[0]))

    def put(self, seq: int, entry: bytes | str | None) -> None:
        self.conn.execute("UPDATE audit SET entry = ? WHERE seq = ?", (entry, seq))

    def edit(self, at: int, **changes: Any) -> None:
        """Change fields of one entry and store it canonically, as if it had always been so."""
        self.put(at, canonical({**self.fields(at), **changes}))

    def rechain(self) -> None:
        """Recompute every entry's ``prev`` so that the hash chain is whole again."""
        previous = ""
        for seq, entry in self.rows():
            fields = json.loads(entry)
            if fields["prev"] != previous:
                fields["prev"] = previous
                entry = canonical(fields)
                self.put(seq, entry)
            previous = hashlib.sha256(entry).hexdigest()

    def rewrite_frontier(self) -> None:
        """Make the agent's own record (size, Merkle frontier, head) match the rows as they are now."""
        frontier = merkle.CompactRange()
        head = ""
        for _, entry in self.rows():
            frontier.append(merkle.leaf_hash(entry))
            head = hashlib.sha256(entry).hexdigest()
        state = {"size": frontier.size, "hashes": [h.hex() for h in frontier.to_hashes()], "head": head}
        self.conn.execute("UPDATE meta SET value = ? WHERE key = ?", (json.dumps(state), FRONTIER))

    def delete(self, seq: int) -> None:
        self.conn.execute("DELETE FROM audit WHERE seq = ?", (seq,))

    def truncate(self, keep: int) -> None:
        self.conn.execute("DELETE FROM audit WHERE seq > ?", (keep,))

    def insert(self, position: int, **fields: Any) -> None:
        """Slip a well-formed entry in at ``position``, moving the later rows up by one."""
        before = self.fields(position - 1) if position > 1 else None
        self.conn.execute("UPDATE audit SET seq = -seq WHERE seq >= ?", (position,))
        self.conn.execute("UPDATE audit SET seq = 1 - seq WHERE seq < 0")
        prev = hashlib.sha256(canonical(before)).hexdigest() if before else ""
        entry = {"v": 1, "seq": position, "time": "2026-11-02T09:00:00Z", "actor": "intruder",
                 "action": "delivery.opened", "subject": [], "outcome": "granted", "details": {}, "prev": prev,
                 **fields}
        self.conn.execute("INSERT INTO audit(seq, entry) VALUES (?, ?)", (position, canonical(entry)))

    def swap(self, a: int, b: int) -> None:
        rows = dict(self.rows())
        self.put(a, rows[b])
        self.put(b, rows[a])

    def drop_checkpoints_above(self, size: int) -> None:
        self.conn.execute("DELETE FROM checkpoints WHERE size > ?", (size,))

    def add_checkpoint(self, size: int, note: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO checkpoints(size, note, created_at) VALUES (?, ?, ?)",
                          (size, note, "2026-11-02T09:00:00Z"))


@pytest.fixture
def attacker(ctx: AgentContext) -> Iterator[Tamperer]:
    conn = sqlite3.connect(ctx.home.database, isolation_level=None, timeout=10)
    yield Tamperer(conn)
    conn.close()


def fill(audit: AuditLog, count: int, *, checkpoint_every: int = 0) -> None:
    with audit.store.transaction():  # one commit: durability per entry is not what these tests are about
        for i in range(count):
            audit.append(f"user{i % 3}", "deliveries", "granted" if i % 4 else "denied", [f"d{i}"],
                         {"uid": 1000 + i})
            if checkpoint_every and (i + 1) % checkpoint_every == 0:
                audit.checkpoint()


def messages(audit: AuditLog, external: list[str] | None = None) -> list[str]:
    return [template.format(**params) for template, params in audit.verify(external or []).findings]


def assert_finding(audit: AuditLog, *fragments: str, external: list[str] | None = None) -> list[str]:
    found = messages(audit, external)
    assert found, "the tampering went unnoticed"
    for fragment in fragments:
        assert any(fragment in m for m in found), (fragment, found)
    return found


# ---- the honest log -------------------------------------------------------------------------------------


def test_an_honest_log_verifies(ctx: AgentContext) -> None:
    fill(ctx.audit, 300, checkpoint_every=64)
    result = ctx.audit.verify()
    assert result.ok, result.findings
    assert result.size == ctx.audit.size == 302  # + installation.created, staff.changed from init
    assert result.checkpoints_checked == 1 + 300 // 64
    assert bytes.fromhex(result.root) == ctx.audit.root()
    entries = ctx.audit.entries()
    assert [e["seq"] for e in entries] == list(range(1, 303))
    assert entries[0]["action"] == "installation.created"
    assert entries[1]["details"] == {"before": [], "after": ["officer"]}


def test_entries_carry_version_time_actor_and_chain(ctx: AgentContext, clock: ManualClock) -> None:
    seq = ctx.audit.append("mpeeters", "open", "denied", ["01ABC"], {"uid": 1001})
    entry = ctx.audit.entries(after=seq - 1)[0]
    assert entry == {"v": 1, "seq": seq, "time": "2026-11-02T09:00:00Z", "actor": "mpeeters", "action": "open",
                     "subject": ["01ABC"], "outcome": "denied", "details": {"uid": 1001},
                     "prev": hashlib.sha256(ctx.audit.entry_bytes(seq - 1)).hexdigest()}
    assert ctx.audit.entry_bytes(seq) == canonical(entry)


def test_the_root_is_the_rfc6962_tree_over_the_stored_entries(ctx: AgentContext, attacker: Tamperer) -> None:
    fill(ctx.audit, 37)
    stored = [entry for _, entry in attacker.rows()]
    assert ctx.audit.root() == reference_root([merkle.leaf_hash(e) for e in stored])
    assert ctx.audit.root() == merkle.root(ctx.audit.leaf_hashes())
    cp = notes.verify(ctx.audit.checkpoint(), ctx.audit.origin, ctx.signing_key.public_bytes())
    assert (cp.size, cp.root_hash) == (39, ctx.audit.root())


RFC6962_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                             "606162636465666768696a6b6c6d6e6f")]
RFC6962_ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, written out as the RFC says it (independent of merkle.py's fast paths)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + reference_root(leaves[:k]) + reference_root(leaves[k:])).digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_rfc6962_known_roots_through_the_audit_walk(size: int) -> None:
    """The RFC 6962 test vectors as log rows: the verifier's one pass computes the known roots."""
    leaves = RFC6962_LEAVES[:size]
    assert reference_root([merkle.leaf_hash(leaf) for leaf in leaves]) == RFC6962_ROOTS[size - 1]
    report = verify_entries(iter(list(enumerate(leaves, start=1))))
    assert bytes.fromhex(report.root) == RFC6962_ROOTS[size - 1]
    assert report.size == size
    assert report.findings  # and of course these are not audit entries


def test_a_rolled_back_append_leaves_no_gap(ctx: AgentContext) -> None:
    fill(ctx.audit, 3)
    with pytest.raises(RuntimeError), ctx.store.transaction():
        ctx.audit.append("officer", "staff.changed", "ok")
        raise RuntimeError("the change this entry described failed")
    ctx.audit.append("officer", "staff.list", "granted")
    assert ctx.audit.size == 6
    assert ctx.audit.verify().ok


def test_verification_while_others_append_and_checkpoint(ctx: AgentContext) -> None:
    """The API serves requests on several threads while the ticker checkpoints: verify sees one state."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def appender() -> None:
        try:
            while not stop.is_set():
                ctx.audit.append("user", "deliveries", "granted")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def checkpointer() -> None:
        try:
            while not stop.is_set():
                ctx.audit.checkpoint()
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    workers = [threading.Thread(target=appender) for _ in range(3)] + [threading.Thread(target=checkpointer)]
    for worker in workers:
        worker.start()
    try:
        results = [ctx.audit.verify() for _ in range(15)]
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert not errors
    assert all(r.ok for r in results), [r.findings for r in results if not r.ok][:1]
    assert ctx.audit.verify().ok


# ---- tampering, in process -----------------------------------------------------------------------------


@pytest.fixture
def log(ctx: AgentContext) -> AuditLog:
    fill(ctx.audit, 40, checkpoint_every=10)  # checkpoints at 12, 22, 32, 42 (+ 2 at init)
    fill(ctx.audit, 5)  # 47 entries, the last five after the last checkpoint
    assert ctx.audit.verify().ok
    return ctx.audit


def test_an_edited_entry_is_found(log: AuditLog, attacker: Tamperer) -> None:
    attacker.edit(20, outcome="forged", actor="someone-else")
    assert_finding(log, "entry 21 does not follow entry 20",
                   "the first 22 entries no longer match stored checkpoint 22")


def test_an_edited_byte_is_found(log: AuditLog, attacker: Tamperer) -> None:
    entry = bytearray(dict(attacker.rows())[30])
    entry[entry.index(b"user")] = ord("U")  # still valid JSON, no longer canonical to the chain
    attacker.put(30, bytes(entry))
    assert_finding(log, "entry 31 does not follow entry 30")


def test_an_edit_with_the_chain_and_the_record_rewritten_is_caught_by_a_signed_checkpoint(
        log: AuditLog, attacker: Tamperer) -> None:
    attacker.edit(5, outcome="forged")
    attacker.rechain()
    attacker.rewrite_frontier()
    found = assert_finding(log, "the first 12 entries no longer match stored checkpoint 12")
    assert found == [f"the first {n} entries no longer match stored checkpoint {n}: entries were changed"
                     for n in (12, 22, 32, 42)]  # the chain and the agent's record are whole again: only these


def test_an_edit_with_the_record_rewritten_and_signed_again_is_still_found_by_the_chain(
        log: AuditLog, attacker: Tamperer) -> None:
    """The agent signs the root it keeps in the database; rewritten there, the next checkpoint signs it. The
    broken link stays, and verification follows every link, also under a checkpoint."""
    attacker.edit(45, outcome="forged")
    attacker.rewrite_frontier()
    log.checkpoint()  # signs the rewritten record: the entries reproduce its root
    found = assert_finding(log, "entry 46 does not follow entry 45")
    assert len(found) == 1


def test_an_edit_of_the_last_entry_is_found(log: AuditLog, attacker: Tamperer) -> None:
    """Nothing follows the last entry and no checkpoint covers it yet: the agent's own record catches it."""
    attacker.edit(47, outcome="forged")
    assert_finding(log, "the 47 entries no longer match the agent's record of the log")


def test_a_deleted_entry_is_found(log: AuditLog, attacker: Tamperer) -> None:
    attacker.delete(17)
    assert_finding(log, "entry 17 is out of place (numbered 18)", "entries were removed")


def test_an_inserted_entry_is_found(log: AuditLog, attacker: Tamperer) -> None:
    attacker.insert(25)
    assert_finding(log, "entry 26 was changed", "holds 48 entries but the agent recorded 47: entries were added")


def test_an_entry_appended_behind_the_agents_back_is_found(log: AuditLog, attacker: Tamperer) -> None:
    attacker.insert(48)
    assert_finding(log, "the log holds 48 entries but the agent recorded 47: entries were added")


def test_swapped_entries_are_found(log: AuditLog, attacker: Tamperer) -> None:
    attacker.swap(8, 9)
    assert_finding(log, "entry 8 was changed", "entry 9 was changed")


def test_swapped_rows_with_renumbered_entries_are_found(log: AuditLog, attacker: Tamperer) -> None:
    attacker.edit(8, seq=9)
    attacker.edit(9, seq=8)
    attacker.swap(8, 9)
    assert_finding(log, "entry 8 does not follow entry 7")


def test_a_truncated_tail_is_caught_by_the_agents_recorded_size(log: AuditLog, attacker: Tamperer) -> None:
    attacker.truncate(44)  # only entries after the last stored checkpoint
    assert_finding(log, "the log holds 44 entries but the agent recorded 47: entries were removed")


def test_a_truncation_below_a_stored_checkpoint_is_found(log: AuditLog, attacker: Tamperer) -> None:
    attacker.truncate(30)
    attacker.rewrite_frontier()
    assert_finding(log, "the log has 30 entries but stored checkpoint 32 covers 32: the log was truncated")


def test_a_full_same_host_rewrite_is_only_caught_by_a_checkpoint_held_elsewhere(
        log: AuditLog, attacker: Tamperer) -> None:
    held_by_dpo = log.checkpoint()  # size 47, e.g. embedded in last month's report
    assert log.verify([held_by_dpo]).ok
    attacker.truncate(20)
    attacker.drop_checkpoints_above(20)
    attacker.rewrite_frontier()
    log.append("agent", "agent.started", "ok")  # the agent carries on as if nothing happened
    assert log.verify().ok, "a same-host rewrite passes the local checks: that is why checkpoints leave the host"
    assert_finding(log, "the log has 21 entries but checkpoint file 1 covers 47: the log was truncated",
                   external=[held_by_dpo])


def test_a_rewritten_history_is_caught_by_a_checkpoint_held_elsewhere(log: AuditLog, attacker: Tamperer) -> None:
    held_by_dpo = log.checkpoint()
    attacker.edit(3, actor="nobody")
    attacker.rechain()
    attacker.drop_checkpoints_above(0)
    attacker.rewrite_frontier()
    assert log.verify().ok
    assert_finding(log, "the first 47 entries no longer match checkpoint file 1", "checkpoint file 1 is not consistent",
                   external=[held_by_dpo])


def test_an_honest_older_checkpoint_passes(log: AuditLog) -> None:
    older = log.checkpoint()
    fill(log, 30)
    result = log.verify([older])
    assert result.ok, result.findings
    assert result.checkpoints_checked == 7  # six stored (2, 12, 22, 32, 42, 47), one given


def test_a_forged_checkpoint_is_refused(log: AuditLog, attacker: Tamperer, ctx: AgentContext) -> None:
    forged = notes.sign(notes.Checkpoint(log.origin, log.size, log.root()), log.origin, SigningKey.generate())
    assert_finding(log, "checkpoint file 1 is not a checkpoint of this log signed by this installation",
                   external=[forged])
    other_log = notes.sign(notes.Checkpoint("retention-agent/elsewhere/0000", log.size, log.root()),
                           "retention-agent/elsewhere/0000", ctx.signing_key)
    assert_finding(log, "checkpoint file 1 is not a checkpoint of this log", external=[other_log])
    assert_finding(log, "checkpoint file 1 is not a checkpoint of this log", external=["not a checkpoint\n"])
    attacker.add_checkpoint(47, forged)
    assert_finding(log, "stored checkpoint 47 is not a checkpoint of this log signed by this installation")


@pytest.mark.parametrize("stored", ["", 42, 4.2, "{not json", b"\xff\xfe"], ids=repr)
def test_an_entry_of_another_type_is_a_finding_not_a_crash(log: AuditLog, attacker: Tamperer, stored: Any) -> None:
    attacker.put(10, stored)
    assert_finding(log, "entry 10")


def test_an_entry_stored_as_text_with_the_same_bytes_is_the_same_entry(log: AuditLog, attacker: Tamperer) -> None:
    attacker.put(10, dict(attacker.rows())[10].decode())
    assert log.verify().ok


def test_a_damaged_record_of_the_log_is_a_finding(log: AuditLog, attacker: Tamperer) -> None:
    attacker.conn.execute("UPDATE meta SET value = '{' WHERE key = ?", (FRONTIER,))
    assert_finding(log, "the agent's record of the log's size and root is unreadable")


def test_consistency_and_inclusion_proofs_of_the_log(log: AuditLog) -> None:
    old = notes.verify(log.checkpoint(), log.origin, log.signing_key.public_bytes())
    fill(log, 13)
    new_root = log.root()
    assert merkle.verify_consistency(old.size, log.size, old.root_hash, new_root, log.consistency(old.size))
    assert not merkle.verify_consistency(old.size - 1, log.size, old.root_hash, new_root,
                                         log.consistency(old.size - 1))
    leaves = log.leaf_hashes()
    assert merkle.verify_inclusion(leaves[9], 9, log.size, log.inclusion(10), new_root)
    assert not merkle.verify_inclusion(leaves[10], 9, log.size, log.inclusion(10), new_root)


# ---- property: any single mutation of any log is found ------------------------------------------------

KEY = SigningKey.generate()
ORIGIN = "retention-agent/property/0000"
MUTATIONS = ("flip-byte", "edit-rechain-rewrite", "delete", "insert", "swap", "truncate", "duplicate-last",
             "full-rewrite-truncate")


@contextmanager
def new_log() -> Iterator[tuple[AuditLog, Tamperer]]:
    """A log in a database file of its own (verification reads a snapshot through a second connection)."""
    from retention_agent.store.database import Store

    with tempfile.TemporaryDirectory() as folder:
        store = Store.create(Path(folder) / "audit.db")
        try:
            yield AuditLog(store, ManualClock(), KEY, ORIGIN), Tamperer(store.conn)
        finally:
            store.close()


def test_a_scrub_waits_for_an_open_snapshot_and_then_leaves_no_wal(tmp_path: Path) -> None:
    """An audit verify in progress holds a snapshot, which keeps the WAL from being truncated: a purge's
    scrub that ran meanwhile would leave deleted pages behind and record it in the proof."""
    from retention_agent.store.database import Store

    store = Store.create(tmp_path / "agent.db")
    log = AuditLog(store, ManualClock(), KEY, ORIGIN)
    for n in range(50):
        log.append("officer", "deliveries", "granted", [f"d{n}"], {"n": n})
    scrubbed: list[dict[str, int]] = []
    scrubber = threading.Thread(target=lambda: scrubbed.append(store.scrub()))
    with store.snapshot() as reader:
        scrubber.start()
        scrubber.join(0.5)
        assert scrubber.is_alive()  # waits for the snapshot to end
        assert reader.execute("SELECT count(*) FROM audit").fetchone()[0] == 50
    scrubber.join(30)
    assert scrubbed and scrubbed[0]["wal_bytes"] == 0
    assert log.verify().ok
    store.close()


entry_specs = st.tuples(st.sampled_from(["officer", "mpeeters", "agent", "uid:1001"]),
                        st.sampled_from(["deliveries", "open", "staff.changed", "request"]),
                        st.sampled_from(["granted", "denied", "ok"]),
                        st.dictionaries(st.sampled_from(["uid", "n"]), st.integers(0, 2**31), max_size=2))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(entry_specs, min_size=2, max_size=24), mutation=st.sampled_from(MUTATIONS), data=st.data())
def test_any_single_mutation_is_found(specs: list[tuple[str, str, str, dict[str, int]]], mutation: str,
                                      data: st.DataObject) -> None:
    with new_log() as (log, attacker):
        n = len(specs)
        checkpoint_at = data.draw(st.integers(1, n), label="checkpoint at size")
        for i, (actor, action, outcome, details) in enumerate(specs, start=1):
            log.append(actor, action, outcome, [f"d{i}"], details)
            if i == checkpoint_at:
                log.checkpoint()
        assert log.verify().ok
        external: list[str] = []
        pick: Callable[[int, int], int] = lambda lo, hi: data.draw(st.integers(lo, hi))  # noqa: E731
        if mutation == "flip-byte":
            seq = pick(1, n)
            entry = bytearray(dict(attacker.rows())[seq])
            entry[pick(0, len(entry) - 1)] ^= pick(1, 255)
            attacker.put(seq, bytes(entry))
        elif mutation == "edit-rechain-rewrite":
            seq = pick(1, checkpoint_at)  # only a signed checkpoint over it can tell
            attacker.edit(seq, outcome="tampered")
            attacker.rechain()
            attacker.rewrite_frontier()
        elif mutation == "delete":
            attacker.delete(pick(1, n))
        elif mutation == "insert":
            attacker.insert(pick(1, n + 1))
        elif mutation == "swap":
            a = pick(1, n - 1)
            attacker.swap(a, pick(a + 1, n))
        elif mutation == "truncate":
            attacker.truncate(pick(0, n - 1))
        elif mutation == "duplicate-last":
            attacker.conn.execute("INSERT INTO audit(seq, entry) VALUES (?, ?)", (n + 1, dict(attacker.rows())[n]))
        elif mutation == "full-rewrite-truncate":
            external.append(log.checkpoint())
            keep = pick(0, n - 1)
            attacker.truncate(keep)
            attacker.drop_checkpoints_above(keep)
            attacker.rewrite_frontier()
            assert log.verify().ok  # invisible on this host...
        result = log.verify(external)
        assert not result.ok, f"{mutation} went unnoticed"  # ...but not to the DPO's copy


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
