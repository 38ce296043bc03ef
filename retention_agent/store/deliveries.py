"""Reading deliveries for people: the rows staff see, with ceremony date and deadline, no personal data."""

from __future__ import annotations

from typing import Any

from retention_agent.errors import DeliveryNotFoundError, DeliveryPurgedError, DeliveryStateError
from retention_agent.lifecycle import states as lifecycle
from retention_agent.store.database import Store

# how often each delivery was opened (the deliveries list shows it; the openings table is the audit's record)
OPENINGS = "(SELECT COUNT(*) FROM openings o WHERE o.delivery_id = d.id) AS openings"


def list_deliveries(store: Store, *, include_purged: bool = True, after: str = "",
                    limit: int = -1) -> list[dict[str, Any]]:
    """Deliveries in id order (the order they arrived in), from after the id ``after``, at most ``limit``."""
    where = "WHERE d.id > ?" + ("" if include_purged else f" AND d.state != '{lifecycle.PURGED.value}'")
    return store.query(f"SELECT {lifecycle.COLUMNS}, {OPENINGS} FROM {lifecycle.FROM} {where} ORDER BY d.id LIMIT ?",
                       (after, limit))


def get_delivery(store: Store, delivery_id: str) -> dict[str, Any]:
    row = store.one(f"SELECT {lifecycle.COLUMNS} FROM {lifecycle.FROM} WHERE d.id = ?", (delivery_id,))
    if row is None:
        raise DeliveryNotFoundError(delivery=delivery_id)
    return row


def get_live(store: Store, delivery_id: str) -> dict[str, Any]:
    row = get_delivery(store, delivery_id)
    if row["state"] == lifecycle.PURGING:
        raise DeliveryStateError(delivery=delivery_id, state=row["state"])
    if row["state"] not in lifecycle.LIVE:
        raise DeliveryPurgedError(delivery=delivery_id, purged_at=row["purged_at"] or "?")
    return row


def public_view(row: dict[str, Any]) -> dict[str, Any]:
    """The documented fields of ``deliveries --json`` (the key id stays inside the agent)."""
    return {k: row.get(k) for k in ("id", "state", "received_at", "channel", "source", "size", "sha256",
                                     "ceremony_date", "deadline", "due_at", "hold_until", "legal_basis",
                                     "openings")}
