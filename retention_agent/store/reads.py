"""Reads for the status and the reports over the tables other than ``deliveries`` (those are in deliveries.py).

Each function is one question to the database, answered with rows or counts; what they mean is decided by the
read model (:mod:`retention_agent.status.facts`) and the documents built from it. The audit log's own reads
are in :mod:`retention_agent.audit.query`, the mailbox copy searches' in :mod:`retention_agent.store.mail_copies`,
the reports made in :mod:`retention_agent.store.reports`, the checklist in :mod:`retention_agent.store.checklist`.
"""

from __future__ import annotations

import json
from typing import Any

from retention_agent.rules.delivery_states import UNPURGED, sql_states
from retention_agent.store.database import Store

# ---- purges ---------------------------------------------------------------------------------------------


def unfinished_purges(store: Store) -> list[str]:
    """The deliveries whose purge started and did not finish."""
    return [str(r["delivery_id"]) for r in store.query("SELECT delivery_id FROM purges WHERE finished_at IS NULL")]


def early_purges_since(store: Store, since: str) -> list[dict[str, Any]]:
    """Purges of the trigger ``early`` started at or after ``since``, in the order they started."""
    return store.query("SELECT delivery_id, trigger, reason, started_at FROM purges WHERE started_at >= ? "
                       "AND trigger = 'early' ORDER BY started_at, delivery_id", (since,))


def failed_purge_notices(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """The ``purge-failed`` notifications created in ``[start, end)`` with their parameters."""
    rows = store.query("SELECT params, created_at FROM notifications WHERE kind = 'purge-failed' "
                       "AND created_at >= ? AND created_at < ?", (start, end))
    return [{"created_at": r["created_at"], "params": json.loads(r["params"] or "{}")} for r in rows]


# ---- the audit log's checkpoints, working copies -------------------------------------------------------


def last_checkpoint(store: Store) -> dict[str, Any] | None:
    last = store.one("SELECT size, created_at FROM checkpoints ORDER BY size DESC LIMIT 1")
    return None if last is None else {"size": int(last["size"]), "created_at": last["created_at"]}


def workspace_copies(store: Store) -> list[dict[str, Any]]:
    """Working copies not yet wiped, per account: how many and the next wipe."""
    return store.query("SELECT account, COUNT(*) AS n, MIN(wipe_at) AS next_wipe FROM openings "
                       "WHERE copy_path IS NOT NULL AND wiped_at IS NULL GROUP BY account ORDER BY account")


# ---- copies on workstations ---------------------------------------------------------------------------------


def copy_sweeps(store: Store) -> list[dict[str, Any]]:
    """Each account's last sweep: when, whether complete, the kinds of location swept."""
    return [{**r, "locations": json.loads(r["locations"])} for r in store.query(
        "SELECT account, swept_at, complete, locations FROM copy_sweeps ORDER BY account")]


def open_copy_findings(store: Store) -> list[dict[str, Any]]:
    """Copies found of deliveries not yet purged that no session has erased or seen gone."""
    return store.query(
        "SELECT f.delivery_id, f.account, f.match, f.kind, f.path, f.people, f.outcome, f.why FROM copy_findings f "
        f"JOIN deliveries d ON d.id = f.delivery_id WHERE d.state IN {sql_states(UNPURGED)} AND "
        "(f.outcome IS NULL OR f.outcome = 'remaining') ORDER BY f.delivery_id, f.account, f.kind, f.path")


def copy_tallies_remaining(store: Store) -> list[dict[str, Any]]:
    """What remains of purged deliveries' copies, per delivery, account and kind of match."""
    return store.query("SELECT delivery_id, account, match, remaining FROM copy_tallies WHERE remaining > 0 "
                       "ORDER BY delivery_id, account, match")


def copy_tallies_totals(store: Store) -> dict[str, int]:
    """Over every purged delivery: copies remaining, and erased or gone since their proofs were written."""
    row = store.one("SELECT COALESCE(SUM(remaining), 0) AS remaining, COALESCE(SUM(erased_after), 0) AS erased, "
                    "COALESCE(SUM(gone_after), 0) AS gone FROM copy_tallies") or {}
    return {k: int(row.get(k) or 0) for k in ("remaining", "erased", "gone")}


def unpurged_contents(store: Store) -> list[dict[str, Any]]:
    """What unlocked workbooks of deliveries not yet purged hold, in counts."""
    return store.query(
        "SELECT c.delivery_id, c.rows, c.people, c.invalid_numbers, c.missing_numbers, c.duplicates FROM "
        f"delivery_contents c JOIN deliveries d ON d.id = c.delivery_id WHERE d.state IN {sql_states(UNPURGED)} "
        "ORDER BY c.delivery_id")
