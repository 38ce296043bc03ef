"""Proofs of deletion: the document, its format and versions, and the schema every field is checked against.

A proof is one JSON object (format ``retention-agent/deletion-proof``, version :data:`PROOF_VERSION`,
specified in ``docs/formats/deletion-proof.md``; version 1 documents, without ``copies``, and version 2
documents, without ``mailbox_copies``, still verify) with a detached OpenSSH SSHSIG signature in the namespace
:data:`NAMESPACE`. The signature covers exactly :func:`proof_bytes` of the document: sorted keys, two-space
indent, ASCII only (``\\uXXXX`` escapes), LF line ends and a final newline, so the bytes survive any editor,
mail client or code page that leaves ASCII alone.

The document embeds the audit log's signed checkpoint after the purge and an RFC 6962 inclusion proof of
the purge's audit entry, so a verifier holding only the installation's public key can check that the purge
is in the log the DPO already holds checkpoints of.

Building and signing a proof is in :mod:`retention_agent.evidence.proof_build`, checking one offline in
:mod:`retention_agent.evidence.proof_verify`. Pure: no I/O, no clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final, NoReturn, TypedDict

from retention_agent.config import municipality_slug
from retention_agent.evidence import checkpoint as notes
from retention_agent.evidence import sshsig
from retention_agent.i18n.msgids import N_

PROOF_VERSION: Final = 3
VERSIONS: Final = (1, 2, 3)
V2_FIELDS: Final = ("copies",)
"""Fields added in version 2; a version 1 document has none of them."""
V3_FIELDS: Final = ("mailbox_copies",)
"""Fields added in version 3; a version 1 or 2 document has none of them."""
NAMESPACE: Final = sshsig.NAMESPACE_DELETION_PROOF
FORMAT: Final = "retention-agent/deletion-proof"
KIND: Final = N_("proof of deletion")
MAX_PROOF_BYTES: Final = 256 * 1024
MAX_ENTRY_CHARS: Final = 64 * 1024
ERASE_METHOD: Final = "cryptographic-erase"

# What started a purge: the one list of trigger names, used alike by purge records, audit entries, proofs and
# DPO reports (docs/formats/deletion-proof.md, "trigger").
TRIGGERS: Final = ("schedule", "due-command", "early", "quarantine")
# Why it ran, as the proof's ``reason`` code (docs/formats/deletion-proof.md, "reason"); a person's own words
# are only in ``reason_sha256``.
REASONS: Final = ("deadline", "no-ceremony-maximum", "early", "quarantine", "uninstall",
                  "ceremony-recorded-after-the-fact", "ceremony-due-within-24h")
# Purge records written before the list was one named the officer's confirmation after a clock jump apart.
_RECORDED_AS: Final = {"clock-confirmed": "due-command"}
CHANNELS: Final = ("email", "zivver", "folder", "manual")
REQUIRED_CHECKS: Final = ("key_absent", "object_absent", "no_workspace_copy", "no_rows_left",
                          "database_scrubbed")
# What the proof does not cover, as codes (explained in docs/formats/deletion-proof.md).
NOT_COVERED: Final = ("copies-outside-agent", "mail-server-retention", "inbox-folder-backups",
                      "overwrite-on-ssd-or-copy-on-write")
SOURCE_NOT_OVERWRITTEN: Final = "source-not-overwritten"
"""Added to ``not_covered`` when the plaintext file the delivery came from was removed without being
overwritten first: its bytes may remain in the free blocks of that disk."""
# Added to ``not_covered`` from the ``copies`` section (version 2): copies on the staff's workstations.
WORKSTATION_COPIES_REMAINING: Final = "workstation-copies-remaining"
"""Copies found on a workstation were not erased (the user may not, or their session has not run since)."""
WORKSTATIONS_NOT_SWEPT: Final = "workstations-not-swept"
"""No staff session swept its folders for copies while the delivery was kept."""
DERIVED_COPIES_NOT_SEARCHED: Final = "derived-copies-not-searched"
"""The delivery was never unlocked, so files holding its people (a CSV, a mail merge) could not be recognised."""
# Added to ``not_covered`` for a delivery that came from a mailbox (version 3), from ``mailbox_copies``:
MAIL_RECOVERABLE_ITEMS: Final = "mail-recoverable-items"
"""Removed with IMAP expunge (or an ordinary delete): Exchange keeps the message in Recoverable Items, where
the mailbox's user can restore it until the deleted-item retention ends."""
MAIL_PURGES_FOLDER: Final = "mail-purges-folder"
"""Removed with Graph ``permanentDelete``: Exchange keeps it in the Purges folder, which the user cannot restore
from, until the deleted-item retention ends (longer under a hold)."""
MAILBOX_COPIES_NOT_SEARCHED: Final = "mailbox-copies-not-searched"
"""The mailbox was not (or not completely) searched for other copies of the message."""
MAILBOX_COPIES_REMAINING: Final = "mailbox-copies-remaining"
"""Copies of the message were found and left in the mailbox (``copies = "report"``, or a removal that failed)."""
REMOVAL_METHODS: Final = {"imap-expunge": MAIL_RECOVERABLE_ITEMS, "graph-permanent-delete": MAIL_PURGES_FOLDER}
COPY_STATES: Final = ("done", "pending")
COPY_MODES: Final = ("remove", "report")


class ProofStep(TypedDict):
    """One purge step as the purge executor recorded it: a code, a UTC time, a short result ("ok",
    "absent", "wiped 2"; no personal data)."""

    step: str
    done_at: str
    result: str


class AuditEvidence(TypedDict):
    """The audit checkpoint after the purge and the inclusion proof of the purge's audit entry."""

    checkpoint: str  # signed note (C2SP signed-note / tlog-checkpoint), key name = origin
    entry_seq: int  # 1-based sequence number of the purge entry = leaf index + 1
    entry: str  # the purge entry's canonical JSON, exactly as hashed into the log
    inclusion_proof: list[str]  # RFC 6962 audit path, hex, bottom first
    tree_size: int  # the checkpoint's tree size


def trigger_of(recorded: str) -> str:
    """The trigger of :data:`TRIGGERS` that a purge record names (older records included)."""
    return _RECORDED_AS.get(recorded, recorded)


def proof_bytes(doc: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a proof, the bytes the signature covers: sorted keys, 2-space indent, ASCII
    with ``\\uXXXX`` escapes, ``\\n`` line ends, ending in a newline."""
    text = json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False)
    return (text + "\n").encode("ascii")


def signer_identity(municipality: str) -> str:
    """The identity in the DPO's allowed-signers file: ``retention-agent@<municipality-slug>``."""
    return f"retention-agent@{municipality_slug(municipality)}"


def allowed_signers_for(identity: str, public_key: bytes, namespaces: Sequence[str] = (NAMESPACE,)) -> str:
    """The allowed-signers line for ``ssh-keygen -Y verify -f``, e.g. for a test or the DPO guide."""
    return sshsig.allowed_signers_line(identity, namespaces, public_key)


def proof_file_names(delivery_id: str) -> tuple[str, str]:
    """``(<id>.json, <id>.json.sig)``: the names of a proof and its signature."""
    check_schema({"delivery_id": delivery_id}, only=("delivery_id",))
    return f"{delivery_id}.json", f"{delivery_id}.json.sig"


def verify_commands(doc: Mapping[str, Any]) -> dict[str, str]:
    """The ``ssh-keygen`` commands that verify this proof, keyed ``posix`` (Linux, macOS) and ``windows``."""
    json_name, sig_name = proof_file_names(str(doc["delivery_id"]))
    command = (f"ssh-keygen -Y verify -f allowed_signers -I {doc['signer']} -n {NAMESPACE} "
               f"-s {sig_name} < {json_name}")
    return {"posix": command, "windows": f'cmd /c "{command}"'}


def check_document(doc: Mapping[str, Any]) -> None:
    """``ValueError`` naming the first malformed field of a proof document (no signature checked)."""
    try:
        check_schema(doc)
    except SchemaError as exc:
        raise ValueError(f"the proof is not well-formed: {exc}") from None


# ---- the schema (shared by building and verifying) --------------------------------------------------------


class SchemaError(ValueError):
    """A field is malformed; the message names the field, never its value. ``template`` is an English text of
    the catalogue, ``values`` fill it (``expected`` is one too)."""

    def __init__(self, template: str, **values: Any) -> None:
        expected = str(values.get("expected", "")).format(**values)
        super().__init__(template.format(**{**values, "expected": expected}))
        self.template = template
        self.values = values


_CODE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TOKEN = re.compile(r"[A-Za-z0-9@._+-]{1,128}")
_MAX_COUNT = (1 << 63) - 1
_MAX_STEPS = 64
_MAX_CHECKS = 32

Check = Callable[[str, Any], None]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _fail(name: str, expected: str, **values: Any) -> NoReturn:
    raise SchemaError(N_("the field {field} must be {expected}"), field=name, expected=expected, **values)


def _text(limit: int) -> Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, str) or not 0 < len(value) <= limit or not value.isprintable():
            _fail(name, N_("one line of printable text, at most {limit} characters"), limit=limit)
    return check


def _pattern(regex: re.Pattern[str], expected: str) -> Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, str) or not regex.fullmatch(value):
            _fail(name, expected)
    return check


def _utc(name: str, value: Any) -> None:
    _pattern(_UTC, N_("a UTC time YYYY-MM-DDTHH:MM:SSZ"))(name, value)
    try:
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        _fail(name, N_("a valid UTC time"))


def _date(name: str, value: Any) -> None:
    _pattern(_DATE, N_("a date YYYY-MM-DD"))(name, value)
    try:
        date.fromisoformat(value)
    except ValueError:
        _fail(name, N_("a valid date"))


def _count(minimum: int = 0) -> Check:
    def check(name: str, value: Any) -> None:
        if not _is_int(value) or not minimum <= value <= _MAX_COUNT:
            _fail(name, N_("an integer of at least {minimum}"), minimum=minimum)
    return check


def _one_of(values: Sequence[str]) -> Check:
    def check(name: str, value: Any) -> None:
        if value not in values:
            _fail(name, N_("one of {choices}"), choices=", ".join(values))
    return check


def _optional(inner: Check) -> Check:
    def check(name: str, value: Any) -> None:
        if value is not None:
            inner(name, value)
    return check


def _constant(expected: object) -> Check:
    def check(name: str, value: Any) -> None:
        if value != expected or type(value) is not type(expected):
            _fail(name, repr(expected))
    return check


def _steps(name: str, value: Any) -> None:
    if not isinstance(value, list) or not 0 < len(value) <= _MAX_STEPS:
        _fail(name, N_("a list of 1 to {limit} steps"), limit=_MAX_STEPS)
    for i, step in enumerate(value):
        _record(f"{name}[{i}]", step, {"step": _pattern(_CODE, N_("a code")), "done_at": _utc,
                                        "result": _text(64)})


def _verification(name: str, value: Any) -> None:
    if not isinstance(value, dict) or len(value) > _MAX_CHECKS:
        _fail(name, N_("an object of at most {limit} checks"), limit=_MAX_CHECKS)
    missing = [check for check in REQUIRED_CHECKS if check not in value]
    if missing:
        _fail(name, N_("an object with the checks {checks}"), checks=", ".join(REQUIRED_CHECKS))
    for key, passed in value.items():
        _pattern(_CODE, N_("a code"))(f"{name} key", key)
        if not isinstance(passed, bool):
            _fail(f"{name}.{key}", N_("true or false"))


def _code_list(name: str, value: Any) -> None:
    if not isinstance(value, list) or len(value) > _MAX_CHECKS:
        _fail(name, N_("a list of codes"))
    for i, item in enumerate(value):
        _pattern(_CODE, N_("a code"))(f"{name}[{i}]", item)


def _hex_list(name: str, value: Any) -> None:
    if not isinstance(value, list) or len(value) > 2 * 64:
        _fail(name, N_("a list of at most 128 hashes"))
    for i, item in enumerate(value):
        _pattern(_HEX64, N_("64 lowercase hex digits"))(f"{name}[{i}]", item)


def _audit(name: str, value: Any) -> None:
    _record(name, value, {
        "checkpoint": _text_block(notes.MAX_NOTE_SIZE),
        "entry_seq": _count(1),
        "entry": _text_block(MAX_ENTRY_CHARS),
        "inclusion_proof": _hex_list,
        "tree_size": _count(1),
    })


def _text_block(limit: int) -> Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, str) or not 0 < len(value) <= limit:
            _fail(name, N_("text of at most {limit} characters"), limit=limit)
    return check


_COPY_COUNTS: Final = ("found", "erased", "gone", "remaining")
_MAX_KINDS = 32


def _tally(extra: Sequence[str] = ()) -> Check:
    def check(name: str, value: Any) -> None:
        _record(name, value, {key: _count() for key in (*_COPY_COUNTS, *extra)})
        if value["found"] != sum(value[key] for key in ("erased", "gone", "remaining")):
            _fail(name, N_("counts where found = erased + gone + remaining"))
    return check


def _by_location(name: str, value: Any) -> None:
    if not isinstance(value, list) or len(value) > _MAX_KINDS:
        _fail(name, N_("a list of at most {limit} location kinds"), limit=_MAX_KINDS)
    for i, item in enumerate(value):
        _record(f"{name}[{i}]", item, {"kind": _pattern(_CODE, N_("a code")), **{k: _count() for k in _COPY_COUNTS}})


def _reasons(name: str, value: Any) -> None:
    if not isinstance(value, dict) or len(value) > _MAX_KINDS:
        _fail(name, N_("an object of codes and counts"))
    for key, count in value.items():
        _pattern(_CODE, N_("a code"))(f"{name} key", key)
        _count(1)(f"{name}.{key}", count)


def _copies(name: str, value: Any) -> None:
    _record(name, value, {
        "sweeps": lambda n, v: _record(n, v, {"accounts": _count(), "last_swept_at": _optional(_utc),
                                              "locations": _code_list}),
        "derived_searched": _flag,
        "exact": _tally(),
        "derived": _tally(("people_max",)),
        "by_location": _by_location,
        "remaining_reasons": _reasons,
    })


def _flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(name, N_("true or false"))


_MAX_FOLDERS = 256


def _copy_folders(name: str, value: Any) -> None:
    if not isinstance(value, list) or len(value) > _MAX_FOLDERS:
        _fail(name, N_("a list of at most {limit} folders"), limit=_MAX_FOLDERS)
    for i, folder in enumerate(value):
        _record(f"{name}[{i}]", folder, {"folder": _text(100), "special_use": _optional(_pattern(_CODE, N_("a code"))),
                                          "found": _count(), "removed": _count(), "remaining": _count()})


def _mailbox_copies(name: str, value: Any) -> None:
    _record(name, value, {
        "mailbox": _pattern(_ID, N_("a mailbox name")),
        "state": _one_of(COPY_STATES),
        "mode": _one_of(COPY_MODES),
        "method": _one_of((*REMOVAL_METHODS, "not-searched")),
        "searched_at": _optional(_utc),
        "complete": _flag,
        "found": _count(),
        "removed": _count(),
        "remaining": _count(),
        "folders": _copy_folders,
    })


def _version(name: str, value: Any) -> None:
    if not _is_int(value) or value not in VERSIONS:
        _fail(name, N_("one of {choices}"), choices=", ".join(map(str, VERSIONS)))


def _record(name: str, value: Any, fields: Mapping[str, Check]) -> None:
    if not isinstance(value, dict):
        _fail(name, N_("an object"))
    if set(value) != set(fields):
        _fail(name, N_("an object with exactly the fields {fields}"), fields=", ".join(sorted(fields)))
    for key, check in fields.items():
        check(f"{name}.{key}", value[key])


SCHEMA: Final[Mapping[str, Check]] = {
    "format": _constant(FORMAT),
    "version": _version,
    "signer": _pattern(_TOKEN, N_("an allowed-signers identity")),
    "municipality": _text(100),
    "installation_id": _pattern(_ID, N_("an identifier")),
    "legal_basis": _text(64),
    "delivery_id": _pattern(_ID, N_("an identifier")),
    "received_at": _utc,
    "channel": _one_of(CHANNELS),
    "sha256": _pattern(_HEX64, N_("64 lowercase hex digits")),
    "size": _count(),
    "ceremony_date": _optional(_date),
    "deadline": _optional(_date),
    "due_at": _optional(_utc),
    "purged_at": _utc,
    "lateness_seconds": _count(),
    "trigger": _one_of(TRIGGERS),
    "reason": _text(200),
    "reason_sha256": _optional(_pattern(_HEX64, N_("64 lowercase hex digits"))),
    "steps": _steps,
    "verification": _verification,
    "key_store_backend": _text(200),
    "erase_method": _pattern(_CODE, N_("a code")),
    "openings_count": _count(),
    "distinct_accounts_count": _count(),
    "untracked_copies_count": _count(),
    "not_covered": _code_list,
    "copies": _optional(_copies),
    "mailbox_copies": _optional(_mailbox_copies),
    "audit": _audit,
}


def _schema_for(doc: Mapping[str, Any]) -> Mapping[str, Check]:
    """The fields of the document's version (an older document has none of the fields added after it)."""
    version = doc.get("version")
    later = (*V2_FIELDS, *V3_FIELDS) if version == 1 else V3_FIELDS if version == 2 else ()
    return {name: check for name, check in SCHEMA.items() if name not in later}


def check_schema(doc: Mapping[str, Any], only: Sequence[str] | None = None) -> None:
    schema = _schema_for(doc)
    names = schema.keys() if only is None else only
    if only is None:
        unknown = sorted(set(doc) - set(schema))
        if unknown:
            raise SchemaError(N_("unknown field {fields}"), fields=", ".join(unknown[:5]))
    for name in names:
        if name not in doc:
            raise SchemaError(N_("the field {field} is missing"), field=name)
        schema[name](name, doc[name])
