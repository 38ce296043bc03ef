"""The ``deliveries`` table's queries: the rows staff see (ceremony date and deadline, no personal data), and
the columns the lifecycle keeps besides the state.

A delivery's *state* has one writer, :mod:`retention_agent.states` (``record`` and ``transition``,
with the state machine); every other query of the table is here.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from retention_agent.errors import DeliveryNotFoundError, DeliveryPurgedError, DeliveryStateError
from retention_agent.rules.delivery_states import LIVE, PURGED, PURGING, UNPURGED, DeliveryState, allowed, sql_states
from retention_agent.store.database import Store

# What describes a delivery, its ceremony date joined in (the columns of ``Delivery`` and ``deliveries --json``).
COLUMNS: Final = """d.id, d.state, d.received_at, d.channel, d.source, d.size, d.sha256, d.key_id, d.legal_basis,
    c.date AS ceremony_date, d.deadline, d.due_at, d.due_reason, d.hold_reason, d.hold_until, d.purged_at,
    d.quarantine_reason, d.source_not_overwritten"""
FROM: Final = "deliveries d LEFT JOIN ceremonies c ON c.id = d.ceremony_id"

# how often each delivery was opened (the deliveries list shows it; the openings table is the audit's record)
OPENINGS = "(SELECT COUNT(*) FROM openings o WHERE o.delivery_id = d.id) AS openings"


def list_deliveries(store: Store, *, include_purged: bool = True, after: str = "",
                    limit: int = -1) -> list[dict[str, Any]]:
    """Deliveries in id order (the order they arrived in), from after the id ``after``, at most ``limit``."""
    where = "WHERE d.id > ?" + ("" if include_purged else f" AND d.state != '{PURGED.value}'")
    return store.query(f"SELECT {COLUMNS}, {OPENINGS} FROM {FROM} {where} ORDER BY d.id LIMIT ?",
                       (after, limit))


def get_delivery(store: Store, delivery_id: str) -> dict[str, Any]:
    row = store.one(f"SELECT {COLUMNS} FROM {FROM} WHERE d.id = ?", (delivery_id,))
    if row is None:
        raise DeliveryNotFoundError(delivery=delivery_id)
    return row


def state_of(store: Store, delivery_id: str) -> str | None:
    """The delivery's state as stored; None for an unknown id."""
    state = store.scalar("SELECT state FROM deliveries WHERE id = ?", (delivery_id,))
    return None if state is None else str(state)


def get_live(store: Store, delivery_id: str) -> dict[str, Any]:
    row = get_delivery(store, delivery_id)
    if row["state"] == PURGING:
        raise DeliveryStateError(delivery=delivery_id, state=row["state"])
    if row["state"] not in LIVE:
        raise DeliveryPurgedError(delivery=delivery_id, purged_at=row["purged_at"] or "?")
    return row


def live_objects(store: Store) -> list[dict[str, Any]]:
    """The live deliveries' objects: id, key_id, sha256."""
    live = sql_states(LIVE)
    return store.query(f"SELECT id, key_id, sha256 FROM deliveries WHERE state IN {live}")


def in_states(store: Store, states: frozenset[DeliveryState]) -> list[dict[str, Any]]:
    """The id and state of the deliveries in any of ``states``, in id order."""
    return store.query(f"SELECT id, state FROM deliveries WHERE state IN {sql_states(states)} ORDER BY id")


def ids_in_state(store: Store, state: DeliveryState) -> list[str]:
    """The ids of the deliveries in ``state``, in id order."""
    return [r["id"] for r in store.query("SELECT id FROM deliveries WHERE state = ? ORDER BY id", (state.value,))]


def live_with_sha256(store: Store, sha256: str) -> str | None:
    """The id of a live delivery with this content, if any (a second copy is a duplicate)."""
    found = store.scalar(f"SELECT id FROM deliveries WHERE sha256 = ? AND state IN "
                         f"{sql_states(LIVE)}", (sha256,))
    return None if found is None else str(found)


def states_of(store: Store, delivery_ids: list[str]) -> dict[str, str]:
    """The state of each of these deliveries that exists."""
    if not delivery_ids:
        return {}
    rows = store.query(f"SELECT id, state FROM deliveries WHERE id IN ({','.join('?' * len(delivery_ids))})",
                       tuple(delivery_ids))
    return {r["id"]: r["state"] for r in rows}


def unpurged_objects(store: Store) -> list[dict[str, Any]]:
    """The deliveries whose data still exists, in id order: id, state, size, sha256, key_id."""
    return store.query(f"SELECT id, state, size, sha256, key_id FROM deliveries WHERE state IN "
                       f"{sql_states(UNPURGED)} ORDER BY id")


def plan_rows(store: Store) -> list[dict[str, Any]]:
    """The live deliveries with what their purge plan is computed from, in id order."""
    return store.query(
        "SELECT d.id, d.state, d.received_at, d.channel, d.legal_basis, d.hold_until, d.deadline, d.due_at, "
        f"c.date AS ceremony_date FROM {FROM} "
        f"WHERE d.state IN {sql_states(LIVE)} ORDER BY d.id")


def count_unpurged(conn: sqlite3.Connection) -> int:
    """On a connection of its own (a home the caller reads as its owner, without an agent)."""
    return int(conn.execute("SELECT COUNT(*) FROM deliveries WHERE state != ?",
                            (PURGED.value,)).fetchone()[0])


# ---- the one writer of a delivery's state -------------------------------------------------------------------


def record(store: Store, fields: dict[str, Any], state: DeliveryState) -> None:
    """Insert a new delivery (``fields``: every column but the state) in ``state``, in the caller's transaction."""
    _in_transaction(store)
    if not allowed(None, state):
        raise DeliveryStateError(delivery=str(fields.get("id", "?")), state=state.value)
    columns = [*fields, "state"]  # the agent's own column names, never a caller's
    store.conn.execute(f"INSERT INTO deliveries({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                       (*fields.values(), state.value))


def transition(store: Store, delivery_id: str, target: DeliveryState) -> DeliveryState:
    """Move the delivery to ``target`` if the state machine allows it from its present state; return that
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


# ---- writes of the columns besides the state (each in the caller's transaction) ------------------------------


def set_plan(store: Store, delivery_id: str, *, deadline: str | None, due_at: str | None,
             reason: str | None) -> None:
    """The derived deadline columns (what ``deliveries`` and ``status`` show)."""
    store.conn.execute("UPDATE deliveries SET deadline = ?, due_at = ?, due_reason = ? WHERE id = ?",
                       (deadline, due_at, reason, delivery_id))


def set_ceremony(store: Store, delivery_id: str, ceremony_id: str) -> None:
    store.conn.execute("UPDATE deliveries SET ceremony_id = ? WHERE id = ?", (ceremony_id, delivery_id))


def set_hold(store: Store, delivery_id: str, *, reason: str, until: str) -> None:
    store.conn.execute("UPDATE deliveries SET hold_reason = ?, hold_until = ? WHERE id = ?",
                       (reason, until, delivery_id))


def clear_hold(store: Store, delivery_id: str) -> None:
    store.conn.execute("UPDATE deliveries SET hold_reason = NULL, hold_until = NULL WHERE id = ?", (delivery_id,))


def set_source_not_overwritten(store: Store, delivery_id: str, why: str) -> None:
    """The first reason stays."""
    store.conn.execute(
        "UPDATE deliveries SET source_not_overwritten = ? WHERE id = ? AND source_not_overwritten IS NULL",
        (why, delivery_id))


def set_key_destroyed(store: Store, delivery_id: str, at: str) -> None:
    store.conn.execute("UPDATE deliveries SET key_destroyed_at = ? WHERE id = ?", (at, delivery_id))


def set_purged_at(store: Store, delivery_id: str, at: str) -> None:
    store.conn.execute("UPDATE deliveries SET purged_at = ? WHERE id = ?", (at, delivery_id))


def public_view(row: dict[str, Any]) -> dict[str, Any]:
    """The documented fields of ``deliveries --json`` (the key id stays inside the agent)."""
    return {k: row.get(k) for k in ("id", "state", "received_at", "channel", "source", "size", "sha256",
                                     "ceremony_date", "deadline", "due_at", "hold_until", "legal_basis",
                                     "openings")}
