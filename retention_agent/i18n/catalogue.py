"""Messages for people: Dutch by default, English on request.

The source language is English; ``locale/nl.po`` holds the Dutch translations as a gettext catalogue,
read directly (no compiled .mo in git) by a small reader for the subset of the format we write; the test
suite checks that it reads the catalogue exactly as Babel does (importing Babel costs every command 30 ms).
Every user-facing sentence goes through :func:`t`
or :func:`translate` with a literal English text, so that ``tests/unit/test_i18n.py`` can find them all and
fail when one has no Dutch translation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
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
    """msgid -> translation; a plural entry also answers for its msgid and msgid_plural (without a count)."""
    if lang == "en":
        return {}
    entries = _parsed(lang)
    found = {key: forms[0 if key != forms[3] else 1] for key, forms in _plural_entries(entries).items()}
    return {**found, **_singles(entries)}


@cache
def plural_forms(lang: str) -> dict[str, tuple[str, str]]:
    """msgid and msgid_plural of every plural entry -> (form for one, form for any other count) in ``lang``."""
    entries = _plural_entries(_parsed(DEFAULT_LANGUAGE))
    if lang == "en":
        return {key: (forms[2], forms[3]) for key, forms in entries.items()}
    return {key: (forms[0], forms[1]) for key, forms in entries.items()}


@cache
def _parsed(lang: str) -> tuple[tuple[dict[str, str], bool], ...]:
    """The entries of ``locale/<lang>.po``, read once per process (every command needs them)."""
    text = (resources.files("retention_agent") / "locale" / f"{lang}.po").read_text(encoding="utf-8")
    return tuple(_entries(text))


def read_catalogue(text: str) -> dict[str, str]:
    """msgid -> msgstr for the translated, non-fuzzy entries of a .po file without plural forms."""
    return _singles(tuple(_entries(text)))


def _singles(entries: Sequence[tuple[dict[str, str], bool]]) -> dict[str, str]:
    return {entry["msgid"]: entry["msgstr"] for entry, fuzzy in entries
            if entry.get("msgid") and entry.get("msgstr") and not fuzzy and "msgid_plural" not in entry}


def read_plurals(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(msgid, msgid_plural) -> (msgstr[0], msgstr[1]) for the translated, non-fuzzy plural entries
    (two forms, as Dutch and English have: one, and any other count)."""
    return _plurals(tuple(_entries(text)))


def _plurals(entries: Sequence[tuple[dict[str, str], bool]]) -> dict[tuple[str, str], tuple[str, str]]:
    return {(entry["msgid"], entry["msgid_plural"]): (entry["msgstr[0]"], entry["msgstr[1]"])
            for entry, fuzzy in entries
            if entry.get("msgid") and entry.get("msgid_plural") and entry.get("msgstr[0]")
            and entry.get("msgstr[1]") and not fuzzy}


def _plural_entries(entries: Sequence[tuple[dict[str, str], bool]]) -> dict[str, tuple[str, str, str, str]]:
    """msgid and msgid_plural -> (Dutch one, Dutch other, English one, English other)."""
    found: dict[str, tuple[str, str, str, str]] = {}
    for (one, other), (dutch_one, dutch_other) in _plurals(entries).items():
        found[one] = found[other] = (dutch_one, dutch_other, one, other)
    return found


def _entries(text: str) -> Iterator[tuple[dict[str, str], bool]]:
    """(fields, fuzzy) of every entry: ``msgid``, ``msgid_plural``, ``msgstr`` or ``msgstr[N]``, continuation
    lines joined (the subset of the .po format we write: no contexts, no obsolete entries)."""
    entry: dict[str, str] = {}
    field, fuzzy = "", False
    for line in [*text.splitlines(), ""]:
        line = line.strip()
        if line.startswith('"') and field:
            entry[field] += _unquote(line)
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgid", "msgid_plural", "msgstr") or keyword.startswith("msgstr["):
            field = keyword
            entry[field] = _unquote(rest)
            continue
        if not line or line.startswith("#"):
            if any(key.startswith("msgstr") for key in entry):
                yield entry, fuzzy
                entry, field, fuzzy = {}, "", False
            fuzzy = fuzzy or (line.startswith("#,") and "fuzzy" in line)


def _unquote(text: str) -> str:
    body = text.strip()[1:-1]
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def translate(text: str, lang: str | None = None, count: int | None = None) -> str:
    """``text`` in ``lang``; with a ``count``, the plural form for that number when the catalogue has one
    (an English text with a plural entry gets its English singular for one, too)."""
    lang = lang or current_language()
    if count is not None:
        forms = plural_forms(lang).get(text)
        if forms is not None:
            return forms[0] if count == 1 else forms[1]
    return catalogue(lang).get(text, text)


def count_of(params: dict[str, Any]) -> int | None:
    """The number that decides a message's plural form: its ``{count}``, else its ``{n}``."""
    for name in ("count", "n"):
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def fill(text: str, params: dict[str, Any], lang: str | None = None) -> str:
    """A message kept as data (an English template and its parameters) in ``lang``, in its plural form."""
    return translate(text, lang, count_of(params)).format(**params)


def t(text: str, /, **params: Any) -> str:
    """Translate ``text`` into the current language and fill in its ``{placeholders}`` as people read them
    (:func:`people_params`: dates and moments in local time, control characters escaped); a ``count`` (or
    ``n``) parameter chooses the plural form ("1 bestand", "2 bestanden")."""
    translated = translate(text, count=count_of(params))
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
    characters escaped (a value may be text someone else typed: ``safe_text.safe``)."""
    from retention_agent.i18n.safe_text import safe_value

    return {name: safe_value(for_people(value, lang)) for name, value in params.items()}


def _babel_locale(lang: str | None) -> str:
    return BABEL_LOCALES.get(lang or current_language(), BABEL_LOCALES[DEFAULT_LANGUAGE])
