"""Report periods: a month ``YYYY-MM`` or a quarter ``YYYY-Qn``, in local (Europe/Brussels) dates.

A period runs from 00:00 Brussels on its first day until 00:00 Brussels on the first day after it; its UTC
boundaries follow daylight saving time (a winter month starts at 23:00 UTC the day before, a summer month
at 22:00 UTC). Pure: the caller passes ``now``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from retention_agent.clock import local_date, start_of_local_day, utc_iso
from retention_agent.errors import ReportPeriodError

Kind = Literal["month", "quarter"]
KINDS: tuple[Kind, ...] = ("month", "quarter")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")
MIN_YEAR, MAX_YEAR = 2000, 2100


@dataclass(frozen=True, order=True)
class Period:
    start: date  # first local day
    end: date  # first local day after the period
    kind: Kind

    @property
    def label(self) -> str:
        if self.kind == "month":
            return f"{self.start.year:04d}-{self.start.month:02d}"
        return f"{self.start.year:04d}-Q{(self.start.month - 1) // 3 + 1}"

    @property
    def last_day(self) -> date:
        return date.fromordinal(self.end.toordinal() - 1)

    @property
    def start_utc(self) -> datetime:
        return start_of_local_day(self.start)

    @property
    def end_utc(self) -> datetime:
        return start_of_local_day(self.end)

    def has_ended(self, now: datetime) -> bool:
        return now >= self.end_utc

    def has_begun(self, now: datetime) -> bool:
        return now >= self.start_utc

    def previous(self) -> Period:
        return containing_day(date.fromordinal(self.start.toordinal() - 1), self.kind)

    def next(self) -> Period:
        return containing_day(self.end, self.kind)

    def to_json(self) -> dict[str, str]:
        return {"label": self.label, "kind": self.kind, "first_day": self.start.isoformat(),
                "last_day": self.last_day.isoformat(), "start": utc_iso(self.start_utc), "end": utc_iso(self.end_utc),
                "timezone": "Europe/Brussels"}

    def __str__(self) -> str:
        return self.label


def month(year: int, number: int) -> Period:
    end = date(year + 1, 1, 1) if number == 12 else date(year, number + 1, 1)
    return Period(date(year, number, 1), end, "month")


def quarter(year: int, number: int) -> Period:
    first_month = 3 * (number - 1) + 1
    end = date(year + 1, 1, 1) if number == 4 else date(year, first_month + 3, 1)
    return Period(date(year, first_month, 1), end, "quarter")


def parse_period(text: str) -> Period:
    """``2026-10`` or ``2026-Q4``; :class:`ReportPeriodError` (exit 2) for anything else."""
    value = str(text).strip()
    found_month, found_quarter = _MONTH.fullmatch(value), _QUARTER.fullmatch(value)
    if found_month:
        year, number = int(found_month[1]), int(found_month[2])
        if not 1 <= number <= 12:
            raise ReportPeriodError(period=value[:20], problem="the month must be 01 to 12")
    elif found_quarter:
        year, number = int(found_quarter[1]), int(found_quarter[2])
    else:
        raise ReportPeriodError(period=value[:20], problem="write YYYY-MM or YYYY-Qn")
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ReportPeriodError(period=value, problem=f"the year must be {MIN_YEAR} to {MAX_YEAR}")
    return month(year, number) if found_month else quarter(year, number)


def containing_day(day: date, kind: Kind) -> Period:
    return month(day.year, day.month) if kind == "month" else quarter(day.year, (day.month - 1) // 3 + 1)


def containing(moment: datetime, kind: Kind) -> Period:
    """The period of ``kind`` in which the local date of ``moment`` falls."""
    return containing_day(local_date(moment), kind)


def last_complete(now: datetime, kind: Kind) -> Period:
    """The most recent period of ``kind`` that has ended at ``now``."""
    return containing(now, kind).previous()


def months_from(first: date, until: date) -> list[Period]:
    """The months from the one starting on ``first`` up to (not including) the one starting on ``until``."""
    found: list[Period] = []
    current = containing_day(first, "month")
    while current.start < until:
        found.append(current)
        current = current.next()
    return found
