"""The DPO's check of a folder of received reports, offline: no agent, no home, only the allowed-signers file.

For every ``report-*.json`` (in the folder or below it, possibly from several municipalities):

- the SSHSIG signature (namespace ``dpo-report``) with the key the allowed-signers file gives the report's
  signer identity, and the canonical form of the bytes;
- the embedded audit checkpoint, signed by the same key under the log's origin, and the consistency proof
  from the previous report's checkpoint to it (a log truncated or rewritten between two reports fails here);
- every embedded proof of deletion (signature, checkpoint, inclusion proof).

Then per installation, the complete reports in sequence order: numbers without gaps, each naming its
predecessor by SHA-256 and continuing from its checkpoint, periods without gaps. Findings are English
templates with values (translated by the command line); any finding means exit code 4.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from retention_agent.errors import RetentionAgentError
from retention_agent.evidence import checkpoint as notes
from retention_agent.evidence import merkle, proof_verify, sshsig
from retention_agent.i18n.msgids import N_
from retention_agent.reports.format import MAX_REPORT_BYTES, NAMESPACE, REPORT_FORMAT, REPORT_VERSION, report_bytes


@dataclass
class Finding:
    file: str
    message: str  # English template, values in params
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "message": self.message, "params": self.params}


@dataclass
class ReportCheck:
    file: str
    sha256: str
    doc: dict[str, Any] | None = None
    signature_ok: bool = False
    log_ok: bool | None = None  # checkpoint and consistency proof
    proofs_ok: int = 0
    proofs_total: int = 0
    public_key: bytes | None = None

    @property
    def installation(self) -> str:
        return str((self.doc or {}).get("installation_id", "?"))

    @property
    def complete(self) -> bool:
        return bool(((self.doc or {}).get("period") or {}).get("complete"))

    @property
    def sequence(self) -> int | None:
        value = (self.doc or {}).get("sequence")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def to_json(self) -> dict[str, Any]:
        doc = self.doc or {}
        return {"file": self.file, "sha256": self.sha256, "municipality": doc.get("municipality"),
                "signer": doc.get("signer"), "installation_id": doc.get("installation_id"),
                "period": (doc.get("period") or {}).get("label"), "complete": self.complete,
                "sequence": self.sequence, "signature_ok": self.signature_ok, "log_ok": self.log_ok,
                "proofs_ok": self.proofs_ok, "proofs_total": self.proofs_total}


@dataclass
class Summary:
    reports: list[ReportCheck]
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings and bool(self.reports)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "reports": [r.to_json() for r in self.reports],
                "findings": [f.to_json() for f in self.findings]}


def verify_folder(folder: Path, allowed_signers_text: str) -> Summary:
    """Check every report in ``folder`` against the allowed signers; ``ValueError`` for a bad signers file."""
    signers = sshsig.parse_allowed_signers(allowed_signers_text)
    findings: list[Finding] = []
    checks = [check_report(path, folder, signers, findings) for path in report_files(folder)]
    if not checks:
        findings.append(Finding(".", N_("no report-*.json files were found in {folder}"), {"folder": str(folder)}))
    check_chains(checks, findings)
    return Summary(checks, findings)


def report_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("report-*.json") if p.is_file())


# ---- one report ---------------------------------------------------------------------------------------------


def check_report(path: Path, folder: Path, signers: Sequence[sshsig.AllowedSigner],
                 findings: list[Finding]) -> ReportCheck:
    name = str(path.relative_to(folder))
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_REPORT_BYTES else b""
        signature = path.with_name(path.name + ".sig").read_text(encoding="ascii", errors="replace")
    except OSError:
        findings.append(Finding(name, N_("the report or its signature file {sig} cannot be read"),
                                {"sig": path.name + ".sig"}))
        return ReportCheck(name, "")
    check = ReportCheck(name, hashlib.sha256(data).hexdigest())
    doc = _parse(data)
    if doc is None:
        findings.append(Finding(name, N_("it is not a {format} document"), {"format": REPORT_FORMAT}))
        return check
    check.doc = doc
    if not isinstance(doc.get("version"), int) or doc["version"] > REPORT_VERSION:
        findings.append(Finding(name, N_("format version {found} is newer than this program knows ({known})"),
                                {"found": doc.get("version"), "known": REPORT_VERSION}))
        return check
    check.public_key = _signature_key(doc, data, signature, signers, name, findings)
    check.signature_ok = check.public_key is not None
    if not check.signature_ok:
        return check
    if report_bytes(doc) != data:
        findings.append(Finding(name, N_("the signed bytes are not in canonical form")))
    try:
        _check_content(check, doc, findings)
    except (KeyError, TypeError, ValueError, AttributeError):
        findings.append(Finding(name, N_("a required field is missing or malformed")))
        check.log_ok = False
    return check


def _parse(data: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == REPORT_FORMAT else None


def _signature_key(doc: dict[str, Any], data: bytes, signature: str, signers: Sequence[sshsig.AllowedSigner],
                   name: str, findings: list[Finding]) -> bytes | None:
    identity = str(doc.get("signer", ""))
    keys = [s.public_key for s in signers if identity in s.identity.split(",") and s.allows(NAMESPACE)]
    if not keys:
        findings.append(Finding(name, N_("the signer {signer} is not in the allowed-signers file for namespace "
                                "{namespace}"), {"signer": identity[:128], "namespace": NAMESPACE}))
        return None
    for key in keys:
        try:
            sshsig.verify(signature, NAMESPACE, data, key)
        except sshsig.SignatureMismatch:
            continue
        return key
    findings.append(Finding(name, N_("the signature does not verify: the report was changed or signed by another key")))
    return None


def _check_content(check: ReportCheck, doc: dict[str, Any], findings: list[Finding]) -> None:
    assert check.public_key is not None
    origin = str(doc["origin"])
    if not origin.endswith("/" + str(doc["installation_id"])):
        findings.append(Finding(check.file, N_("the audit log named in the report is not this installation's")))
    audit, previous = doc["audit"], doc.get("previous")
    current = _checkpoint(audit["checkpoint"], origin, check, findings, N_("the report's audit checkpoint"))
    check.log_ok = current is not None and current.size == audit["size"]
    if current is not None and previous:
        old = _checkpoint(previous["checkpoint"], origin, check, findings, N_("the previous report's checkpoint"))
        proof_path = [bytes.fromhex(h) for h in audit["consistency_proof"]]
        if old is None or not merkle.verify_consistency(old.size, current.size, old.root_hash, current.root_hash,
                                                        proof_path):
            check.log_ok = False
            findings.append(Finding(check.file, N_("the audit log does not extend the log of report no. {n} "
                                    "({period}): it was truncated or rewritten in between"),
                                    {"n": previous.get("sequence"), "period": previous.get("period")}))
    elif check.complete and check.sequence not in (None, 1) and not previous:
        findings.append(Finding(check.file, N_("report no. {n} does not name the report before it"),
                                {"n": check.sequence}))
    _check_proofs(check, doc, origin, findings)


def _checkpoint(text: str, origin: str, check: ReportCheck, findings: list[Finding],
                what: str) -> notes.Checkpoint | None:
    assert check.public_key is not None
    try:
        return notes.verify(text, origin, check.public_key)
    except (notes.CheckpointFormatError, notes.CheckpointSignatureError):
        findings.append(Finding(check.file, N_("{what} is not signed by this installation"), {"what": what}))
        return None


def _check_proofs(check: ReportCheck, doc: dict[str, Any], origin: str, findings: list[Finding]) -> None:
    assert check.public_key is not None
    listed = {p["delivery"]: p.get("proof_sha256") for p in doc["summary"]["purges"]["items"]}
    check.proofs_total = len(doc["proofs"])
    for item in doc["proofs"]:
        delivery = str(item["delivery_id"])
        if item.get("missing"):
            findings.append(Finding(check.file, N_("the proof of deletion of {delivery} is not attached"),
                                    {"delivery": delivery}))
            continue
        data = str(item["json"]).encode("ascii")
        digest = hashlib.sha256(data).hexdigest()
        try:
            verified = proof_verify.verify_proof(data, str(item["signature"]), check.public_key, origin=origin,
                                          file=delivery)
        except RetentionAgentError:
            findings.append(Finding(check.file, N_("the proof of deletion of {delivery} does not verify"),
                                    {"delivery": delivery}))
            continue
        if verified["delivery_id"] != delivery or digest != item["sha256"] or listed.get(delivery) != digest:
            findings.append(Finding(check.file, N_("the proof of deletion of {delivery} is not the one the report "
                                    "lists"), {"delivery": delivery}))
            continue
        check.proofs_ok += 1


# ---- the sequence of reports ------------------------------------------------------------------------------


def check_chains(checks: list[ReportCheck], findings: list[Finding]) -> None:
    """Per installation: numbers without gaps, each continuing from its predecessor, periods without gaps."""
    good = [c for c in checks if c.signature_ok and c.doc is not None]
    for installation in sorted({c.installation for c in good}):
        mine = [c for c in good if c.installation == installation]
        complete = _unique_by_sequence([c for c in mine if c.complete and c.sequence], findings)
        if complete and complete[0].sequence != 1:
            findings.append(Finding(complete[0].file, N_("reports no. 1 to {last} of installation {installation} "
                                    "are missing"), {"last": (complete[0].sequence or 1) - 1,
                                                    "installation": installation}))
        for before, after in itertools.pairwise(complete):
            _check_link(before, after, findings)
        by_number = {c.sequence: c for c in complete}
        for interim in (c for c in mine if not c.complete):
            previous = (interim.doc or {}).get("previous") or {}
            if previous.get("sequence") in by_number:
                _check_continues(by_number[previous["sequence"]], interim, findings)


def _unique_by_sequence(checks: list[ReportCheck], findings: list[Finding]) -> list[ReportCheck]:
    chosen: dict[int, ReportCheck] = {}
    for check in sorted(checks, key=lambda c: (c.sequence or 0, c.file)):
        number = check.sequence or 0
        if number in chosen and chosen[number].sha256 != check.sha256:
            findings.append(Finding(check.file, N_("two different reports carry number {n} ({other})"),
                                    {"n": number, "other": chosen[number].file}))
        chosen.setdefault(number, check)
    return [chosen[n] for n in sorted(chosen)]


def _check_link(before: ReportCheck, after: ReportCheck, findings: list[Finding]) -> None:
    assert before.sequence is not None and after.sequence is not None
    if after.sequence != before.sequence + 1:
        findings.append(Finding(after.file, N_("reports no. {first} to {last} are missing (between {before} and "
                                "{after})"), {"first": before.sequence + 1, "last": after.sequence - 1,
                                             "before": before.file, "after": after.file}))
        return
    _check_continues(before, after, findings)
    end = date.fromisoformat(before.doc["period"]["last_day"]) + timedelta(days=1)  # type: ignore[index]
    start = date.fromisoformat(after.doc["period"]["first_day"])  # type: ignore[index]
    if start > end:
        findings.append(Finding(after.file, N_("no report covers {first} to {last}"),
                                {"first": end.isoformat(), "last": (start - timedelta(days=1)).isoformat()}))


def _check_continues(before: ReportCheck, after: ReportCheck, findings: list[Finding]) -> None:
    previous = (after.doc or {}).get("previous") or {}
    same_report = previous.get("report_sha256") == before.sha256
    same_checkpoint = previous.get("checkpoint") == (before.doc or {}).get("audit", {}).get("checkpoint")
    if not (same_report and same_checkpoint):
        findings.append(Finding(after.file, N_("it does not continue from {before}: that report was replaced, "
                                "or the agent's records were rewritten"), {"before": before.file}))
