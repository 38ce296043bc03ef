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
from datetime import date, datetime
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
    """Translate ``text`` into the current language and fill in its ``{placeholders}`` as people read them
    (:func:`people_params`: dates and moments in local time, control characters escaped)."""
    translated = translate(text)
    return translated.format(**people_params(params)) if params else translated


# ---- dates and times for people: Europe/Brussels, nl-BE (Dutch) or en-GB (English) ----------------------

BABEL_LOCALES = {"nl": "nl_BE", "en": "en_GB"}


def format_day(day: date | str | None, lang: str | None = None, *, long: bool = False) -> str:
    """A calendar date as people read it: ``28/11/2026`` (or ``28 november 2026`` with ``long``); ``-`` when
    absent. A text that is not an ISO date is returned as it is."""
    from babel.dates import format_date  # imported when used: Babel costs every command 30 ms

    if not day:
        return "-"
    try:
        value = day if isinstance(day, date) else date.fromisoformat(str(day)[:10])
    except ValueError:
        return str(day)
    return str(format_date(value, "long" if long else "short", locale=_babel_locale(lang)))


def format_moment(moment: datetime | str | None, lang: str | None = None) -> str:
    """A UTC moment (a ``datetime`` or the agent's ISO text) in Brussels local time: ``28/11/2026 14:05``."""
    from babel.dates import format_date, format_time

    from retention_agent.clock import BRUSSELS, parse_utc

    if not moment:
        return "-"
    try:
        value = moment if isinstance(moment, datetime) else parse_utc(str(moment))
    except ValueError:
        return str(moment)
    local = value.astimezone(BRUSSELS)
    locale = _babel_locale(lang)
    return f"{format_date(local.date(), 'short', locale=locale)} {format_time(local.time(), 'HH:mm', locale=locale)}"


_STORED_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
_ISO_DAY = re.compile(r"\d{4}-\d\d-\d\d")


def for_people(value: Any, lang: str | None = None) -> Any:
    """A value as a person reads it: a stored UTC moment (``2026-11-28T19:00:30Z``, or a ``datetime``) in
    Brussels local time, an ISO date (or a ``date``) in the language's format; anything else as it is.

    Every text for people passes its values through here (``t``, the tables, the catalogue's errors, the
    notifications), so none shows the UTC of the JSON output and the signed documents.
    """
    if isinstance(value, datetime):
        return format_moment(value, lang)
    if isinstance(value, date):
        return format_day(value, lang)
    if isinstance(value, str):
        if _STORED_MOMENT.fullmatch(value):
            return format_moment(value, lang)
        if _ISO_DAY.fullmatch(value):
            return format_day(value, lang)
    return value


def people_params(params: dict[str, Any], lang: str | None = None) -> dict[str, Any]:
    """A message's parameters as people read them: :func:`for_people`, and each value shown with its control
    characters escaped (a value may be text someone else typed: ``terminal.safe``)."""
    from retention_agent.terminal import safe_value

    return {name: safe_value(for_people(value, lang)) for name, value in params.items()}


def _babel_locale(lang: str | None) -> str:
    return BABEL_LOCALES.get(lang or current_language(), BABEL_LOCALES[DEFAULT_LANGUAGE])
