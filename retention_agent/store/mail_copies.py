"""Other copies of taken messages in the mailboxes: the searches the agent made, as the database keeps them.

The mailbox watcher (:mod:`retention_agent.intake.mailbox`) records a search (:meth:`StoredLedger.begin`)
before it deletes a message, and its result (:meth:`StoredLedger.finish`) once every folder was searched
(:mod:`retention_agent.intake.copies`). A search begun before a crash is found again by
:meth:`StoredLedger.pending` and run at the next cycle. This module owns the three tables of schema migration 5,
every query over them — what ``status`` shows (:func:`summary`) and what a proof of deletion says
(:func:`proof_section`) — and the records of a search (:class:`CopyProbe`, :class:`CopyReport`, the
:class:`CopyLedger` protocol), which the watcher's searches make. These are facts about copies *outside* the
agent; a delivery's state is not touched.

No personal data: counts, delivery ids, SHA-256 values of the files (as the deliveries hold them), codes, and
folder names that passed :func:`~retention_agent.intake.copies.folder_label`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Protocol

from retention_agent.clock import Clock, utc_iso
from retention_agent.store.database import Store

# ---- the records of a search (the mailbox watcher's intake/copies.py makes them) ----------------------------

CopyMode = Literal["remove", "report", "off"]


@dataclass(frozen=True)
class CopyProbe:
    """What identifies the taken message's files: ``(size, SHA-256)`` of each, and where to look."""

    parts: frozenset[tuple[int, str]]
    message_id: str | None = None
    since: date | None = None
    """Copies arrive with or after the original: candidates older than this are not looked at."""

    @property
    def sizes(self) -> frozenset[int]:
        return frozenset(size for size, _ in self.parts)


@dataclass(frozen=True)
class FolderCopies:
    folder: str
    """The folder's label (:func:`folder_label`), safe for a proof."""
    special_use: str | None
    found: int
    removed: int
    remaining: int
    complete: bool = True


@dataclass(frozen=True)
class CopyReport:
    mode: CopyMode
    method: str
    folders: tuple[FolderCopies, ...] = ()
    folders_searched: int = 0

    @property
    def found(self) -> int:
        return sum(f.found for f in self.folders)

    @property
    def removed(self) -> int:
        return sum(f.removed for f in self.folders)

    @property
    def remaining(self) -> int:
        return sum(f.remaining for f in self.folders)

    @property
    def complete(self) -> bool:
        return all(f.complete for f in self.folders)


class CopyLedger(Protocol):
    """Where copy searches are recorded: begun before the message is deleted, finished with their report."""

    def begin(self, source: str, delivery_ids: Sequence[str], probe: CopyProbe) -> str:
        """Record a search to do (durable when it returns); its id."""
        ...

    def pending(self, source: str) -> list[tuple[str, CopyProbe]]:
        """Searches begun for ``source`` and not finished (after a crash too), oldest first."""
        ...

    def finish(self, check: str, report: CopyReport) -> None: ...


# ---- the ledger in the database ---------------------------------------------------------------------------


class StoredLedger:
    """A :class:`CopyLedger` in the agent's database."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def begin(self, source: str, delivery_ids: Sequence[str], probe: CopyProbe) -> str:
        check = secrets.token_hex(8)
        parts = json.dumps(sorted([size, digest] for size, digest in probe.parts))
        with self.store.transaction():
            self.store.conn.execute(
                "INSERT INTO mailbox_copy_checks(id, mailbox, parts, since, created_at) VALUES (?, ?, ?, ?, ?)",
                (check, source, parts, probe.since.isoformat() if probe.since else None,
                 utc_iso(self.clock.now())))
            self.store.conn.executemany(
                "INSERT OR IGNORE INTO mailbox_copy_deliveries(check_id, delivery_id) VALUES (?, ?)",
                [(check, delivery) for delivery in dict.fromkeys(delivery_ids)])
        return check

    def pending(self, source: str) -> list[tuple[str, CopyProbe]]:
        rows = self.store.query("SELECT id, parts, since FROM mailbox_copy_checks WHERE mailbox = ? AND "
                                "finished_at IS NULL ORDER BY created_at, id", (source,))
        return [(row["id"], CopyProbe(parts=frozenset((int(size), str(digest))
                                                      for size, digest in json.loads(row["parts"])),
                                      since=date.fromisoformat(row["since"]) if row["since"] else None))
                for row in rows]

    def finish(self, check: str, report: CopyReport) -> None:
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE mailbox_copy_checks SET finished_at = ?, mode = ?, method = ?, complete = ? WHERE id = ?",
                (utc_iso(self.clock.now()), report.mode, report.method, int(report.complete), check))
            self.store.conn.executemany(
                "INSERT INTO mailbox_copy_folders(check_id, folder, special_use, found, removed, remaining, "
                "complete) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(check, f.folder, f.special_use, f.found, f.removed, f.remaining, int(f.complete))
                 for f in report.folders])


def proof_section(store: Store, delivery_id: str) -> dict[str, Any] | None:
    """The ``mailbox_copies`` section of a proof: what the searches after taking the delivery's message found
    and removed, per folder; None when no search concerned it (it did not come from a mailbox, or its files
    were not recognised, or the mailbox does not look for copies)."""
    checks = store.query(
        "SELECT c.id, c.mailbox, c.finished_at, c.mode, c.method, c.complete FROM mailbox_copy_checks c "
        "JOIN mailbox_copy_deliveries d ON d.check_id = c.id WHERE d.delivery_id = ? ORDER BY c.created_at, c.id",
        (delivery_id,))
    if not checks:
        return None
    finished = [c for c in checks if c["finished_at"]]
    folders: dict[tuple[str, str | None], dict[str, Any]] = {}
    for check in finished:
        for row in store.query("SELECT folder, special_use, found, removed, remaining FROM mailbox_copy_folders "
                               "WHERE check_id = ? ORDER BY rowid", (check["id"],)):
            key = (row["folder"], _use_code(row["special_use"]))
            entry = folders.setdefault(key, {"folder": key[0], "special_use": key[1], "found": 0, "removed": 0,
                                             "remaining": 0})
            for count in ("found", "removed", "remaining"):
                entry[count] += int(row[count])
    last = finished[-1] if finished else checks[-1]
    return {
        "mailbox": checks[0]["mailbox"],
        "state": "done" if len(finished) == len(checks) else "pending",
        "mode": last["mode"] or "remove",
        "method": last["method"] or "not-searched",
        "searched_at": last["finished_at"],
        "complete": bool(finished) and all(bool(c["complete"]) for c in finished),
        "found": sum(f["found"] for f in folders.values()),
        "removed": sum(f["removed"] for f in folders.values()),
        "remaining": sum(f["remaining"] for f in folders.values()),
        "folders": list(folders.values()),
    }


def summary(store: Store) -> dict[str, Any]:
    """For ``status``: searches still to run, and what every search found, removed and left, per mailbox."""
    rows = store.query(
        "SELECT c.mailbox, COUNT(DISTINCT c.id) AS checks, SUM(c.finished_at IS NULL) AS pending, "
        "MIN(CASE WHEN c.finished_at IS NULL THEN c.created_at END) AS oldest_pending, "
        "MAX(c.finished_at) AS last_search FROM mailbox_copy_checks c GROUP BY c.mailbox ORDER BY c.mailbox")
    counts = {r["mailbox"]: r for r in store.query(
        "SELECT c.mailbox, SUM(f.found) AS found, SUM(f.removed) AS removed, SUM(f.remaining) AS remaining "
        "FROM mailbox_copy_folders f JOIN mailbox_copy_checks c ON c.id = f.check_id GROUP BY c.mailbox")}
    mailboxes = []
    for row in rows:
        found = counts.get(row["mailbox"], {})
        mailboxes.append({"mailbox": row["mailbox"], "searches": int(row["checks"]),
                          "pending": int(row["pending"] or 0), "oldest_pending": row["oldest_pending"],
                          "last_search": row["last_search"], "found": int(found.get("found") or 0),
                          "removed": int(found.get("removed") or 0), "remaining": int(found.get("remaining") or 0)})
    return {"pending": sum(m["pending"] for m in mailboxes), "found": sum(m["found"] for m in mailboxes),
            "removed": sum(m["removed"] for m in mailboxes), "remaining": sum(m["remaining"] for m in mailboxes),
            "by_mailbox": mailboxes}


def _use_code(special_use: str | None) -> str | None:
    """``\\Trash`` -> ``trash``: a code, as proofs hold them."""
    return special_use.lstrip("\\").lower() if special_use else None
