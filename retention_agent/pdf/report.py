"""The DPO report as a PDF: its sections laid out on A4, tables that stay fast for hundreds of rows.

The sections come from the report document alone (:func:`retention_agent.reports.render.sections`), the same ones
the HTML shows, so what people read is what was signed. Deterministic: the creation date is the caller's (the
report's own date).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fpdf import FPDF
from fpdf.fonts import FontFace

from retention_agent.pdf import document as layout
from retention_agent.pdf.words import Words


@dataclass
class Section:
    """One section of a report: an introduction, label-value fields, a table and a preformatted block, each
    optional. The HTML of :mod:`retention_agent.reports.render` shows the same sections."""

    title: str
    intro: str = ""
    fields: Sequence[tuple[str, str]] = ()
    headers: tuple[str, ...] = ()
    rows: Sequence[Sequence[Any]] = ()
    empty: str = ""
    block: str = ""
    widths: tuple[float, ...] = ()  # relative column widths in the PDF (delivery ids stay on one line)
    wrap: bool = False  # PDF: wrap long cells (small tables); otherwise one line per row, cut to fit (fast)


def render(title: str, sections: Sequence[Section], *, created: datetime, words: Words) -> bytes:
    """The PDF of a document titled ``title`` made of ``sections``, in the language of ``words``."""
    pdf = layout.new_document(title, created=created, language=words.tag)
    layout.heading(pdf, title)
    for section in sections:
        layout.heading(pdf, section.title, level=2)
        if section.intro:
            layout.paragraph(pdf, section.intro)
        if section.fields:
            layout.field_table(pdf, section.fields)
        if section.headers:
            _pdf_table(pdf, section, words)
        if section.block:
            layout.monospace_block(pdf, section.block)
    return layout.output_bytes(pdf)


PDF_ROWS: Final = 300  # longer lists are in the JSON report and the HTML; the PDF says how many it left out
_ROW_HEIGHT: Final = 4.6
_TABLE_FONT: Final = 8.0
_MIN_FONT: Final = 5.0


def _pdf_table(pdf: FPDF, section: Section, words: Words) -> None:
    if not section.rows:
        layout.paragraph(pdf, section.empty)
        return
    if section.wrap:
        _wrapping_table(pdf, section)
    else:
        _line_table(pdf, section, words)
    pdf.set_font(layout.FONT_FAMILY, size=layout.BODY_SIZE)
    pdf.ln(2)


def _wrapping_table(pdf: FPDF, section: Section) -> None:
    pdf.set_font(layout.FONT_FAMILY, size=8.5)
    with pdf.table(borders_layout="HORIZONTAL_LINES", text_align="LEFT", v_align="TOP", line_height=4.2,
                   headings_style=FontFace(emphasis="BOLD", fill_color=(238, 238, 238)),
                   col_widths=section.widths or None, padding=(1.0, 1.2)) as table:
        table.row(list(section.headers))
        for row in section.rows:
            table.row([str(cell) for cell in row])


def _line_table(pdf: FPDF, section: Section, words: Words) -> None:
    """One line per row, each cell cut to its column: fast enough for hundreds of purges."""
    relative = section.widths or tuple(1.0 for _ in section.headers)
    widths = [pdf.epw * w / sum(relative) for w in relative]
    pdf.set_fill_color(238, 238, 238)
    pdf.set_font(layout.FONT_FAMILY, style="B", size=_TABLE_FONT)
    for text, width in zip(section.headers, widths, strict=True):
        _cell(pdf, str(text), width, heading=True)
    pdf.ln()
    pdf.set_font(layout.FONT_FAMILY, size=_TABLE_FONT)
    for row in section.rows[:PDF_ROWS]:
        if pdf.will_page_break(_ROW_HEIGHT):
            pdf.add_page()
        for cell, width in zip(row, widths, strict=True):
            _cell(pdf, str(cell), width)
        pdf.ln()
    pdf.set_fill_color(255, 255, 255)
    left_out = len(section.rows) - PDF_ROWS
    if left_out > 0:
        pdf.ln(1)
        layout.paragraph(pdf, words("… and {n} more rows: see the JSON report or the HTML version.", n=left_out))


def _cell(pdf: FPDF, text: str, width: float, *, heading: bool = False) -> None:
    """One table cell. An id or hash (one word) and a heading are set smaller until they fit; other text is cut."""
    size = base = pdf.font_size_pt
    if heading or (text and " " not in text):
        widths = _char_widths(pdf)
        needed = sum(widths(ch) for ch in text)
        room = width - 2 * pdf.c_margin
        if needed > room:
            size = max(_MIN_FONT, base * room / needed * 0.97)
            pdf.set_font_size(size)
    pdf.cell(width, _ROW_HEIGHT + (1 if heading else 0), _fit(pdf, text, width), border="B", fill=heading)
    if size != base:
        pdf.set_font_size(base)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    room = width - 2 * pdf.c_margin
    if len(text) * pdf.font_size * 1.05 <= room:  # no glyph is wider than an em: no need to measure
        return text
    widths = _char_widths(pdf)
    if sum(widths(ch) for ch in text) <= room:
        return text
    room -= widths("…")
    used, cut = 0.0, 0
    for cut, ch in enumerate(text):  # noqa: B007 - cut is used after the loop
        used += widths(ch)
        if used > room:
            break
    return text[:cut] + "…"


_WIDTHS: dict[tuple[str, str, float, str], float] = {}


def _char_widths(pdf: FPDF) -> Callable[[str], float]:
    """Character widths in the current font, measured once each (no kerning is applied in these tables)."""
    font = (pdf.font_family, pdf.font_style, pdf.font_size_pt)

    def width(ch: str) -> float:
        key = (*font, ch)
        if key not in _WIDTHS:
            _WIDTHS[key] = pdf.get_string_width(ch)
        return _WIDTHS[key]

    return width
