"""A delivery's life: the typed record and the one writer of its state.

Every module that needs to know a delivery's state asks this one (or, below the domain, the pure
``rules/delivery_states.py`` it names again): the states (:class:`DeliveryState`) and their groups
(:data:`LIVE`, :data:`UNPURGED`, …), the typed record (:class:`Delivery`), and the only two functions
that write ``deliveries.state``: :func:`record` (a new delivery) and :func:`transition` (every change after).
Both run inside the caller's transaction, so a refused transition rolls back everything the caller did with
it, and both refuse what :data:`TRANSITIONS` does not list.

The diagram of the states and transitions is in ``rules/delivery_states.py``.
A test (``tests/test_lifecycle.py``) reads the source tree and fails when any other module writes the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from retention_agent.clock import parse_utc
from retention_agent.errors import DeliveryNotFoundError, DeliveryStateError

# The states and their transitions are pure rules (rules/delivery_states.py); named here too, so that
# ``lifecycle.LIVE`` reads as before wherever this module is imported as ``lifecycle``.
from retention_agent.rules.delivery_states import (
    ALL_STATES,
    ALLOWED,
    HELD,
    LIVE,
    LIVE_STATES,
    PLANNED,
    PURGED,
    PURGING,
    QUARANTINED,
    SCHEDULED,
    TAKES_CEREMONY,
    TRANSITIONS,
    UNPURGED,
    VAULTED,
    DeliveryState,
    Transition,
    allowed,
    sql_states,
)
from retention_agent.store.database import Store

__all__ = [
    "ALLOWED",
    "ALL_STATES",
    "COLUMNS",
    "FROM",
    "HELD",
    "LIVE",
    "LIVE_STATES",
    "PLANNED",
    "PURGED",
    "PURGING",
    "QUARANTINED",
    "SCHEDULED",
    "TAKES_CEREMONY",
    "TRANSITIONS",
    "UNPURGED",
    "VAULTED",
    "Delivery",
    "DeliveryState",
    "Transition",
    "allowed",
    "load",
    "record",
    "sql_states",
    "transition",
]


# ---- the record ---------------------------------------------------------------------------------------------

# What describes a delivery, its ceremony date joined in (the columns of ``Delivery`` and ``deliveries --json``).
COLUMNS: Final = """d.id, d.state, d.received_at, d.channel, d.source, d.size, d.sha256, d.key_id, d.legal_basis,
    c.date AS ceremony_date, d.deadline, d.due_at, d.due_reason, d.hold_reason, d.hold_until, d.purged_at,
    d.quarantine_reason, d.source_not_overwritten"""
FROM: Final = "deliveries d LEFT JOIN ceremonies c ON c.id = d.ceremony_id"


@dataclass(frozen=True)
class Delivery:
    """One delivery as the store describes it, typed. No personal data: ids, hashes, dates and codes."""

    id: str
    state: DeliveryState
    received_at: datetime
    channel: str
    source: str
    sha256: str
    size: int
    key_id: str
    legal_basis: str
    ceremony_date: date | None = None
    deadline: date | None = None
    due_at: datetime | None = None
    due_reason: str | None = None
    hold_until: date | None = None
    purged_at: datetime | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Delivery:
        return cls(id=row["id"], state=DeliveryState(row["state"]), received_at=parse_utc(row["received_at"]),
                   channel=row["channel"], source=row["source"], sha256=row["sha256"], size=int(row["size"]),
                   key_id=row["key_id"], legal_basis=row["legal_basis"],
                   ceremony_date=_day(row.get("ceremony_date")), deadline=_day(row.get("deadline")),
                   due_at=_moment(row.get("due_at")), due_reason=row.get("due_reason"),
                   hold_until=_day(row.get("hold_until")), purged_at=_moment(row.get("purged_at")))

    @property
    def live(self) -> bool:
        return self.state in LIVE


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _moment(text: str | None) -> datetime | None:
    return parse_utc(text) if text else None


def load(store: Store, delivery_id: str) -> Delivery:
    row = store.one(f"SELECT {COLUMNS} FROM {FROM} WHERE d.id = ?", (delivery_id,))
    if row is None:
        raise DeliveryNotFoundError(delivery=delivery_id)
    return Delivery.from_row(row)


# ---- the one writer of a delivery's state ---------------------------------------------------------------------


def record(store: Store, fields: dict[str, Any], state: DeliveryState) -> None:
    """Insert a new delivery (``fields``: every column but the state) in ``state``, in the caller's transaction."""
    _in_transaction(store)
    if not allowed(None, state):
        raise DeliveryStateError(delivery=str(fields.get("id", "?")), state=state.value)
    store.db.table("deliveries").insert({**fields, "state": state.value})


def transition(store: Store, delivery_id: str, target: DeliveryState) -> DeliveryState:
    """Move the delivery to ``target`` if :data:`TRANSITIONS` allows it from its present state; return that
    state. Refused (:class:`DeliveryStateError`, naming the present state) otherwise. In the caller's
    transaction: the caller's other changes stand or fall with this one."""
    _in_transaction(store)
    current = store.scalar("SELECT state FROM deliveries WHERE id = ?", (delivery_id,))
    if current is None:
        raise DeliveryNotFoundError(delivery=delivery_id)
    source = DeliveryState(current)
    if not allowed(source, target):
        raise DeliveryStateError(delivery=delivery_id, state=source.value)
    store.conn.execute("UPDATE deliveries SET state = ? WHERE id = ?", (target.value, delivery_id))
    return source


def _in_transaction(store: Store) -> None:
    if not store.conn.in_transaction:
        raise RuntimeError("a delivery's state is written only inside the caller's transaction")
