"""A delivery's life: the typed record, and the states named again for the domain.

Every module that needs to know a delivery's state asks this one (or, below the domain, the pure
``rules/delivery_states.py`` it names again): the states (:class:`DeliveryState`) and their groups
(:data:`LIVE`, :data:`UNPURGED`, …) and the typed record (:class:`Delivery`). The only two functions that write
``deliveries.state`` — ``record`` (a new delivery) and ``transition`` (every change after) — are in
``store/deliveries.py`` with the table's other queries; both refuse what :data:`TRANSITIONS` does not list.

The diagram of the states and transitions is in ``rules/delivery_states.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from retention_agent.clock import parse_utc

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
from retention_agent.store.deliveries import get_delivery

__all__ = [
    "ALLOWED",
    "ALL_STATES",
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
    "sql_states",
]


# ---- the record ---------------------------------------------------------------------------------------------

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
    return Delivery.from_row(get_delivery(store, delivery_id))
