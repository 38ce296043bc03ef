"""Operations for the privacy officer: staff list, audit log, keys, identity."""

from __future__ import annotations

from datetime import date
from typing import Any

from retention_agent import sshsig
from retention_agent.access import PURPOSES, ROLES
from retention_agent.api.handlers import arg_str, operation
from retention_agent.api.server import Session
from retention_agent.audit_query import AuditFilter
from retention_agent.audit_query import page as audit_page
from retention_agent.clock import utc_iso
from retention_agent.context import AgentContext
from retention_agent.errors import UnknownAccountError, UsageError
from retention_agent.platform_accounts import account_exists

SIGNING_NAMESPACES = ("deletion-proof", "dpo-report")


@operation("whoami")
def whoami(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    member = ctx.staff.members().get(session.peer.account)
    session.reply({"account": session.peer.account, "roles": sorted(member.roles) if member else []})


@operation("staff.list")
def staff_list(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    session.reply([{"account": m.account, "name": m.name, "roles": sorted(m.roles, key=ROLES.index)}
                   for m in ctx.staff.members().values()])


@operation("staff.add")
def staff_add(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    account = arg_str(args, "account", max_len=256)
    name = arg_str(args, "name", max_len=200)
    roles = args.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise UsageError(problem="--role is required", command="staff add")
    if not account_exists(account):
        raise UnknownAccountError(account=account)
    with ctx.store.transaction():
        before, after = ctx.staff.put(account, name, roles)
        ctx.audit.append(session.peer.account, "staff.changed", "ok", [account], {
            "before": sorted(before.roles) if before else [], "after": sorted(after.roles)})
    session.reply({"account": account, "roles": sorted(after.roles, key=ROLES.index),
                   "updated": before is not None})


@operation("staff.remove")
def staff_remove(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    account = arg_str(args, "account", max_len=256)
    with ctx.store.transaction():
        removed = ctx.staff.remove(account)
        ctx.audit.append(session.peer.account, "staff.changed", "ok", [account],
                         {"before": sorted(removed.roles), "after": []})
    session.reply({"account": account, "removed": True})


AUDIT_ORDERS = ("asc", "desc")


@operation("audit.show")
def audit_show(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    """A page of the log, filtered here (never by fetching it all into the client). ``cursor`` is the ``next``
    of the previous page; ``order`` ``desc`` lists the newest first; ``since``/``until`` are Brussels days."""
    order = arg_str(args, "order", default="asc", max_len=4)
    if order not in AUDIT_ORDERS:
        raise UsageError(problem="order must be asc or desc", command="audit show")
    cursor = arg_str(args, "cursor", default="", max_len=20)
    if cursor and not cursor.isdigit():
        raise UsageError(problem="cursor must be the 'next' of a previous page", command="audit show")
    purpose = arg_str(args, "purpose", default="", max_len=20)
    if purpose and purpose not in PURPOSES:
        raise UsageError(problem=f"--purpose must be one of {', '.join(PURPOSES)}", command="audit show")
    denied = args.get("denied", False)
    if not isinstance(denied, bool):
        raise UsageError(problem="denied must be true or false", command="audit show")
    selection = AuditFilter(delivery=arg_str(args, "delivery", default="", max_len=64),
                            account=arg_str(args, "account", default="", max_len=256), purpose=purpose,
                            denied=denied, since=_day(args, "since"), until=_day(args, "until"),
                            after=max(int(args.get("after", 0)), 0))
    limit = min(max(int(args.get("limit", 1000)), 1), 10000)
    entries, following = audit_page(ctx.store, selection, cursor=int(cursor) if cursor else None, limit=limit,
                                    newest_first=order == "desc")
    session.reply({"size": ctx.audit.size, "entries": entries,
                   "next": None if following is None else str(following)})


def _day(args: dict[str, Any], key: str) -> date | None:
    text = arg_str(args, key, default="", max_len=10)
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise UsageError(problem=f"--{key} must be a date, YYYY-MM-DD", command="audit show") from None


@operation("audit.checkpoint")
def audit_checkpoint(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    session.reply({"checkpoint": ctx.audit.checkpoint()})


@operation("audit.verify")
def audit_verify(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    given = args.get("checkpoints", [])
    if not isinstance(given, list) or not all(isinstance(c, str) and len(c) < 65536 for c in given):
        raise UsageError(problem="invalid checkpoint", command="audit verify")
    result = ctx.audit.verify(given).to_wire()
    ctx.health["audit_verified"] = {"at": utc_iso(ctx.clock.now()), "ok": result["ok"],
                                    "size": result["size"]}
    session.reply(result)


@operation("keys.public")
def keys_public(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    public = ctx.signing_key.public_bytes()
    session.reply({
        "identity": ctx.identity,
        "allowed_signers": sshsig.allowed_signers_line(ctx.identity, SIGNING_NAMESPACES, public),
        "public_key": sshsig.public_key_openssh(public),
        "origin": ctx.origin,
    })
