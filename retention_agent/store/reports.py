"""The ``reports`` table: one row per report made, and whether it reached the DPO. Every query over it is here.

A row is keyed by the report's name: the period label (``2026-10``, ``2026-Q4``) for a complete report,
``<label>-interim`` for an interim one. ``files`` holds a JSON object describing the report (file names,
SHA-256 of the signed JSON, sequence number, the signed audit checkpoint it embeds, whether it is to be sent).
Writes run in the caller's transaction, so that the audit entry that goes with them is in the same one.
"""

from __future__ import annotations

import json
from typing import Any

from retention_agent.store.database import Store


def rows(store: Store, *, addressed: bool, key: str | None = None) -> list[dict[str, Any]]:
    """The reports made (or only ``key``), newest first, each with whether it reached the DPO (``delivery``);
    ``addressed``: recipients are configured."""
    if key is None:
        found = store.query("SELECT * FROM reports ORDER BY created_at DESC, period DESC")
    else:
        found = store.query("SELECT * FROM reports WHERE period = ?", (key,))
    return [_report_view(row, addressed=addressed) for row in found]


def _report_view(row: dict[str, Any], *, addressed: bool) -> dict[str, Any]:
    meta = json.loads(row["files"] or "{}")
    wanted = bool(meta.get("send"))
    if row["sent_at"]:
        delivery = "sent"
    elif not wanted:
        delivery = "not-requested"
    elif not addressed:
        delivery = "no-address"
    elif row["last_error"]:
        delivery = "failed"
    else:
        delivery = "queued"
    return {
        "name": row["period"], "period": meta.get("period", row["period"]), "created_at": row["created_at"],
        "complete": bool(meta.get("complete")), "last_day": meta.get("last_day"), "sequence": meta.get("sequence"),
        "sha256": meta.get("sha256"),
        "audit_size": meta.get("audit_size"), "checkpoint": meta.get("checkpoint"), "files": meta.get("files", {}),
        "frontier": meta.get("frontier"),
        "send": wanted, "sent_at": row["sent_at"], "attempts": int(row["attempts"] or 0),
        "last_error": row["last_error"], "delivery": delivery,
    }


def insert(store: Store, key: str, created_at: str, meta: dict[str, Any]) -> None:
    """Insert the report, or replace an interim one (which starts again as unsent)."""
    store.conn.execute("INSERT OR REPLACE INTO reports(period, created_at, files, sent_at, attempts, last_error) "
                       "VALUES (?, ?, ?, NULL, 0, NULL)", (key, created_at, json.dumps(meta, sort_keys=True)))


def want_sent(store: Store, key: str) -> None:
    row = store.one("SELECT files FROM reports WHERE period = ?", (key,))
    if row is None:
        return
    meta = json.loads(row["files"])
    meta["send"] = True
    store.conn.execute("UPDATE reports SET files = ? WHERE period = ?", (json.dumps(meta, sort_keys=True), key))


def mark_sent(store: Store, key: str, at: str) -> None:
    store.conn.execute("UPDATE reports SET sent_at = ?, attempts = attempts + 1, last_error = NULL WHERE period = ?",
                       (at, key))


def mark_failed(store: Store, key: str, error: str) -> None:
    store.conn.execute("UPDATE reports SET attempts = attempts + 1, last_error = ? WHERE period = ?", (error, key))
