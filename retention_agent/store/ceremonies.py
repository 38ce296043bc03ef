"""The ``ceremonies`` table: one row per ceremony date, which deliveries point to (``deliveries.ceremony_id``)."""

from __future__ import annotations

from typing import Any

from retention_agent.rules.delivery_states import PURGED
from retention_agent.store.database import Store


def on_day(store: Store, day: str) -> str | None:
    """The id of the ceremony on ``day`` (ISO date), if there is one."""
    found = store.scalar("SELECT id FROM ceremonies WHERE date = ?", (day,))
    return str(found) if found else None


def insert(store: Store, ceremony_id: str, *, day: str, label: str, created_at: str) -> None:
    """In the caller's transaction."""
    store.conn.execute("INSERT INTO ceremonies(id, date, label, created_at) VALUES (?, ?, ?, ?)",
                       (ceremony_id, day, label, created_at))


def set_label(store: Store, ceremony_id: str, label: str) -> None:
    """In the caller's transaction."""
    store.conn.execute("UPDATE ceremonies SET label = ? WHERE id = ?", (label, ceremony_id))


def listing(store: Store) -> list[dict[str, Any]]:
    """Each ceremony by date: its deliveries, how many are not purged (``live``), the earliest deadline."""
    rows = store.query(
        "SELECT c.id, c.date, c.label, COUNT(d.id) AS deliveries, "
        f"SUM(CASE WHEN d.state != '{PURGED}' THEN 1 ELSE 0 END) AS live, MIN(d.deadline) AS deadline "
        "FROM ceremonies c LEFT JOIN deliveries d ON d.ceremony_id = c.id GROUP BY c.id ORDER BY c.date")
    return [{**r, "live": r["live"] or 0} for r in rows]
