"""A delivery's states, their groups, and the transitions allowed between them (pure).

The states (:class:`DeliveryState`), the groups other modules ask about (:data:`LIVE`, :data:`UNPURGED`, …) and
:data:`TRANSITIONS`, the only changes of state there are. The one writer of ``deliveries.state`` is
``lifecycle/states.py``; it refuses whatever :func:`allowed` refuses.

::

    (received) ──► vaulted ──► scheduled ──► purging ──► purged
         │            ▲  │         │  ▲         ▲
         ▼            │  ▼         ▼  │         │
    quarantined ──────┘  held ◄────┘──┘─────────┘

``quarantined`` leaves only by the officer's release (to ``vaulted``) or by a purge; ``held`` returns to
``vaulted`` or ``scheduled`` when the hold is released, and is purged only after the hold has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


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
