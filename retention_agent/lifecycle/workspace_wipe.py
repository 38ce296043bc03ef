"""Wiping workspace copies: when their time is up, and at once for an account that may no longer open deliveries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retention_agent.clock import utc_iso
from retention_agent.rules.access import REQUIRED_ROLES
from retention_agent.runtime.context import AgentContext
from retention_agent.store import openings
from retention_agent.vault import workspace


def wipe_expired_copies(ctx: AgentContext) -> int:
    """Wipe workspace copies whose time is up, and any copy of an account that may no longer open deliveries
    (its removal from the staff list wipes them at once; this catches a wipe a crash interrupted)."""
    expired = openings.copies_due(ctx.store, utc_iso(ctx.clock.now()))
    may_read = REQUIRED_ROLES["open"]
    readers = {m.account for m in ctx.staff.members().values() if m.roles & may_read}
    expired_ids = {e["id"] for e in expired}
    lost = [row for row in openings.unwiped_copies(ctx.store) if row["account"] not in readers
            and row["id"] not in expired_ids]
    return _wipe(ctx, expired, "expired") + _wipe(ctx, lost, "access-removed")


def wipe_copies_of(ctx: AgentContext, account: str) -> int:
    """Wipe every working copy of ``account`` now: it was removed from the staff list or lost ``read``."""
    return _wipe(ctx, openings.copies_of_account(ctx.store, account), "access-removed")


def _wipe(ctx: AgentContext, rows: list[dict[str, Any]], why: str) -> int:
    """Wipe each copy, then mark it wiped and audit it in one transaction."""
    for row in rows:
        workspace.wipe(Path(row["copy_path"]))
        with ctx.store.transaction():
            openings.mark_wiped(ctx.store, row["id"], utc_iso(ctx.clock.now()))
            ctx.audit.append("agent", "workspace.wiped", "ok", [row["delivery_id"]],
                             {"opening": row["id"], "account": row["account"], "why": why})
    return len(rows)
