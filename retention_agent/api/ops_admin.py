"""Operations for the privacy officer: staff list, audit log, keys, identity."""

from __future__ import annotations

from typing import Any

from retention_agent import sshsig
from retention_agent.access import ROLES
from retention_agent.api.handlers import arg_str, operation
from retention_agent.api.server import Session
from retention_agent.clock import utc_iso
from retention_agent.context import AgentContext
from retention_agent.errors import UnknownAccountError, UsageError
from retention_agent.msgids import N_
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
        raise UsageError(problem=N_("--role is required"), command="staff add")
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


@operation("audit.show")
def audit_show(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    after = int(args.get("after", 0))
    limit = min(int(args.get("limit", 1000)), 10000)
    session.reply({"size": ctx.audit.size, "entries": ctx.audit.entries(after=after, limit=limit)})


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
