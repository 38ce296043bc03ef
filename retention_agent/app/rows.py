"""Tables of the app as plain data: columns (title, text, sort key) over the rows the API answers.

A Qt model shows a :class:`Table`; everything it shows is computed here, so it is tested without Qt. Texts
are in the language asked for; dates and times in Europe/Brussels, nl-BE. Sort keys are of one type per
column (a missing value sorts last), so a view can sort any column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from retention_agent.i18n.catalogue import format_day, format_moment, translate
from retention_agent.i18n.msgids import N_
from retention_agent.lifecycle.states import LIVE_STATES
from retention_agent.session.words import CHANNELS, REPORT_DELIVERY, ROLES, STATES, TRIGGERS, word

Row = dict[str, Any]
LAST = "\uffff"  # sorts after every text
FAR = 10**9  # sorts after every number


@dataclass(frozen=True)
class Column:
    title: str  # English; translated where shown
    text: Callable[[Row, str], str]  # (row, language) -> what is shown
    key: Callable[[Row], Any]  # sort key; one type per column
    numeric: bool = False  # right-aligned


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    flags: Callable[[Row], frozenset[str]] = field(default=lambda _row: frozenset())  # e.g. {"overdue"}
    sort: tuple[int, bool] = (0, False)  # the column a view sorts by at first, and whether descending

    def headers(self, lang: str) -> list[str]:
        return [translate(c.title, lang) for c in self.columns]

    def cells(self, row: Row, lang: str) -> list[str]:
        return [c.text(row, lang) for c in self.columns]


def _text(name: str) -> Callable[[Row, str], str]:
    return lambda row, _lang: "-" if row.get(name) in (None, "") else str(row[name])


def _key(name: str) -> Callable[[Row], str]:
    return lambda row: str(row.get(name) or LAST)


def _day(name: str) -> Callable[[Row, str], str]:
    return lambda row, lang: format_day(row.get(name), lang)


def _moment(name: str) -> Callable[[Row, str], str]:
    return lambda row, lang: format_moment(row.get(name), lang)


# ---- deliveries -------------------------------------------------------------------------------------------


def needs_ceremony_date(row: Row) -> bool:
    """The "needs a ceremony date" group: live, not quarantined, and no ceremony yet (as ``status`` counts)."""
    return row.get("state") in ("vaulted", "held") and not row.get("ceremony_date")


def end_day(row: Row) -> date | None:
    """The day the delivery goes: its deadline, or without a ceremony the day it is due at the latest."""
    text = row.get("deadline") or (str(row["due_at"])[:10] if row.get("due_at") else None)
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def days_left(row: Row, today: date) -> int | None:
    end = end_day(row)
    return None if end is None or row.get("state") not in LIVE_STATES else (end - today).days


def delivery_flags(row: Row, today: date) -> frozenset[str]:
    flags = set()
    left = days_left(row, today)
    if left is not None and left < 0 and row.get("state") != "held":
        flags.add("overdue")
    if row.get("state") == "held":
        flags.add("held")
    if needs_ceremony_date(row):
        flags.add("needs-date")
    return frozenset(flags)


def deliveries_table(today: date) -> Table:
    def left_text(row: Row, lang: str) -> str:
        left = days_left(row, today)
        return "-" if left is None else str(left)

    def deadline_text(row: Row, lang: str) -> str:
        if row.get("deadline"):
            return format_day(row["deadline"], lang)
        end = end_day(row)
        return translate("at the latest {day}", lang).format(day=format_day(end, lang)) if end else "-"

    return Table((
        Column(N_("Delivery"), _text("id"), _key("id")),
        Column(N_("Received"), _moment("received_at"), _key("received_at")),
        Column(N_("Source"), lambda r, lang: word(CHANNELS, r.get("channel"), lang), _key("channel")),
        Column(N_("State"), lambda r, lang: word(STATES, r.get("state"), lang), _key("state")),
        Column(N_("Ceremony"), _day("ceremony_date"), _key("ceremony_date")),
        Column(N_("Destroyed on"), deadline_text, lambda r: (end_day(r) or date.max).isoformat()),
        Column(N_("Days left"), left_text, lambda r: FAR if days_left(r, today) is None else days_left(r, today),
               numeric=True),
        Column(N_("Openings"), _text("openings"), lambda r: int(r.get("openings") or 0), numeric=True),
    ), flags=lambda row: delivery_flags(row, today), sort=(5, False))


@dataclass(frozen=True)
class DeliveryFilter:
    """What the deliveries view shows: ``states`` is ``live``, ``all`` or one state; ``text`` part of an id."""

    states: str = "live"
    text: str = ""

    def matches(self, row: Row) -> bool:
        state = row.get("state")
        if self.states == "live" and state not in LIVE_STATES:
            return False
        if self.states not in ("live", "all") and state != self.states:
            return False
        return self.text.strip().upper() in str(row.get("id", "")).upper()


STATE_CHOICES = (("live", N_("Deliveries with data")), ("all", N_("All deliveries")),
                 *((state, text) for state, text in STATES.items()))


# ---- proofs, staff, reports -------------------------------------------------------------------------------


def proofs_table() -> Table:
    return Table((
        Column(N_("Delivery"), _text("delivery"), _key("delivery")),
        Column(N_("Destroyed at"), _moment("purged_at"), _key("purged_at")),
        Column(N_("Why"), lambda r, lang: word(TRIGGERS, r.get("trigger"), lang), _key("trigger")),
        Column(N_("Due"), _moment("due_at"), _key("due_at")),
        Column(N_("Fingerprint of the proof (SHA-256)"), lambda r, _lang: str(r.get("proof_sha256") or "-")[:16] + "…",
               _key("proof_sha256")),
    ), sort=(1, True))


def staff_table() -> Table:
    def roles_text(row: Row, lang: str) -> str:
        return ", ".join(word(ROLES, role, lang) for role in row.get("roles", []))

    return Table((
        Column(N_("Account"), _text("account"), _key("account")),
        Column(N_("Name"), _text("name"), _key("name")),
        Column(N_("Roles"), roles_text, lambda r: ",".join(r.get("roles", []))),
    ))


def reports_table() -> Table:
    return Table((
        Column(N_("Report"), _text("name"), _key("name")),
        Column(N_("Made"), _moment("created_at"), _key("created_at")),
        Column(N_("E-mail"), lambda r, lang: word(REPORT_DELIVERY, r.get("delivery"), lang), _key("delivery")),
        Column(N_("Attempts"), _text("attempts"), lambda r: int(r.get("attempts") or 0), numeric=True),
        Column(N_("Last error"), _text("last_error"), _key("last_error")),
    ), sort=(0, True))


def count_needing_date(rows: Sequence[Row]) -> int:
    return sum(1 for row in rows if needs_ceremony_date(row))
