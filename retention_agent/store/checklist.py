"""The ``checklist`` table: when each condition of the deliberation was met, as the officer recorded it."""

from __future__ import annotations

from typing import Any

from retention_agent.store.database import Store


def rows(store: Store) -> dict[str, dict[str, Any]]:
    """The recorded conditions, by id."""
    return {r["item"]: r for r in store.query("SELECT item, done_on, evidence, updated_at, updated_by FROM checklist")}


def record(store: Store, item: str, done_on: str, evidence: str, at: str, by: str) -> None:
    """Record (or record again) that ``item`` was met on ``done_on``, in the caller's transaction."""
    store.conn.execute(
        "INSERT INTO checklist(item, done_on, evidence, updated_at, updated_by) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(item) DO UPDATE SET done_on = excluded.done_on, evidence = excluded.evidence, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by", (item, done_on, evidence, at, by))
