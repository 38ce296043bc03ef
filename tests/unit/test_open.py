"""Opening a delivery in this process: the recorded hash on stdout, ``vault verify`` beside an ingest in
progress, and the workspace copy wiped on time.

The tests of this subject that need no agent process, Dovecot or OS account; the others are in
tests/integration/test_open.py.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from retention_agent.api import ops_vault
from retention_agent.api.peer import Peer
from retention_agent.clock import ManualClock
from retention_agent.errors import VaultIntegrityError
from retention_agent.lifecycle import opening
from retention_agent.lifecycle.workspace_wipe import wipe_expired_copies
from retention_agent.runtime.context import AgentContext
from retention_agent.vault import ingest as ingest_module
from retention_agent.vault.format import DEFAULT_CHUNK_SIZE
from retention_agent.vault.verify import verify_vault
from tests.support.agent import ME
from tests.support.reports import FakeSession


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_stdout_sends_the_recorded_hash_and_refuses_an_authentic_object_of_another_size(ctx: AgentContext) -> None:
    """In process: the second pass is not hashed again, so the trailer carries the recorded SHA-256; the first
    pass also checks the size the database records, and a mismatch releases nothing."""
    data = secrets.token_bytes(3 * DEFAULT_CHUNK_SIZE + 5)
    delivery = ctx.ingest.receive(io.BytesIO(data), channel="manual", source="manual", quarantine=False,
                                  actor=ME).delivery_id
    args = ops_vault.Open(delivery=delivery, purpose="invite", mode="stdout")

    served = FakeSession(ME)
    ops_vault.open_delivery(ctx, served, args)  # type: ignore[arg-type]
    assert served.streamed == data
    assert served.replies[-1]["trailer"] == {"sha256": sha(data), "size": len(data)}

    with ctx.store.transaction():
        ctx.store.conn.execute("UPDATE deliveries SET size = size - 1 WHERE id = ?", (delivery,))
    refused = FakeSession(ME)
    with pytest.raises(VaultIntegrityError):
        ops_vault.open_delivery(ctx, refused, args)  # type: ignore[arg-type]
    assert (refused.streamed, refused.replies) == (b"", [])
    assert [e["subject"] for e in ctx.audit.entries() if e["action"] == "delivery.integrity-failure"] == [[delivery]]


def test_vault_verify_does_not_call_an_ingest_in_progress_extra(ctx: AgentContext,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the rename into vault/objects and the commit, the object has no delivery row yet."""
    seen: dict[str, Any] = {}

    def at(point: str) -> None:
        if point == "ingest.after-rename":
            assert len(ctx.vault.object_ids()) == 1
            seen["during"] = verify_vault(ctx.store, ctx.vault, ctx.clock)

    monkeypatch.setattr(ingest_module, "fault_point", at)
    ctx.ingest.receive(io.BytesIO(b"arriving"), channel="folder", source="inbox", quarantine=False, actor="agent")

    assert (seen["during"]["ok"], seen["during"]["extra"], seen["during"]["checked"]) == (True, [], 0)
    after = verify_vault(ctx.store, ctx.vault, ctx.clock)
    assert (after["ok"], after["checked"]) == (True, 1)


@dataclass
class _Session:
    """What an operation needs of a connection: who is calling, and somewhere to reply."""

    peer: Peer
    replies: list[Any] = field(default_factory=list)

    def reply(self, result: Any = None) -> None:
        self.replies.append(result)


def test_wipe_happens_at_wipe_after_hours_and_not_before(ctx: AgentContext, clock: ManualClock) -> None:
    data = b"in-process, with a manual clock"
    received = ctx.ingest.receive(io.BytesIO(data), channel="manual", source="manual", quarantine=False,
                                  actor=ME)
    ctx.staff.put(ME, "Officer", ["officer", "read"])  # a copy of someone who may no longer read goes at once
    opened = opening.open_delivery(ctx, ME, received.delivery_id, purpose="invite", mode="workspace", note="")
    assert opened.copy is not None
    copy = opened.copy.path
    assert copy.read_bytes() == data and ctx.config.workspace.wipe_after_hours == 8.0

    clock.advance(timedelta(hours=8) - timedelta(seconds=1))
    assert wipe_expired_copies(ctx) == 0 and copy.exists()
    clock.advance(timedelta(seconds=1))
    assert wipe_expired_copies(ctx) == 1 and not copy.exists()
    assert wipe_expired_copies(ctx) == 0, "each copy is wiped once"
    wiped = [e for e in ctx.audit.entries() if e["action"] == "workspace.wiped"]
    assert [e["subject"] for e in wiped] == [[received.delivery_id]]
