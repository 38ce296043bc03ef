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
                    f"AND state IN {lifecycle.sql_states((lifecycle.VAULTED, lifecycle.HELD))}") or {}
    return int(row.get("n") or 0), row.get("oldest")


def next_planned(store: Store, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` purges the schedule has planned, by due moment."""
    return store.query(
        "SELECT id, state, due_at, deadline, due_reason FROM deliveries "
        f"WHERE state IN {lifecycle.sql_states(lifecycle.PLANNED)} AND due_at IS NOT NULL ORDER BY due_at, id LIMIT ?",
        (limit,))


def not_yet_planned(store: Store, limit: int = 1000) -> list[dict[str, Any]]:
    """Deliveries that arrived since the last tick: no stored plan yet; with what their plan is made from."""
    return store.query(
        "SELECT d.id, d.state, d.received_at, d.channel, d.legal_basis, d.hold_until, c.date AS ceremony_date "
        "FROM deliveries d LEFT JOIN ceremonies c ON c.id = d.ceremony_id "
        f"WHERE d.state IN {lifecycle.sql_states(lifecycle.PLANNED)} AND d.due_at IS NULL LIMIT ?", (limit,))


def overdue(store: Store, before: str, today: str, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """Live deliveries due before ``before`` (a held one only when its hold ended by ``today``): how many, and
    the first ``limit`` by due moment."""
    where = (f"(state IN {lifecycle.sql_states(lifecycle.PLANNED | {lifecycle.QUARANTINED})} AND due_at < :limit) "
             f"OR (state = '{lifecycle.HELD}' AND due_at < :limit AND hold_until IS NOT NULL AND hold_until <= :today)")
    values = {"limit": before, "today": today}
    counted = store.one(f"SELECT COUNT(*) AS n FROM deliveries WHERE {where}", values)
    rows = store.query(f"SELECT id, state, due_at, deadline FROM deliveries WHERE {where} ORDER BY due_at LIMIT :n",
                       {**values, "n": limit})
    return int((counted or {}).get("n") or 0), rows


def held(store: Store, limit: int) -> tuple[int, list[dict[str, Any]]]:
    count = int(store.scalar(f"SELECT COUNT(*) FROM deliveries WHERE state = '{lifecycle.HELD}'") or 0)
    rows = store.query(f"SELECT id, hold_until, deadline FROM deliveries WHERE state = '{lifecycle.HELD}' "
                       "ORDER BY hold_until IS NULL, hold_until, id LIMIT ?", (limit,))
    return count, rows


def quarantined(store: Store, limit: int) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    """How many are quarantined, the first ``limit`` by arrival, and per reason of their own: count and first."""
    state = f"state = '{lifecycle.QUARANTINED}'"
    count = int(store.scalar(f"SELECT COUNT(*) FROM deliveries WHERE {state}") or 0)
    rows = store.query("SELECT id, received_at, channel, source, due_at, quarantine_reason FROM deliveries "
                       f"WHERE {state} ORDER BY received_at, id LIMIT ?", (limit,))
    reasons = store.query("SELECT quarantine_reason AS reason, COUNT(*) AS n, MIN(id) AS first FROM deliveries "
                          f"WHERE {state} AND quarantine_reason IS NOT NULL GROUP BY quarantine_reason")
    return count, rows, reasons


def sources_not_overwritten(store: Store) -> dict[str, int]:
    """Live deliveries whose plaintext source was removed without being overwritten, by why (a wipe code)."""
    rows = store.query("SELECT source_not_overwritten AS why, COUNT(*) AS n FROM deliveries WHERE state IN "
                       f"{lifecycle.sql_states(lifecycle.LIVE)} AND source_not_overwritten IS NOT NULL "
                       "GROUP BY source_not_overwritten")
    return {r["why"]: int(r["n"]) for r in rows}


def live_by_basis_and_channel(store: Store, limits: list[tuple[str, str, str]]) -> dict[tuple[str, str],
                                                                                    tuple[int, int]]:
    """Live deliveries per legal basis and channel: ``(count, received at or after the limit)``, where
    ``limits`` holds ``(basis, channel, first moment no longer covered)``."""
    whens = " ".join("WHEN legal_basis = ? AND channel = ? THEN received_at >= ?" for _ in limits) or "WHEN 0 THEN 0"
    groups = store.query(
        f"SELECT legal_basis, channel, COUNT(*) AS n, SUM(CASE {whens} ELSE 0 END) AS after FROM deliveries "
        f"WHERE state IN {lifecycle.sql_states(lifecycle.LIVE)} GROUP BY legal_basis, channel",
        tuple(value for limit in limits for value in limit))
    return {(g["legal_basis"], g["channel"]): (int(g["n"]), int(g["after"] or 0)) for g in groups}


def purges_finished(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """Purges finished in ``[start, end)`` with their delivery's deadline and channel, in the order they ended."""
    return store.query(
        "SELECT p.delivery_id, p.trigger, p.reason, p.due_at, p.finished_at, p.proof_sha256, p.steps, d.deadline, "
        "d.channel FROM purges p JOIN deliveries d ON d.id = p.delivery_id "
        "WHERE p.finished_at >= ? AND p.finished_at < ? ORDER BY p.finished_at, p.delivery_id", (start, end))
