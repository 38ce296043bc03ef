"""The agent's SQLite database: schema, migrations, and a connection that leaves no residue.

One connection, used under one lock by the agent's threads. ``secure_delete`` is switched on for every
connection (Windows' bundled SQLite may default to off), so deleted rows and freed pages are overwritten with
zeros, and :meth:`Store.scrub` gives freed pages back (incremental vacuum) and checkpoints the WAL with
TRUNCATE, so that purged rows leave no bytes behind (FIELD-NOTES: SQLite residue). A scrub costs space and
time in proportion to what was deleted, not to the database: a purge needs no room to copy a database of a
gigabyte, and holds the lock for milliseconds. A full ``VACUUM`` (:meth:`Store.vacuum`) runs only off the
request path, when there is room and time (``upkeep.py``); it also switches a database created before
incremental vacuum existed here to it (``auto_vacuum`` can only change on an empty database, or by a VACUUM).
No keys are ever stored here, and no full-text index is kept over personal data.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from retention_agent.errors import (
    DatabaseLockedError,
    DiskFullError,
    HomeDamagedError,
    RetentionAgentError,
    SchemaVersionError,
)

SCHEMA_VERSION = 5
INCREMENTAL = 2  # PRAGMA auto_vacuum

_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE staff (
    account TEXT PRIMARY KEY, name TEXT NOT NULL, roles TEXT NOT NULL,
    added_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE TABLE ceremonies (
    id TEXT PRIMARY KEY, date TEXT NOT NULL UNIQUE, label TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL
);
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY, received_at TEXT NOT NULL, channel TEXT NOT NULL, source TEXT NOT NULL,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, key_id TEXT NOT NULL, state TEXT NOT NULL,
    ceremony_id TEXT REFERENCES ceremonies(id), legal_basis TEXT NOT NULL,
    deadline TEXT, due_at TEXT, due_reason TEXT,
    hold_reason TEXT, hold_until TEXT,
    key_destroyed_at TEXT, purged_at TEXT
);
CREATE INDEX deliveries_sha256 ON deliveries(sha256);
CREATE INDEX deliveries_due ON deliveries(state, due_at);
CREATE TABLE pending_objects (
    key_id TEXT PRIMARY KEY, delivery_id TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE openings (
    id INTEGER PRIMARY KEY, delivery_id TEXT NOT NULL, account TEXT NOT NULL, purpose TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '', mode TEXT NOT NULL, opened_at TEXT NOT NULL,
    copy_path TEXT, wipe_at TEXT, wiped_at TEXT
);
CREATE INDEX openings_delivery ON openings(delivery_id);
CREATE TABLE audit (seq INTEGER PRIMARY KEY, entry BLOB NOT NULL);
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE purges (
    delivery_id TEXT PRIMARY KEY, trigger TEXT NOT NULL, reason TEXT NOT NULL, requested_by TEXT NOT NULL,
    due_at TEXT, started_at TEXT NOT NULL, steps TEXT NOT NULL DEFAULT '{}', finished_at TEXT,
    proof_sha256 TEXT
);
CREATE TABLE reminders (key TEXT PRIMARY KEY, delivery_id TEXT, kind TEXT NOT NULL, audience TEXT NOT NULL,
    sent_at TEXT NOT NULL);
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY, audience TEXT NOT NULL, kind TEXT NOT NULL, params TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE checklist (item TEXT PRIMARY KEY, done_on TEXT NOT NULL, evidence TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL, updated_by TEXT NOT NULL);
CREATE TABLE reports (
    period TEXT PRIMARY KEY, created_at TEXT NOT NULL, files TEXT NOT NULL, sent_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT
);
"""

# Migration 2: partial indexes over the few audit entries that status and reports count (refused requests,
# openings), so they are found without reading a log of a million entries. The WHERE terms must be repeated
# verbatim in a query for SQLite to use these indexes (see retention_agent/audit/query.py).
_SCHEMA_V2 = """
CREATE INDEX audit_denied ON audit(seq) WHERE instr(entry, '"outcome":"denied"') > 0;
CREATE INDEX audit_opened ON audit(seq) WHERE instr(entry, '"action":"delivery.opened"') > 0;
"""

# Migration 3: facts about how a delivery came in that the officer and the proof must know (codes, never
# personal data): why it was quarantined at intake (``mail-too-many-files``, ``mail-not-authenticated``), and
# why its plaintext source was removed without being overwritten first (``no-write-permission``, ...).
_SCHEMA_V3 = """
ALTER TABLE deliveries ADD COLUMN quarantine_reason TEXT;
ALTER TABLE deliveries ADD COLUMN source_not_overwritten TEXT;
"""

# Migration 4: copies on the workstation (retention_agent/copies/). What an unlocked workbook holds, in counts,
# and its people's keyed fingerprints (never a number; the key is in the key store); the copies sessions found,
# with their location kind and the path inside it (deleted at the purge); each account's last sweep; and what
# remained of a purged delivery's copies per account, in counts (no paths), until a session erases them.
_SCHEMA_V4 = """
CREATE TABLE delivery_contents (
    delivery_id TEXT PRIMARY KEY, rows INTEGER NOT NULL, people INTEGER NOT NULL, invalid_numbers INTEGER NOT NULL,
    missing_numbers INTEGER NOT NULL, duplicates INTEGER NOT NULL, columns TEXT NOT NULL, fingerprints BLOB NOT NULL,
    unlocked_at TEXT NOT NULL, unlocked_by TEXT NOT NULL
);
CREATE TABLE copy_findings (
    id INTEGER PRIMARY KEY, delivery_id TEXT NOT NULL, account TEXT NOT NULL, match TEXT NOT NULL, kind TEXT NOT NULL,
    path TEXT NOT NULL, people INTEGER NOT NULL DEFAULT 0, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
    outcome TEXT, why TEXT, settled_at TEXT, UNIQUE (delivery_id, account, match, kind, path)
);
CREATE INDEX copy_findings_account ON copy_findings(account, outcome);
CREATE TABLE copy_sweeps (
    account TEXT PRIMARY KEY, swept_at TEXT NOT NULL, complete INTEGER NOT NULL, locations TEXT NOT NULL,
    stats TEXT NOT NULL
);
CREATE TABLE copy_tallies (
    delivery_id TEXT NOT NULL, account TEXT NOT NULL, match TEXT NOT NULL, remaining INTEGER NOT NULL,
    erased_after INTEGER NOT NULL DEFAULT 0, gone_after INTEGER NOT NULL DEFAULT 0, updated_at TEXT NOT NULL,
    PRIMARY KEY (delivery_id, account, match)
);
"""

# Migration 5: the search for other copies of a taken message in its mailbox (retention_agent/store/mail_copies.py).
# A check is recorded before the message is deleted, with the size and SHA-256 of the files looked for (the same
# values the deliveries hold) and the deliveries it concerns; finished, it holds per folder how many copies were
# found, removed and left. Folder names are a clerk's choice: one that looks like personal data is stored as a
# hash. Kept after a purge, like the tombstone, because the proof of deletion reports them.
_SCHEMA_V5 = """
CREATE TABLE mailbox_copy_checks (
    id TEXT PRIMARY KEY, mailbox TEXT NOT NULL, parts TEXT NOT NULL, since TEXT, created_at TEXT NOT NULL,
    finished_at TEXT, mode TEXT, method TEXT, complete INTEGER
);
CREATE INDEX mailbox_copy_checks_open ON mailbox_copy_checks(mailbox, finished_at);
CREATE TABLE mailbox_copy_deliveries (
    check_id TEXT NOT NULL REFERENCES mailbox_copy_checks(id), delivery_id TEXT NOT NULL,
    PRIMARY KEY (check_id, delivery_id)
);
CREATE INDEX mailbox_copy_deliveries_delivery ON mailbox_copy_deliveries(delivery_id);
CREATE TABLE mailbox_copy_folders (
    check_id TEXT NOT NULL REFERENCES mailbox_copy_checks(id), folder TEXT NOT NULL, special_use TEXT,
    found INTEGER NOT NULL, removed INTEGER NOT NULL, remaining INTEGER NOT NULL, complete INTEGER NOT NULL
);
CREATE INDEX mailbox_copy_folders_check ON mailbox_copy_folders(check_id);
"""

MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4, 5: _SCHEMA_V5}


_HEADER = b"SQLite format 3\x00"


def check_database_file(path: Path) -> None:
    """Refuse a database file that is missing, empty, not SQLite, or shorter than its header says.

    SQLite itself would turn a missing or empty file into a new, empty database, and read a truncated one
    until it meets a missing page; an existing home must never be re-initialised that way.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            header = handle.read(100)
    except FileNotFoundError:
        raise HomeDamagedError(file=str(path), problem="the file is missing") from None
    except OSError as exc:
        raise HomeDamagedError(file=str(path), problem=exc.strerror or type(exc).__name__) from exc
    if size == 0:
        raise HomeDamagedError(file=str(path), problem="the file is empty")
    if len(header) < 100 or not header.startswith(_HEADER):
        raise HomeDamagedError(file=str(path), problem="it is not an SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    size_valid = header[24:28] == header[92:96]  # "version-valid-for" matches the change counter
    if size_valid and pages and size < pages * page_size:
        raise HomeDamagedError(file=str(path), problem=f"it is truncated: {size} of {pages * page_size} bytes")


class Store:
    """The database, behind one re-entrant lock. ``with store.transaction():`` commits or rolls back."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.lock = threading.RLock()
        target = path if create else f"{path.resolve().as_uri()}?mode=rw"
        self.conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=10,
                                    uri=not create)
        try:
            if not create:
                self._check_home_database()  # before anything is written to it
            else:
                self.conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before the first table exists
            # A short WAL (checkpointed every 100 pages, cut back to 1 MiB): on a nearly full disk it must not need
            # the room that a 4 MB WAL (SQLite's default) would, and it holds fewer copies of deleted rows.
            for pragma in ("secure_delete = ON", "journal_mode = WAL", "foreign_keys = ON",
                           "synchronous = FULL", "busy_timeout = 10000", "wal_autocheckpoint = 100",
                           "journal_size_limit = 1048576"):
                self.conn.execute(f"PRAGMA {pragma}")
        except BaseException:  # a full disk, say: no open handle is left behind on the files
            self.conn.close()
            raise
        self._depth = 0
        self._readers = 0  # open snapshots: while one is open, the WAL cannot be truncated
        self._no_readers = threading.Condition()

    @classmethod
    def create(cls, path: Path) -> Store:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # private before SQLite opens it
        store = cls(path)
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open the database of an existing home: never create one, never build a schema from nothing."""
        check_database_file(path)
        try:
            store = cls(path, create=False)
        except sqlite3.DatabaseError as exc:
            raise HomeDamagedError(file=str(path), problem=error_code(exc)) from exc
        try:
            store.migrate()
        except sqlite3.DatabaseError as exc:
            store.close()
            raise HomeDamagedError(file=str(path), problem=error_code(exc)) from exc
        except BaseException:
            store.close()
            raise
        return store

    def _check_home_database(self) -> None:
        """An existing home's database has the agent's tables, a schema this version knows, and the
        installation id that ``init`` recorded; otherwise the connection is closed and nothing was written."""
        try:
            found = self.schema_version()
            if found > SCHEMA_VERSION:
                raise SchemaVersionError(file=str(self.path), found=found, known=SCHEMA_VERSION)
            if found == 0:
                raise HomeDamagedError(file=str(self.path), problem="it holds no tables of the agent")
            installed = self.conn.execute("SELECT value FROM meta WHERE key = 'installation_id'").fetchone()
            if not installed or not installed[0]:
                raise HomeDamagedError(file=str(self.path), problem="it has no installation id")
        except BaseException:
            self.conn.close()
            raise

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        with self.transaction():
            current = self.schema_version()
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {version}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            outer = self._depth == 0
            if outer:
                self.conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self.conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                try:
                    self.conn.execute("COMMIT")
                except sqlite3.Error:  # a full disk or an I/O error: SQLite may leave the transaction open
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection holding one consistent view of the database (WAL keeps it while others
        write), for long reads that must neither block the agent nor load everything into memory. Never open
        one while holding :attr:`lock`: a scrub takes the two the other way round."""
        with self._no_readers:  # waits while a scrub runs
            self._readers += 1
        try:
            reader = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                     timeout=10)
            try:
                reader.execute("BEGIN")
                reader.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # the view starts here
                yield reader
            finally:
                reader.close()
        finally:
            with self._no_readers:
                self._readers -= 1
                self._no_readers.notify_all()

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """The rows as dicts by column name."""
        with self.lock:
            cursor = self.conn.execute(sql, params)
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor]

    def one(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        with self.lock:
            row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        value = self.scalar("SELECT value FROM meta WHERE key = ?", (key,))
        return default if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def scrub(self) -> dict[str, int]:
        """Leave no deleted bytes behind, at the cost of what was deleted: WAL checkpoint (TRUNCATE), give
        the freed pages back (incremental vacuum, where the database has it), checkpoint again.

        Returns what it left: ``secure_delete`` (1 = on: every deleted row and freed page was overwritten
        with zeros), the WAL's size, the free pages (0 after an incremental vacuum; zeroed otherwise) and
        ``auto_vacuum`` (2 = incremental), which a purge records as its evidence that the database holds no
        residue of the deleted rows. An open snapshot keeps the WAL from being truncated, so the scrub waits
        for those to end and lets none start.
        """
        with self._no_readers:  # taken before the store's lock (never the other way round)
            self._no_readers.wait_for(lambda: self._readers == 0)
            with self.lock:
                if self.conn.in_transaction:  # executescript below would commit it
                    raise RuntimeError("a scrub runs outside any transaction")
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                auto_vacuum = int(self.conn.execute("PRAGMA auto_vacuum").fetchone()[0])
                if auto_vacuum == INCREMENTAL:
                    # execute() steps this pragma once, freeing one page; executescript() runs it to the end
                    self.conn.executescript("PRAGMA incremental_vacuum;")
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                return {**self._residue(), "auto_vacuum": auto_vacuum}

    def vacuum(self) -> dict[str, int]:
        """A full VACUUM, which also switches the database to incremental auto-vacuum. It rewrites the whole
        file: it needs free space about twice the database's size and holds the lock meanwhile (seconds for a
        large database), so only ``upkeep.DatabaseUpkeep`` calls it, when there is room and nobody is working."""
        with self._no_readers:
            self._no_readers.wait_for(lambda: self._readers == 0)
            with self.lock:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                self.conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
                self.conn.execute("VACUUM")
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                return {**self._residue(), "auto_vacuum": int(self.conn.execute("PRAGMA auto_vacuum").fetchone()[0])}

    def _residue(self) -> dict[str, int]:
        wal = self.path.with_name(self.path.name + "-wal")
        return {
            "secure_delete": int(self.conn.execute("PRAGMA secure_delete").fetchone()[0]),
            "wal_bytes": wal.stat().st_size if wal.exists() else 0,
            "free_pages": int(self.conn.execute("PRAGMA freelist_count").fetchone()[0]),
        }

    def size_facts(self) -> dict[str, int]:
        """``pages``, ``free_pages``, ``page_size`` and ``auto_vacuum`` of the database, read without a lock
        held for long."""
        with self.lock:
            return {name: int(self.conn.execute(f"PRAGMA {pragma}").fetchone()[0]) for name, pragma in
                    (("pages", "page_count"), ("free_pages", "freelist_count"), ("page_size", "page_size"),
                     ("auto_vacuum", "auto_vacuum"))}

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def error_code(exc: sqlite3.Error) -> str:
    """SQLite's own name for an error (``SQLITE_FULL``, ``SQLITE_BUSY_SNAPSHOT``…), never its message words."""
    return str(getattr(exc, "sqlite_errorname", None) or type(exc).__name__)


def error_kind(exc: sqlite3.Error) -> str:
    """``full``, ``busy`` (locked by another program), ``damaged`` or ``other``, by SQLite's error code."""
    primary = int(getattr(exc, "sqlite_errorcode", -1) or -1) & 0xFF
    return _ERROR_KINDS.get(primary, "other")


def catalogue_error(exc: sqlite3.Error, path: Path) -> RetentionAgentError | None:
    """The catalogue's error for a full disk, a database locked by another program or a damaged database;
    None for any other SQLite error (that one is a bug, not the user's to fix)."""
    kind = error_kind(exc)
    if kind == "full":
        return DiskFullError(file=str(path))
    if kind == "busy":
        return DatabaseLockedError(file=str(path))
    if kind == "damaged":
        return HomeDamagedError(file=str(path), problem=error_code(exc))
    return None


# by primary result code: an extended code (SQLITE_BUSY_SNAPSHOT, SQLITE_CORRUPT_VTAB…) keeps it in its low byte
_ERROR_KINDS = {sqlite3.SQLITE_BUSY: "busy", sqlite3.SQLITE_LOCKED: "busy", sqlite3.SQLITE_CORRUPT: "damaged",
                sqlite3.SQLITE_NOTADB: "damaged", sqlite3.SQLITE_FULL: "full"}
