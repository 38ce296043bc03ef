"""Operations for running as a service: the purge before an uninstallation, and the notifier's feed."""

from __future__ import annotations

from dataclasses import dataclass

from retention_agent.api.handlers import operation
from retention_agent.api.requests import arg, flag, whole
from retention_agent.api.server import Session
from retention_agent.api.services import WiredContext
from retention_agent.copies.records import copies_due
from retention_agent.lifecycle import uninstall
from retention_agent.runtime.context import AgentContext
from retention_agent.store.notifications import feed

MAX_NOTIFICATIONS = 200


@dataclass(frozen=True)
class PurgeAll:
    dry_run: bool = arg(flag, default=False)


@operation("purge.all", request=PurgeAll, command="service uninstall")
def purge_all(ctx: WiredContext, session: Session, request: PurgeAll) -> None:
    """Purge every live delivery now before the service is uninstalled (``uninstall.purge_all``)."""
    session.reply(uninstall.purge_all(ctx, ctx.services.purger, session.peer.account, dry_run=request.dry_run))


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
    session.reply({
        "audiences": list(audiences),
        "notifications": feed(ctx.store, audiences, after=after, limit=limit),
        "copies_due": copies_due(ctx, session.peer.account),  # a purge began: the session erases its copies
    })

