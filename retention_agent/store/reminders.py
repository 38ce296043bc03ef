"""The ``reminders`` table: each reminder sent once, by its key (the schedule's ``_remind_once``)."""

from __future__ import annotations

from retention_agent.store.database import Store


def sent_keys(store: Store) -> set[str]:
    return {r["key"] for r in store.query("SELECT key FROM reminders")}


def record(store: Store, key: str, *, delivery_id: str, kind: str, audience: str, sent_at: str) -> bool:
    """Record the reminder in the caller's transaction; False if it was sent before."""
    return bool(store.conn.execute(
        "INSERT OR IGNORE INTO reminders(key, delivery_id, kind, audience, sent_at) VALUES (?, ?, ?, ?, ?)",
        (key, delivery_id, kind, audience, sent_at)).rowcount)


def delete_of_delivery(store: Store, delivery_id: str) -> None:
    """In the caller's transaction (the purge's rows step)."""
    store.conn.execute("DELETE FROM reminders WHERE delivery_id = ?", (delivery_id,))
