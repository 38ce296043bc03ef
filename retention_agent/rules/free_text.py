"""Text people type on purpose — notes, labels, reasons, evidence — checked before it is kept (pure).

Such text is stored in the database, and its hash in the audit log, which is never purged. It must never be
personal data, and the documentation of every field says so ("never put personal data here"). What can be
checked is checked: the text is bounded, one printable line, and refused when it holds something that looks
like a Belgian national register number (or a BIS number: the same check digits) or an e-mail address.

A national number is ``YYMMDD SSS CC``: birth date, serial number, and check digits ``97 - (N mod 97)``
where ``N`` is the first nine digits, or ``2`` followed by them for people born from 2000 on. BIS numbers add
20 or 40 to the month. Written with or without the usual separators (``88.03.14-123.65``).
"""

from __future__ import annotations

import re

from retention_agent.errors import PersonalDataInTextError, UsageError

_SEP = r"[ .\-/]?"
_NATIONAL_NUMBER = re.compile(rf"(?<!\d)(\d{{2}}){_SEP}(\d{{2}}){_SEP}(\d{{2}}){_SEP}(\d{{3}}){_SEP}(\d{{2}})(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


def is_national_number(digits: str) -> bool:
    """Whether 11 digits are a plausible national register or BIS number with valid check digits."""
    if len(digits) != 11 or not digits.isdigit():
        return False
    month, day = int(digits[2:4]), int(digits[4:6])
    if month % 20 > 12 or month > 52 or day > 31:  # 0 stands for an unknown month or day
        return False
    body, check = int(digits[:9]), int(digits[9:])
    return check in (97 - body % 97, 97 - (2_000_000_000 + body) % 97)


def personal_data_in(text: str) -> str | None:
    """``"national-number"``, ``"e-mail"`` or None: what in ``text`` looks like personal data."""
    for match in _NATIONAL_NUMBER.finditer(text):
        if is_national_number("".join(match.groups())):
            return "national-number"
    if _EMAIL.search(text):
        return "e-mail"
    return None


def check_free_text(text: str, *, field: str, max_len: int, command: str) -> str:
    """``text`` stripped, if it is one printable line of at most ``max_len`` characters without anything that
    looks like personal data; otherwise a usage error (the text itself is never repeated in the error)."""
    text = text.strip()
    if len(text) > max_len or not text.isprintable():
        raise UsageError(problem=f"{field} must be one line of at most {max_len} characters", command=command)
    found = personal_data_in(text)
    if found:
        raise PersonalDataInTextError(field=field, what=found)
    return text
