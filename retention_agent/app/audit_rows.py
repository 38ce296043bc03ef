"""The audit log as the officer reads it: newest first, who, when, what, why (purpose) and result.

Filtering happens here, over the entries the API answered (``audit.show``), by delivery, account, purpose,
result and period. It is one pure predicate (:class:`AuditFilter`), so it can move to the agent as query
parameters without changing what the officer sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from retention_agent.app.rows import LAST, Column, Row, Table
from retention_agent.clock import BRUSSELS, parse_utc
from retention_agent.i18n.catalogue import format_moment
from retention_agent.i18n.msgids import N_
from retention_agent.session.words import AUDIT_ACTIONS, CONDITIONS, OUTCOMES, PURPOSES_SHORT, word

SHOWN_ENTRIES = 2000  # the newest entries the view fetches; older ones: ``retention-agent audit show --json``


def purpose_of(entry: Row) -> str:
    details = entry.get("details")
    value = details.get("purpose") if isinstance(details, dict) else None
    return str(value) if value else ""


def local_day(entry: Row) -> date | None:
    try:
        return parse_utc(str(entry.get("time"))).astimezone(BRUSSELS).date()
    except ValueError:
        return None


def audit_table() -> Table:
    return Table((
        Column(N_("When"), lambda e, lang: format_moment(e.get("time"), lang), lambda e: int(e.get("seq") or 0)),
        Column(N_("Who"), lambda e, _lang: str(e.get("actor") or "-"), lambda e: str(e.get("actor") or LAST)),
        Column(N_("What"), lambda e, lang: word(AUDIT_ACTIONS, e.get("action"), lang), lambda e: str(e.get("action"))),
        Column(N_("Why"), lambda e, lang: word(PURPOSES_SHORT, purpose_of(e), lang), lambda e: purpose_of(e) or LAST),
        Column(N_("Deliveries or subjects"), lambda e, lang: ", ".join(word(CONDITIONS, s, lang)
                                                                        for s in e.get("subject") or []) or "-",
               lambda e: ",".join(map(str, e.get("subject") or [])) or LAST),
        Column(N_("Result"), lambda e, lang: word(OUTCOMES, e.get("outcome"), lang), lambda e: str(e.get("outcome"))),
        Column(N_("No."), lambda e, _lang: str(e.get("seq", "")), lambda e: int(e.get("seq") or 0), numeric=True),
    ), flags=lambda e: frozenset({"refused"}) if e.get("outcome") in ("denied", "failed") else frozenset(),
       sort=(6, True))


@dataclass(frozen=True)
class AuditFilter:
    """Empty fields match everything. ``since``/``until`` are local (Brussels) days, both included."""

    delivery: str = ""
    account: str = ""
    purpose: str = ""
    outcome: str = ""
    since: date | None = None
    until: date | None = None

    def matches(self, entry: Row) -> bool:
        if self.delivery.strip() and not any(self.delivery.strip().upper() in str(s).upper()
                                             for s in entry.get("subject") or []):
            return False
        if self.account and entry.get("actor") != self.account:
            return False
        if self.purpose and purpose_of(entry) != self.purpose:
            return False
        if self.outcome and entry.get("outcome") != self.outcome:
            return False
        if self.since or self.until:
            day = local_day(entry)
            if day is None or (self.since and day < self.since) or (self.until and day > self.until):
                return False
        return True


def newest_first(entries: Sequence[Row]) -> list[Row]:
    return sorted(entries, key=lambda e: int(e.get("seq") or 0), reverse=True)


def accounts_in(entries: Sequence[Row]) -> list[str]:
    return sorted({str(e["actor"]) for e in entries if e.get("actor")})


def window(size: int, shown: int = SHOWN_ENTRIES) -> dict[str, Any]:
    """The ``audit.show`` arguments that fetch the newest ``shown`` entries of a log of ``size`` entries."""
    return {"after": max(0, size - shown), "limit": shown}
