"""Building and signing a proof of deletion from the facts the purge executor gathered.

The document's format is :mod:`retention_agent.evidence.proof`. A proof is refused before it is signed when a
field is malformed, when it looks like it holds personal data, or when its audit evidence does not verify with
the signing key. Pure: no I/O, no clock. The caller gathers the facts (:class:`ProofFacts`) and writes the files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from retention_agent.crypto import SigningKey
from retention_agent.evidence import sshsig
from retention_agent.evidence.personal_data import scan_personal_data
from retention_agent.evidence.proof import (
    DERIVED_COPIES_NOT_SEARCHED,
    ERASE_METHOD,
    FORMAT,
    MAILBOX_COPIES_NOT_SEARCHED,
    MAILBOX_COPIES_REMAINING,
    NAMESPACE,
    NOT_COVERED,
    PROOF_VERSION,
    REMOVAL_METHODS,
    SOURCE_NOT_OVERWRITTEN,
    WORKSTATION_COPIES_REMAINING,
    WORKSTATIONS_NOT_SWEPT,
    AuditEvidence,
    ProofStep,
    check_document,
    proof_bytes,
    signer_identity,
)
from retention_agent.evidence.proof_verify import audit_problem


@dataclass(frozen=True)
class ProofFacts:
    """Everything the proof states, gathered by the purge executor. No personal data: ids, codes, hashes,
    times and counts only. A free-text reason is passed as its SHA-256 (``reason_sha256``), never as text."""

    municipality: str
    installation_id: str
    legal_basis: str
    delivery_id: str
    received_at: str  # UTC, YYYY-MM-DDTHH:MM:SSZ
    channel: str
    sha256: str  # of the bytes received, lowercase hex
    size: int
    ceremony_date: str | None  # YYYY-MM-DD, local
    deadline: str | None  # YYYY-MM-DD, local
    due_at: str | None  # UTC
    purged_at: str  # UTC
    lateness_seconds: int  # 0 if on time
    trigger: str  # one of proof.TRIGGERS
    reason: str  # a code such as "deadline"; never the free text
    steps: Sequence[ProofStep]
    verification: Mapping[str, bool]
    key_store_backend: str
    openings_count: int
    distinct_accounts_count: int
    untracked_copies_count: int  # copies staff saved outside the workspace (open --to DIR)
    audit: AuditEvidence
    reason_sha256: str | None = None
    source_not_overwritten: str | None = None  # a code of system.wipe when the source was not overwritten
    copies: Mapping[str, Any] | None = None
    """Copies on workstations, as ``copies.records.proof_section`` gives them (version 2)."""
    mailbox_copies: Mapping[str, Any] | None = None
    """Copies of the message in its mailbox, as ``mail_copies.proof_section`` gives them; None: no search."""


def build_proof(facts: ProofFacts) -> dict[str, Any]:
    """The proof document for ``facts``; ``ValueError`` if a fact is malformed or looks like personal data."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": PROOF_VERSION,
        "signer": signer_identity(facts.municipality),
        "municipality": facts.municipality,
        "installation_id": facts.installation_id,
        "legal_basis": facts.legal_basis,
        "delivery_id": facts.delivery_id,
        "received_at": facts.received_at,
        "channel": facts.channel,
        "sha256": facts.sha256,
        "size": facts.size,
        "ceremony_date": facts.ceremony_date,
        "deadline": facts.deadline,
        "due_at": facts.due_at,
        "purged_at": facts.purged_at,
        "lateness_seconds": facts.lateness_seconds,
        "trigger": facts.trigger,
        "reason": facts.reason,
        "reason_sha256": facts.reason_sha256,
        "steps": _plain(facts.steps),
        "verification": _plain(facts.verification),
        "key_store_backend": facts.key_store_backend,
        "erase_method": ERASE_METHOD,
        "openings_count": facts.openings_count,
        "distinct_accounts_count": facts.distinct_accounts_count,
        "untracked_copies_count": facts.untracked_copies_count,
        "not_covered": [*NOT_COVERED, *([SOURCE_NOT_OVERWRITTEN] if facts.source_not_overwritten else []),
                        *copies_not_covered(facts.copies),
                        *mailbox_not_covered(facts.mailbox_copies, facts.channel)],
        "copies": _plain(facts.copies) if facts.copies is not None else None,
        "mailbox_copies": _plain(facts.mailbox_copies),
        "audit": _plain(facts.audit),
    }
    _check_before_signing(doc)
    return doc


def copies_not_covered(section: Mapping[str, Any] | None) -> list[str]:
    """The ``not_covered`` codes for the copies on workstations (the codes are in :mod:`.proof`)."""
    if section is None:
        return [WORKSTATIONS_NOT_SWEPT, DERIVED_COPIES_NOT_SEARCHED]
    codes = []
    if section["exact"]["remaining"] or section["derived"]["remaining"]:
        codes.append(WORKSTATION_COPIES_REMAINING)
    if not section["sweeps"]["accounts"]:
        codes.append(WORKSTATIONS_NOT_SWEPT)
    if not section["derived_searched"]:
        codes.append(DERIVED_COPIES_NOT_SEARCHED)
    return codes


def mailbox_not_covered(section: Mapping[str, Any] | None, channel: str) -> list[str]:
    """The ``not_covered`` codes for the copies of the message in its mailbox (the codes are in :mod:`.proof`)."""
    if section is None:
        return [MAILBOX_COPIES_NOT_SEARCHED] if channel == "email" else []
    codes = [REMOVAL_METHODS[section["method"]]] if section["method"] in REMOVAL_METHODS else []
    if section["state"] != "done" or not section["complete"]:
        codes.append(MAILBOX_COPIES_NOT_SEARCHED)
    if section["remaining"]:
        codes.append(MAILBOX_COPIES_REMAINING)
    return codes


def _plain(value: object) -> Any:
    """A JSON-ready copy: mappings become dicts and sequences lists, so the schema sees plain values."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(item) for item in value]
    return value


def sign_proof(doc: Mapping[str, Any], signing_key: SigningKey) -> tuple[bytes, str]:
    """``(proof bytes, armored SSHSIG signature)``. Refuses (``ValueError``) a malformed document, one that
    looks like it holds personal data, and one whose audit evidence does not verify with ``signing_key``."""
    _check_before_signing(doc)
    problem = audit_problem(doc, signing_key.public_bytes(), origin=None)
    if problem is not None:
        raise ValueError(f"the audit evidence does not verify: {problem[1]}")
    data = proof_bytes(doc)
    return data, sshsig.sign(signing_key, NAMESPACE, data)


def _check_before_signing(doc: Mapping[str, Any]) -> None:
    check_document(doc)
    found = scan_personal_data(doc)
    if found:
        raise ValueError("the proof may hold personal data at: " + "; ".join(found))
