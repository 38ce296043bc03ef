"""The personal-data tripwire: where a document meant to hold none looks like it holds some.

Proofs of deletion and DPO reports are checked with it before they are signed, mailbox folder names before
a proof names them.
Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

# Keys whose values are hashes, signatures or proofs: random-looking digits in them mean nothing.
_EXEMPT_KEYS: Final = frozenset({"sha256", "reason_sha256", "checkpoint", "inclusion_proof", "prev", "hash"})
_RRN = re.compile(r"(?<![0-9A-Za-z])(\d{2})[. ]?(\d{2})[. ]?(\d{2})[- ]?(\d{3})[. ]?(\d{2})(?![0-9A-Za-z])")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_FILE_EXTENSIONS: Final = (
    "xlsx", "xlsm", "xlsb", "xls", "csv", "ods", "odt", "docx", "doc", "rtf", "txt", "pdf", "zip", "7z",
    "rar", "gz", "tgz", "tar", "eml", "msg", "pst", "mbox", "vcf", "jpg", "jpeg", "png", "gif", "tif",
    "tiff", "heic", "bmp", "gpg", "pgp", "p7m", "xml", "html", "htm", "bak", "tmp",
)
_FILE_NAME = re.compile(r"[\w)\]-]\.(?:" + "|".join(_FILE_EXTENSIONS) + r")(?![A-Za-z0-9])", re.IGNORECASE)


def scan_personal_data(doc: Mapping[str, Any]) -> list[str]:
    """Where ``doc`` holds something that looks like personal data: a Belgian national register number
    (with valid check digits, bare or written 85.07.30-033.28), an e-mail address, or a file name. Each
    finding names the place and the kind, never the value. Hash, signature and proof fields are skipped;
    the embedded audit entry is scanned as the JSON it is."""
    findings: list[str] = []
    _scan(doc, "", findings)
    return findings


def _scan(value: Any, path: str, findings: list[str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            key_path = f"{path}.{key}" if path else str(key)
            _scan_text(str(key), f"{key_path} (name)", findings)
            if not _exempt(str(key)):
                _scan(_maybe_entry(path, str(key), item), key_path, findings)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _scan(item, f"{path}[{i}]", findings)
    elif isinstance(value, str):
        _scan_text(value, path, findings)


def _exempt(key: str) -> bool:
    return key in _EXEMPT_KEYS or key.endswith(("_sha256", "_hash"))


def _maybe_entry(path: str, key: str, item: Any) -> Any:
    """The audit entry is JSON inside a string: scan its fields, so its hashes are recognised as such."""
    if path == "audit" and key == "entry" and isinstance(item, str):
        try:
            return json.loads(item)
        except (ValueError, RecursionError):
            return item
    return item


def _scan_text(text: str, path: str, findings: list[str]) -> None:
    if any(_valid_rrn("".join(match.groups())) for match in _RRN.finditer(text)):
        findings.append(f"{path}: national register number")
    if _EMAIL.search(text):
        findings.append(f"{path}: e-mail address")
    if _FILE_NAME.search(text):
        findings.append(f"{path}: file name")


def _valid_rrn(digits: str) -> bool:
    """Mod-97 check of a national register number; births from 2000 on prefix the 9 digits with 2."""
    body, check = int(digits[:9]), int(digits[9:])
    return check in (97 - body % 97, 97 - int("2" + digits[:9]) % 97)
