"""Small helpers around fpdf2 for the PDFs people read: proof-of-deletion certificates and DPO reports.

Text is set in DejaVu Sans, bundled in ``retention_agent/fonts/`` (Windows and macOS have no DejaVu), so
Dutch characters such as ë, é and € print everywhere. Commands are set in the PDF core font Courier, which
needs no embedding; they are ASCII. The output is deterministic: the creation date is the document's own
date, never the time of rendering, and fpdf2 derives the file ID from the content and that date.
"""

from __future__ import annotations

import atexit
import math
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Final

from fpdf import FPDF
from fpdf.fonts import FontFace

FONT_FAMILY: Final = "DejaVu"
MONO_FAMILY: Final = "Courier"
FONT_FILES: Final = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
BODY_SIZE: Final = 10.0
MARGIN_MM: Final = 18.0
_LINE_HEIGHT: Final = 1.45  # times the font size
_HEADING_SIZES: Final = {1: 18.0, 2: 12.5}
_MONO_SIZES: Final = (9.0, 6.0)  # largest and smallest size tried to keep a command on one line
_COURIER_ADVANCE: Final = 0.6  # Courier's advance width, in em
_PT_PER_MM: Final = 72 / 25.4
_GREY: Final = (238, 238, 238)
_CELL_PADDING_MM: Final = 1.5
_TOKEN_MIN: Final = 24  # characters: shorter values wrap like text anyway


def new_document(title: str, *, created: datetime, language: str = "nl-BE") -> FPDF:
    """An A4 portrait document with the DejaVu fonts, ``title`` in its metadata and a first page.

    ``created`` (timezone-aware) becomes the PDF creation date: pass the date the document is about
    (the purge time, the end of the report period), so the same input gives the same bytes.
    """
    if created.tzinfo is None:
        raise ValueError("the creation date must be timezone-aware")
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(auto=True, margin=MARGIN_MM)
    _add_fonts(pdf)
    pdf.set_title(title)
    pdf.set_lang(language)
    pdf.set_creator("retention-agent")
    pdf.set_creation_date(created)
    pdf.add_page()
    pdf.set_font(FONT_FAMILY, size=BODY_SIZE)
    return pdf


def _add_fonts(pdf: FPDF) -> None:
    for style, name in FONT_FILES.items():
        pdf.add_font(FONT_FAMILY, style=style, fname=_font_path(name))


_extracted = ExitStack()  # font files extracted from a zipped install, kept until the process ends
atexit.register(_extracted.close)


@cache
def _font_path(name: str) -> Path:
    """A real file for a bundled font. fpdf2 reads fonts lazily, so the file must outlive the call:
    an installed package already has one; a zipped one is extracted once per process."""
    return _extracted.enter_context(resources.as_file(resources.files("retention_agent") / "fonts" / name))


def heading(pdf: FPDF, text: str, level: int = 1) -> None:
    """A bold heading; level 1 for the title, 2 for a section."""
    size = _HEADING_SIZES.get(level, _HEADING_SIZES[2])
    pdf.ln(2 if level == 1 else 4)
    pdf.set_font(FONT_FAMILY, style="B", size=size)
    pdf.multi_cell(0, _line_height(size), text, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT_FAMILY, size=BODY_SIZE)
    pdf.ln(1)


def new_page(pdf: FPDF, *, landscape: bool = False) -> None:
    """Start a page; landscape gives long commands room to stay on one line."""
    pdf.add_page(orientation="L" if landscape else "P")


def paragraph(pdf: FPDF, text: str, *, size: float = BODY_SIZE) -> None:
    """Running text, wrapped at the margins."""
    pdf.set_font(FONT_FAMILY, size=size)
    pdf.multi_cell(0, _line_height(size), text, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT_FAMILY, size=BODY_SIZE)
    pdf.ln(1)


def field_table(pdf: FPDF, rows: Sequence[tuple[str, str]], *, label_width: float = 0.38) -> None:
    """A two-column table: bold labels on the left, values on the right (long values wrap)."""
    if not rows:
        return
    pdf.set_font(FONT_FAMILY, size=BODY_SIZE)
    with pdf.table(
        col_widths=(label_width, 1 - label_width),
        first_row_as_headings=False,
        borders_layout="HORIZONTAL_LINES",
        text_align="LEFT",
        v_align="TOP",
        line_height=_line_height(BODY_SIZE),
        padding=(1.2, _CELL_PADDING_MM),
    ) as table:
        for label, value in rows:
            row = table.row()
            row.cell(label, style=FontFace(emphasis="BOLD"))
            row.cell(value, style=_token_style(pdf, value, 1 - label_width))
    pdf.ln(2)


def _token_style(pdf: FPDF, value: str, fraction: float) -> FontFace | None:
    """Courier, shrunk to fit the column, for a long value without spaces (a hash, an origin), so it stays
    on one line and can be compared character by character; None (the body style) for anything else."""
    if len(value) < _TOKEN_MIN or any(ch.isspace() for ch in value) or not _is_latin1(value):
        return None
    width = pdf.epw * fraction - 2 * _CELL_PADDING_MM
    return FontFace(family=MONO_FAMILY, size_pt=_fit(width, len(value), BODY_SIZE, _MONO_SIZES[1]))


def monospace_block(pdf: FPDF, text: str) -> None:
    """Commands to copy, on a grey background. Each line is kept on one line of the page if it fits at
    the smallest readable size, so that copying it from the PDF gives one command, not fragments."""
    lines = text.splitlines() or [""]
    family = MONO_FAMILY if _is_latin1(text) else FONT_FAMILY
    size = _mono_size(pdf, max(len(line) for line in lines))
    pdf.set_font(family, size=size)
    pdf.set_fill_color(*_GREY)
    for line in lines:
        pdf.multi_cell(0, _line_height(size), line, fill=True, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT_FAMILY, size=BODY_SIZE)
    pdf.ln(2)


def output_bytes(pdf: FPDF) -> bytes:
    """The finished PDF file."""
    return bytes(pdf.output())


def _line_height(size: float) -> float:
    return size * _LINE_HEIGHT / _PT_PER_MM


def _mono_size(pdf: FPDF, longest: int) -> float:
    """The largest size from 9 pt down to 6 pt at which ``longest`` Courier characters fit the width."""
    return _fit(pdf.epw - 2 * pdf.c_margin, longest, *_MONO_SIZES)


def _fit(width_mm: float, characters: int, largest: float, smallest: float) -> float:
    """The largest Courier size, between ``smallest`` and ``largest`` points, for ``characters`` in a width."""
    if characters == 0:
        return largest
    fitting = math.floor(width_mm * _PT_PER_MM / (characters * _COURIER_ADVANCE) * 10) / 10
    return max(smallest, min(largest, fitting))


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
