"""The purge before an uninstallation: every live delivery now, each with its own proof, held ones left alone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from retention_agent.errors import RetentionAgentError
from retention_agent.lifecycle import states as lifecycle
from retention_agent.lifecycle.purge import Purger
from retention_agent.lifecycle.purge_schedule import plan_for
from retention_agent.runtime.context import AgentContext
from retention_agent.store import deliveries

UNINSTALL_REASON = "uninstall"


def purge_all(ctx: AgentContext, purger: Purger, actor: str, *, dry_run: bool) -> dict[str, Any]:
    """Purge every live delivery now, each with its own proof, before the service is uninstalled.

    Held deliveries are left alone and reported: a legal hold is never lifted by an uninstallation. A
    delivery whose purge fails is reported too; the caller then refuses to remove the home. ``dry_run``:
    ``would_purge`` lists what would go (asked before the person confirms), and nothing is purged.
    """
    # whose data still exists, held ones aside; ``purging`` is a purge a crash interrupted (resuming it is safe)
    rows = deliveries.in_states(ctx.store, lifecycle.UNPURGED - {lifecycle.HELD})
    held = deliveries.ids_in_state(ctx.store, lifecycle.HELD)
    if dry_run:
        return {"purged": [], "held": held, "failed": [], "would_purge": [r["id"] for r in rows]}
    purged: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for row in rows:
        trigger = "quarantine" if row["state"] == lifecycle.QUARANTINED else "early"
        try:
            purged.append(purger(row["id"], trigger=trigger, reason=UNINSTALL_REASON, reason_code=UNINSTALL_REASON,
                                 requested_by=actor, due_at=_due_at(ctx, row["id"])))
        except RetentionAgentError as exc:
            failed.append({"delivery": row["id"], "error": exc.error_id})
    ctx.audit.append(actor, "purge.all.finished", "ok" if not failed else "failed",
                     [], {"reason": UNINSTALL_REASON, "purged": len(purged), "held": len(held),
                          "failed": len(failed)})
    return {"purged": purged, "held": held, "failed": failed}


def _due_at(ctx: AgentContext, delivery_id: str) -> datetime | None:
    """When the delivery was due before this purge (its lateness is measured from it); None once purging."""
    row = deliveries.get_delivery(ctx.store, delivery_id)
    return plan_for(ctx, row, ctx.clock.now()).due_at if row["state"] in lifecycle.LIVE else None
