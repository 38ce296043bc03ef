"""The tamper-evident audit log: hash-chained entries, an RFC 6962 Merkle tree, signed checkpoints.

Each entry is canonical JSON (sorted keys, no spaces, UTF-8) of ``v, seq, time, actor, action, subject,
outcome, details, prev`` where ``prev`` is the SHA-256 of the previous entry's bytes. The entries are the
leaves of an RFC 6962 Merkle tree; the agent signs checkpoints of it in the C2SP tlog-checkpoint /
signed-note format. An edited, inserted, removed or reordered entry breaks the chain and the signed
roots; a truncated log re-signed on the same host is caught only against a checkpoint held elsewhere
(``audit verify --checkpoint FILE``, the DPO's reports). Details never hold personal data: ids, codes,
counts and hashes only (a free-text note is recorded as its SHA-256).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice, repeat
from typing import Any

from retention_agent.canonical import canonical
from retention_agent.clock import Clock, utc_iso
from retention_agent.crypto import SigningKey
from retention_agent.errors import AuditIntegrityError
from retention_agent.evidence import checkpoint as notes
from retention_agent.evidence import merkle
from retention_agent.i18n.msgids import N_
from retention_agent.store.database import Store

ENTRY_VERSION = 1
_FRONTIER = "audit.frontier"
_BATCH = 50_000
_VERIFY_BATCH = 8192
_MAX_FINDINGS = 20
Record = tuple[datetime, str, str, str, Sequence[str], dict[str, Any]]  # time, actor, action, outcome, …


def note_digest(text: str) -> str:
    """What the log keeps of a free-text note: its hash (the text itself may hold personal data)."""
    return hashlib.sha256(text.encode()).hexdigest() if text else ""


Finding = tuple[str, dict[str, Any]]  # an English template (translated by the client) and its values


@dataclass
class Verification:
    size: int
    root: str
    findings: list[Finding] = field(default_factory=list)
    checkpoints_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_wire(self) -> dict[str, Any]:
        return {"ok": self.ok, "size": self.size, "root": self.root, "checkpoints_checked":
                self.checkpoints_checked, "findings": [{"message": m, "params": p} for m, p in self.findings]}


class AuditLog:
    def __init__(self, store: Store, clock: Clock, signing_key: SigningKey, origin: str) -> None:
        self.store = store
        self.clock = clock
        self.signing_key = signing_key
        self.origin = origin

    # ---- writing --------------------------------------------------------------------------------------

    def append(self, actor: str, action: str, outcome: str, subject: Sequence[str] = (),
               details: dict[str, Any] | None = None) -> int:
        """Append one entry, in the caller's transaction if there is one."""
        return self.append_many([(self.clock.now(), actor, action, outcome, subject, details or {})])

    def append_many(self, records: Iterable[Record]) -> int:
        """Append entries (time, actor, action, outcome, subject, details) in one transaction; returns the
        last sequence number.

        The chain head and Merkle frontier are read from the database inside the transaction, so a caller's
        rollback can never leave an in-memory head ahead of what was committed.
        """
        with self.store.transaction():
            frontier, head = self._load_frontier()
            batch: list[tuple[int, bytes]] = []
            for moment, actor, action, outcome, subject, details in records:
                seq = frontier.size + 1
                entry = canonical({
                    "v": ENTRY_VERSION, "seq": seq, "time": utc_iso(moment), "actor": actor,
                    "action": action, "subject": list(subject), "outcome": outcome, "details": details,
                    "prev": head,
                })
                batch.append((seq, entry))
                frontier.append(merkle.leaf_hash(entry))
                head = hashlib.sha256(entry).hexdigest()
                if len(batch) >= _BATCH:
                    self._insert(batch)
            self._insert(batch)
            self._save_frontier(frontier, head)
        return frontier.size

    def _insert(self, batch: list[tuple[int, bytes]]) -> None:
        try:
            self.store.conn.executemany("INSERT INTO audit(seq, entry) VALUES (?, ?)", batch)
        except sqlite3.IntegrityError as exc:  # rows were added behind the agent's back
            raise AuditIntegrityError(finding=f"an entry {batch[0][0]} exists, but the agent recorded "
                                              f"{batch[0][0] - 1} entries") from exc
        batch.clear()

    def _load_frontier(self) -> tuple[merkle.CompactRange, str]:
        return _parse_frontier(self.store.get_meta(_FRONTIER))

    def _save_frontier(self, frontier: merkle.CompactRange, head: str) -> None:
        state = {"size": frontier.size, "hashes": [h.hex() for h in frontier.to_hashes()], "head": head}
        self.store.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                                (_FRONTIER, json.dumps(state)))

    # ---- reading --------------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self._load_frontier()[0].size

    def compact_range(self) -> merkle.CompactRange:
        """The Merkle frontier of the log as it is (in the caller's transaction, if there is one)."""
        return self._load_frontier()[0]

    def root(self) -> bytes:
        return self._load_frontier()[0].root()

    def entries(self, after: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT entry FROM audit WHERE seq > ? ORDER BY seq"
        params: tuple[Any, ...] = (after,)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        return [json.loads(row["entry"]) for row in self.store.query(sql, params)]

    def entry_rows(self, start: int, limit: int, *, newest_first: bool = False) -> list[tuple[int, bytes]]:
        """``(seq, entry bytes)`` of up to ``limit`` entries after ``start`` (before it, ``newest_first``)."""
        sql = ("SELECT seq, entry FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?" if newest_first else
               "SELECT seq, entry FROM audit WHERE seq > ? ORDER BY seq LIMIT ?")
        with self.store.lock:
            return [(int(seq), as_bytes(entry)) for seq, entry in self.store.conn.execute(sql, (start, limit))]

    @staticmethod
    def parse_entry(entry: bytes) -> dict[str, Any]:
        return dict(json.loads(entry))

    def entry_bytes(self, seq: int) -> bytes:
        return bytes(self.store.scalar("SELECT entry FROM audit WHERE seq = ?", (seq,)))

    def leaf_hashes(self) -> list[bytes]:
        with self.store.lock:  # the agent's own connection: it sees entries of the caller's open transaction
            rows = self.store.conn.execute("SELECT entry FROM audit ORDER BY rowid")
            return [merkle.leaf_hash(as_bytes(entry)) for (entry,) in rows]

    # ---- checkpoints ----------------------------------------------------------------------------------

    def checkpoint(self) -> str:
        """Sign the current head (and keep it, so later verification can compare against it)."""
        with self.store.transaction():
            size = self.size
            stored = self.store.scalar("SELECT note FROM checkpoints WHERE size = ?", (size,))
            if stored:
                return str(stored)
            note = notes.sign(notes.Checkpoint(self.origin, size, self.root()), self.origin, self.signing_key)
            self.store.conn.execute("INSERT INTO checkpoints(size, note, created_at) VALUES (?, ?, ?)",
                                    (size, note, utc_iso(self.clock.now())))
        return note

    def latest_checkpoint(self) -> tuple[int, str] | None:
        row = self.store.one("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
        return None if row is None else (int(row["size"]), str(row["note"]))

    def consistency(self, old_size: int) -> list[bytes]:
        return merkle.consistency_proof(self.leaf_hashes(), old_size)

    def inclusion_after(self, before: merkle.CompactRange, size: int) -> list[bytes]:
        """The inclusion proof of entry ``before.size + 1`` in the tree of ``size`` entries, from the frontier
        the log had just before that entry and the entries from it on (a few, for a recent entry)."""
        later = [merkle.leaf_hash(entry) for _, entry in self.entry_rows(before.size, size - before.size)]
        return merkle.inclusion_proof_after(before, later)

    def inclusion(self, seq: int, size: int | None = None) -> list[bytes]:
        leaves = self.leaf_hashes()
        return merkle.inclusion_proof(leaves[: size or len(leaves)], seq - 1)

    # ---- verification ---------------------------------------------------------------------------------

    def verify(self, external_checkpoints: Sequence[str] = ()) -> Verification:
        """Check the chain, the stored signed checkpoints, the agent's record of the log's size and root,
        and any checkpoint held elsewhere (only that one catches a rewrite of all of these on this host).

        Reads one snapshot of the database, row by row: the agent goes on appending meanwhile, and memory
        stays flat however long the log is (unless a checkpoint held elsewhere needs a consistency proof:
        that takes every leaf hash, 32 bytes an entry).
        """
        public_key = self.signing_key.public_bytes()
        given, rejected_given = parse_checkpoints(
            [(f"checkpoint file {i + 1}", text) for i, text in enumerate(external_checkpoints)],
            self.origin, public_key)
        with self.store.snapshot() as reader:
            stored_rows = reader.execute("SELECT size, note FROM checkpoints ORDER BY size").fetchall()
            meta = reader.execute("SELECT value FROM meta WHERE key = ?", (_FRONTIER,)).fetchone()
            try:
                recorded: merkle.CompactRange | None = _parse_frontier(None if meta is None else str(meta[0]))[0]
            except (ValueError, KeyError, TypeError):
                recorded = None
            stored, rejected = parse_checkpoints(
                [(f"stored checkpoint {size}", str(note)) for size, note in stored_rows], self.origin, public_key)
            report = verify_entries(reader.execute("SELECT seq, entry FROM audit ORDER BY rowid"), stored + given)
            report.findings[:0] = rejected + rejected_given
            self._compare_with_record(report, recorded)
            if any(cp.size <= report.size for _, cp in given):
                leaves = [merkle.leaf_hash(as_bytes(entry))
                          for (entry,) in reader.execute("SELECT entry FROM audit ORDER BY rowid")]
                _check_consistency(given, leaves, report)
        return report

    @staticmethod
    def _compare_with_record(report: Verification, recorded: merkle.CompactRange | None) -> None:
        if recorded is None:
            report.findings.append((N_("the agent's record of the log's size and root is unreadable: "
                                       "it was changed"), {}))
        elif report.size != recorded.size:
            template = (N_("the log holds {found} entries but the agent recorded {recorded}: entries were removed")
                        if report.size < recorded.size else
                        N_("the log holds {found} entries but the agent recorded {recorded}: entries were added"))
            report.findings.append((template, {"found": report.size, "recorded": recorded.size}))
        elif report.root != recorded.root().hex():
            report.findings.append((N_("the {size} entries no longer match the agent's record of the log: "
                                       "entries were changed"), {"size": report.size}))


def _parse_frontier(raw: str | None) -> tuple[merkle.CompactRange, str]:
    if raw is None:
        return merkle.CompactRange(), ""
    state = json.loads(raw)
    hashes = [bytes.fromhex(h) for h in state["hashes"]]
    return merkle.CompactRange.from_hashes(state["size"], hashes), state["head"]


def _check_consistency(given: Sequence[tuple[str, notes.Checkpoint]], leaves: list[bytes],
                       report: Verification) -> None:
    """A consistency proof from each checkpoint held elsewhere to the log as it is (the walk already compared
    the root at the checkpoint's size; the proof is what the DPO's tools check between two reports)."""
    for source, cp in given:
        if cp.size <= report.size:
            proof = merkle.consistency_proof(leaves, cp.size)
            if not merkle.verify_consistency(cp.size, report.size, cp.root_hash, bytes.fromhex(report.root), proof):
                report.findings.append((N_("{source} is not consistent with the log"), {"source": source}))


def parse_checkpoints(sources: Sequence[tuple[str, str]], origin: str,
                      public_key: bytes) -> tuple[list[tuple[str, notes.Checkpoint]], list[Finding]]:
    """Signed checkpoints of this log, and a finding for each one that is not."""
    accepted: list[tuple[str, notes.Checkpoint]] = []
    rejected: list[Finding] = []
    for source, text in sources:
        try:
            cp = notes.verify(text, origin, public_key)
        except (notes.CheckpointFormatError, notes.CheckpointSignatureError):
            rejected.append((N_("{source} is not a checkpoint of this log signed by this installation"),
                             {"source": source}))
            continue
        accepted.append((source, cp))
    return accepted, rejected


def verify_entries(rows: Iterable[tuple[int, object]], expected: Sequence[tuple[str, notes.Checkpoint]] = (),
                   *, batch_size: int = _VERIFY_BATCH) -> Verification:
    """Walk the entries once: sequence, chain, and the Merkle root at every expected checkpoint size."""
    walk = _Walk(expected)
    cursor = iter(rows)
    while batch := list(islice(cursor, batch_size)):
        walk.take(batch)
    return walk.result()


class _Walk:
    """The state of one pass over the log, taken in batches.

    A batch whose links all hold (:func:`_links_hold`) is only hashed; a batch where any link is broken is
    checked entry by entry (:func:`_check_entry`), which parses each entry to say what is wrong where. The
    canonical form of an entry is checked only there: what the log's integrity rests on is the bytes of every
    entry, and those are bound by the chain, the agent's record of the root, and the signed checkpoints.
    """

    def __init__(self, expected: Sequence[tuple[str, notes.Checkpoint]]) -> None:
        self.expected = expected
        self.findings: list[Finding] = []
        self.frontier = merkle.CompactRange()
        self.previous = b""
        self.by_size: dict[int, list[tuple[str, notes.Checkpoint]]] = {}
        for source, cp in expected:
            self.by_size.setdefault(cp.size, []).append((source, cp))
        self.sizes = sorted(self.by_size)
        self._check_roots()

    def take(self, rows: list[tuple[int, object]]) -> None:
        """Take the next rows, stopping at every checkpoint size among them to compare the root there."""
        while rows:
            following = bisect.bisect_right(self.sizes, self.frontier.size)
            room = self.sizes[following] - self.frontier.size if following < len(self.sizes) else len(rows)
            self._take_part(rows[:room])
            rows = rows[room:]
            self._check_roots()

    def _take_part(self, rows: list[tuple[int, object]]) -> None:
        first = self.frontier.size + 1
        seqs = [seq for seq, _ in rows]
        entries = [stored if type(stored) is bytes else as_bytes(stored) for _, stored in rows]
        digests = [hashlib.sha256(entry).hexdigest().encode() for entry in entries]
        links = [self.previous, *digests[:-1]]
        if not _links_hold(first, seqs, entries, links):
            for position, (seq, entry, previous) in enumerate(zip(seqs, entries, links, strict=True), start=first):
                problem = _check_entry(position, seq, entry, previous.decode())
                if problem and len(self.findings) < _MAX_FINDINGS:  # the first ones say enough
                    self.findings.append((problem, {"n": position, "prev": position - 1, "seq": seq}))
        self.frontier.extend(merkle.leaf_hashes(entries))
        self.previous = digests[-1]

    def _check_roots(self) -> None:
        for source, cp in self.by_size.get(self.frontier.size, []):
            if self.frontier.root() != cp.root_hash:
                self.findings.append((N_("the first {size} entries no longer match {source}: entries were changed"),
                                      {"size": cp.size, "source": source}))

    def result(self) -> Verification:
        found = self.frontier.size
        for size, sources in self.by_size.items():
            if size > found:
                for source, _ in sources:
                    self.findings.append((N_("the log has {found} entries but {source} covers {size}: "
                                             "the log was truncated"), {"found": found, "source": source,
                                                                        "size": size}))
        return Verification(size=found, root=self.frontier.root().hex(), findings=self.findings,
                            checkpoints_checked=len(self.expected))


_FIRST_KEY = b'{"action":"'  # keys are sorted: the reports read an entry's action from here (audit_query)
_PREV_KEY = b',"prev":"'  # a quote after a comma is not escaped: this opens a key, not text inside one


def _links_hold(first: int, seqs: list[int], entries: list[bytes], links: list[bytes]) -> bool:
    """Whether rows ``first``, ``first + 1``, … are numbered by their place and each entry holds the number and
    the previous entry's hash (hex) as the agent writes them: one pass of C string methods over the batch, no
    parse of each entry. Each entry must also start as the agent's do, with its action.

    What follows an entry's last ``,"prev":"`` (a quote after a comma opens a string: in JSON this is a key)
    must start with the hash and ``"seq":<number>``, hold no other "prev" or "seq" key, no backslash that could
    spell one, and no brace but the final one, which closes the entry: in any entry that is JSON, these are
    the "prev" and "seq" that a parser reads.
    """
    count = len(entries)
    if seqs != list(range(first, first + count)):
        return False
    tails = [entry.rpartition(_PREV_KEY)[2] for entry in entries]
    heads = [b'%s","seq":%d,' % (link, seq) for link, seq in zip(links, seqs, strict=True)]
    if not (all(map(bytes.startswith, tails, heads)) and all(map(bytes.endswith, tails, repeat(b"}")))
            and all(map(bytes.startswith, entries, repeat(_FIRST_KEY)))):
        return False
    # Every tail holds at least one "seq" (its head) and one brace (its end); counted over all of them at once,
    # exactly one each. Each ends with a brace and the next starts with a hash: nothing is counted across two.
    joined = b"".join(tails)
    return (joined.count(b"}") == joined.count(b'"seq"') == count
            and b'"prev"' not in joined and b"\\" not in joined)


def as_bytes(stored: object) -> bytes:
    """An entry as its bytes, whatever SQLite type someone gave the row (a type change alone is not a finding;
    anything that is not the entry's text then fails the checks)."""
    if isinstance(stored, bytes):
        return stored
    if isinstance(stored, str):
        return stored.encode("utf-8", "surrogateescape")
    return repr(stored).encode()


# Where a link is broken, verification re-encodes each entry of the batch: one decoder and one C encoder made
# once, not per entry as json.loads/json.dumps with arguments do (twice as fast). Same results:
# json.loads is exactly this decode of this text, and a parsed entry cannot hold a cycle (no markers needed).
_DECODE = json.JSONDecoder().decode
_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_ENCODE_PARSED = (_C_ENCODER(None, None, json.encoder.encode_basestring, None, ":", ",", True, False, True)
                  if _C_ENCODER is not None else None)


def _canonical_parsed(fields: Any) -> bytes:
    if _ENCODE_PARSED is None:
        return canonical(fields)
    return "".join(_ENCODE_PARSED(fields, 0)).encode()


def _check_entry(position: int, seq: int, entry: bytes, previous: str) -> str:
    """The template of what is wrong with one entry, or "" (values: n, prev, seq)."""
    if seq != position:
        return N_("entry {n} is out of place (numbered {seq}): entries were removed, inserted or moved")
    try:
        fields = _DECODE(entry.decode(json.detect_encoding(entry), "surrogatepass"))
    except ValueError:
        return N_("entry {n} is not readable: it was changed")
    if not isinstance(fields, dict) or fields.get("seq") != seq or _canonical_parsed(fields) != bytes(entry):
        return N_("entry {n} was changed")
    if fields.get("prev") != previous:
        return N_("entry {n} does not follow entry {prev}: an entry before it was changed")
    return ""
