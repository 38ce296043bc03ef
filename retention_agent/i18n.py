"""Messages for people: Dutch by default, English on request.

The source language is English; ``locale/nl.po`` holds the Dutch translations as a gettext catalogue,
read directly (no compiled .mo in git) by a small reader for the subset of the format we write; the test
suite checks that it reads the catalogue exactly as Babel does (importing Babel costs every command 30 ms).
Every user-facing sentence goes through :func:`t`
or :func:`translate` with a literal English text, so that ``tests/test_i18n.py`` can find them all and
fail when one has no Dutch translation.
"""

from __future__ import annotations

import os
import re
from functools import cache
from importlib import resources
from typing import Any

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
    return read_catalogue(source.read_text(encoding="utf-8"))


def read_catalogue(text: str) -> dict[str, str]:
    """msgid -> msgstr for the translated, non-fuzzy entries of a .po file (no plurals or contexts)."""
    found: dict[str, str] = {}
    entry: dict[str, str] = {}
    field, fuzzy = "", False
    for line in [*text.splitlines(), ""]:
        line = line.strip()
        if line.startswith('"') and field:
            entry[field] += _unquote(line)
            continue
        if line.startswith(("msgid ", "msgstr ")):
            field, _, rest = line.partition(" ")
            entry[field] = _unquote(rest)
            continue
        if entry.get("msgid") and entry.get("msgstr") and not fuzzy:
            found[entry["msgid"]] = entry["msgstr"]
        if not line or line.startswith("#"):
            if "msgstr" in entry:
                entry, field, fuzzy = {}, "", False
            fuzzy = fuzzy or (line.startswith("#,") and "fuzzy" in line)
    return found


def _unquote(text: str) -> str:
    body = text.strip()[1:-1]
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def translate(text: str, lang: str | None = None) -> str:
    return catalogue(lang or current_language()).get(text, text)


def t(text: str, /, **params: Any) -> str:
    """Translate ``text`` into the current language and fill in its ``{placeholders}``, each value shown with
    its control characters escaped (a value may be text someone else typed: ``terminal.safe``)."""
    from retention_agent.terminal import safe_value

    translated = translate(text)
    return translated.format(**{k: safe_value(v) for k, v in params.items()}) if params else translated
