"""Operations for the privacy officer: status, the conditions checklist, DPO reports and proofs of deletion."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from retention_agent.api.handlers import operation
from retention_agent.api.ops_admin import SIGNING_NAMESPACES
from retention_agent.api.paging import MAX_LIMIT, fill
from retention_agent.api.requests import NoArguments, a_date, arg, choice, flag, free_text, text, whole
from retention_agent.api.server import DataWriter, Session
from retention_agent.errors import ProofNotFoundError, UsageError
from retention_agent.evidence import sshsig
from retention_agent.evidence.proof import proof_file_names, trigger_of
from retention_agent.reports import outbox, smtp
from retention_agent.reports.generate import FORMATS, file_path, make_report, schedule_kind
from retention_agent.reports.period import Period, containing, parse_period
from retention_agent.runtime.context import AgentContext
from retention_agent.status import checklist
from retention_agent.status.document import build_status
from retention_agent.store import purges


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
    """``period``, else with ``current`` the one running now (an interim report), else the last complete one."""

    period: str = arg(text(20), default="")
    format: str | None = arg(choice(FORMATS), default=None)
    send: bool = arg(flag, default=False)
    current: bool = arg(flag, default=False)


@operation("report", request=Report)
def report(ctx: AgentContext, session: Session, request: Report) -> None:
    """Make (or fetch) a report; with ``send`` try to e-mail it now; stream it in ``format`` if one is asked."""
    fmt = request.format
    period = parse_period(request.period) if request.period else current_period(ctx) if request.current else None
    meta = make_report(ctx, period, actor=session.peer.account)
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


def current_period(ctx: AgentContext) -> Period:
    """The period of the report schedule (a month, or a quarter) that is running now."""
    return containing(ctx.clock.now(), schedule_kind(ctx))


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
    rows = purges.finished_page(ctx.store, after, limit + 1)
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
    names, data, signature = _read_proof(ctx, delivery)
    session.reply({"delivery": delivery, "json": data.decode("ascii"), "signature": signature,
                   "sha256": hashlib.sha256(data).hexdigest(), "files": list(names)})


@operation("proof.export", request=ProofShow)
def proof_export(ctx: AgentContext, session: Session, request: ProofShow) -> None:
    """A proof, its signature and the installation's allowed-signers line, then its PDF as a data stream.

    The caller writes them into a folder of its own choosing, with its own permissions: the agent never
    writes a path a caller names.
    """
    delivery = request.delivery
    (json_name, sig_name), data, signature = _read_proof(ctx, delivery)
    try:
        pdf = (ctx.home.proofs / f"{delivery}.pdf").read_bytes()
    except OSError:
        raise ProofNotFoundError(delivery=delivery) from None
    header = {"delivery": delivery, "json": data.decode("ascii"), "signature": signature,
              "sha256": hashlib.sha256(data).hexdigest(), "identity": ctx.identity,
              "allowed_signers": sshsig.allowed_signers_line(ctx.identity, SIGNING_NAMESPACES,
                                                             ctx.signing_key.public_bytes()),
              "files": {"json": json_name, "sig": sig_name, "pdf": f"{delivery}.pdf",
                        "allowed_signers": "allowed_signers"}}

    def produce(writer: DataWriter) -> dict[str, Any]:
        writer.write(pdf)
        return {"sha256": hashlib.sha256(pdf).hexdigest(), "size": len(pdf)}

    session.send_stream(header, produce)


def _read_proof(ctx: AgentContext, delivery: str) -> tuple[tuple[str, str], bytes, str]:
    try:
        names = proof_file_names(delivery)
    except ValueError:
        raise ProofNotFoundError(delivery=delivery) from None
    try:
        data = (ctx.home.proofs / names[0]).read_bytes()
        signature = (ctx.home.proofs / names[1]).read_text(encoding="ascii")
    except (OSError, UnicodeError):
        raise ProofNotFoundError(delivery=delivery) from None
    return names, data, signature
