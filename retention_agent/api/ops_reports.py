"""Operations for the privacy officer: status, the conditions checklist, DPO reports and proofs of deletion."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from retention_agent import checklist
from retention_agent.api.handlers import operation
from retention_agent.api.paging import MAX_LIMIT, fill
from retention_agent.api.requests import NoArguments, a_date, arg, choice, flag, free_text, text, whole
from retention_agent.api.server import DataWriter, Session
from retention_agent.context import AgentContext
from retention_agent.errors import ProofNotFoundError, UsageError
from retention_agent.proof import proof_file_names, trigger_of
from retention_agent.reports import outbox, smtp
from retention_agent.reports.generate import FORMATS, file_path, make_report
from retention_agent.reports.period import parse_period
from retention_agent.status import build_status


@operation("status", request=NoArguments)
def status(ctx: AgentContext, session: Session, request: NoArguments) -> None:
    session.reply(build_status(ctx))


@dataclass(frozen=True)
class ChecklistSet:
    item: str = arg(text(40))
    done: date = arg(a_date)
    evidence: str = arg(free_text(checklist.MAX_EVIDENCE, "--evidence"), default="")


@operation("checklist.set", request=ChecklistSet)
def checklist_set(ctx: AgentContext, session: Session, request: ChecklistSet) -> None:
    session.reply(checklist.set_item(ctx, session.peer.account, request.item, request.done, request.evidence))


@dataclass(frozen=True)
class Report:
    period: str = arg(text(20), default="")
    format: str | None = arg(choice(FORMATS), default=None)
    send: bool = arg(flag, default=False)


@operation("report", request=Report)
def report(ctx: AgentContext, session: Session, request: Report) -> None:
    """Make (or fetch) a report; with ``send`` try to e-mail it now; stream it in ``format`` if one is asked."""
    fmt = request.format
    meta = make_report(ctx, parse_period(request.period) if request.period else None, actor=session.peer.account)
    if request.send:
        outbox.want_sent(ctx, meta["name"])
        meta = smtp.deliver(ctx, meta["name"])
    header = _public(ctx, meta)
    if fmt is None:
        session.reply(header)
        return
    if fmt == "json":
        header["signature"] = file_path(ctx, meta, "sig").read_text(encoding="ascii")
    data = file_path(ctx, meta, fmt).read_bytes()

    def produce(writer: DataWriter) -> dict[str, Any]:
        writer.write(data)
        return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    session.send_stream(header, produce)


def _public(ctx: AgentContext, meta: dict[str, Any]) -> dict[str, Any]:
    hidden = ("checkpoint", "frontier")
    view = {k: v for k, v in meta.items() if k not in hidden}
    view["folder"] = str(ctx.home.reports)
    return view


@dataclass(frozen=True)
class ProofList:
    """A page of proofs, oldest purge first; ``cursor`` is the ``next`` of the previous page."""

    cursor: str = arg(text(100), default="")
    limit: int = arg(whole(1, 1 << 30), default=MAX_LIMIT)


_PROOF_CURSOR = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (\S{1,64})")


@operation("proof.list", request=ProofList, command="proof list")
def proof_list(ctx: AgentContext, session: Session, request: ProofList) -> None:
    limit = min(request.limit, MAX_LIMIT)
    after = ("", "")
    if request.cursor:
        found = _PROOF_CURSOR.fullmatch(request.cursor)
        if not found:
            raise UsageError(problem="cursor must be the 'next' of a previous page", command="proof list")
        after = (found.group(1), found.group(2))
    rows = ctx.store.query(
        "SELECT p.delivery_id, p.trigger, p.due_at, p.finished_at, p.proof_sha256 FROM purges p "
        "WHERE p.finished_at IS NOT NULL AND (p.finished_at, p.delivery_id) > (?, ?) "
        "ORDER BY p.finished_at, p.delivery_id LIMIT ?", (*after, limit + 1))
    page, more = fill(rows, limit, lambda row: 300)
    session.reply({"proofs": [{"delivery": r["delivery_id"], "purged_at": r["finished_at"],
                               "trigger": trigger_of(r["trigger"]), "due_at": r["due_at"],
                               "proof_sha256": r["proof_sha256"], "file": proof_file_names(r["delivery_id"])[0]}
                              for r in page],
                   "next": f"{page[-1]['finished_at']} {page[-1]['delivery_id']}" if more else None})


@dataclass(frozen=True)
class ProofShow:
    delivery: str = arg(text(64))


@operation("proof.show", request=ProofShow)
def proof_show(ctx: AgentContext, session: Session, request: ProofShow) -> None:
    delivery = request.delivery
    try:
        json_name, sig_name = proof_file_names(delivery)
    except ValueError:
        raise ProofNotFoundError(delivery=delivery) from None
    try:
        data = (ctx.home.proofs / json_name).read_bytes()
        signature = (ctx.home.proofs / sig_name).read_text(encoding="ascii")
    except (OSError, UnicodeError):
        raise ProofNotFoundError(delivery=delivery) from None
    session.reply({"delivery": delivery, "json": data.decode("ascii"), "signature": signature,
                   "sha256": hashlib.sha256(data).hexdigest(), "files": [json_name, sig_name]})
