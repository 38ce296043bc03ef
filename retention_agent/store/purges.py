"""The ``purges`` table: one record per purge, from its start (a crash resumes it) to its proof."""

from __future__ import annotations

import json
from typing import Any

from retention_agent.store.database import Store

_RESUME = "SELECT delivery_id, trigger, reason, requested_by, due_at FROM purges WHERE finished_at IS NULL"


def get(store: Store, delivery_id: str) -> dict[str, Any]:
    """The purge's whole record; empty when it never began."""
    return dict(store.one("SELECT * FROM purges WHERE delivery_id = ?", (delivery_id,)) or {})


def exists(store: Store, delivery_id: str) -> bool:
    return store.one("SELECT 1 AS found FROM purges WHERE delivery_id = ?", (delivery_id,)) is not None


def insert(store: Store, delivery_id: str, *, trigger: str, reason: str, requested_by: str, due_at: str | None,
           started_at: str) -> None:
    """The purge begins (no step done yet), in the caller's transaction."""
    store.conn.execute(
        "INSERT INTO purges(delivery_id, trigger, reason, requested_by, due_at, started_at, steps) "
        "VALUES (?, ?, ?, ?, ?, ?, '{}')", (delivery_id, trigger, reason, requested_by, due_at, started_at))


def steps(store: Store, delivery_id: str) -> dict[str, Any]:
    """The steps done so far, as the purge recorded them."""
    raw = store.scalar("SELECT steps FROM purges WHERE delivery_id = ?", (delivery_id,))
    return dict(json.loads(raw or "{}"))


def save_steps(store: Store, delivery_id: str, done: dict[str, Any]) -> None:
    """In the caller's transaction."""
    store.conn.execute("UPDATE purges SET steps = ? WHERE delivery_id = ?", (json.dumps(done, sort_keys=True),
                                                                              delivery_id))


def finish(store: Store, delivery_id: str, *, finished_at: str, proof_sha256: str) -> None:
    """The proof is written, in the caller's transaction."""
    store.conn.execute("UPDATE purges SET finished_at = ?, proof_sha256 = ? WHERE delivery_id = ?",
                       (finished_at, proof_sha256, delivery_id))


def outcome(store: Store, delivery_id: str) -> dict[str, Any]:
    """``finished_at`` and ``proof_sha256`` (None while the purge is unfinished)."""
    return store.one("SELECT finished_at, proof_sha256 FROM purges WHERE delivery_id = ?", (delivery_id,)) or {}


def unfinished(store: Store, *, by_start: bool = False) -> list[dict[str, Any]]:
    """The purges that began and have no proof yet: delivery_id, trigger, reason, requested_by, due_at; in the
    order they were recorded, or with ``by_start`` in the order of their start."""
    return store.query(_RESUME + (" ORDER BY started_at" if by_start else ""))


def finished_page(store: Store, after: tuple[str, str], limit: int) -> list[dict[str, Any]]:
    """Finished purges after ``after`` (finished_at, delivery_id), in that order, at most ``limit``."""
    return store.query(
        "SELECT p.delivery_id, p.trigger, p.due_at, p.finished_at, p.proof_sha256 FROM purges p "
        "WHERE p.finished_at IS NOT NULL AND (p.finished_at, p.delivery_id) > (?, ?) "
        "ORDER BY p.finished_at, p.delivery_id LIMIT ?", (*after, limit))
