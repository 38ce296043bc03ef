"""The ``deliveries`` table's queries: the rows staff see (ceremony date and deadline, no personal data), and
the columns the lifecycle keeps besides the state.

A delivery's *state* has one writer, :mod:`retention_agent.states` (``record`` and ``transition``,
with the state machine); every other query of the table is here.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from retention_agent.errors import DeliveryNotFoundError, DeliveryPurgedError, DeliveryStateError
from retention_agent.rules.delivery_states import (
    HELD,
    LIVE,
    PLANNED,
    PURGED,
    PURGING,
    QUARANTINED,
    UNPURGED,
    VAULTED,
    DeliveryState,
    allowed,
    sql_states,
)
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


# Reads for the status and the reports


def last_received(store: Store) -> str | None:
    value = store.scalar("SELECT MAX(received_at) FROM deliveries")
    return None if value is None else str(value)


def count_by_state(store: Store) -> dict[str, int]:
    return {row["state"]: int(row["n"]) for row in store.query(
        "SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state")}


def without_ceremony(store: Store) -> tuple[int, str | None]:
    """How many deliveries wait for a ceremony date (vaulted or held), and when the oldest of them arrived."""
    row = store.one("SELECT COUNT(*) AS n, MIN(received_at) AS oldest FROM deliveries WHERE ceremony_id IS NULL "
                    f"AND state IN {sql_states((VAULTED, HELD))}") or {}
    return int(row.get("n") or 0), row.get("oldest")


def next_planned(store: Store, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` purges the schedule has planned, by due moment."""
    return store.query(
        "SELECT id, state, due_at, deadline, due_reason FROM deliveries "
        f"WHERE state IN {sql_states(PLANNED)} AND due_at IS NOT NULL ORDER BY due_at, id LIMIT ?",
        (limit,))


def not_yet_planned(store: Store, limit: int = 1000) -> list[dict[str, Any]]:
    """Deliveries that arrived since the last tick: no stored plan yet; with what their plan is made from."""
    return store.query(
        "SELECT d.id, d.state, d.received_at, d.channel, d.legal_basis, d.hold_until, c.date AS ceremony_date "
        "FROM deliveries d LEFT JOIN ceremonies c ON c.id = d.ceremony_id "
        f"WHERE d.state IN {sql_states(PLANNED)} AND d.due_at IS NULL LIMIT ?", (limit,))


def overdue(store: Store, before: str, today: str, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """Live deliveries due before ``before`` (a held one only when its hold ended by ``today``): how many, and
    the first ``limit`` by due moment."""
    where = (f"(state IN {sql_states(PLANNED | {QUARANTINED})} AND due_at < :limit) "
             f"OR (state = '{HELD}' AND due_at < :limit AND hold_until IS NOT NULL AND hold_until <= :today)")
    values = {"limit": before, "today": today}
    counted = store.one(f"SELECT COUNT(*) AS n FROM deliveries WHERE {where}", values)
    rows = store.query(f"SELECT id, state, due_at, deadline FROM deliveries WHERE {where} ORDER BY due_at LIMIT :n",
                       {**values, "n": limit})
    return int((counted or {}).get("n") or 0), rows


def held(store: Store, limit: int) -> tuple[int, list[dict[str, Any]]]:
    count = int(store.scalar(f"SELECT COUNT(*) FROM deliveries WHERE state = '{HELD}'") or 0)
    rows = store.query(f"SELECT id, hold_until, deadline FROM deliveries WHERE state = '{HELD}' "
                       "ORDER BY hold_until IS NULL, hold_until, id LIMIT ?", (limit,))
    return count, rows


def quarantined(store: Store, limit: int) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    """How many are quarantined, the first ``limit`` by arrival, and per reason of their own: count and first."""
    state = f"state = '{QUARANTINED}'"
    count = int(store.scalar(f"SELECT COUNT(*) FROM deliveries WHERE {state}") or 0)
    rows = store.query("SELECT id, received_at, channel, source, due_at, quarantine_reason FROM deliveries "
                       f"WHERE {state} ORDER BY received_at, id LIMIT ?", (limit,))
    reasons = store.query("SELECT quarantine_reason AS reason, COUNT(*) AS n, MIN(id) AS first FROM deliveries "
                          f"WHERE {state} AND quarantine_reason IS NOT NULL GROUP BY quarantine_reason")
    return count, rows, reasons


def sources_not_overwritten(store: Store) -> dict[str, int]:
    """Live deliveries whose plaintext source was removed without being overwritten, by why (a wipe code)."""
    rows = store.query("SELECT source_not_overwritten AS why, COUNT(*) AS n FROM deliveries WHERE state IN "
                       f"{sql_states(LIVE)} AND source_not_overwritten IS NOT NULL "
                       "GROUP BY source_not_overwritten")
    return {r["why"]: int(r["n"]) for r in rows}


def live_by_basis_and_channel(store: Store, limits: list[tuple[str, str, str]]) -> dict[tuple[str, str],
                                                                                    tuple[int, int]]:
    """Live deliveries per legal basis and channel: ``(count, received at or after the limit)``, where
    ``limits`` holds ``(basis, channel, first moment no longer covered)``."""
    whens = " ".join("WHEN legal_basis = ? AND channel = ? THEN received_at >= ?" for _ in limits) or "WHEN 0 THEN 0"
    groups = store.query(
        f"SELECT legal_basis, channel, COUNT(*) AS n, SUM(CASE {whens} ELSE 0 END) AS after FROM deliveries "
        f"WHERE state IN {sql_states(LIVE)} GROUP BY legal_basis, channel",
        tuple(value for limit in limits for value in limit))
    return {(g["legal_basis"], g["channel"]): (int(g["n"]), int(g["after"] or 0)) for g in groups}


def purges_finished(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """Purges finished in ``[start, end)`` with their delivery's deadline and channel, in the order they ended."""
    return store.query(
        "SELECT p.delivery_id, p.trigger, p.reason, p.due_at, p.finished_at, p.proof_sha256, p.steps, d.deadline, "
        "d.channel FROM purges p JOIN deliveries d ON d.id = p.delivery_id "
        "WHERE p.finished_at >= ? AND p.finished_at < ? ORDER BY p.finished_at, p.delivery_id", (start, end))
