"""A delivery's life: its states, the transitions allowed between them, and the one writer of its state.

Every module that needs to know a delivery's state asks this one: the states (:class:`DeliveryState`) and their
groups (:data:`LIVE`, :data:`UNPURGED`, …), the typed record (:class:`Delivery`), and the only two functions
that write ``deliveries.state``: :func:`record` (a new delivery) and :func:`transition` (every change after).
Both run inside the caller's transaction, so a refused transition rolls back everything the caller did with
it, and both refuse what :data:`TRANSITIONS` does not list.

::

    (received) ──► vaulted ──► scheduled ──► purging ──► purged
         │            ▲  │         │  ▲         ▲
         ▼            │  ▼         ▼  │         │
    quarantined ──────┘  held ◄────┘──┘─────────┘

``quarantined`` leaves only by the officer's release (to ``vaulted``) or by a purge; ``held`` returns to
``vaulted`` or ``scheduled`` when the hold is released, and is purged only after the hold has ended.
A test (``tests/test_lifecycle.py``) reads the source tree and fails when any other module writes the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final

from retention_agent.clock import parse_utc
from retention_agent.errors import DeliveryNotFoundError, DeliveryStateError
from retention_agent.store.database import Store


class DeliveryState(StrEnum):
    VAULTED = "vaulted"  # in the vault, no ceremony date yet
    SCHEDULED = "scheduled"  # ceremony known: purged one month after it
    HELD = "held"  # legal hold: not purged while it lasts
    QUARANTINED = "quarantined"  # not recognised as an AgII delivery: the officer decides
    PURGING = "purging"  # the purge started (a crash resumes it)
    PURGED = "purged"  # a tombstone with ids, hashes and dates; the proof of deletion exists


VAULTED, SCHEDULED, HELD, QUARANTINED, PURGING, PURGED = DeliveryState
ALL_STATES: Final = tuple(DeliveryState)
LIVE: Final = frozenset({VAULTED, SCHEDULED, HELD, QUARANTINED})  # the data is there and nobody destroys it
UNPURGED: Final = LIVE | {PURGING}  # some of the data may still exist
PLANNED: Final = frozenset({VAULTED, SCHEDULED})  # the schedule purges these at their due moment, unasked
TAKES_CEREMONY: Final = frozenset({VAULTED, SCHEDULED, HELD})  # a ceremony date may be recorded
LIVE_STATES: Final = tuple(s for s in ALL_STATES if s in LIVE)  # in the documented order, for SQL parameters


@dataclass(frozen=True)
class Transition:
    source: DeliveryState | None  # None: the delivery is being recorded
    target: DeliveryState
    by: str  # what makes it happen


TRANSITIONS: Final = (
    Transition(None, VAULTED, "receipt"),
    Transition(None, QUARANTINED, "receipt of a file not recognised as AgII's"),
    Transition(VAULTED, SCHEDULED, "a ceremony date is recorded"),
    Transition(SCHEDULED, SCHEDULED, "the ceremony date is moved"),
    Transition(VAULTED, HELD, "a legal hold"),
    Transition(SCHEDULED, HELD, "a legal hold"),
    Transition(HELD, HELD, "the hold is changed, or a ceremony date is recorded while it lasts"),
    Transition(HELD, VAULTED, "the hold is released (no ceremony date)"),
    Transition(HELD, SCHEDULED, "the hold is released"),
    Transition(QUARANTINED, VAULTED, "the officer releases it from quarantine"),
    Transition(VAULTED, PURGING, "a purge starts (no-ceremony maximum, early purge)"),
    Transition(SCHEDULED, PURGING, "a purge starts (deadline, early purge)"),
    Transition(HELD, PURGING, "a purge starts after the hold has ended"),
    Transition(QUARANTINED, PURGING, "the officer purges it, or the no-ceremony maximum"),
    Transition(PURGING, PURGED, "the purge is finished and audited"),
)
ALLOWED: Final = frozenset((t.source, t.target) for t in TRANSITIONS)


def allowed(source: DeliveryState | None, target: DeliveryState) -> bool:
    return (source, target) in ALLOWED


def sql_states(states: frozenset[DeliveryState] | tuple[DeliveryState, ...]) -> str:
    """``('vaulted', 'scheduled')``: a group of states for an SQL ``IN``, in the documented order."""
    return "(" + ", ".join(f"'{s.value}'" for s in ALL_STATES if s in states) + ")"


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
    columns = [*fields, "state"]  # the agent's own column names, never a caller's
    store.conn.execute(f"INSERT INTO deliveries({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                       (*fields.values(), state.value))


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
