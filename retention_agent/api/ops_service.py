"""Operations for running as a service: the purge before an uninstallation, and the notifier's feed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from retention_agent.api.handlers import operation
from retention_agent.api.requests import arg, flag, whole
from retention_agent.api.server import Session
from retention_agent.copies.records import copies_due
from retention_agent.errors import RetentionAgentError
from retention_agent.lifecycle import states as lifecycle
from retention_agent.lifecycle.purge_schedule import plan_for
from retention_agent.runtime.context import AgentContext
from retention_agent.runtime.services import WiredContext
from retention_agent.store.deliveries import get_delivery

UNINSTALL_REASON = "uninstall"
MAX_NOTIFICATIONS = 200


@dataclass(frozen=True)
class PurgeAll:
    dry_run: bool = arg(flag, default=False)


@operation("purge.all", request=PurgeAll, command="service uninstall")
def purge_all(ctx: WiredContext, session: Session, request: PurgeAll) -> None:
    """Purge every live delivery now, each with its own proof, before the service is uninstalled.

    Held deliveries are left alone and reported: a legal hold is never lifted by an uninstallation. A
    delivery whose purge fails is reported too; the caller then refuses to remove the home. ``dry_run``: the
    caller may, and ``would_purge`` lists what would go (asked before the person confirms).
    """
    purger = ctx.services.purger
    # whose data still exists, held ones aside; ``purging`` is a purge a crash interrupted (resuming it is safe)
    purgeable = lifecycle.sql_states(lifecycle.UNPURGED - {lifecycle.HELD})
    rows = ctx.store.query(f"SELECT id, state FROM deliveries WHERE state IN {purgeable} ORDER BY id")
    held = [r["id"] for r in ctx.store.query("SELECT id FROM deliveries WHERE state = ? ORDER BY id",
                                             (lifecycle.HELD.value,))]
    if request.dry_run:
        session.reply({"purged": [], "held": held, "failed": [], "would_purge": [r["id"] for r in rows]})
        return
    purged: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for row in rows:
        trigger = "quarantine" if row["state"] == lifecycle.QUARANTINED else "early"
        try:
            purged.append(purger(row["id"], trigger=trigger, reason=UNINSTALL_REASON, reason_code=UNINSTALL_REASON,
                                 requested_by=session.peer.account, due_at=_due_at(ctx, row["id"])))
        except RetentionAgentError as exc:
            failed.append({"delivery": row["id"], "error": exc.error_id})
    ctx.audit.append(session.peer.account, "purge.all.finished", "ok" if not failed else "failed",
                     [], {"reason": UNINSTALL_REASON, "purged": len(purged), "held": len(held),
                          "failed": len(failed)})
    session.reply({"purged": purged, "held": held, "failed": failed})


def _due_at(ctx: AgentContext, delivery_id: str) -> datetime | None:
    """When the delivery was due before this purge (its lateness is measured from it); None once purging."""
    row = get_delivery(ctx.store, delivery_id)
    return plan_for(ctx, row, ctx.clock.now()).due_at if row["state"] in lifecycle.LIVE else None


def audiences_of(roles: frozenset[str] | set[str]) -> tuple[str, ...]:
    """The officer sees the officer's notifications and the staff's; other staff only the staff's."""
    return ("officer", "staff") if "officer" in roles else ("staff",)


@dataclass(frozen=True)
class Notifications:
    after: int = arg(whole(0, 1 << 62), default=0)
    limit: int = arg(whole(1, MAX_NOTIFICATIONS), default=50)


@operation("notifications", request=Notifications, command="notifier")
def notifications(ctx: AgentContext, session: Session, request: Notifications) -> None:
    """Notifications after ``after`` (an id) for the caller's audiences, oldest first, at most ``limit``."""
    after, limit = request.after, request.limit
    member = ctx.staff.members().get(session.peer.account)
    audiences = audiences_of(member.roles if member else frozenset())
    marks = ",".join("?" * len(audiences))
    rows = ctx.store.query(
        f"SELECT id, audience, kind, params, created_at FROM notifications WHERE id > ? AND audience IN ({marks}) "
        "ORDER BY id LIMIT ?", (after, *audiences, limit))
    session.reply({
        "audiences": list(audiences),
        "notifications": [{**row, "params": json.loads(row["params"])} for row in rows],
        "copies_due": copies_due(ctx, session.peer.account),  # a purge began: the session erases its copies
    })

