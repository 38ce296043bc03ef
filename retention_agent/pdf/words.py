"""The words of the documents people read: translations, and dates, times, numbers and durations in nl-BE (or English).

One vocabulary for the proof-of-deletion certificate (:mod:`.proof`) and the DPO report (:mod:`.report`, and its
HTML in :mod:`retention_agent.reports.render`), so the two say a date, a number or a channel the same way. Times are
shown in Europe/Brussels.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Final, Literal

from babel.dates import format_date, format_datetime, format_timedelta
from babel.numbers import format_decimal

from retention_agent.clock import BRUSSELS, parse_utc
from retention_agent.i18n.catalogue import count_of, translate
from retention_agent.i18n.msgids import N_

LOCALES: Final = {"nl": "nl_BE", "en": "en_BE"}
_Unit = Literal["day", "hour", "minute", "second"]
_UNIT_SECONDS: Final[dict[_Unit, int]] = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}
_CHANNELS: Final = {"email": N_("encrypted e-mail"), "zivver": "Zivver", "folder": N_("drop folder"),
                    "manual": N_("manual import")}


class Words:
    """Translations and formatting in one language (Dutch unless ``lang`` is ``"en"``).

    ``missing`` is what an absent date or time reads as (a catalogue text); with ``zone`` a time names its time
    zone (``28 november 2026, 01:04 CET``).
    """

    def __init__(self, lang: str, *, missing: str = "-", zone: bool = False) -> None:
        self.lang = lang if lang in LOCALES else "nl"
        self.locale = LOCALES[self.lang]
        self.missing = translate(missing, self.lang)
        self._time_pattern = "d MMMM y, HH:mm zzz" if zone else "d MMMM y, HH:mm"

    @property
    def tag(self) -> str:
        """The document's language tag, for the PDF's metadata."""
        return "nl-BE" if self.lang == "nl" else "en"

    def __call__(self, text: str, **params: Any) -> str:
        """``text`` (English, from the catalogue) in this language, in its plural form, filled with ``params``."""
        translated = translate(text, self.lang, count_of(params))
        return translated.format(**params) if params else translated

    def day(self, text: str | None) -> str:
        return self.missing if not text else format_date(date.fromisoformat(text), "long", locale=self.locale)

    def moment(self, text: str | None) -> str:
        if not text:
            return self.missing
        return format_datetime(parse_utc(text), self._time_pattern, tzinfo=BRUSSELS, locale=self.locale)

    def short_day(self, text: str | None) -> str:
        """For table cells: ``01/10/2026``."""
        return self.missing if not text else format_date(date.fromisoformat(text), "dd/MM/y", locale=self.locale)

    def short_moment(self, text: str | None) -> str:
        """For table cells: ``01/10/2026 10:00``, Brussels time."""
        if not text:
            return self.missing
        return format_datetime(parse_utc(text), "dd/MM/y HH:mm", tzinfo=BRUSSELS, locale=self.locale)

    def number(self, value: Any) -> str:
        return format_decimal(value, locale=self.locale) if isinstance(value, int | float) else str(value)

    def yes(self, value: object) -> str:
        return self(N_("yes")) if value else self(N_("no"))

    def duration(self, seconds: int) -> str:
        """``1 uur 4 minuten``: days, hours and minutes, or seconds under a minute."""
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        parts: list[tuple[int, _Unit]] = (
            [(days, "day"), (hours, "hour"), (minutes, "minute")] if seconds >= 60 else [(secs, "second")]
        )
        return " ".join(self._unit(amount, unit) for amount, unit in parts if amount) or self._unit(0, "second")

    def _unit(self, amount: int, unit: _Unit) -> str:
        return format_timedelta(timedelta(seconds=amount * _UNIT_SECONDS[unit]), granularity=unit,
                                threshold=float("inf"), locale=self.locale)

    def channel(self, code: str) -> str:
        """How a delivery came in, in words (``zivver``: the product's name)."""
        return self(_CHANNELS[code]) if code in _CHANNELS else code
