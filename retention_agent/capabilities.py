"""Which capabilities the running agent has: each registers its API operations and periodic duties here.

Kept apart from ``agent.py`` so that the composition root stays short as capabilities are added.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from retention_agent.clock import utc_iso
from retention_agent.context import AgentContext
from retention_agent.vault import workspace


class Service(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


def wire(ctx: AgentContext, ticker: object) -> list[Service]:
    """Register operations and duties; return the background services to start and stop."""
    from retention_agent.agent import Ticker
    from retention_agent.api import ops_admin, ops_vault  # noqa: F401 - they register their operations

    assert isinstance(ticker, Ticker)
    ctx.ingest.recover()
    ticker.duties.append(("audit-checkpoint", lambda: _checkpoint_if_due(ctx)))
    ticker.duties.append(("workspace-wipe", lambda: _discard(wipe_expired_copies(ctx))))
    return []


def _discard(_result: object) -> None:
    return None


def _checkpoint_if_due(ctx: AgentContext) -> None:
    latest = ctx.audit.latest_checkpoint()
    if latest is None or latest[0] < ctx.audit.size:
        last = ctx.health.get("checkpoint_at")
        interval = ctx.config.audit.checkpoint_interval_minutes * 60
        now = ctx.clock.monotonic()
        if last is None or now - float(last) >= interval:
            ctx.audit.checkpoint()
            ctx.health["checkpoint_at"] = now


def wipe_expired_copies(ctx: AgentContext) -> int:
    """Wipe workspace copies whose time is up; each wipe is audited."""
    now = utc_iso(ctx.clock.now())
    rows = ctx.store.query("SELECT id, delivery_id, account, copy_path FROM openings "
                           "WHERE copy_path IS NOT NULL AND wiped_at IS NULL AND wipe_at <= ?", (now,))
    for row in rows:
        workspace.wipe(Path(row["copy_path"]))
        with ctx.store.transaction():
            ctx.store.conn.execute("UPDATE openings SET wiped_at = ? WHERE id = ?", (now, row["id"]))
            ctx.audit.append("agent", "workspace.wiped", "ok", [row["delivery_id"]],
                             {"opening": row["id"], "account": row["account"], "why": "expired"})
    return len(rows)
