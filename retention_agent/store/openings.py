"""The ``openings`` table: each time a delivery was opened, and the workspace copy an opening left, until wiped."""

from __future__ import annotations

from typing import Any

from retention_agent.store.database import Store

_UNWIPED = "SELECT id, delivery_id, account, copy_path FROM openings WHERE copy_path IS NOT NULL AND wiped_at IS NULL"


def record(store: Store, *, delivery_id: str, account: str, purpose: str, note: str, mode: str, opened_at: str,
           wipe_at: str | None) -> int:
    """A new opening, in the caller's transaction; its id."""
    cursor = store.conn.execute(
        "INSERT INTO openings(delivery_id, account, purpose, note, mode, opened_at, wipe_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)", (delivery_id, account, purpose, note, mode, opened_at, wipe_at))
    return int(cursor.lastrowid or 0)


def set_copy_path(store: Store, opening_id: int, path: str) -> None:
    """Track the opening's workspace copy (before its first byte is written), in the caller's transaction."""
    store.conn.execute("UPDATE openings SET copy_path = ? WHERE id = ?", (path, opening_id))


def mark_wiped(store: Store, opening_id: int, at: str) -> None:
    """The opening's copy is gone (the first wipe's moment is kept), in the caller's transaction."""
    store.conn.execute("UPDATE openings SET wiped_at = ? WHERE id = ? AND wiped_at IS NULL", (at, opening_id))


def unwiped_copies(store: Store) -> list[dict[str, Any]]:
    """Every workspace copy not wiped yet: id, delivery_id, account, copy_path."""
    return store.query(_UNWIPED)


def copies_due(store: Store, now: str) -> list[dict[str, Any]]:
    """The copies not wiped yet whose time is up at ``now``."""
    return store.query(f"{_UNWIPED} AND wipe_at <= ?", (now,))


def copies_of_account(store: Store, account: str) -> list[dict[str, Any]]:
    return store.query(f"{_UNWIPED} AND account = ?", (account,))


def copies_of_delivery(store: Store, delivery_id: str) -> list[dict[str, Any]]:
    return store.query(f"{_UNWIPED} AND delivery_id = ?", (delivery_id,))


def counts_of_delivery(store: Store, delivery_id: str) -> dict[str, int]:
    """For the purge's tombstone: how many openings, by how many accounts, how many to a folder of the caller."""
    row = store.one(
        "SELECT COUNT(*) AS openings, COUNT(DISTINCT account) AS accounts, "
        "SUM(CASE WHEN mode = 'to-dir' THEN 1 ELSE 0 END) AS untracked FROM openings WHERE delivery_id = ?",
        (delivery_id,)) or {}
    return {k: int(v or 0) for k, v in row.items()}


def delete_of_delivery(store: Store, delivery_id: str) -> None:
    """In the caller's transaction (the purge's rows step)."""
    store.conn.execute("DELETE FROM openings WHERE delivery_id = ?", (delivery_id,))


def left_of_delivery(store: Store, delivery_id: str) -> int:
    return int(store.scalar("SELECT COUNT(*) FROM openings WHERE delivery_id = ?", (delivery_id,)) or 0)
