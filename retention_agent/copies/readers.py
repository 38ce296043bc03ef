"""The national register numbers written in a document: CSV and text, .xlsx, .docx and PDF text.

Untrusted input (anything in a user's folders), so each reader is bounded and has one way to fail:

- the caller reads at most ``[copies] max_document_bytes`` of a file (larger ones are not read at all);
- Office files are zip archives: at most :data:`MAX_MEMBERS` members are looked at and at most
  :data:`MAX_INFLATED` bytes inflated in all (a zip bomb stops there); their XML is never parsed — tags are cut
  out with one linear regular expression and the numbers found in what is left, so entity expansion and
  deeply nested elements cost nothing;
- PDF text comes from pypdf (pure Python; its own limits cap every decompressed stream at 75 MB and
  every array and dictionary at 100,000 elements), at most
  :data:`MAX_PAGES` pages, with the time checked between pages;
- a ``deadline`` (monotonic seconds) is checked between every step;
- whatever goes wrong ends as :class:`Unreadable` (the sweep counts the file as unreadable and goes on).

``tests/unit/test_fuzz.py`` holds the readers to this with hypothesis and atheris.
"""

from __future__ import annotations

import io
import logging
import re
import time
import zipfile
from collections.abc import Callable, Iterable
from typing import Final

from retention_agent.rules import rrn

MAX_MEMBERS: Final = 2000
MAX_INFLATED: Final = 64 * 1024 * 1024
MAX_PAGES: Final = 500
_CHUNK: Final = 1 << 20

# document kind by file name suffix (lower case)
SUFFIXES: Final = {".csv": "text", ".txt": "text", ".tsv": "text", ".prn": "text",
                   ".xlsx": "xlsx", ".xlsm": "xlsx", ".docx": "docx", ".docm": "docx", ".pdf": "pdf"}

# cut out tags; the ends of paragraphs, cells, table cells, strings and breaks become a line end, so that
# numbers in neighbouring cells do not run together, while the runs Word splits a paragraph into do
_BREAKS = re.compile(rb"</(?:w:p|w:tc|c|si|row|a:p)>|<(?:w:br|w:tab|w:cr)\b[^>]{0,200}/?>")
_TAGS = re.compile(rb"<[^>]{0,4000}>")
_NUMBER_VALUE = re.compile(rb"<v>([0-9][0-9.E+]{0,24})</v>")


class Unreadable(Exception):  # noqa: N818 - a verdict about a file
    """The document could not be read within its limits; ``why`` is a short code."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def kind_of(name: str) -> str | None:
    """The reader for a file name, or None for a file that is not read for numbers."""
    dot = name.rfind(".")
    return SUFFIXES.get(name[dot:].lower()) if dot >= 0 else None


def numbers(kind: str, data: bytes, *, deadline: float, clock: Callable[[], float] = time.monotonic) -> set[str]:
    """Every valid national register number in the document, as 11 digits."""
    readers = {"text": _text, "xlsx": _xlsx, "docx": _docx, "pdf": _pdf}
    try:
        return set(readers[kind](data, lambda: _check_time(deadline, clock)))
    except Unreadable:
        raise
    except Exception as exc:  # a hostile file may make a parser raise anything: the sweep goes on
        raise Unreadable(type(exc).__name__) from None


def _check_time(deadline: float, clock: Callable[[], float]) -> None:
    if clock() > deadline:
        raise Unreadable("time")


Tick = Callable[[], None]


def _text(data: bytes, tick: Tick) -> Iterable[str]:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel's "Unicode text" is UTF-16
        return rrn.find(data.decode("utf-16", errors="replace"))
    found: list[str] = []
    for start in range(0, len(data), _CHUNK):  # overlapping chunks: a number on a chunk's edge is still seen
        found += rrn.find_bytes(data[max(0, start - 32):start + _CHUNK])
        tick()
    return found


def _members(data: bytes, wanted: Callable[[str], bool], tick: Tick) -> Iterable[bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise Unreadable("not-a-zip") from None
    budget = MAX_INFLATED
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise Unreadable("too-many-members")
        for info in infos:
            if not wanted(info.filename):
                continue
            tick()
            with archive.open(info) as member:
                part = member.read(budget + 1)
            if len(part) > budget:
                raise Unreadable("inflated-too-large")
            budget -= len(part)
            yield part


def _xml_numbers(xml: bytes, tick: Tick) -> list[str]:
    found = [d for match in _NUMBER_VALUE.finditer(xml) if (d := _value_number(match.group(1)))]
    tick()
    text = _TAGS.sub(b"", _BREAKS.sub(b"\n", xml))
    tick()
    return found + list(rrn.find_bytes(text))


def _value_number(raw: bytes) -> str | None:
    """A cell stored as a number (``<v>85073003328</v>``, ``<v>8.5073003328E10</v>``)."""
    try:
        return rrn.from_number(float(raw))
    except (ValueError, OverflowError):
        return None


def _xlsx(data: bytes, tick: Tick) -> Iterable[str]:
    def wanted(name: str) -> bool:
        return name == "xl/sharedStrings.xml" or (name.startswith("xl/worksheets/") and name.endswith(".xml"))

    found: list[str] = []
    for part in _members(data, wanted, tick):
        found += _xml_numbers(part, tick)
    return found


def _docx(data: bytes, tick: Tick) -> Iterable[str]:
    def wanted(name: str) -> bool:
        return name.startswith("word/") and name.endswith(".xml") and "/_rels/" not in name \
            and not name.startswith(("word/theme", "word/styles", "word/fontTable", "word/settings"))

    found: list[str] = []
    for part in _members(data, wanted, tick):
        found += _xml_numbers(part, tick)
    return found


def _pdf(data: bytes, tick: Tick) -> Iterable[str]:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed files make it chatty, not wrong
    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        raise Unreadable("encrypted")
    found: list[str] = []
    for number, page in enumerate(reader.pages):
        if number >= MAX_PAGES:
            break
        tick()
        found += rrn.find(page.extract_text() or "")
    return found
