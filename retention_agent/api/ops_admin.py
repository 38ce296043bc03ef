"""Operations for the privacy officer: staff list, audit log, keys, identity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from retention_agent.api.handlers import operation
from retention_agent.api.paging import MAX_LIMIT, fill
from retention_agent.api.requests import NoArguments, a_date, arg, choice, flag, free_text, text, texts, whole
from retention_agent.api.server import Session
from retention_agent.audit.query import AuditFilter, audit_rows
from retention_agent.clock import utc_iso
from retention_agent.errors import UnknownAccountError, UsageError
from retention_agent.evidence import sshsig
from retention_agent.i18n.msgids import N_
from retention_agent.lifecycle.workspace_wipe import wipe_copies_of
from retention_agent.rules.access import PURPOSES, REQUIRED_ROLES, ROLES
from retention_agent.runtime.context import AgentContext
from retention_agent.system.accounts import account_exists

SIGNING_NAMESPACES = ("deletion-proof", "dpo-report")


@operation("whoami", request=NoArguments)
def whoami(ctx: AgentContext, session: Session, request: NoArguments) -> None:
    member = ctx.staff.members().get(session.peer.account)
    session.reply({"account": session.peer.account, "roles": sorted(member.roles) if member else []})


@operation("staff.list", request=NoArguments)
def staff_list(ctx: AgentContext, session: Session, request: NoArguments) -> None:
    session.reply([{"account": m.account, "name": m.name, "roles": sorted(m.roles, key=ROLES.index)}
                   for m in ctx.staff.members().values()])


@dataclass(frozen=True)
class StaffAdd:
    account: str = arg(text(256))
    name: str = arg(free_text(200, "--name"))
    roles: tuple[str, ...] = arg(texts(text(40), min_items=0, max_items=len(ROLES)))


@operation("staff.add", request=StaffAdd)
def staff_add(ctx: AgentContext, session: Session, request: StaffAdd) -> None:
    account = request.account
    if not request.roles:
        raise UsageError(problem=N_("--role is required"), command="staff add")
    if not account_exists(account):
        raise UnknownAccountError(account=account)
    try:
        with ctx.store.transaction():
            before, after = ctx.staff.put(account, request.name, list(request.roles))
            ctx.audit.append(session.peer.account, "staff.changed", "ok", [account], {
                "before": sorted(before.roles) if before else [], "after": sorted(after.roles)})
    finally:
        ctx.staff.forget()  # committed or rolled back: read the list again
    if not after.roles & REQUIRED_ROLES["open"]:  # whoever may no longer open keeps no opened copy either
        wipe_copies_of(ctx, account)
    session.reply({"account": account, "roles": sorted(after.roles, key=ROLES.index),
                   "updated": before is not None})


@dataclass(frozen=True)
class StaffRemove:
    account: str = arg(text(256))


@operation("staff.remove", request=StaffRemove)
def staff_remove(ctx: AgentContext, session: Session, request: StaffRemove) -> None:
    account = request.account
    try:
        with ctx.store.transaction():
            removed = ctx.staff.remove(account)
            ctx.audit.append(session.peer.account, "staff.changed", "ok", [account],
                             {"before": sorted(removed.roles), "after": []})
    finally:
        ctx.staff.forget()
    wipe_copies_of(ctx, account)
    session.reply({"account": account, "removed": True})


AUDIT_ORDERS = ("asc", "desc")


@dataclass(frozen=True)
class AuditShow:
    """A page of the log, filtered here (never by fetching it all into the client). ``cursor`` is the ``next``
    of the previous page; ``order`` ``desc`` lists the newest first. The filters: entries about ``delivery``,
    by ``account``, openings for ``purpose``, refused requests (``denied``), Brussels days from ``since`` up to
    and including ``until``, and entries after the sequence number ``after``."""

    cursor: str = arg(text(20), default="")
    after: int = arg(whole(0, 1 << 62), default=0)
    limit: int = arg(whole(1, 1 << 30), default=MAX_LIMIT)  # more than MAX_LIMIT: pages of MAX_LIMIT
    order: str = arg(choice(AUDIT_ORDERS), default="asc")
    delivery: str = arg(text(64), default="")
    account: str = arg(text(256), default="")
    purpose: str = arg(choice(PURPOSES), default="")
    denied: bool = arg(flag, default=False)
    since: date | None = arg(a_date, default=None)
    until: date | None = arg(a_date, default=None)


@operation("audit.show", request=AuditShow)
def audit_show(ctx: AgentContext, session: Session, request: AuditShow) -> None:
    if request.cursor and not request.cursor.isdigit():
        raise UsageError(problem="cursor must be the 'next' of a previous page", command="audit show")
    selection = AuditFilter(delivery=request.delivery, account=request.account, purpose=request.purpose,
                            denied=request.denied, since=request.since, until=request.until, after=request.after)
    limit = min(request.limit, MAX_LIMIT)
    rows = audit_rows(ctx.store, selection, cursor=int(request.cursor) if request.cursor else None, limit=limit + 1,
                      newest_first=request.order == "desc")
    page, more = fill(rows, limit, lambda row: len(row[1]))
    session.reply({"size": ctx.audit.size, "entries": [ctx.audit.parse_entry(entry) for _, entry in page],
                   "next": str(page[-1][0]) if more else None})


@operation("audit.checkpoint", request=NoArguments)
def audit_checkpoint(ctx: AgentContext, session: Session, request: NoArguments) -> None:
    session.reply({"checkpoint": ctx.audit.checkpoint()})


@dataclass(frozen=True)
class AuditVerify:
    checkpoints: tuple[str, ...] = arg(texts(text(65535), min_items=0, max_items=64), default=())


@operation("audit.verify", request=AuditVerify)
def audit_verify(ctx: AgentContext, session: Session, request: AuditVerify) -> None:
    result = ctx.audit.verify(request.checkpoints).to_wire()
    ctx.health.audit_verified = {"at": utc_iso(ctx.clock.now()), "ok": result["ok"], "size": result["size"]}
    session.reply(result)


@operation("keys.public", request=NoArguments)
def keys_public(ctx: AgentContext, session: Session, request: NoArguments) -> None:
    public = ctx.signing_key.public_bytes()
    session.reply({
        "identity": ctx.identity,
        "allowed_signers": sshsig.allowed_signers_line(ctx.identity, SIGNING_NAMESPACES, public),
        "public_key": sshsig.public_key_openssh(public),
        "origin": ctx.origin,
    })
