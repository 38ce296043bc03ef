"""The timeline's geometry: every live delivery from receipt through its ceremony to its deadline, and today.

Pure: the widget only paints what :func:`build` computes (positions are fractions of the width, so the same
picture fits any window), and :func:`summary` says the same in words for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from retention_agent.app.rows import Row, end_day, needs_ceremony_date
from retention_agent.clock import BRUSSELS, parse_utc
from retention_agent.i18n.catalogue import translate
from retention_agent.i18n.msgids import N_
from retention_agent.lifecycle.states import LIVE_STATES

KINDS = ("overdue", "held", "quarantined", "needs-date", "scheduled")
MARGIN_DAYS = 7


@dataclass(frozen=True)
class Bar:
    delivery: str
    start: date  # received (local day)
    ceremony: date | None
    end: date | None  # deadline, or the latest day without a ceremony
    kind: str  # one of KINDS: the colour


@dataclass(frozen=True)
class Scale:
    first: date
    last: date

    def fraction(self, day: date) -> float:
        span = max((self.last - self.first).days, 1)
        return min(max((day - self.first).days / span, 0.0), 1.0)

    def months(self) -> list[date]:
        """The first day of every month inside the scale (grid lines)."""
        found, day = [], self.first.replace(day=1)
        while day <= self.last:
            if day >= self.first:
                found.append(day)
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
        return found


def _received(row: Row, today: date) -> date:
    try:
        return parse_utc(str(row.get("received_at"))).astimezone(BRUSSELS).date()
    except ValueError:
        return today


def kind_of(row: Row, today: date) -> str:
    end = end_day(row)
    if row.get("state") == "held":
        return "held"
    if end is not None and end < today:
        return "overdue"
    if row.get("state") == "quarantined":
        return "quarantined"
    if needs_ceremony_date(row):
        return "needs-date"
    return "scheduled"


def build(rows: Sequence[Row], today: date) -> tuple[Scale, list[Bar]]:
    bars = []
    for row in rows:
        if row.get("state") not in LIVE_STATES:
            continue
        ceremony = date.fromisoformat(row["ceremony_date"]) if row.get("ceremony_date") else None
        bars.append(Bar(str(row["id"]), _received(row, today), ceremony, end_day(row), kind_of(row, today)))
    bars.sort(key=lambda b: (b.end or date.max, b.delivery))
    days = [today] + [b.start for b in bars] + [b.end for b in bars if b.end] + [b.ceremony for b in bars if b.ceremony]
    first, last = min(days) - timedelta(days=MARGIN_DAYS), max(days) + timedelta(days=MARGIN_DAYS)
    return Scale(first, last), bars


LEGEND = {
    "scheduled": N_("ceremony known"),
    "needs-date": N_("needs a ceremony date"),
    "held": N_("legal hold"),
    "overdue": N_("overdue: past its deadline"),
    "quarantined": N_("quarantined"),
}


def summary(bars: Sequence[Bar], lang: str | None = None) -> str:
    """One sentence for screen readers: how many deliveries, and how many of each kind."""
    counts = {kind: sum(1 for b in bars if b.kind == kind) for kind in KINDS}
    parts = [translate(LEGEND[kind], lang) + f": {n}" for kind, n in counts.items() if n]
    head = translate("{n} deliveries with data", lang, len(bars)).format(n=len(bars))
    return head + ("; " + "; ".join(parts) if parts else "") + "."
