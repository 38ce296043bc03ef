"""The deliver-once path shared by manual ingest, drop folders and mailboxes.

Order of events for one received file, each step durable before the next:

1. a ``pending_objects`` row (delivery id, key id) is committed;
2. a fresh data key is stored in the key store;
3. the bytes are encrypted into ``vault/tmp`` and fsynced, while a second thread reads the file back behind
   the writer, authenticates every chunk, compares its plaintext with the received bytes and hashes it;
4. only when the object decrypted back to exactly the received bytes is it renamed into ``vault/objects``
   and the folder fsynced;
5. one transaction records the delivery (or recognises a duplicate), its audit entry, and drops the
   pending row;
6. only then does the caller remove the source — overwriting it first (:mod:`retention_agent.system.wipe`); where
   it cannot, it calls :meth:`Ingest.source_not_overwritten` *before* the unlink, so the delivery (and later
   its proof of deletion) says the plaintext may remain on that disk.

A crash anywhere before 5 leaves a pending row: :meth:`Ingest.recover` erases the object and key at the next
start (the source still exists, so nothing is lost). A crash after 5 and before 6 leaves the source: taking
it again finds the same SHA-256 and returns the existing delivery (no duplicate).

A quarantined file may carry a ``reason`` code (a message with too many files, a sender the mail server did
not authenticate); it is recorded with the delivery for the officer. Neither fact is a state: the delivery's
state is still written only where it was before.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from retention_agent.audit.log import AuditLog
from retention_agent.clock import Clock, utc_iso
from retention_agent.ids import new_ulid, random_hex
from retention_agent.rules.delivery_states import QUARANTINED, VAULTED
from retention_agent.store import deliveries
from retention_agent.store.database import Store
from retention_agent.testing_hooks import fault_point
from retention_agent.vault.receipt import DeliverResult
from retention_agent.vault.vault import Vault

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    delivery_id: str
    duplicate: bool
    sha256: str
    size: int


class Ingest:
    def __init__(self, store: Store, vault: Vault, audit: AuditLog, clock: Clock, legal_basis: str,
                 room: Callable[[], None] | None = None) -> None:
        self.store = store
        self.vault = vault
        self.audit = audit
        self.clock = clock
        self.legal_basis = legal_basis
        self.room = room  # raises when the disk is below the agent's free-space floor (diskspace.py)

    def __call__(self, stream: BinaryIO, *, channel: str, source: str, quarantine: bool,
                 reason: str = "") -> DeliverResult:
        received = self.receive(stream, channel=channel, source=source, quarantine=quarantine, actor="agent",
                                reason=reason)
        return DeliverResult(received.delivery_id, received.duplicate)

    def receive(self, stream: BinaryIO, *, channel: str, source: str, quarantine: bool, actor: str,
                source_name: str = "", reason: str = "") -> Received:
        if self.room is not None:
            self.room()  # below the floor nothing new comes in: the source stays where it is
        delivery_id, key_id = new_ulid(self.clock), random_hex(16)
        with self.store.transaction():
            self.store.conn.execute(
                "INSERT INTO pending_objects(key_id, delivery_id, created_at) VALUES (?, ?, ?)",
                (key_id, delivery_id, utc_iso(self.clock.now())))
        fault_point("ingest.after-pending")
        try:
            key = self.vault.create_key(key_id)
            fault_point("ingest.after-key")
            written = self.vault.write(stream, delivery_id, key_id, key, source_name or source)
            fault_point("ingest.after-rename")
            existing = self._commit(delivery_id, key_id, written.plaintext_sha256, written.plaintext_size,
                                    channel=channel, source=source, quarantine=quarantine, actor=actor,
                                    reason=reason if quarantine else "")
        except BaseException:
            self._discard(delivery_id, key_id)
            raise
        fault_point("ingest.after-commit")
        if existing:
            self._discard(delivery_id, key_id)
            return Received(existing, True, written.plaintext_sha256, written.plaintext_size)
        return Received(delivery_id, False, written.plaintext_sha256, written.plaintext_size)

    def _commit(self, delivery_id: str, key_id: str, sha256: str, size: int, *, channel: str, source: str,
                quarantine: bool, actor: str, reason: str) -> str | None:
        """Record the delivery; return the id of a live delivery with the same content instead, if any."""
        with self.store.transaction():
            existing = deliveries.live_with_sha256(self.store, sha256)
            if existing:
                self.audit.append(actor, "delivery.duplicate", "ok", [existing],
                                  {"channel": channel, "source": source})
                return existing
            deliveries.record(self.store, {
                "id": delivery_id, "received_at": utc_iso(self.clock.now()), "channel": channel,
                "source": source, "sha256": sha256, "size": size, "key_id": key_id, "legal_basis": self.legal_basis,
                "quarantine_reason": reason or None,
            }, QUARANTINED if quarantine else VAULTED)
            self.store.conn.execute("DELETE FROM pending_objects WHERE key_id = ?", (key_id,))
            details: dict[str, object] = {"channel": channel, "source": source, "size": size, "sha256": sha256,
                                          "quarantined": quarantine}
            if reason:
                details["quarantine_reason"] = reason
            self.audit.append(actor, "delivery.received", "ok", [delivery_id], details)
        return None

    def source_not_overwritten(self, delivery_ids: Sequence[str], why: str, actor: str = "agent") -> None:
        """Record, before the source is unlinked, that it was not overwritten (``why``: a code of
        :mod:`retention_agent.system.wipe`). Kept with the delivery until its purge, whose proof names it."""
        with self.store.transaction():
            for delivery_id in delivery_ids:
                deliveries.set_source_not_overwritten(self.store, delivery_id, why)
            self.audit.append(actor, "delivery.source-not-overwritten", "ok", list(delivery_ids), {"why": why})

    def _discard(self, delivery_id: str, key_id: str) -> None:
        """Erase what an unfinished or duplicate ingest wrote; the pending row goes last."""
        try:
            self.vault.erase_object(delivery_id)
            self.vault.destroy_key(key_id)
        except Exception:
            log.exception("could not discard an unfinished object; retried at the next start")
            return
        with self.store.transaction():
            self.store.conn.execute("DELETE FROM pending_objects WHERE key_id = ?", (key_id,))

    def recover(self) -> int:
        """At start-up: remove what crashed ingests left (their sources still exist). Returns how many."""
        rows = self.store.query("SELECT key_id, delivery_id FROM pending_objects")
        for row in rows:
            self._discard(row["delivery_id"], row["key_id"])
        for stray in self.vault.home.vault_tmp.glob("*"):
            with contextlib.suppress(OSError):
                stray.unlink()
        if rows:
            self.audit.append("agent", "ingest.recovered", "ok", [], {"unfinished": len(rows)})
        return len(rows)


def pending_objects(store: Store) -> set[str]:
    """The deliveries whose ingest is under way (or crashed, until :meth:`Ingest.recover`)."""
    return {r["delivery_id"] for r in store.query("SELECT delivery_id FROM pending_objects")}
