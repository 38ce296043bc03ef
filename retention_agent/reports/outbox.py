"""The reports the agent made, and whether they reached the DPO: the ``reports`` table.

One row per report, keyed by its name: the period label (``2026-10``, ``2026-Q4``) for a complete report,
``<label>-interim`` for an interim one (a period still running; made again on request). ``files`` holds a JSON
object describing the report: file names, SHA-256 of the signed JSON, sequence number, the signed audit
checkpoint it embeds and whether it is to be sent. A report stays in the home until it was sent; failures
are counted in ``attempts`` with the last error (an error class and SMTP code, never an address).
"""

from __future__ import annotations

import json
from typing import Any

from retention_agent.clock import utc_iso
from retention_agent.config import Config
from retention_agent.runtime.context import AgentContext


def addresses(config: Config) -> list[str]:
    """The configured recipients: the DPO and the officer, without duplicates."""
    found = [a.strip() for a in (config.reports.dpo_email, config.reports.officer_email) if a.strip()]
    return list(dict.fromkeys(found))


def record(ctx: AgentContext, key: str, meta: dict[str, Any]) -> None:
    """Insert the report, or replace an interim one (which starts again as unsent)."""
    with ctx.store.transaction():
        ctx.store.conn.execute(
            "INSERT OR REPLACE INTO reports(period, created_at, files, sent_at, attempts, last_error) "
            "VALUES (?, ?, ?, NULL, 0, NULL)", (key, meta["generated_at"], json.dumps(meta, sort_keys=True)))


def get(ctx: AgentContext, key: str) -> dict[str, Any] | None:
    row = ctx.store.one("SELECT * FROM reports WHERE period = ?", (key,))
    return None if row is None else _view(ctx, row)


def latest_complete(ctx: AgentContext) -> dict[str, Any] | None:
    """The complete report with the highest sequence number: the next one continues from it."""
    complete = [r for r in all_rows(ctx) if r["complete"]]
    return max(complete, key=lambda r: r["sequence"]) if complete else None


def all_rows(ctx: AgentContext) -> list[dict[str, Any]]:
    return [_view(ctx, row) for row in ctx.store.query("SELECT * FROM reports ORDER BY created_at DESC, period DESC")]


def rows(ctx: AgentContext) -> list[dict[str, Any]]:
    """What status shows of each report (no checkpoint text), newest first."""
    hidden = ("checkpoint", "files", "frontier")
    return [{k: v for k, v in row.items() if k not in hidden} for row in all_rows(ctx)]


def _view(ctx: AgentContext, row: dict[str, Any]) -> dict[str, Any]:
    meta = json.loads(row["files"] or "{}")
    wanted = bool(meta.get("send"))
    if row["sent_at"]:
        delivery = "sent"
    elif not wanted:
        delivery = "not-requested"
    elif not addresses(ctx.config):
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


def waiting(ctx: AgentContext) -> list[dict[str, Any]]:
    """Reports to send, oldest first."""
    return [r for r in reversed(all_rows(ctx)) if r["delivery"] in ("queued", "failed")]


def want_sent(ctx: AgentContext, key: str) -> None:
    with ctx.store.transaction():
        row = ctx.store.one("SELECT files FROM reports WHERE period = ?", (key,))
        if row is None:
            return
        meta = json.loads(row["files"])
        meta["send"] = True
        ctx.store.conn.execute("UPDATE reports SET files = ? WHERE period = ?", (json.dumps(meta, sort_keys=True), key))


def mark_sent(ctx: AgentContext, key: str, recipients: int) -> None:
    with ctx.store.transaction():
        ctx.store.conn.execute("UPDATE reports SET sent_at = ?, attempts = attempts + 1, last_error = NULL "
                               "WHERE period = ?", (utc_iso(ctx.clock.now()), key))
        ctx.audit.append("agent", "report.sent", "ok", [key], {"recipients": recipients})


def mark_failed(ctx: AgentContext, key: str, error: str) -> None:
    with ctx.store.transaction():
        ctx.store.conn.execute("UPDATE reports SET attempts = attempts + 1, last_error = ? WHERE period = ?",
                               (error[:200], key))
        ctx.audit.append("agent", "report.send-failed", "failed", [key], {"error": error[:200]})
