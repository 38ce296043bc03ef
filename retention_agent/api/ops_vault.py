"""Operations on deliveries and the vault: ingest, list, open for a purpose, verify."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from retention_agent.api.handlers import operation
from retention_agent.api.paging import MAX_LIMIT, fill
from retention_agent.api.protocol import DATA_CHUNK
from retention_agent.api.requests import NoArguments, arg, choice, free_text, text, whole
from retention_agent.api.server import DataWriter, Session
from retention_agent.audit.log import note_digest
from retention_agent.clock import utc_iso
from retention_agent.errors import (
    DeliveryStateError,
    FormatVersionError,
    KeyMissingError,
    PurposeRequiredError,
    UsageError,
    VaultIntegrityError,
)
from retention_agent.intake.router import is_agii_file, read_head
from retention_agent.intake.rules import detect_file_type
from retention_agent.lifecycle import states as lifecycle
from retention_agent.rules.access import OPEN_MODES, PURPOSES
from retention_agent.runtime.context import AgentContext
from retention_agent.runtime.services import WiredContext
from retention_agent.store.deliveries import get_delivery, get_live, list_deliveries, public_view
from retention_agent.system import wipe
from retention_agent.vault import workspace

MAX_NOTE = 200
T = TypeVar("T")


@operation("ingest", request=NoArguments)
def ingest(ctx: WiredContext, session: Session, request: NoArguments) -> None:
    """The client reads the file with its own permissions and streams it; it removes the source itself."""
    ctx.free_space.require_room()  # before the client sends a byte
    session.reply("send")
    head, stream = read_head(cast(BinaryIO, io.BufferedReader(session.receive_stream(), DATA_CHUNK)))
    quarantined = not is_agii_file(head)  # as from a drop folder: not AgII's, so the officer decides
    received = ctx.ingest.receive(stream, channel="manual", source="manual",
                                  quarantine=quarantined, actor=session.peer.account)
    state = ctx.store.scalar("SELECT state FROM deliveries WHERE id = ?", (received.delivery_id,))
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
    state = ctx.store.scalar("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)) \
        if isinstance(delivery_id, str) else None
    return "open.quarantined" if state == lifecycle.QUARANTINED else "open"


@operation("open", action=_open_action, request=Open)
def open_delivery(ctx: AgentContext, session: Session, request: Open) -> None:
    if not request.purpose:
        raise _no_purpose()
    if request.purpose == "other" and not request.note:
        raise PurposeRequiredError(codes="other + --note")
    delivery = get_live(ctx.store, request.delivery)
    purpose, mode, note = request.purpose, request.mode, request.note
    _verify_before_release(ctx, session, delivery)
    head = _first_bytes(ctx, delivery) if mode in ("workspace", "to-dir") else b""
    now = ctx.clock.now()
    wipe_at = now + timedelta(hours=ctx.config.workspace.wipe_after_hours) if mode == "workspace" else None
    account = session.peer.account
    with ctx.store.transaction():
        state = ctx.store.scalar("SELECT state FROM deliveries WHERE id = ?", (delivery["id"],))
        if state not in lifecycle.LIVE:  # a purge started since the checks above: the purge wins
            raise DeliveryStateError(delivery=delivery["id"], state=str(state))
        cursor = ctx.store.conn.execute(
            "INSERT INTO openings(delivery_id, account, purpose, note, mode, opened_at, wipe_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (delivery["id"], account, purpose, note, mode, utc_iso(now), utc_iso(wipe_at) if wipe_at else None))
        opening_id = int(cursor.lastrowid or 0)
        path = None
        if mode == "workspace":  # tracked before the first byte is written: a crash cannot orphan a copy
            path = workspace.copy_path(ctx.home, account, delivery["id"], opening_id, detect_file_type(head))
            ctx.store.conn.execute("UPDATE openings SET copy_path = ? WHERE id = ?", (str(path), opening_id))
        ctx.audit.append(account, "delivery.opened", "ok", [delivery["id"]],
                         {"purpose": purpose, "mode": mode, "note_sha256": note_digest(note),
                          "opening": opening_id})
    if path is not None:
        _workspace_copy(ctx, account, delivery, opening_id, path)
        session.reply({"delivery": delivery["id"], "path": str(path), "wipe_at": utc_iso(wipe_at or now)})
        return

    def produce(writer: DataWriter) -> dict[str, Any]:
        size = _release_unless_purged(ctx, delivery, _PurgeAware(ctx, delivery["id"], writer))
        # The recorded SHA-256, not hashed again: every chunk sent was authenticated as part of this object,
        # whose plaintext was checked against that hash when it was written (Vault.write).
        return {"sha256": delivery["sha256"], "size": size}

    header = {"delivery": delivery["id"], "size": delivery["size"]}
    if mode == "to-dir":  # the copy is named by the client: the extension of the file's own type, as in the workspace
        header["extension"] = workspace.EXTENSIONS.get(detect_file_type(head) or "", "")
    session.send_stream(header, produce)


def _purging(ctx: AgentContext) -> set[str]:
    return ctx.health.purging


def _release_unless_purged(ctx: AgentContext, delivery: dict[str, Any], out: Any) -> int:
    """Write the plaintext to ``out``, each chunk once it is authenticated (see :func:`_unless_purged`)."""
    return _unless_purged(ctx, delivery, lambda: ctx.vault.authenticate(delivery["id"], delivery["key_id"], out))


def _unless_purged(ctx: AgentContext, delivery: dict[str, Any], read: Callable[[], T]) -> T:
    """Read the object; a failure caused by a purge that started meanwhile is reported as the purge, not as damage."""
    try:
        return read()
    except (VaultIntegrityError, KeyMissingError):
        if delivery["id"] in _purging(ctx):
            raise DeliveryStateError(delivery=delivery["id"], state="purging") from None
        raise


class _PurgeAware:
    """Passes plaintext on unless a purge of the delivery started meanwhile: the purge wins."""

    def __init__(self, ctx: AgentContext, delivery_id: str, out: Any) -> None:
        self.ctx, self.delivery_id, self.out = ctx, delivery_id, out

    def write(self, data: bytes) -> int:
        if self.delivery_id in _purging(self.ctx):
            raise DeliveryStateError(delivery=self.delivery_id, state="purging")
        return int(self.out.write(data))


def _verify_before_release(ctx: AgentContext, session: Session, delivery: dict[str, Any]) -> None:
    """Authenticate the whole object before a single byte of plaintext leaves the vault.

    Every chunk's tag and the object's end are checked, and its size against the recorded one. Nothing is
    hashed: under its own key an object authenticates only as the plaintext that was sealed, and that
    plaintext's SHA-256 was checked against the recorded one when the object was written.
    """
    if delivery["id"] in _purging(ctx):
        raise DeliveryStateError(delivery=delivery["id"], state="purging")
    try:
        size = _unless_purged(ctx, delivery, lambda: ctx.vault.authenticate(delivery["id"], delivery["key_id"]))
        if size != delivery["size"]:  # authentic, but not what the database describes
            raise VaultIntegrityError(delivery=delivery["id"])
    except VaultIntegrityError:
        ctx.audit.append(session.peer.account, "delivery.integrity-failure", "failed", [delivery["id"]])
        ctx.health.integrity_failures.append(delivery["id"])
        raise


def _workspace_copy(ctx: AgentContext, account: str, delivery: dict[str, Any], opening_id: int, path: Path) -> None:
    """Write the copy recorded in ``openings`` (wiped and marked so if anything goes wrong)."""
    workspace.prepare_folder(ctx.home, account)
    try:
        fd = workspace.create_copy(path)
        with os.fdopen(fd, "wb") as out:
            _release_unless_purged(ctx, delivery, _PurgeAware(ctx, delivery["id"], out))
            out.flush()
            os.fsync(out.fileno())
        workspace.grant(path, account, "r")
    except BaseException:
        workspace.wipe(path)
        with ctx.store.transaction():
            ctx.store.conn.execute("UPDATE openings SET wiped_at = ? WHERE id = ? AND wiped_at IS NULL",
                                   (utc_iso(ctx.clock.now()), opening_id))
        raise


class _HeadComplete(Exception):  # noqa: N818 - control flow: enough bytes were read
    pass


class _Head:
    """Collects the first bytes of the plaintext (to pick a file extension), then stops decryption."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, chunk: bytes) -> int:
        self.data += bytes(chunk[: 4096 - len(self.data)])
        if len(self.data) >= 4096:
            raise _HeadComplete()
        return len(chunk)


def _first_bytes(ctx: AgentContext, delivery: dict[str, Any]) -> bytes:
    head = _Head()
    try:
        ctx.vault.authenticate(delivery["id"], delivery["key_id"], head)  # type: ignore[arg-type]
    except _HeadComplete:
        pass
    return head.data


@operation("vault.verify", request=NoArguments)
def vault_verify(ctx: AgentContext, session: Session, request: NoArguments) -> None:
    session.reply(verify_vault(ctx))


def verify_vault(ctx: AgentContext) -> dict[str, Any]:
    """Every live object decrypts and matches its hash; report missing, extra, corrupt and key-less ones.

    Ingests and purges go on meanwhile: the listing and the rows are one view (taken under the store's lock),
    an object whose ingest is in progress or whose purge has started is not "extra", and a problem found with
    a delivery that a purge took meanwhile is not reported (its key and object go on purpose).
    """
    with ctx.store.lock:
        rows = ctx.store.query(
            f"SELECT id, key_id, sha256 FROM deliveries WHERE state IN {lifecycle.sql_states(lifecycle.LIVE)}")
        pending = {r["delivery_id"] for r in ctx.store.query("SELECT delivery_id FROM pending_objects")}
        purging = {r["id"] for r in ctx.store.query(
            f"SELECT id FROM deliveries WHERE state = '{lifecycle.PURGING}'")}
        on_disk = ctx.vault.object_ids()
    problems: dict[str, list[str]] = {"missing": [], "corrupt": [], "keyless": [], "mismatch": []}
    for row in rows:
        problem = _check_object(ctx, row, on_disk)
        if problem and _still_live(ctx, row["id"]):
            problems[problem].append(row["id"])
    extra = sorted(on_disk - {r["id"] for r in rows} - pending - purging)
    result = {"checked": len(rows), "ok": not any(problems.values()) and not extra, "extra": extra,
              **problems, "at": utc_iso(ctx.clock.now())}
    ctx.health.vault_verified = {"at": result["at"], "ok": result["ok"], "checked": len(rows)}
    return result


def _still_live(ctx: AgentContext, delivery_id: str) -> bool:
    return ctx.store.scalar("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)) in lifecycle.LIVE


def _check_object(ctx: AgentContext, row: dict[str, Any], on_disk: set[str]) -> str:
    if row["id"] not in on_disk:
        return "missing"
    if not ctx.vault.has_key(row["key_id"]):
        return "keyless"
    try:
        result = ctx.vault.read(row["id"], row["key_id"], None)
    except (VaultIntegrityError, FormatVersionError):  # this agent wrote it: a "newer" header was altered
        return "corrupt"
    return "" if result.plaintext_sha256 == row["sha256"] else "mismatch"
