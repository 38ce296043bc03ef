"""AgII's workbook opened once with its password: rows read and checked, people fingerprinted, nothing kept.

``delivery unlock ID`` gives the agent the workbook's password. The agent decrypts the vault object **in
memory** (msoffcrypto-tool), reads its rows (openpyxl, read-only and streaming, from that memory), checks them
and keeps only:

- counts (rows, people with a valid national register number, invalid and missing numbers, duplicates), shown
  in status ("212 inburgeraars");
- for the copy sweep, one keyed fingerprint per person: ``HMAC-SHA256(key, label || 11 digits)`` cut to 16
  bytes, with a random key of its own per delivery kept in the key store beside the data key (and the
  password) and destroyed with it at purge. The fingerprints alone cannot be turned back into numbers; with
  the key they can, by trying every valid number (there are few enough), which is why the key is given only to
  sessions of staff who may open the delivery anyway (docs/threat-model.md).

Never kept: the plaintext, a cell's value, a national number. The decrypted bytes and the rows live in this
process's memory for the length of the call.

openpyxl rather than python-calamine: pure Python (it installs wherever the agent does, without a binary wheel
per platform), it reads from an in-memory buffer in a streaming read-only mode, and the workbooks are small
(hundreds of rows), so calamine's speed buys nothing here.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from retention_agent.i18n.msgids import N_
from retention_agent.rules import rrn

FINGERPRINT_LABEL: Final = b"retention-agent/national-number-fingerprint/v1\x00"
FINGERPRINT_SIZE: Final = 16
KEY_SIZE: Final = 32
MAX_WORKBOOK_BYTES: Final = 64 * 1024 * 1024
MAX_ROWS: Final = 200_000
HEADER_ROWS: Final = 10  # the header is looked for in the first rows (a title row may come first)

# Columns AgII's list has (docs/privacy-officer.md): the national number is required, the others expected.
NUMBER_HEADERS: Final = ("rijksregisternummer", "rijksregisternr", "rrn", "insz", "inszummer", "insznummer",
                         "nationaalnummer", "nationaalregisternummer", "nationalnumber", "registernummer")
EXPECTED_COLUMNS: Final = {
    "name": ("naam", "voornaam", "familienaam", "achternaam", "volledigenaam"),
    "address": ("adres", "straat", "straatennummer", "woonplaats", "gemeente", "postcode"),
    "email": ("email", "emailadres", "mail"),
    "phone": ("telefoon", "telefoonnummer", "gsm", "tel"),
    "certificate_date": ("datumattest", "attestdatum", "datuminburgeringsattest", "datum"),
}


class NotAWorkbook(Exception):  # noqa: N818 - a verdict about the file
    """The bytes are not a workbook whose rows can be read; ``problem`` says why (no cell values in it): an
    English text of the catalogue whose placeholders ``values`` fill in."""

    def __init__(self, problem: str, **values: Any) -> None:
        super().__init__(problem.format(**values))
        self.problem = problem
        self.values = values


class WrongPassword(Exception):  # noqa: N818
    """The password does not decrypt the workbook."""


class NoNumberColumn(Exception):  # noqa: N818
    """No header of national register numbers was found; ``found`` are the header codes seen."""

    def __init__(self, found: Sequence[str]) -> None:
        super().__init__("no national number column")
        self.found = list(found)


@dataclass(frozen=True)
class Contents:
    """What a workbook holds, in counts, and the people's fingerprints (see the module docstring)."""

    rows: int
    people: int  # distinct valid national register numbers
    invalid_numbers: int  # a value in the number column that is not a valid number
    missing_numbers: int  # a row with other values but an empty number cell
    duplicates: int  # rows whose number was seen before
    columns: tuple[str, ...]  # which expected columns were recognised (codes of EXPECTED_COLUMNS)
    missing_columns: tuple[str, ...]
    fingerprints: bytes = field(repr=False)  # FINGERPRINT_SIZE bytes per person, sorted

    def counts(self) -> dict[str, Any]:
        return {"rows": self.rows, "people": self.people, "invalid_numbers": self.invalid_numbers,
                "missing_numbers": self.missing_numbers, "duplicates": self.duplicates,
                "columns": list(self.columns), "missing_columns": list(self.missing_columns)}


def fingerprint(key: bytes, digits: str) -> bytes:
    """The keyed fingerprint of one national register number (11 digits)."""
    return hmac.new(key, FINGERPRINT_LABEL + digits.encode("ascii"), hashlib.sha256).digest()[:FINGERPRINT_SIZE]


def split_fingerprints(blob: bytes) -> frozenset[bytes]:
    return frozenset(blob[i:i + FINGERPRINT_SIZE] for i in range(0, len(blob) - FINGERPRINT_SIZE + 1,
                                                                 FINGERPRINT_SIZE))


def is_encrypted(data: bytes) -> bool:
    """A password-protected Office file (an OLE compound file holding an encrypted package)."""
    import msoffcrypto

    try:
        return bool(msoffcrypto.OfficeFile(io.BytesIO(data)).is_encrypted())
    except Exception:  # msoffcrypto raises anything from FileFormatError to struct errors on other files
        return False


def decrypt(data: bytes, password: str) -> bytes:
    """The plaintext workbook, in memory; :class:`WrongPassword` or :class:`NotAWorkbook`."""
    import msoffcrypto
    from msoffcrypto.exceptions import InvalidKeyError

    try:
        office = msoffcrypto.OfficeFile(io.BytesIO(data))
        if not office.is_encrypted():
            return data
        office.load_key(password=password, verify_password=True)
        out = io.BytesIO()
        office.decrypt(out)
    except InvalidKeyError:
        raise WrongPassword() from None
    except Exception as exc:  # not an Office file, or one msoffcrypto cannot decrypt
        raise NotAWorkbook(N_("not a password-protected Office workbook ({kind})"), kind=type(exc).__name__) from None
    plain = out.getvalue()
    if len(plain) > MAX_WORKBOOK_BYTES:
        raise NotAWorkbook(N_("larger than {limit} bytes once decrypted"), limit=MAX_WORKBOOK_BYTES)
    return plain


def read(plain: bytes, key: bytes) -> Contents:
    """Read and check the rows of the first sheet that has a national-number column; fingerprint the people."""
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(plain), read_only=True, data_only=True)
    except Exception as exc:  # BadZipFile, KeyError, InvalidFileException, XML errors...
        raise NotAWorkbook(N_("not an .xlsx workbook ({kind})"), kind=type(exc).__name__) from None
    try:
        seen: list[str] = []
        for sheet in book.worksheets:
            try:
                return _read_sheet(sheet.iter_rows(values_only=True), key, seen)
            except NoNumberColumn:
                continue
        raise NoNumberColumn(sorted(set(seen)))
    except (NoNumberColumn, NotAWorkbook):
        raise
    except Exception as exc:  # a malformed sheet part
        raise NotAWorkbook(N_("a sheet cannot be read ({kind})"), kind=type(exc).__name__) from None
    finally:
        book.close()


def _read_sheet(rows: Iterable[tuple[Any, ...]], key: bytes, seen: list[str]) -> Contents:
    iterator = iter(rows)
    header: dict[str, int] = {}
    number_at = -1
    for _ in range(HEADER_ROWS):
        row = next(iterator, None)
        if row is None:
            break
        codes = [header_code(cell) for cell in row]
        if not seen:  # the first row with text: the header, or a title (never a person's row, shown in an error)
            seen.extend(code for code in codes if code and len(code) <= 40)
        hits = [i for i, code in enumerate(codes) if code in NUMBER_HEADERS]
        if hits:
            number_at = hits[0]
            header = {code: i for i, code in enumerate(codes) if code}
            break
    if number_at < 0:
        raise NoNumberColumn(seen)
    columns = tuple(name for name, names in EXPECTED_COLUMNS.items() if any(n in header for n in names))
    found: set[str] = set()
    count = invalid = missing = duplicates = 0
    for row in iterator:
        if not any(cell not in (None, "") for cell in row):
            continue
        count += 1
        if count > MAX_ROWS:
            raise NotAWorkbook(N_("more than {limit} rows"), limit=MAX_ROWS)
        digits = cell_number(row[number_at] if number_at < len(row) else None)
        if digits is None:
            if number_at >= len(row) or row[number_at] in (None, ""):
                missing += 1
            else:
                invalid += 1
        elif digits in found:
            duplicates += 1
        else:
            found.add(digits)
    prints = b"".join(sorted(fingerprint(key, digits) for digits in found))
    return Contents(rows=count, people=len(found), invalid_numbers=invalid, missing_numbers=missing,
                    duplicates=duplicates, columns=columns,
                    missing_columns=tuple(name for name in EXPECTED_COLUMNS if name not in columns),
                    fingerprints=prints)


def header_code(cell: Any) -> str:
    """A header cell as a code: letters and digits only, lower case, accents removed (``E-mail`` → ``email``)."""
    if not isinstance(cell, str):
        return ""
    plain = unicodedata.normalize("NFKD", cell).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", plain)[:64]


def cell_number(cell: Any) -> str | None:
    """The national register number in a cell: text in any usual notation, or a number (leading zero lost)."""
    if isinstance(cell, str):
        return rrn.normalise(cell)
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return rrn.from_number(cell)
    return None
