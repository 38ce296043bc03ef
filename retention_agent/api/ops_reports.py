"""Operations for the privacy officer: status, the conditions checklist, DPO reports and proofs of deletion."""

from __future__ import annotations

import hashlib
from typing import Any

from retention_agent import checklist, sshsig
from retention_agent.api.handlers import arg_str, operation
from retention_agent.api.ops_admin import SIGNING_NAMESPACES
from retention_agent.api.server import DataWriter, Session
from retention_agent.ceremonies import parse_user_date
from retention_agent.context import AgentContext
from retention_agent.errors import ProofNotFoundError, UsageError
from retention_agent.msgids import N_
from retention_agent.proof import proof_file_names, trigger_of
from retention_agent.reports import outbox, smtp
from retention_agent.reports.generate import FORMATS, file_path, make_report
from retention_agent.reports.period import parse_period
from retention_agent.status import build_status


@operation("status")
def status(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    session.reply(build_status(ctx))


@operation("checklist.set")
def checklist_set(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    done_on = parse_user_date(args.get("done"))
    session.reply(checklist.set_item(ctx, session.peer.account, arg_str(args, "item", max_len=40), done_on,
                                     arg_str(args, "evidence", default="", max_len=checklist.MAX_EVIDENCE)))


@operation("report")
def report(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    """Make (or fetch) a report; with ``send`` try to e-mail it now; stream it in ``format`` if one is asked."""
    text = arg_str(args, "period", default="", max_len=20)
    fmt = args.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(problem=N_("--format must be json, html or pdf"), command="report")
    meta = make_report(ctx, parse_period(text) if text else None, actor=session.peer.account)
    if args.get("send"):
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


@operation("proof.list")
def proof_list(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    rows = ctx.store.query(
        "SELECT p.delivery_id, p.trigger, p.due_at, p.finished_at, p.proof_sha256 FROM purges p "
        "WHERE p.finished_at IS NOT NULL ORDER BY p.finished_at, p.delivery_id")
    session.reply([{"delivery": r["delivery_id"], "purged_at": r["finished_at"], "trigger": trigger_of(r["trigger"]),
                    "due_at": r["due_at"], "proof_sha256": r["proof_sha256"],
                    "file": proof_file_names(r["delivery_id"])[0]} for r in rows])


@operation("proof.show")
def proof_show(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    delivery = arg_str(args, "delivery", max_len=64)
    names, data, signature = _read_proof(ctx, delivery)
    session.reply({"delivery": delivery, "json": data.decode("ascii"), "signature": signature,
                   "sha256": hashlib.sha256(data).hexdigest(), "files": list(names)})


@operation("proof.export")
def proof_export(ctx: AgentContext, session: Session, args: dict[str, Any]) -> None:
    """A proof, its signature and the installation's allowed-signers line, then its PDF as a data stream.

    The caller writes them into a folder of its own choosing, with its own permissions: the agent never
    writes a path a caller names.
    """
    delivery = arg_str(args, "delivery", max_len=64)
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
