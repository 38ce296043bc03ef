"""Messages for people: Dutch by default, English on request.

The source language is English; ``locale/nl.po`` holds the Dutch translations as a gettext catalogue,
read directly with Babel (no compiled .mo in git). Every user-facing sentence goes through :func:`t`
or :func:`translate` with a literal English text, so that ``tests/test_i18n.py`` can find them all and
fail when one has no Dutch translation.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from typing import Any

from babel.messages.pofile import read_po

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
_current = {"lang": ""}


def set_language(lang: str | None) -> None:
    _current["lang"] = lang or ""


def current_language() -> str:
    lang = _current["lang"] or os.environ.get("RETENTION_AGENT_LANG", "") or DEFAULT_LANGUAGE
    lang = lang.split("_")[0].split("-")[0].lower()
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


@cache
def catalogue(lang: str) -> dict[str, str]:
    if lang == "en":
        return {}
    source = resources.files("retention_agent") / "locale" / f"{lang}.po"
    with source.open("rb") as handle:
        parsed = read_po(handle, locale=lang)
    return {str(m.id): str(m.string) for m in parsed if m.id and m.string and not m.fuzzy}


def translate(text: str, lang: str | None = None) -> str:
    return catalogue(lang or current_language()).get(text, text)


def t(text: str, /, **params: Any) -> str:
    """Translate ``text`` into the current language and fill in its ``{placeholders}``."""
    translated = translate(text)
    return translated.format(**params) if params else translated
