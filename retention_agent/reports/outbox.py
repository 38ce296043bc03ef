"""The reports the agent made, and whether they reached the DPO (the ``reports`` table, in ``store/reports.py``).

A report is known by its name: the period label (``2026-10``, ``2026-Q4``) for a complete report,
``<label>-interim`` for an interim one (a period still running; made again on request). A report stays in the
home until it was sent; failures are counted in ``attempts`` with the last error (an error class and SMTP code,
never an address), and each change of its delivery is audited in the same transaction.
"""

from __future__ import annotations

from typing import Any

from retention_agent.clock import utc_iso
from retention_agent.config import Config
from retention_agent.runtime.context import AgentContext
from retention_agent.store import reports as stored


def addresses(config: Config) -> list[str]:
    """The configured recipients: the DPO and the officer, without duplicates."""
    return config.reports.recipients


def record(ctx: AgentContext, key: str, meta: dict[str, Any]) -> None:
    """Insert the report, or replace an interim one (which starts again as unsent)."""
    with ctx.store.transaction():
        stored.insert(ctx.store, key, meta["generated_at"], meta)


def get(ctx: AgentContext, key: str) -> dict[str, Any] | None:
    found = stored.rows(ctx.store, addressed=bool(addresses(ctx.config)), key=key)
    return found[0] if found else None


def latest_complete(ctx: AgentContext) -> dict[str, Any] | None:
    """The complete report with the highest sequence number: the next one continues from it."""
    complete = [r for r in all_rows(ctx) if r["complete"]]
    return max(complete, key=lambda r: r["sequence"]) if complete else None


def all_rows(ctx: AgentContext) -> list[dict[str, Any]]:
    """Every report made, newest first, with whether it reached the DPO (``delivery``)."""
    return stored.rows(ctx.store, addressed=bool(addresses(ctx.config)))


def waiting(ctx: AgentContext) -> list[dict[str, Any]]:
    """Reports to send, oldest first."""
    return [r for r in reversed(all_rows(ctx)) if r["delivery"] in ("queued", "failed")]


def want_sent(ctx: AgentContext, key: str) -> None:
    with ctx.store.transaction():
        stored.want_sent(ctx.store, key)


def mark_sent(ctx: AgentContext, key: str, recipients: int) -> None:
    with ctx.store.transaction():
        stored.mark_sent(ctx.store, key, utc_iso(ctx.clock.now()))
        ctx.audit.append("agent", "report.sent", "ok", [key], {"recipients": recipients})


def mark_failed(ctx: AgentContext, key: str, error: str) -> None:
    with ctx.store.transaction():
        stored.mark_failed(ctx.store, key, error[:200])
        ctx.audit.append("agent", "report.send-failed", "failed", [key], {"error": error[:200]})
