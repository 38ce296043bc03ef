"""Realistic fixtures for the copy sweep: AgII's password-protected workbook of synthetic people (valid national
register numbers, made up), and the lists staff derive from it (a CSV for a mail merge, a Word document, a PDF).

Every zip is written with a fixed time, so a fixture has the same bytes at every call (msoffcrypto's encryption
is salted, so an encrypted workbook differs per call: keep the bytes you made).
"""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

from msoffcrypto.format.ooxml import OOXMLFile

from retention_agent.rules import rrn

PASSWORD = "Inburgering-2026!"
FIXED_ZIP_TIME = (2026, 11, 1, 9, 0, 0)
HEADER = ("Rijksregisternummer", "Familienaam", "Voornaam", "Straat", "Postcode", "Gemeente", "E-mail", "Telefoon",
          "Datum attest")
_NS = "http://schemas.openxmlformats.org"


def people(count: int = 212, *, first_serial: int = 1) -> list[str]:
    """``count`` synthetic national register numbers, born in 1960-2005 (both check-digit rules)."""
    found = []
    for n in range(count):
        year = 1960 + (n * 7) % 46
        found.append(rrn.make((year, 1 + n % 12, 1 + n % 28), first_serial + n % 990))
    return found


def rows(numbers: list[str]) -> list[tuple[str, ...]]:
    return [(rrn.written(d) if i % 3 else d, f"Testnaam{i}", f"Voornaam{i}", f"Teststraat {i}", "8660", "De Panne",
             f"persoon{i}@example.invalid", f"0470 00 {i:04d}", "2026-10-01") for i, d in enumerate(numbers)]


def xlsx(table: list[tuple[str, ...]], header: tuple[str, ...] = HEADER) -> bytes:
    """A real .xlsx (inline strings), readable by openpyxl and Excel, with a fixed zip time."""
    lines = [header, *table]
    sheet = "".join(
        f'<row r="{r}">' + "".join(f'<c r="{chr(65 + c)}{r}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'
                                   for c, v in enumerate(line)) + "</row>"
        for r, line in enumerate(lines, start=1))
    parts = {
        "[Content_Types].xml": (
            f'<Types xmlns="{_NS}/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/></Types>'),
        "_rels/.rels": (
            f'<Relationships xmlns="{_NS}/package/2006/relationships"><Relationship Id="rId1" '
            f'Type="{_NS}/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"),
        "xl/workbook.xml": (
            f'<workbook xmlns="{_NS}/spreadsheetml/2006/main" xmlns:r="{_NS}/officeDocument/2006/relationships">'
            '<sheets><sheet name="Attesten" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{_NS}/package/2006/relationships"><Relationship Id="rId1" '
            f'Type="{_NS}/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>"),
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{_NS}/spreadsheetml/2006/main"><sheetData>{sheet}'
                                    "</sheetData></worksheet>",
    }
    return _zip(parts, compression=zipfile.ZIP_DEFLATED)


def encrypted(plain: bytes, password: str = PASSWORD) -> bytes:
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(plain)).encrypt(password, out)
    return out.getvalue()


def agii_workbook(count: int = 212) -> tuple[bytes, list[str]]:
    """AgII's delivery: the password-protected workbook, and the people in it."""
    numbers = people(count)
    return encrypted(xlsx(rows(numbers))), numbers


def mail_merge_csv(numbers: list[str]) -> bytes:
    """What a clerk exports for a mail merge: semicolons, Latin-1, numbers as the register writes them."""
    lines = ["rijksregisternummer;naam;adres"] + [f"{rrn.written(d)};Testnaam{i};Teststraat {i}, 8660 De Panne"
                                                  for i, d in enumerate(numbers)]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def docx(paragraphs: list[str]) -> bytes:
    """A minimal Word document; each number split over two runs, as Word does after a spelling check."""
    body = "".join(f'<w:p><w:r><w:t>{escape(p[:5])}</w:t></w:r><w:r><w:t xml:space="preserve">{escape(p[5:])}'
                   "</w:t></w:r></w:p>" for p in paragraphs)
    parts = {
        "[Content_Types].xml": (
            f'<Types xmlns="{_NS}/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.wordprocessingml.document.main+xml"/></Types>'),
        "_rels/.rels": (
            f'<Relationships xmlns="{_NS}/package/2006/relationships"><Relationship Id="rId1" '
            f'Type="{_NS}/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
            "</Relationships>"),
        "word/document.xml": (f'<w:document xmlns:w="{_NS}/wordprocessingml/2006/main"><w:body>{body}'
                              "</w:body></w:document>"),
    }
    return _zip(parts, compression=zipfile.ZIP_DEFLATED)


def pdf(lines: list[str]) -> bytes:
    """A PDF with the lines as text (fpdf2, fixed creation date)."""
    from datetime import UTC, datetime

    from fpdf import FPDF

    document = FPDF()
    document.set_creation_date(datetime(2026, 11, 1, 9, 0, tzinfo=UTC))
    document.add_page()
    document.set_font("helvetica", size=10)
    for line in lines:
        document.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(document.output())


def _zip(parts: dict[str, str], compression: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, text in parts.items():
            entry = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            entry.compress_type = compression
            archive.writestr(entry, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + text)
    return buffer.getvalue()
