"""The check that a Dutch screen or command output shows no English: no word of the catalogue's English source
strings that no Dutch translation uses. The desktop app's views (``test_app_screens.py``) and the command
line's scripted tour (``test_dutch_tour.py``) both use it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]")
IDS = re.compile(r"\b(?=[0-9A-Z]*\d)[0-9A-Z]{6,}\b|\b(?=[0-9a-f]*\d)[0-9a-f]{12,}\b")
PO_FILE = Path(__file__).resolve().parents[2] / "retention_agent" / "locale" / "nl.po"


@cache
def english_only_words() -> frozenset[str]:
    """Words of the catalogue's English source strings that no Dutch translation uses: in a Dutch view, each
    of them is an untranslated English text."""
    from babel.messages.pofile import read_po

    with PO_FILE.open("rb") as handle:
        entries = [(_joined(m.id), _joined(m.string)) for m in read_po(handle, locale="nl") if m.id]

    def words(text: str) -> set[str]:
        text = re.sub(r"\{[^}]*\}", " ", text)
        return {w.lower() for w in WORD.findall(text) if len(w) >= 3}

    english = set().union(*(words(msgid) for msgid, _ in entries))
    dutch = set().union(*(words(msgstr) for _, msgstr in entries))
    return frozenset(english - dutch)


def _joined(text: object) -> str:
    """A message, or every form of a plural message."""
    return " ".join(str(form) for form in text) if isinstance(text, tuple | list) else str(text)


def english_in(texts: list[str], vocabulary: set[str] | frozenset[str]) -> list[str]:
    """The texts that hold a word of ``vocabulary``, each with those words."""
    found = []
    for text in texts:
        text = re.sub(r"\S*[/\\]\S*", " ", text)  # paths and web addresses are what someone typed or chose
        text = IDS.sub(" ", text)  # a delivery id or a digest may spell a word ("01JD…WAY…")
        hits = sorted({w.lower() for w in WORD.findall(text)} & vocabulary)
        if hits:
            found.append(f"{hits}: {text[:120]!r}")
    return found
