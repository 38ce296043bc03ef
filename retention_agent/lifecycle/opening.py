"""Opening a delivery for a purpose: check the object, record and audit the opening, hand out the plaintext.

A purge wins over an opening: an opening checks the delivery's state inside its own transaction, and stops
passing plaintext on as soon as a purge of the delivery has started (``ctx.health.purging``), also midway.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar, cast

from retention_agent.audit.log import note_digest
from retention_agent.clock import utc_iso
from retention_agent.errors import DeliveryStateError, KeyMissingError, VaultIntegrityError
from retention_agent.intake.rules import detect_file_type
from retention_agent.lifecycle import states as lifecycle
from retention_agent.runtime.context import AgentContext
from retention_agent.store import openings
from retention_agent.store.deliveries import get_live, state_of
from retention_agent.vault import workspace

T = TypeVar("T")
HEAD_BYTES = 4096  # enough of the plaintext to recognise its file type


class Sink(Protocol):
    def write(self, data: bytes) -> int: ...


@dataclass(frozen=True)
class WorkspaceCopy:
    path: Path  # written, and readable by the account
    wipe_at: datetime


@dataclass(frozen=True)
class Opening:
    delivery: dict[str, Any]
    opening_id: int
    mode: str
    head: bytes  # the plaintext's first bytes (workspace and to-dir), for the file type
    copy: WorkspaceCopy | None = None  # the workspace mode's copy

    @property
    def extension(self) -> str:
        """The extension of the file's own type, as a workspace copy gets it."""
        return workspace.EXTENSIONS.get(detect_file_type(self.head) or "", "")


def open_delivery(ctx: AgentContext, account: str, delivery_id: str, *, purpose: str, mode: str,
                  note: str) -> Opening:
    """Authenticate the object, record and audit the opening; in the workspace mode, write the copy too.

    The plaintext of the other modes is handed out afterwards by :func:`release`."""
    delivery = get_live(ctx.store, delivery_id)
    _verify_before_release(ctx, account, delivery)
    head = _first_bytes(ctx, delivery) if mode in ("workspace", "to-dir") else b""
    now = ctx.clock.now()
    wipe_at = now + timedelta(hours=ctx.config.workspace.wipe_after_hours)
    with ctx.store.transaction():
        state = state_of(ctx.store, delivery["id"])
        if state not in lifecycle.LIVE:  # a purge started since the checks above: the purge wins
            raise DeliveryStateError(delivery=delivery["id"], state=str(state))
        opening_id = openings.record(ctx.store, delivery_id=delivery["id"], account=account, purpose=purpose,
                                     note=note, mode=mode, opened_at=utc_iso(now),
                                     wipe_at=utc_iso(wipe_at) if mode == "workspace" else None)
        path = None
        if mode == "workspace":  # tracked before the first byte is written: a crash cannot orphan a copy
            path = workspace.copy_path(ctx.home, account, delivery["id"], opening_id, detect_file_type(head))
            openings.set_copy_path(ctx.store, opening_id, str(path))
        ctx.audit.append(account, "delivery.opened", "ok", [delivery["id"]],
                         {"purpose": purpose, "mode": mode, "note_sha256": note_digest(note),
                          "opening": opening_id})
    if path is None:
        return Opening(delivery, opening_id, mode, head)
    _workspace_copy(ctx, account, delivery, opening_id, path)
    return Opening(delivery, opening_id, mode, head, WorkspaceCopy(path, wipe_at))


def release(ctx: AgentContext, opening: Opening, out: Sink) -> dict[str, Any]:
    """Write the plaintext to ``out``, each chunk once it is authenticated, unless a purge started; its trailer.

    The recorded SHA-256, not hashed again: every chunk sent was authenticated as part of this object, whose
    plaintext was checked against that hash when it was written (Vault.write)."""
    delivery = opening.delivery
    size = _release_unless_purged(ctx, delivery, _PurgeAware(ctx, delivery["id"], out))
    return {"sha256": delivery["sha256"], "size": size}


def _release_unless_purged(ctx: AgentContext, delivery: dict[str, Any], out: Sink) -> int:
    """Write the plaintext to ``out``, each chunk once it is authenticated (see :func:`_unless_purged`)."""
    return _unless_purged(ctx, delivery, lambda: ctx.vault.authenticate(delivery["id"], delivery["key_id"],
                                                                        cast(BinaryIO, out)))


def _unless_purged(ctx: AgentContext, delivery: dict[str, Any], read: Callable[[], T]) -> T:
    """Read the object; a failure caused by a purge that started meanwhile is reported as the purge, not as damage."""
    try:
        return read()
    except (VaultIntegrityError, KeyMissingError):
        if delivery["id"] in ctx.health.purging:
            raise DeliveryStateError(delivery=delivery["id"], state="purging") from None
        raise


class _PurgeAware:
    """Passes plaintext on unless a purge of the delivery started meanwhile: the purge wins."""

    def __init__(self, ctx: AgentContext, delivery_id: str, out: Sink) -> None:
        self.ctx, self.delivery_id, self.out = ctx, delivery_id, out

    def write(self, data: bytes) -> int:
        if self.delivery_id in self.ctx.health.purging:
            raise DeliveryStateError(delivery=self.delivery_id, state="purging")
        return int(self.out.write(data))


def _verify_before_release(ctx: AgentContext, account: str, delivery: dict[str, Any]) -> None:
    """Authenticate the whole object before a single byte of plaintext leaves the vault.

    Every chunk's tag and the object's end are checked, and its size against the recorded one. Nothing is
    hashed: under its own key an object authenticates only as the plaintext that was sealed, and that
    plaintext's SHA-256 was checked against the recorded one when the object was written.
    """
    if delivery["id"] in ctx.health.purging:
        raise DeliveryStateError(delivery=delivery["id"], state="purging")
    try:
        size = _unless_purged(ctx, delivery, lambda: ctx.vault.authenticate(delivery["id"], delivery["key_id"]))
        if size != delivery["size"]:  # authentic, but not what the database describes
            raise VaultIntegrityError(delivery=delivery["id"])
    except VaultIntegrityError:
        ctx.audit.append(account, "delivery.integrity-failure", "failed", [delivery["id"]])
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
            openings.mark_wiped(ctx.store, opening_id, utc_iso(ctx.clock.now()))
        raise


class _HeadComplete(Exception):  # noqa: N818 - control flow: enough bytes were read
    pass


class _Head:
    """Collects the first bytes of the plaintext (to pick a file extension), then stops decryption."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, chunk: bytes) -> int:
        self.data += bytes(chunk[: HEAD_BYTES - len(self.data)])
        if len(self.data) >= HEAD_BYTES:
            raise _HeadComplete()
        return len(chunk)


def _first_bytes(ctx: AgentContext, delivery: dict[str, Any]) -> bytes:
    head = _Head()
    try:
        ctx.vault.authenticate(delivery["id"], delivery["key_id"], cast(BinaryIO, head))
    except _HeadComplete:
        pass
    return head.data
