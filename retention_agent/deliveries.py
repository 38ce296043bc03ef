"""Reading deliveries for people: the rows staff see, with ceremony date and deadline, no personal data."""

from __future__ import annotations

from typing import Any

from retention_agent.errors import DeliveryNotFoundError, DeliveryPurgedError, DeliveryStateError
from retention_agent.store import Store

LIVE_STATES = ("vaulted", "scheduled", "held", "quarantined")

_COLUMNS = """d.id, d.state, d.received_at, d.channel, d.source, d.size, d.sha256, d.key_id, d.legal_basis,
    c.date AS ceremony_date, d.deadline, d.due_at, d.due_reason, d.hold_reason, d.hold_until, d.purged_at,
    d.quarantine_reason, d.source_not_overwritten"""


def list_deliveries(store: Store, *, include_purged: bool = True, after: str = "",
                    limit: int = -1) -> list[dict[str, Any]]:
    """Deliveries in id order (the order they arrived in), from after the id ``after``, at most ``limit``."""
    where = "WHERE d.id > ?" + ("" if include_purged else " AND d.state != 'purged'")
    return store.query(f"SELECT {_COLUMNS} FROM deliveries d LEFT JOIN ceremonies c ON c.id = d.ceremony_id "
                       f"{where} ORDER BY d.id LIMIT ?", (after, limit))


def get_delivery(store: Store, delivery_id: str) -> dict[str, Any]:
    row = store.one(f"SELECT {_COLUMNS} FROM deliveries d LEFT JOIN ceremonies c ON c.id = d.ceremony_id "
                    "WHERE d.id = ?", (delivery_id,))
    if row is None:
        raise DeliveryNotFoundError(delivery=delivery_id)
    return row


def get_live(store: Store, delivery_id: str) -> dict[str, Any]:
    row = get_delivery(store, delivery_id)
    if row["state"] == "purging":
        raise DeliveryStateError(delivery=delivery_id, state="purging")
    if row["state"] not in LIVE_STATES:
        raise DeliveryPurgedError(delivery=delivery_id, purged_at=row["purged_at"] or "?")
    return row


def public_view(row: dict[str, Any]) -> dict[str, Any]:
    """The documented fields of ``deliveries --json`` (the key id stays inside the agent)."""
    return {k: row.get(k) for k in ("id", "state", "received_at", "channel", "source", "size", "sha256",
                                     "ceremony_date", "deadline", "due_at", "hold_until", "legal_basis")}
