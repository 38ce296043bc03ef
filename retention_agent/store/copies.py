"""The tables of copies on workstations: ``copy_sweeps`` (each account's last sweep), ``copy_findings`` (what a
sweep found, with its path, until the purge), ``copy_tallies`` (after a purge: counts per account still to be
erased) and ``delivery_contents`` (an unlocked workbook's counts and keyed fingerprints)."""

from __future__ import annotations

import json
from typing import Any

from retention_agent.rules.delivery_states import LIVE, PURGED, PURGING, sql_states
from retention_agent.store.database import Store

# ---- what sessions look for ----------------------------------------------------------------------------------


def owed_objects(store: Store, account: str) -> list[dict[str, Any]]:
    """Purged deliveries of which ``account`` still has copies to erase: id, state, size, sha256, key_id."""
    return store.query(
        "SELECT DISTINCT d.id, d.state, d.size, d.sha256, d.key_id FROM deliveries d WHERE d.state = ? AND ("
        "EXISTS (SELECT 1 FROM copy_tallies t WHERE t.delivery_id = d.id AND t.account = ? AND t.remaining > 0))",
        (PURGED.value, account))


def live_fingerprints(store: Store) -> list[dict[str, Any]]:
    """The unlocked live deliveries: delivery_id, fingerprints, key_id."""
    return store.query(
        "SELECT c.delivery_id, c.fingerprints, d.key_id FROM delivery_contents c JOIN deliveries d "
        f"ON d.id = c.delivery_id WHERE d.state IN {sql_states(LIVE)} ORDER BY c.delivery_id")


def copies_due(store: Store, account: str) -> int:
    """The account's copies of deliveries being purged not erased yet, plus those counted after a purge."""
    pending = store.scalar(
        "SELECT COUNT(*) FROM copy_findings f JOIN deliveries d ON d.id = f.delivery_id WHERE f.account = ? AND "
        f"d.state = '{PURGING}' AND (f.outcome IS NULL OR f.outcome = 'remaining')", (account,))
    after = store.scalar("SELECT COALESCE(SUM(remaining), 0) FROM copy_tallies WHERE account = ?", (account,))
    return int(pending or 0) + int(after or 0)


# ---- a session's report (each write in the caller's transaction) ---------------------------------------------


def record_sweep(store: Store, account: str, *, swept_at: str, complete: bool, locations: list[str],
                 stats: dict[str, Any]) -> None:
    store.conn.execute(
        "INSERT OR REPLACE INTO copy_sweeps(account, swept_at, complete, locations, stats) VALUES (?, ?, ?, ?, ?)",
        (account, swept_at, int(complete), json.dumps(locations), json.dumps(stats, sort_keys=True)))


def finding_count(store: Store, account: str) -> int:
    return int(store.scalar("SELECT COUNT(*) FROM copy_findings WHERE account = ?", (account,)) or 0)


def seen_again(store: Store, account: str, *, delivery: str, match: str, kind: str, path: str, people: int,
               now: str) -> bool:
    """A finding seen before is seen again (unsettled once more); False if it was not known."""
    return bool(store.conn.execute(
        "UPDATE copy_findings SET last_seen = ?, people = ?, outcome = NULL, why = NULL, settled_at = NULL "
        "WHERE delivery_id = ? AND account = ? AND match = ? AND kind = ? AND path = ?",
        (now, people, delivery, account, match, kind, path)).rowcount)


def add_finding(store: Store, account: str, *, delivery: str, match: str, kind: str, path: str, people: int,
                now: str) -> None:
    store.conn.execute(
        "INSERT INTO copy_findings(delivery_id, account, match, kind, path, people, first_seen, last_seen) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (delivery, account, match, kind, path, people, now, now))


def open_live_findings(store: Store, account: str) -> list[dict[str, Any]]:
    """The account's unsettled findings of live deliveries: id, delivery_id, match, kind, path."""
    return store.query(
        "SELECT f.id, f.delivery_id, f.match, f.kind, f.path FROM copy_findings f JOIN deliveries d ON "
        f"d.id = f.delivery_id WHERE f.account = ? AND f.outcome IS NULL AND d.state IN {sql_states(LIVE)}",
        (account,))


def mark_gone(store: Store, finding_id: int, now: str) -> None:
    store.conn.execute("UPDATE copy_findings SET outcome = 'gone', settled_at = ? WHERE id = ?", (now, finding_id))


def settle_finding(store: Store, account: str, *, delivery: str, match: str, kind: str, path: str, outcome: str,
                   why: str | None, now: str) -> None:
    """The finding's outcome, recorded with it (a finding the agent did not know is added settled)."""
    cursor = store.conn.execute(
        "UPDATE copy_findings SET outcome = ?, why = ?, settled_at = ? WHERE delivery_id = ? AND account = ? "
        "AND match = ? AND kind = ? AND path = ?", (outcome, why, now, delivery, account, match, kind, path))
    if cursor.rowcount == 0:
        store.conn.execute(
            "INSERT INTO copy_findings(delivery_id, account, match, kind, path, first_seen, last_seen, outcome, "
            "why, settled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (delivery, account, match, kind, path, now, now, outcome, why, now))


def settle_tally(store: Store, account: str, *, delivery: str, match: str, outcome: str, now: str) -> None:
    """A copy counted at the purge is erased (``erased``) or gone (``gone``) since."""
    column = "erased_after" if outcome == "erased" else "gone_after"
    store.conn.execute(
        f"UPDATE copy_tallies SET remaining = remaining - 1, {column} = {column} + 1, updated_at = ? "
        "WHERE delivery_id = ? AND account = ? AND match = ? AND remaining > 0", (now, delivery, account, match))


# ---- the purge ----------------------------------------------------------------------------------------------


def keep_tally(store: Store, delivery_id: str, account: str, match: str, remaining: int, now: str) -> None:
    """In the caller's transaction."""
    store.conn.execute(
        "INSERT OR REPLACE INTO copy_tallies(delivery_id, account, match, remaining, updated_at) "
        "VALUES (?, ?, ?, ?, ?)", (delivery_id, account, match, remaining, now))


def findings_of(store: Store, delivery_id: str) -> list[dict[str, Any]]:
    return store.query("SELECT account, match, kind, people, outcome, why FROM copy_findings WHERE delivery_id = ?",
                       (delivery_id,))


def sweeps_since(store: Store, moment: str) -> list[dict[str, Any]]:
    return store.query("SELECT account, swept_at, locations FROM copy_sweeps WHERE swept_at >= ?", (moment,))


def unlocked(store: Store, delivery_id: str) -> bool:
    return store.one("SELECT 1 AS x FROM delivery_contents WHERE delivery_id = ?", (delivery_id,)) is not None


def delete_of_delivery(store: Store, delivery_id: str) -> None:
    """In the caller's transaction (the purge's rows step): the paths and the fingerprints go."""
    store.conn.execute("DELETE FROM copy_findings WHERE delivery_id = ?", (delivery_id,))
    store.conn.execute("DELETE FROM delivery_contents WHERE delivery_id = ?", (delivery_id,))


# ---- an unlocked workbook -------------------------------------------------------------------------------------


def store_contents(store: Store, delivery_id: str, *, rows: int, people: int, invalid_numbers: int,
                   missing_numbers: int, duplicates: int, columns: str, fingerprints: bytes, unlocked_at: str,
                   unlocked_by: str) -> None:
    """In the caller's transaction."""
    store.conn.execute(
        "INSERT OR REPLACE INTO delivery_contents(delivery_id, rows, people, invalid_numbers, missing_numbers, "
        "duplicates, columns, fingerprints, unlocked_at, unlocked_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (delivery_id, rows, people, invalid_numbers, missing_numbers, duplicates, columns, fingerprints,
         unlocked_at, unlocked_by))
