"""Belgian national register numbers (rijksregisternummers): check digits, and finding them in text.

A number is 11 digits, ``YYMMDD SSS CC``, written bare or as ``85.07.30-033.28``. ``CC`` is
``97 - (YYMMDDSSS mod 97)`` for people born before 2000 and ``97 - (2YYMMDDSSS mod 97)`` from 2000 on; as the
century is not in the number, a number is valid when either rule gives its check digits. BIS numbers (for
people not in the register) add 20 or 40 to the month and follow the same rules.

Pure: no I/O. The finder is one linear regular expression (no backtracking blow-up on hostile text).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Eleven digits with the usual separators (dots, a dash, spaces) in the usual places, not part of a longer
# run of digits or letters. Every group is of fixed length: the scan is linear in the text.
_WRITTEN = re.compile(
    r"(?<![0-9A-Za-z])(\d{2})[. ]?(\d{2})[. ]?(\d{2})[-. ]?(\d{3})[. ]?(\d{2})(?![0-9A-Za-z])")
_WRITTEN_BYTES = re.compile(_WRITTEN.pattern.encode())


def check_digits(body: str, *, born_2000_or_later: bool) -> int:
    """The check digits of the first nine digits ``body``."""
    value = int(("2" if born_2000_or_later else "") + body)
    return 97 - value % 97


def is_valid(digits: str) -> bool:
    """Whether 11 digits are a well-formed national register number (date part and check digits)."""
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        return False
    month, day = int(digits[2:4]), int(digits[4:6])
    if month % 20 > 12 or month > 52 or day > 31:  # month 0 and day 0: a date that is not (fully) known
        return False
    check = int(digits[9:])
    return check in (check_digits(digits[:9], born_2000_or_later=False),
                     check_digits(digits[:9], born_2000_or_later=True))


def normalise(text: str) -> str | None:
    """The 11 digits of one written number (``85.07.30-033.28``, ``85073003328``); None if it is none."""
    match = _WRITTEN.fullmatch(text.strip())
    if match is None:
        return None
    digits = "".join(match.groups())
    return digits if is_valid(digits) else None


def find(text: str) -> Iterator[str]:
    """Every valid national register number written in ``text``, as 11 digits, in order (repeats included)."""
    for match in _WRITTEN.finditer(text):
        digits = "".join(match.groups())
        if is_valid(digits):
            yield digits


def find_bytes(data: bytes) -> Iterator[str]:
    """As :func:`find`, over bytes in any ASCII-compatible encoding (CSV, text, XML parts of Office files)."""
    for match in _WRITTEN_BYTES.finditer(data):
        digits = b"".join(match.groups()).decode("ascii")
        if is_valid(digits):
            yield digits


def from_number(value: float | int) -> str | None:
    """A number a spreadsheet stored as a number (its leading zero lost: 1010112345 for 01.01.01-123.45)."""
    if isinstance(value, bool) or value != value or value < 0 or value >= 10**11 or int(value) != value:
        return None
    digits = f"{int(value):011d}"
    return digits if is_valid(digits) else None


def make(birth: tuple[int, int, int], serial: int) -> str:
    """A valid number for a birth date (year, month, day) and serial 1–998: for synthetic test data."""
    year, month, day = birth
    body = f"{year % 100:02d}{month:02d}{day:02d}{serial:03d}"
    return body + f"{check_digits(body, born_2000_or_later=year >= 2000):02d}"


def written(digits: str) -> str:
    """``85.07.30-033.28``: how the register writes a number."""
    return f"{digits[0:2]}.{digits[2:4]}.{digits[4:6]}-{digits[6:9]}.{digits[9:11]}"
