"""Operations on deliveries and the vault: ingest, list, open for a purpose, verify."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from retention_agent.api.handlers import operation
from retention_agent.api.paging import MAX_LIMIT, fill
from retention_agent.api.protocol import DATA_CHUNK
from retention_agent.api.requests import NoArguments, arg, choice, free_text, text, whole
from retention_agent.api.server import Session
from retention_agent.api.services import WiredContext
from retention_agent.clock import utc_iso
from retention_agent.errors import PurposeRequiredError, UsageError
from retention_agent.intake.router import is_agii_file, read_head
from retention_agent.lifecycle import opening
from retention_agent.lifecycle import states as lifecycle
from retention_agent.rules.access import OPEN_MODES, PURPOSES
from retention_agent.runtime.context import AgentContext
from retention_agent.store.deliveries import get_delivery, list_deliveries, public_view, state_of
from retention_agent.system import wipe
from retention_agent.vault.verify import verify_vault

MAX_NOTE = 200


@operation("ingest", request=NoArguments)
def ingest(ctx: WiredContext, session: Session, request: NoArguments) -> None:
    """The client reads the file with its own permissions and streams it; it removes the source itself."""
    ctx.free_space.require_room()  # before the client sends a byte
    session.reply("send")
    head, stream = read_head(cast(BinaryIO, io.BufferedReader(session.receive_stream(), DATA_CHUNK)))
    quarantined = not is_agii_file(head)  # as from a drop folder: not AgII's, so the officer decides
    received = ctx.ingest.receive(stream, channel="manual", source="manual",
                                  quarantine=quarantined, actor=session.peer.account)
    state = state_of(ctx.store, received.delivery_id)
    if state == lifecycle.QUARANTINED and not received.duplicate:
        ctx.services.notifier.notify("officer", "delivery-quarantined", delivery=received.delivery_id)
    session.reply({"delivery": received.delivery_id, "duplicate": received.duplicate,
                   "sha256": received.sha256, "size": received.size,
                   "quarantined": state == lifecycle.QUARANTINED})


@dataclass(frozen=True)
class IngestSource:
    delivery: str = arg(text(64))
    why: str = arg(choice(wipe.REASONS))


@operation("ingest.source", "ingest", request=IngestSource)
def ingest_source(ctx: AgentContext, session: Session, request: IngestSource) -> None:
    """The command line could not overwrite the source before removing it: the delivery records why.

    Only ever makes the proof of deletion claim less, so any account with the import role may say it."""
    delivery = get_delivery(ctx.store, request.delivery)
    ctx.ingest.source_not_overwritten([delivery["id"]], request.why, actor=session.peer.account)
    session.reply({"delivery": delivery["id"], "source_not_overwritten": request.why})


@dataclass(frozen=True)
class Deliveries:
    """A page of deliveries in the order they arrived; ``cursor`` is the ``next`` of the previous page."""

    cursor: str = arg(text(64), default="")
    limit: int = arg(whole(1, 1 << 30), default=MAX_LIMIT)


@operation("deliveries", request=Deliveries)
def deliveries(ctx: AgentContext, session: Session, request: Deliveries) -> None:
    limit = min(request.limit, MAX_LIMIT)
    rows = list_deliveries(ctx.store, after=request.cursor, limit=limit + 1)
    page, more = fill(rows, limit, lambda row: 600)
    session.reply({"deliveries": [public_view(row) for row in page], "next": page[-1]["id"] if more else None})


def _no_purpose() -> PurposeRequiredError:
    return PurposeRequiredError(codes=", ".join(PURPOSES))


@dataclass(frozen=True)
class Open:
    delivery: str = arg(text(64))
    mode: str = arg(choice(OPEN_MODES, error=lambda: UsageError(problem="choose --stdout, --to DIR or the "
                                                                        "workspace", command="open")))
    purpose: str = arg(choice(PURPOSES, error=_no_purpose), default="")
    note: str = arg(free_text(MAX_NOTE, "--note"), default="")


def _open_action(ctx: AgentContext, args: dict[str, Any]) -> str:
    """A quarantined file may not be AgII's at all: only the officer opens it (or releases it first). Never
    raises: an unknown delivery is the operation's to report, after the request was audited."""
    delivery_id = args.get("delivery")
    state = state_of(ctx.store, delivery_id) if isinstance(delivery_id, str) else None
    return "open.quarantined" if state == lifecycle.QUARANTINED else "open"


@operation("open", action=_open_action, request=Open)
def open_delivery(ctx: AgentContext, session: Session, request: Open) -> None:
    if not request.purpose:
        raise _no_purpose()
    if request.purpose == "other" and not request.note:
        raise PurposeRequiredError(codes="other + --note")
    opened = opening.open_delivery(ctx, session.peer.account, request.delivery, purpose=request.purpose,
                                   mode=request.mode, note=request.note)
    delivery_id = opened.delivery["id"]
    if opened.copy is not None:
        session.reply({"delivery": delivery_id, "path": str(opened.copy.path), "wipe_at": utc_iso(opened.copy.wipe_at)})
        return
    header = {"delivery": delivery_id, "size": opened.delivery["size"]}
    if opened.mode == "to-dir":  # the copy is named by the client: the extension of the file's own type
        header["extension"] = opened.extension
    session.send_stream(header, lambda writer: opening.release(ctx, opened, writer))


@operation("vault.verify", request=NoArguments)
def vault_verify(ctx: AgentContext, session: Session, request: NoArguments) -> None:
    result = verify_vault(ctx.store, ctx.vault, ctx.clock)
    ctx.health.vault_verified = {"at": result["at"], "ok": result["ok"], "checked": result["checked"]}
    session.reply(result)
