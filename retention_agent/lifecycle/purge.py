"""Purge one delivery, crash-safely, and prove it (deliberation nr. 41; invariants 4 and 6).

Steps, in this order, each recorded in ``purges.steps`` before the next starts so a crash resumes where it
stopped: destroy the data key (the cryptographic erase; with it the workbook's password and fingerprint key of an
unlocked delivery), overwrite and unlink the vault object, wipe every tracked workspace copy, settle the copies
found on workstations (``copies``: in per-user mode the agent erases its own account's), delete the rows that
describe the content (keeping a tombstone: id, hashes, dates, counts), scrub the database (secure_delete, WAL
checkpoint TRUNCATE, VACUUM), verify, append the audit entry, sign a checkpoint, write the proof. A purge that
already finished returns its one proof.

A purge can also be begun inside another change's transaction (:meth:`Purger.begin`: a ceremony date that
destroys a delivery at once is recorded together with the start of its purge) and carried out right after.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

from retention_agent.audit.log import note_digest
from retention_agent.clock import parse_utc, utc_iso
from retention_agent.copies import records as copy_records
from retention_agent.errors import DeliveryHeldError, DeliveryStateError, PurgeFailedError, RetentionAgentError
from retention_agent.evidence import merkle, proof, proof_build
from retention_agent.lifecycle import states as lifecycle
from retention_agent.rules import retention
from retention_agent.runtime.context import AgentContext
from retention_agent.store import deliveries, mail_copies, openings, purges, reminders
from retention_agent.store.database import INCREMENTAL
from retention_agent.store.deliveries import get_delivery
from retention_agent.system.home import write_private
from retention_agent.testing_hooks import fault_point
from retention_agent.vault import workspace

log = logging.getLogger(__name__)
_lock = threading.Lock()  # one purge at a time: they share the database scrub

STEP_FAULTS = {"key": "purge.after-key", "object": "purge.after-object", "workspace": "purge.after-workspace",
               "copies": "purge.after-copies", "rows": "purge.after-rows", "scrub": "purge.after-scrub"}
STEPS = ("key", "object", "workspace", "copies", "rows", "scrub")


class Purger:
    def __init__(self, ctx: AgentContext, *, copies: copy_records.Eraser | None = None,
                 copies_account: str | None = None) -> None:
        """``copies``, ``copies_account``: per-user mode, the agent's own sweeper and account, whose copies the
        purge erases itself."""
        self.ctx = ctx
        self.copies, self.copies_account = copies, copies_account
        # read by open: the purge wins over an opening in progress. An id is added once its purge has
        # started and stays (also after it finished), so an opening that was mid-way cannot go on.
        self.purging: set[str] = set()

    def __call__(self, delivery_id: str, *, trigger: str, reason: str, requested_by: str,
                 due_at: datetime | None, reason_code: str | None = None) -> dict[str, Any]:
        """Purge the delivery (or finish the purge begun for it) and return its proof.

        ``trigger`` is one of :data:`proof.TRIGGERS`; ``reason`` a code, or for an early or quarantine purge the
        text a person typed (kept only as its hash, with ``reason_code`` as its code); ``due_at`` the moment the
        purge was due — for an early purge, the one the delivery had before — which its lateness is measured from.
        """
        with _lock:
            try:
                return self._purge(delivery_id, trigger, reason, requested_by, due_at, reason_code)
            except RetentionAgentError:
                raise
            except Exception as exc:
                log.exception("purge of %s failed", delivery_id)
                raise PurgeFailedError(delivery=delivery_id, step=self._current_step(delivery_id),
                                       problem=type(exc).__name__) from exc

    # ---- the state machine ---------------------------------------------------------------------------

    def _purge(self, delivery_id: str, trigger: str, reason: str, requested_by: str,
               due_at: datetime | None, reason_code: str | None) -> dict[str, Any]:
        record = self._start(delivery_id, trigger, reason, requested_by, due_at, reason_code)
        self.purging.add(delivery_id)  # started (nothing destroyed yet): from now on the purge wins
        if record["finished_at"]:
            return self._result(delivery_id)
        steps: dict[str, Any] = json.loads(record["steps"])
        delivery = get_delivery(self.ctx.store, delivery_id)
        for name, action in (("key", self._destroy_key), ("object", self._erase_object),
                             ("workspace", self._wipe_copies), ("copies", self._settle_copies),
                             ("rows", self._delete_rows), ("scrub", self._scrub)):
            if name not in steps:
                result = action(delivery, steps)
                steps[name] = {"done_at": utc_iso(self.ctx.clock.now()), "result": result}
                self._save_steps(delivery_id, steps)
                fault_point(STEP_FAULTS[name])
        if "verification" not in steps:
            steps["verification"] = self._verify(delivery)
            self._save_steps(delivery_id, steps)
        if "audit_seq" not in steps:
            self._audit(delivery, record, steps)
        self._write_proof(delivery, record, steps)
        return self._result(delivery_id)

    def _start(self, delivery_id: str, trigger: str, reason: str, requested_by: str,
               due_at: datetime | None, reason_code: str | None) -> dict[str, Any]:
        with self.ctx.store.transaction():
            begun = self.begin(delivery_id, trigger=trigger, reason=reason, requested_by=requested_by,
                               due_at=due_at, reason_code=reason_code)
        if begun:
            fault_point("purge.after-start")
        return purges.get(self.ctx.store, delivery_id)

    def begin(self, delivery_id: str, *, trigger: str, reason: str, requested_by: str, due_at: datetime | None,
              reason_code: str | None = None) -> bool:
        """Start the purge in the caller's transaction: its record, the state ``purging``, its audit entry.
        False if it had already begun. Calling the purger then carries it out (a crash: the next start-up)."""
        if purges.exists(self.ctx.store, delivery_id):
            return False
        if trigger not in proof.TRIGGERS:
            raise ValueError(f"unknown purge trigger {trigger!r}")
        delivery = get_delivery(self.ctx.store, delivery_id)
        if delivery["state"] not in lifecycle.LIVE:
            raise DeliveryStateError(delivery=delivery_id, state=delivery["state"])
        if delivery["state"] == lifecycle.HELD and hold_blocks(delivery, self.ctx.clock.now()):
            if trigger == "early":  # a hold is the officer's to lift, not the destroy role's to overrule
                raise DeliveryHeldError(delivery=delivery_id, until=delivery["hold_until"] or "-")
            raise DeliveryStateError(delivery=delivery_id, state=delivery["state"])
        stored = _stored_reason(trigger, reason, reason_code)
        purges.insert(self.ctx.store, delivery_id, trigger=trigger, reason=stored, requested_by=requested_by,
                      due_at=utc_iso(due_at) if due_at else None, started_at=utc_iso(self.ctx.clock.now()))
        deliveries.transition(self.ctx.store, delivery_id, lifecycle.PURGING)
        code, digest = reason_facts(trigger, stored)
        self.ctx.audit.append(requested_by, "purge.started", "ok", [delivery_id],
                              {"trigger": trigger, "reason": code, "reason_sha256": digest or ""})
        return True

    def _save_steps(self, delivery_id: str, steps: dict[str, Any]) -> None:
        with self.ctx.store.transaction():
            purges.save_steps(self.ctx.store, delivery_id, steps)

    def _current_step(self, delivery_id: str) -> str:
        done = purges.steps(self.ctx.store, delivery_id)
        for name in (*STEPS, "verification", "audit_seq"):
            if name not in done:
                return name
        return "proof"

    # ---- the steps ---------------------------------------------------------------------------------------

    def _destroy_key(self, delivery: dict[str, Any], steps: dict[str, Any]) -> str:
        self.ctx.vault.destroy_key(delivery["key_id"])
        copy_records.destroy_secrets(self.ctx, delivery["key_id"])
        with self.ctx.store.transaction():
            deliveries.set_key_destroyed(self.ctx.store, delivery["id"], utc_iso(self.ctx.clock.now()))
        return "destroyed"

    def _erase_object(self, delivery: dict[str, Any], steps: dict[str, Any]) -> str:
        return "overwritten-and-unlinked" if self.ctx.vault.erase_object(delivery["id"]) else "absent"

    def _wipe_copies(self, delivery: dict[str, Any], steps: dict[str, Any]) -> str:
        rows = openings.copies_of_delivery(self.ctx.store, delivery["id"])
        for row in rows:
            workspace.wipe(Path(row["copy_path"]))
            with self.ctx.store.transaction():
                openings.mark_wiped(self.ctx.store, row["id"], utc_iso(self.ctx.clock.now()))
        # a copy an opening was still writing when the purge began is not recorded yet: wipe it by its name
        # (the same pattern the verification looks for)
        untracked = [p for p in self.ctx.home.workspace.rglob(f"{delivery['id']}-*") if p.is_file()]
        for path in untracked:
            workspace.wipe(path)
        return f"wiped {len(rows) + len(untracked)}"

    def _settle_copies(self, delivery: dict[str, Any], steps: dict[str, Any]) -> str:
        """Copies on workstations: the per-user agent erases its own account's now; the counts go to the proof."""
        counts = copy_records.settle_at_purge(self.ctx, delivery, self.copies, self.copies_account)
        steps["copies_counts"] = counts
        found = counts["exact"]["found"] + counts["derived"]["found"]
        erased = counts["exact"]["erased"] + counts["derived"]["erased"]
        remaining = counts["exact"]["remaining"] + counts["derived"]["remaining"]
        return f"found {found} erased {erased} remaining {remaining}"

    def _delete_rows(self, delivery: dict[str, Any], steps: dict[str, Any]) -> str:
        """Keep counts in the tombstone, then delete what described the content (notes, reasons)."""
        steps["counts"] = openings.counts_of_delivery(self.ctx.store, delivery["id"])
        with self.ctx.store.transaction():  # the counts are saved with the deletion, atomically
            openings.delete_of_delivery(self.ctx.store, delivery["id"])
            reminders.delete_of_delivery(self.ctx.store, delivery["id"])
            copy_records.delete_rows(self.ctx, delivery["id"])
            deliveries.clear_hold(self.ctx.store, delivery["id"])
            steps["rows"] = {"done_at": utc_iso(self.ctx.clock.now()), "result": "deleted"}
            self._save_steps(delivery["id"], steps)
        return "deleted"

    def _scrub(self, delivery: dict[str, Any], steps: dict[str, Any]) -> str:
        """Scrub what the purge deleted (Store.scrub: no copy of the database, whatever its size)."""
        left = self.ctx.store.scrub()
        steps["scrub_evidence"] = left
        vacuum = "incremental" if left.get("auto_vacuum") == INCREMENTAL else "none"
        return (f"secure_delete={left['secure_delete']} wal_bytes={left['wal_bytes']} "
                f"free_pages={left['free_pages']} vacuum={vacuum}")

    def _verify(self, delivery: dict[str, Any]) -> dict[str, bool]:
        delivery_id = delivery["id"]
        copies = [p for p in self.ctx.home.workspace.rglob(f"{delivery_id}-*")]
        left = openings.left_of_delivery(self.ctx.store, delivery_id)
        scrubbed = self._scrub_evidence(delivery_id)
        return {
            "key_absent": not self.ctx.vault.has_key(delivery["key_id"]),
            "object_absent": not self.ctx.vault.path(delivery_id).exists(),
            "no_workspace_copy": not copies,
            "no_rows_left": left == 0,
            "database_scrubbed": _scrubbed(scrubbed),
            "unlock_secrets_absent": copy_records.secrets_absent(self.ctx, delivery["key_id"]),
        }

    def _scrub_evidence(self, delivery_id: str) -> dict[str, int]:
        return dict(purges.steps(self.ctx.store, delivery_id).get("scrub_evidence", {}))

    def _audit(self, delivery: dict[str, Any], record: dict[str, Any], steps: dict[str, Any]) -> None:
        """The purge's audit entry, the tombstone state and the step record: one transaction. The entry's time
        is the moment of the purge: its lateness, the proof's and the report's are measured to it."""
        now = parse_utc(utc_iso(self.ctx.clock.now()))  # whole seconds, as the entry records it
        with self.ctx.store.transaction():
            before = self.ctx.audit.compact_range()  # for the proof's inclusion path, without rereading the log
            steps["audit_range"] = {"size": before.size, "hashes": [h.hex() for h in before.to_hashes()]}
            steps["audit_seq"] = self.ctx.audit.append_many([(
                now, record["requested_by"], "delivery.purged", "ok", [delivery["id"]], {
                    "trigger": proof.trigger_of(record["trigger"]), "verification": steps["verification"],
                    "lateness_seconds": _lateness(record, now), "sha256": delivery["sha256"]})])
            deliveries.transition(self.ctx.store, delivery["id"], lifecycle.PURGED)
            deliveries.set_purged_at(self.ctx.store, delivery["id"], utc_iso(now))
            self._save_steps(delivery["id"], steps)

    # ---- the proof ---------------------------------------------------------------------------------------

    def _write_proof(self, delivery: dict[str, Any], record: dict[str, Any], steps: dict[str, Any]) -> None:
        doc = self._proof_document(delivery, record, steps)
        data, signature = proof_build.sign_proof(doc, self.ctx.signing_key)
        json_name, sig_name = proof.proof_file_names(delivery["id"])
        folder = self.ctx.home.proofs
        write_private(folder / json_name, data)
        write_private(folder / sig_name, signature.encode())
        from retention_agent.pdf import proof as proof_pdf  # imported when needed: fpdf costs the idle agent 30 MB

        write_private(folder / f"{delivery['id']}.pdf", proof_pdf.render_certificate(doc))
        fault_point("purge.after-proof")
        with self.ctx.store.transaction():
            purges.finish(self.ctx.store, delivery["id"], finished_at=doc["purged_at"],
                          proof_sha256=hashlib.sha256(data).hexdigest())
            self.ctx.audit.append("agent", "proof.written", "ok", [delivery["id"]],
                                  {"proof_sha256": hashlib.sha256(data).hexdigest()})

    def _proof_document(self, delivery: dict[str, Any], record: dict[str, Any],
                        steps: dict[str, Any]) -> dict[str, Any]:
        seq = int(steps["audit_seq"])
        entry = self.ctx.audit.entry_bytes(seq)
        purged_at = json.loads(entry)["time"]
        with self.ctx.store.lock:  # checkpoint and size of one tree: other threads append entries too
            note = self.ctx.audit.checkpoint()
            size = self.ctx.audit.size
        inclusion = self._inclusion(seq, size, steps)
        counts = steps.get("counts", {})
        facts = proof_build.ProofFacts(
            municipality=self.ctx.config.municipality, installation_id=self.ctx.installation_id,
            legal_basis=delivery["legal_basis"], delivery_id=delivery["id"], received_at=delivery["received_at"],
            channel=delivery["channel"], sha256=delivery["sha256"], size=int(delivery["size"]),
            ceremony_date=delivery["ceremony_date"], deadline=delivery["deadline"], due_at=record["due_at"],
            purged_at=purged_at, lateness_seconds=_lateness(record, parse_utc(purged_at)),
            trigger=proof.trigger_of(record["trigger"]),
            reason=reason_facts(record["trigger"], record["reason"])[0],
            reason_sha256=reason_facts(record["trigger"], record["reason"])[1],
            steps=[{"step": name, "done_at": steps[name]["done_at"], "result": steps[name]["result"]}
                   for name in STEPS if name in steps],
            verification=steps["verification"], key_store_backend=self.ctx.keys.backend_name,
            openings_count=int(counts.get("openings", 0)), distinct_accounts_count=int(counts.get("accounts", 0)),
            untracked_copies_count=int(counts.get("untracked", 0)),
            source_not_overwritten=delivery.get("source_not_overwritten"),
            copies=copy_records.proof_section(steps.get("copies_counts", {})),
            mailbox_copies=mail_copies.proof_section(self.ctx.store, delivery["id"]),
            audit={"checkpoint": note, "entry_seq": seq, "entry": entry.decode(), "tree_size": size,
                   "inclusion_proof": [h.hex() for h in inclusion]})
        return proof_build.build_proof(facts)

    def _inclusion(self, seq: int, size: int, steps: dict[str, Any]) -> list[bytes]:
        """The purge entry's inclusion path in the tree of ``size`` entries (the log only grows, so the entries
        up to ``size`` are those the checkpoint signed)."""
        recorded = steps.get("audit_range")
        if recorded and int(recorded["size"]) == seq - 1:
            before = merkle.CompactRange.from_hashes(int(recorded["size"]),
                                                     [bytes.fromhex(h) for h in recorded["hashes"]])
            return self.ctx.audit.inclusion_after(before, size)
        leaves = self.ctx.audit.leaf_hashes()[:size]  # a purge recorded before the frontier was kept
        return merkle.inclusion_proof(leaves, seq - 1)

    def _result(self, delivery_id: str) -> dict[str, Any]:
        row = purges.outcome(self.ctx.store, delivery_id)
        json_name, _ = proof.proof_file_names(delivery_id)
        return {"delivery": delivery_id, "purged_at": row.get("finished_at"),
                "proof": str(self.ctx.home.proofs / json_name), "proof_sha256": row.get("proof_sha256")}


FREE_TEXT_TRIGGERS = ("early", "quarantine")  # a person typed the reason: it may hold personal data
_DIGEST_PREFIX = "sha256:"  # how records written before reason codes kept the hash


def _stored_reason(trigger: str, reason: str, code: str | None) -> str:
    """What the purge record keeps of the reason: a code as is; for a person's free text, its code (the trigger
    unless given) and only the text's hash."""
    if trigger not in FREE_TEXT_TRIGGERS:
        return reason
    return json.dumps({"code": code or trigger, "sha256": note_digest(reason)}, sort_keys=True)


def reason_facts(trigger: str, stored: str) -> tuple[str, str | None]:
    """``(reason code, SHA-256 of the free text or None)`` for the audit entry and the proof."""
    if trigger not in FREE_TEXT_TRIGGERS:
        return stored, None
    if stored.startswith("{"):
        kept = json.loads(stored)
        return str(kept["code"]), str(kept["sha256"]) or None
    digest = stored.removeprefix(_DIGEST_PREFIX) if stored.startswith(_DIGEST_PREFIX) else note_digest(stored)
    return trigger, digest or None


def _scrubbed(evidence: dict[str, int]) -> bool:
    """Nothing deleted is left in the database: secure_delete overwrote the rows and freed pages with zeros,
    the WAL is empty, and freed pages were given back — or, in a database that has no incremental vacuum yet
    (created before it was used here), are left zeroed until the next full VACUUM."""
    given_back = evidence.get("free_pages") == 0 or evidence.get("auto_vacuum", INCREMENTAL) != INCREMENTAL
    return evidence.get("secure_delete") == 1 and evidence.get("wal_bytes") == 0 and given_back


def hold_blocks(delivery: dict[str, Any], now: datetime) -> bool:
    """A hold blocks until the start of its end date (as in ``retention.purge_plan``); none: until released."""
    until = delivery.get("hold_until")
    return until is None or now < retention.due_moment(date.fromisoformat(until))


def _lateness(record: dict[str, Any], purged_at: datetime) -> int:
    return retention.lateness_seconds(parse_utc(record["due_at"]) if record.get("due_at") else None, purged_at)


def resume_unfinished(ctx: AgentContext, purger: Purger) -> list[str]:
    """At start-up: finish every purge a crash interrupted (exactly one proof each)."""
    rows = purges.unfinished(ctx.store)
    for row in rows:
        purger(row["delivery_id"], trigger=row["trigger"], reason=row["reason"],
               requested_by=row["requested_by"], due_at=parse_utc(row["due_at"]) if row["due_at"] else None)
    return [r["delivery_id"] for r in rows]
