"""The DPO report as a JSON document: what happened in the period and where the municipality stands.

Format ``retention-agent/dpo-report`` version :data:`REPORT_VERSION` (``docs/formats/dpo-report.md``). It holds
the period summary, the incidents, the signed proofs of deletion of the period, the list of authorised
persons with their access levels, the art. 30 register entry, the conditions checklist, the status at report
time, and the audit log's signed checkpoint with an RFC 6962 consistency proof from the checkpoint of the
previous report. Complete reports are numbered 1, 2, 3… per installation and each names its predecessor by
SHA-256, so the DPO sees a missing, replaced or rewritten report and a truncated log (``dpo verify``).

No personal data: delivery ids, hashes, dates, counts, configuration names and the staff list (the authorised
persons the deliberation asks for). :func:`check_no_personal_data` is the tripwire before signing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from retention_agent.audit import query as audit_query
from retention_agent.clock import utc_iso
from retention_agent.config import Config
from retention_agent.errors import ReportPersonalDataError
from retention_agent.evidence import checkpoint as notes
from retention_agent.evidence import consistency, merkle, sshsig
from retention_agent.evidence.personal_data import scan_personal_data
from retention_agent.reports import summary
from retention_agent.reports.format import REPORT_FORMAT, REPORT_VERSION
from retention_agent.reports.period import Period
from retention_agent.rules.access import ROLES
from retention_agent.runtime.context import AgentContext
from retention_agent.status.document import note_test_hooks, status_document
from retention_agent.status.facts import Facts, PeriodFacts, gather, gather_period

# What each role lets a person do, in the deliberation's terms (nr. 64: creation, consultation,
# modification, destruction); the officer manages the list and the measures.
ACCESS_LEVELS: Final = {"import": "create", "read": "consult", "modify": "modify", "destroy": "destroy",
                        "officer": "manage"}
# The sections derived from the agent's records, scanned for personal data before signing. The staff list,
# the register entry and the checklist are written by the officer and may rightly hold names and addresses.
SCANNED: Final = ("period", "summary", "incidents", "current", "audit", "previous")


def build_report(ctx: AgentContext, period: Period, *, now: datetime | None = None) -> dict[str, Any]:
    """The report for ``period`` as of ``now``: complete when the period has ended, else interim. The facts are
    gathered once; then only the audit section is made here (a signed checkpoint and the consistency proof)."""
    now = now or ctx.clock.now()
    note_test_hooks(ctx)
    facts = gather(ctx, now)
    happened = gather_period(ctx, period.start_utc, period.end_utc, now)
    doc = report_document(ctx, facts, happened, period)
    previous = latest_complete(facts)
    doc["previous"], doc["audit"] = audit_section(ctx, previous, facts.running.audit_verified)
    if doc["audit"]["consistent_with_previous"] is False:
        doc["incidents"].append({"kind": "audit-log-inconsistent", "at": doc["generated_at"], "delivery": None,
                                 "details": {"previous_sequence": doc["previous"]["sequence"]}})
    check_no_personal_data(doc)
    return doc


def latest_complete(facts: Facts) -> Mapping[str, Any] | None:
    """The complete report with the highest sequence number: the next one continues from it."""
    complete = [r for r in facts.reports if r["complete"]]
    return max(complete, key=lambda r: r["sequence"]) if complete else None


def report_document(ctx: AgentContext, facts: Facts, happened: PeriodFacts, period: Period) -> dict[str, Any]:
    """Everything but the audit section, from the facts and the agent's identity and configuration."""
    complete = period.has_ended(facts.now)
    previous = latest_complete(facts)
    purge_rows = summary.purges(happened)
    config = ctx.config
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "signer": ctx.identity,
        "municipality": config.municipality,
        "installation_id": ctx.installation_id,
        "installation_created_at": facts.created_at,
        "origin": ctx.origin,
        "public_key": sshsig.public_key_openssh(ctx.signing_key.public_bytes()),
        "legal_basis": config.legal_basis,
        "period": {**period.to_json(), "complete": complete},
        "sequence": ((previous["sequence"] if previous else 0) + 1) if complete else None,
        "generated_at": utc_iso(facts.now),
        "summary": {
            "deliveries_received": summary.received(happened.events),
            "purges": summary.purge_summary(purge_rows),
            "openings": summary.openings(happened.opened),
            "refused_requests": summary.refusals(happened.denied),
            "holds": summary.holds(happened.events),
            "ceremonies": summary.ceremonies(happened.events),
            "quarantine": summary.quarantine(happened.events),
            "staff_changes": summary.staff_changes(happened.events),
            "copies": summary.copies(happened),
        },
        "incidents": summary.incidents(happened, purge_rows, config.legal_basis),
        "proofs": list(happened.proofs),
        "current": current_state(status_document(facts, config, ctx.installation_id)),
        "staff": staff_list(facts),
        "register": register_entry(config),
        "checklist": [{k: row[k] for k in ("id", "deliberation", "done", "done_on", "evidence")}
                      for row in facts.checklist],
    }


def current_state(now_status: Mapping[str, Any]) -> dict[str, Any]:
    """Where things stand when the report is made: the status summary, holds, quarantine, overdue purges."""
    return {
        "compliant": now_status["compliant"],
        "problems": [{"code": p["code"], "params": p["params"]} for p in now_status["problems"]],
        "warnings": [{"code": w["code"], "params": w["params"]} for w in now_status["warnings"]],
        "deliveries_by_state": now_status["deliveries"]["by_state"],
        "without_ceremony": now_status["deliveries"]["without_ceremony"]["count"],
        "holds": now_status["holds"],
        "quarantined": now_status["quarantined"],
        "overdue_purges": now_status["overdue_purges"],
        "workspace_copies": now_status["workspace_copies"]["count"],
        "key_store": now_status["health"]["key_store"]["backend"],
        "legal_bases": now_status["legal_bases"],
        "audit_last_verification": now_status["audit"]["last_verification"],
        "vault_last_verification": now_status["vault"]["last_verification"],
        "copies_found": now_status["copies"]["found"]["count"],
        "copies_remaining": now_status["copies"]["remaining"]["count"] + now_status["copies"]["found"]["remaining"],
    }


def staff_list(facts: Facts) -> list[dict[str, Any]]:
    """The authorised persons with their roles and access levels (deliberation nr. 64)."""
    members = sorted(facts.staff, key=lambda m: m.account)
    return [{"account": m.account, "name": m.name, "roles": sorted(m.roles, key=ROLES.index),
             "access_levels": [ACCESS_LEVELS[r] for r in sorted(m.roles, key=ROLES.index)]} for m in members]


# where the keys are, in the register entry's words (Dutch, like the entry's defaults in config.py)
KEY_STORE_WORDS = {
    "keyring": "sleutels in de sleutelopslag van het besturingssysteem",
    "file": "sleutels in een afgeschermd sleutelbestand in de map van de agent (niet in de sleutelopslag van het "
            "besturingssysteem)",
}


def register_entry(config: Config) -> dict[str, Any]:
    """The art. 30 GDPR register entry from the configuration (deliberation nr. 18); its security measures name
    the key store this installation really uses."""
    entry = dataclasses.asdict(config.register)
    entry["controller"] = entry["controller"] or config.municipality
    entry["legal_basis"] = config.legal_basis
    where = KEY_STORE_WORDS.get(config.key_store, config.key_store)
    entry["security_measures"] = entry["security_measures"].replace("{key_store}", where)
    return entry


def audit_section(ctx: AgentContext, previous: Mapping[str, Any] | None,
                  last_verification: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The signed checkpoint now, and the consistency proof from the previous report's checkpoint."""
    old = notes.parse(previous["checkpoint"])[0] if previous else None
    with ctx.store.transaction():  # nothing is appended between the checkpoint, its frontier and the tail
        note = ctx.audit.checkpoint()
        current = notes.parse(note)[0]
        frontier, _head = ctx.audit._load_frontier()  # the compact range the note was signed over
        assert frontier.size == current.size
        tail = _tail(ctx, old.size) if old is not None and old.size <= current.size else None
    section: dict[str, Any] = {"size": current.size, "checkpoint": note, "consistency_proof": [],
                               "consistent_with_previous": None, "frontier": [h.hex() for h in frontier.to_hashes()],
                               "last_verification": last_verification}
    if previous is None or old is None:
        return None, section
    proof = _consistency(ctx, previous, old, tail) if tail is not None else []
    section["consistency_proof"] = [h.hex() for h in proof]
    section["consistent_with_previous"] = merkle.verify_consistency(old.size, current.size, old.root_hash,
                                                                    current.root_hash, proof)
    named = {"sequence": previous["sequence"], "period": previous["period"], "report_sha256": previous["sha256"],
             "size": old.size, "checkpoint": previous["checkpoint"]}
    return named, section


def _tail(ctx: AgentContext, old_size: int) -> list[bytes]:
    """The leaf hashes of the entries appended since the previous report (read in the caller's transaction)."""
    return [merkle.leaf_hash(entry) for entry in audit_query.entries_after(ctx.store, old_size)]


def _consistency(ctx: AgentContext, previous: Mapping[str, Any], old: notes.Checkpoint,
                 tail: list[bytes]) -> list[bytes]:
    """From the previous report's frontier and the tail when it still matches its checkpoint; otherwise from
    the whole log (a proof that cannot be made is empty, and fails verification)."""
    saved = [bytes.fromhex(h) for h in previous.get("frontier") or []]
    try:
        if saved and merkle.CompactRange.from_hashes(old.size, saved).root() == old.root_hash:
            return consistency.consistency_proof(old.size, saved, tail)
        return ctx.audit.consistency(old.size)
    except ValueError:
        return []


def check_no_personal_data(doc: Mapping[str, Any]) -> None:
    """Refuse to go on when a derived section looks like it holds personal data (the proofs' tripwire)."""
    found = scan_personal_data({key: doc[key] for key in SCANNED if key in doc})
    if found:
        raise ReportPersonalDataError(period=doc["period"]["label"], where="; ".join(found[:5]))
