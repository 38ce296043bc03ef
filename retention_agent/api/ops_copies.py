"""Operations for copies on workstations: what a session looks for, what it found, and unlocking a workbook.

``copies.targets`` and ``copies.report`` are for every staff member's own session (the notifier, the app): the
agent hands out sizes, hashes and (to the role ``read``) fingerprints, and takes back counts and the locations of
found copies, each value checked (``copies.wire.parse_report``) before it is stored. ``delivery.unlock`` takes a
workbook's password (role ``read``: the same people who may open the delivery); it is never logged or audited.
"""

from __future__ import annotations

from typing import Any

from retention_agent.api.handlers import arg_str, operation
from retention_agent.api.server import Session
from retention_agent.api.services import WiredContext
from retention_agent.copies import records, unlock, wire
from retention_agent.errors import UsageError
from retention_agent.runtime.context import AgentContext


@operation("copies.targets")
def copies_targets(ctx: WiredContext, session: Session, args: dict[str, Any]) -> None:
    account = session.peer.account
    session.reply(wire.targets_to_wire(records.targets_for(
        ctx, account, agent_sweeps=ctx.services.copies_account == account)))


@operation("copies.report")
def copies_report(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    try:
        report = wire.parse_report(args)
    except ValueError as exc:
        raise UsageError(problem=f"the sweep report is not valid: {exc}", command="notifier") from None
    session.reply(records.record_report(ctx, session.peer.account, report))


@operation("delivery.unlock")
def delivery_unlock(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    """``check``: only say whether the delivery needs a password (nothing is stored)."""
    delivery = arg_str(args, "delivery", max_len=64)
    if args.get("check") is True:
        session.reply({"delivery": delivery, "needs_password": unlock.needs_password(ctx, delivery)})
        return
    password = arg_str(args, "password", default="", max_len=255)
    session.reply(unlock.unlock(ctx, session.peer.account, delivery, password))
