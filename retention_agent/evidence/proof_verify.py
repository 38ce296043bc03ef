"""Checking a proof of deletion offline, as ``retention-agent proof verify`` and the DPO do.

The document's format is :mod:`retention_agent.evidence.proof`. Every failure is a
:class:`~retention_agent.errors.SignatureInvalidError`, :class:`~retention_agent.errors.DocumentInvalidError` or
:class:`~retention_agent.errors.FormatVersionError` (exit code 4) that names the file and the finding, never a
value. Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

from retention_agent.canonical import canonical
from retention_agent.errors import DocumentInvalidError, FormatVersionError, SignatureInvalidError
from retention_agent.evidence import checkpoint as notes
from retention_agent.evidence import merkle, sshsig
from retention_agent.evidence.proof import (
    FORMAT,
    KIND,
    MAX_PROOF_BYTES,
    NAMESPACE,
    PROOF_VERSION,
    VERSIONS,
    SchemaError,
    check_schema,
    proof_bytes,
    signer_identity,
)
from retention_agent.i18n.msgids import N_


def verify_proof(data: bytes, signature: str, public_key: bytes, *, origin: str | None = None,
                 file: str = "proof") -> dict[str, Any]:
    """Check a proof offline, as ``retention-agent proof verify`` and the DPO do; return the document.

    In order: size, the SSHSIG signature over the exact bytes (:class:`SignatureInvalidError`), strict JSON
    and the format (:class:`DocumentInvalidError`), the version (:class:`FormatVersionError` when newer),
    every field, canonical form, every verification check true, the embedded checkpoint signed by the same
    key under its origin (``origin`` if given; it must end with ``/<installation_id>``), and the inclusion
    proof of the purge entry to that checkpoint's root. ``file`` names the document in error messages.
    Every failure is one of those three errors (exit code 4).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        _invalid(file, N_("a proof is read as bytes"))
    data = bytes(data)
    if len(data) > MAX_PROOF_BYTES:
        _invalid(file, N_("a proof is at most {limit} bytes"), limit=MAX_PROOF_BYTES)
    try:
        sshsig.verify(signature, NAMESPACE, data, public_key)
    except sshsig.SignatureMismatch:
        raise SignatureInvalidError(file=file, finding=N_("the SSH signature does not verify")) from None
    doc = _parse_json(data, file)
    _check_version(doc, file)
    try:
        check_schema(doc)
    except SchemaError as exc:
        _invalid(file, exc.template, **exc.values)
    if proof_bytes(doc) != data:
        _invalid(file, N_("the document is not in canonical form"))
    _check_results(doc, file)
    problem = audit_problem(doc, public_key, origin)
    if problem is not None:
        error = SignatureInvalidError if problem[0] == "signature" else DocumentInvalidError
        raise error(file=file, kind=KIND, finding=problem[1])
    return doc


def _invalid(file: str, finding: str, **values: Any) -> NoReturn:
    """``finding``: an English text of the catalogue; ``values`` fill its placeholders where it is shown."""
    raise DocumentInvalidError(file=file, kind=KIND, finding=finding, **values)


def _parse_json(data: bytes, file: str) -> dict[str, Any]:
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_no_number,
                         parse_float=_no_number)
    except SchemaError as exc:
        _invalid(file, exc.template, **exc.values)
    except (UnicodeError, ValueError, RecursionError):
        _invalid(file, N_("it is not valid UTF-8 JSON"))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        _invalid(file, N_("it is not a {format} document"), format=FORMAT)
    return doc


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise SchemaError(N_("a key appears twice in one object"))
    return result


def _no_number(text: str) -> NoReturn:
    """Proofs hold integers only: fractions, exponents, NaN and Infinity are refused while parsing."""
    raise SchemaError(N_("a number that is not an integer"))


def _check_version(doc: Mapping[str, Any], file: str) -> None:
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        _invalid(file, N_("the version must be a positive integer"))
    if version > PROOF_VERSION:
        raise FormatVersionError(file=file, found=version, known=PROOF_VERSION)
    if version not in VERSIONS:
        _invalid(file, N_("the version is not one this reader knows"))


def _check_results(doc: Mapping[str, Any], file: str) -> None:
    if doc["signer"] != signer_identity(doc["municipality"]):
        _invalid(file, N_("the signer does not match the municipality"))
    for name, passed in sorted(doc["verification"].items()):
        if passed is not True:
            _invalid(file, N_("the verification check {check} did not pass"), check=name)


def audit_problem(doc: Mapping[str, Any], public_key: bytes, origin: str | None) -> tuple[str, str] | None:
    """``("signature" | "document", finding)`` if the audit evidence does not verify, else None."""
    audit = doc["audit"]
    try:
        found, _ = notes.parse(audit["checkpoint"])
        if origin is not None and found.origin != origin:
            return "document", N_("the audit checkpoint is from another log")
        if not found.origin.endswith("/" + doc["installation_id"]):
            return "document", N_("the audit checkpoint is not from this installation's log")
        verified = notes.verify(audit["checkpoint"], found.origin, public_key)
    except notes.CheckpointSignatureError:
        return "signature", N_("the audit checkpoint is not signed by this key")
    except notes.CheckpointFormatError:
        return "document", N_("the audit checkpoint is not a signed checkpoint")
    return _inclusion_problem(doc, verified)


def _inclusion_problem(doc: Mapping[str, Any], verified: notes.Checkpoint) -> tuple[str, str] | None:
    audit = doc["audit"]
    if verified.size != audit["tree_size"] or audit["entry_seq"] > audit["tree_size"]:
        return "document", N_("the audit entry and tree size do not match the checkpoint")
    try:
        entry = audit["entry"].encode("utf-8")
        fields = json.loads(entry)
        canonical_entry = isinstance(fields, dict) and canonical(fields) == entry
    except (ValueError, RecursionError):  # UnicodeError is a ValueError
        return "document", N_("the purge's audit entry is not JSON")
    if not canonical_entry or fields.get("seq") != audit["entry_seq"]:
        return "document", N_("the purge's audit entry is not a canonical entry with this sequence number")
    subject = fields.get("subject")
    if not isinstance(subject, list) or doc["delivery_id"] not in subject:
        return "document", N_("the purge's audit entry is not about this delivery")
    path = [bytes.fromhex(node) for node in audit["inclusion_proof"]]
    if not merkle.verify_inclusion(merkle.leaf_hash(entry), audit["entry_seq"] - 1, audit["tree_size"],
                                   path, verified.root_hash):
        return "document", N_("the purge's audit entry is not in the signed audit checkpoint")
    return None
