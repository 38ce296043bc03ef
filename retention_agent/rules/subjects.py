"""What an audit entry may record of the ids a request names (pure).

The audit log is never purged and cannot be edited without breaking every checkpoint the DPO holds, so a
caller's text reaches it only once it was validated as what it claims to be: a delivery id has the id
format, an account name the account rules, a period the period format, a checklist item its own. Anything
else — a national number pasted instead of a delivery id, a name, escape sequences — is recorded as
``invalid-subject`` with its length and a keyed hash (HMAC-SHA256 with a key derived from the installation's
signing key, so the hash cannot be reversed by trying every national number). A refused request records only
how many subjects it named and such a keyed hash of them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from retention_agent.rules.free_text import personal_data_in

INVALID = "invalid-subject"
MAX_LISTED = 100  # subjects recorded from one request's list; the rest are counted

# ULID (ids.new_ulid): 26 Crockford base32 characters, the first at most 7 (48 bits of milliseconds)
_DELIVERY_ID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")
# POSIX-style account names, optionally DOMAIN\name on Windows; a letter or underscore first, so that no
# number passes as an account
_NAME_PART = r"[A-Za-z_](?:[A-Za-z0-9 _.-]{0,62}[A-Za-z0-9_.$-])?"
_ACCOUNT = re.compile(rf"(?:{_NAME_PART}\\)?{_NAME_PART}")
_PERIOD = re.compile(r"\d{4}-(?:0[1-9]|1[0-2]|Q[1-4])")
_ITEM = re.compile(r"[a-z][a-z0-9-]{0,39}")


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        return bool(pattern.fullmatch(text)) and personal_data_in(text) is None

    return check


is_delivery_id = _matches(_DELIVERY_ID)
is_account_name = _matches(_ACCOUNT)
is_period = _matches(_PERIOD)

# request argument -> the check its value must pass to be recorded as it is
KINDS: Mapping[str, Callable[[str], bool]] = {
    "delivery": is_delivery_id,
    "deliveries": is_delivery_id,
    "account": is_account_name,
    "period": is_period,
    "item": _matches(_ITEM),
}


def keyed_digest(key: bytes, values: Sequence[Any]) -> str:
    """HMAC-SHA256 of the values (as canonical JSON), hex, shortened to 128 bits."""
    data = json.dumps(list(values), sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hmac.new(key, data.encode(), hashlib.sha256).hexdigest()[:32]


def named(args: Mapping[str, Any]) -> list[Any]:
    """Every value a request names in the arguments of :data:`KINDS` (lists flattened, not validated)."""
    found: list[Any] = []
    for name in KINDS:
        value = args.get(name)
        if isinstance(value, list):
            found.extend(value)
        elif value is not None and value != "":
            found.append(value)
    return found


def recorded(args: Mapping[str, Any], key: bytes) -> tuple[list[str], dict[str, Any]]:
    """``(subjects, details)`` for a granted request's audit entry: validated ids as they are, each invalid
    one as :data:`INVALID` with its length and keyed hash in ``details["invalid_subjects"]``."""
    subjects: list[str] = []
    invalid: list[dict[str, Any]] = []
    left = 0
    for name, check in KINDS.items():
        value = args.get(name)
        values = value if isinstance(value, list) else [] if value is None or value == "" else [value]
        for item in values:
            if len(subjects) >= MAX_LISTED:
                left += 1
            elif isinstance(item, str) and check(item):
                subjects.append(item)
            else:
                subjects.append(INVALID)
                invalid.append({"length": len(item) if isinstance(item, str) else -1,
                                "hmac": keyed_digest(key, [item])})
    details: dict[str, Any] = {}
    if invalid:
        details["invalid_subjects"] = invalid
    if left:
        details["subjects_not_listed"] = left
    return subjects, details


def refused(args: Mapping[str, Any], key: bytes) -> dict[str, Any]:
    """What a refused request's audit entry keeps of its subjects: their number and one keyed hash."""
    values = named(args)
    return {"subjects": len(values), "subjects_hmac": keyed_digest(key, values)} if values else {"subjects": 0}
