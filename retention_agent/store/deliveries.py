"""The ``deliveries`` table's queries: the rows staff see (ceremony date and deadline, no personal data), and
the columns the lifecycle keeps besides the state.

A delivery's *state* has one writer, :mod:`retention_agent.lifecycle.states` (``record`` and ``transition``,
with the state machine); every other query of the table is here.
"""

from __future__ import annotations

import sqlite3
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


def state_of(store: Store, delivery_id: str) -> str | None:
    """The delivery's state as stored; None for an unknown id."""
    state = store.scalar("SELECT state FROM deliveries WHERE id = ?", (delivery_id,))
    return None if state is None else str(state)


def get_live(store: Store, delivery_id: str) -> dict[str, Any]:
    row = get_delivery(store, delivery_id)
    if row["state"] == lifecycle.PURGING:
        raise DeliveryStateError(delivery=delivery_id, state=row["state"])
    if row["state"] not in lifecycle.LIVE:
        raise DeliveryPurgedError(delivery=delivery_id, purged_at=row["purged_at"] or "?")
    return row


def live_objects(store: Store) -> list[dict[str, Any]]:
    """The live deliveries' objects: id, key_id, sha256."""
    live = lifecycle.sql_states(lifecycle.LIVE)
    return store.query(f"SELECT id, key_id, sha256 FROM deliveries WHERE state IN {live}")


def in_states(store: Store, states: frozenset[lifecycle.DeliveryState]) -> list[dict[str, Any]]:
    """The id and state of the deliveries in any of ``states``, in id order."""
    return store.query(f"SELECT id, state FROM deliveries WHERE state IN {lifecycle.sql_states(states)} ORDER BY id")


def ids_in_state(store: Store, state: lifecycle.DeliveryState) -> list[str]:
    """The ids of the deliveries in ``state``, in id order."""
    return [r["id"] for r in store.query("SELECT id FROM deliveries WHERE state = ? ORDER BY id", (state.value,))]


def live_with_sha256(store: Store, sha256: str) -> str | None:
    """The id of a live delivery with this content, if any (a second copy is a duplicate)."""
    found = store.scalar(f"SELECT id FROM deliveries WHERE sha256 = ? AND state IN "
                         f"{lifecycle.sql_states(lifecycle.LIVE)}", (sha256,))
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
                       f"{lifecycle.sql_states(lifecycle.UNPURGED)} ORDER BY id")


def plan_rows(store: Store) -> list[dict[str, Any]]:
    """The live deliveries with what their purge plan is computed from, in id order."""
    return store.query(
        "SELECT d.id, d.state, d.received_at, d.channel, d.legal_basis, d.hold_until, d.deadline, d.due_at, "
        f"c.date AS ceremony_date FROM {lifecycle.FROM} "
        f"WHERE d.state IN {lifecycle.sql_states(lifecycle.LIVE)} ORDER BY d.id")


def count_unpurged(conn: sqlite3.Connection) -> int:
    """On a connection of its own (a home the caller reads as its owner, without an agent)."""
    return int(conn.execute("SELECT COUNT(*) FROM deliveries WHERE state != ?",
                            (lifecycle.PURGED.value,)).fetchone()[0])


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
