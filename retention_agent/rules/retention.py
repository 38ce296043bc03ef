"""Retention rules: pure functions over plain data (no I/O, no clock reads, no database).

Legal ground: the Flemish VCMP general deliberation nr. 05/2024 of 18 November 2024
(``../shared/reference/000_9dc063f026101930.txt``):

* nr. 41 — the municipality deletes the data *at the latest one month after the ceremony*;
* nr. 43 — the deliberation is granted for one year while data comes by encrypted e-mail, and for an
  indefinite period when it comes through the Zivver platform.

Conventions: every moment is a timezone-aware UTC ``datetime``; every date is a local Europe/Brussels
calendar date. A date named as a limit (deadline, hold end, maximum) takes effect at the *start* of that
local day (00:00 Brussels), so "due on D" and "held until D" mean the same instant. The caller passes
``now``; nothing here reads a clock.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from retention_agent.clock import local_date, start_of_local_day
from retention_agent.errors import DateFormatError
from retention_agent.rules.delivery_states import HELD, LIVE, PURGED, QUARANTINED, VAULTED, DeliveryState

if TYPE_CHECKING:
    from retention_agent.config import RetentionSettings

STATES: tuple[str, ...] = tuple(s.value for s in DeliveryState if s in LIVE | {PURGED})  # what a plan is made for
DEFAULT_LEGAL_BASIS = "VCMP-05-2024"
MIN_YEAR, MAX_YEAR = 2000, 2100
DEFAULT_FORWARD_MARGIN = timedelta(days=2)
EARLY_WINDOW = timedelta(hours=24)  # a ceremony date that makes a delivery due sooner destroys it: on purpose only

PurgeReason = Literal["deadline", "no-ceremony-maximum"]
ReminderKind = Literal["purge-soon", "no-ceremony", "legal-basis-lapsed"]
Audience = Literal["staff", "officer"]
JumpKind = Literal["backward", "forward"]


# ---- legal bases ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LegalBasis:
    """A legal basis and the retention rule it brings, as data (another deliberation, another rule)."""

    id: str
    title: str
    retention_after_ceremony_months: int = 1
    max_without_ceremony_months: int = 24
    # channel -> last local date on which data may still arrive that way (inclusive); None = no limit.
    channel_valid_until: Mapping[str, date | None] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    deliberation_date: date | None = None

    def __post_init__(self) -> None:
        if self.retention_after_ceremony_months < 1 or self.max_without_ceremony_months < 1:
            raise ValueError(f"legal basis {self.id}: retention periods must be at least one month")
        object.__setattr__(self, "channel_valid_until", MappingProxyType(dict(self.channel_valid_until)))


class UnknownLegalBasis(KeyError):  # noqa: N818 - name fixed by the brief; it is a KeyError
    """The legal-basis id names no registered basis."""

    def __str__(self) -> str:
        return f"unknown legal basis: {self.args[0]!r}; known: {', '.join(sorted(LEGAL_BASES))}"


VCMP_05_2024 = LegalBasis(
    id=DEFAULT_LEGAL_BASIS,
    title="VCMP algemene beraadslaging nr. 05/2024 van 18 november 2024 (AgII → steden en gemeenten)",
    retention_after_ceremony_months=1,  # nr. 41
    max_without_ceremony_months=24,  # our design's cap (DESIGN.md §4), not the deliberation's
    channel_valid_until=MappingProxyType(
        {
            # nr. 43: "voor de duur van één jaar". Read like Belgian term computation (the day of the
            # decision is not counted; a year runs to the same date a year later, which is included):
            # valid up to and including 2025-11-18, lapsed from 2025-11-19.
            "email": date(2025, 11, 18),
            "zivver": None,  # nr. 43: indefinite via the Zivver platform
            # Drop folders and manual imports are where staff save what came by e-mail or Zivver; the
            # original transport is unknown here, so no limit is assumed. An inbox that only receives
            # e-mail exports should be configured with channel "email" so the lapse is reported.
            "folder": None,
            "manual": None,
        }
    ),
    deliberation_date=date(2024, 11, 18),
)

LEGAL_BASES: Mapping[str, LegalBasis] = MappingProxyType({VCMP_05_2024.id: VCMP_05_2024})


def legal_basis(basis_id: str) -> LegalBasis:
    """The registered basis with that id; :class:`UnknownLegalBasis` otherwise."""
    try:
        return LEGAL_BASES[basis_id]
    except KeyError:
        raise UnknownLegalBasis(basis_id) from None


def channel_lapsed(basis: LegalBasis, channel: str, on: date) -> bool:
    """True when data arriving by ``channel`` on local date ``on`` has no basis (nr. 43).

    A channel the basis does not list is not authorised by it, so it counts as lapsed.
    """
    if channel not in basis.channel_valid_until:
        return True
    until = basis.channel_valid_until[channel]
    return until is not None and on > until


def lapsed_channels(basis: LegalBasis, on: date) -> list[str]:
    """The basis's listed channels that have lapsed on ``on``, sorted."""
    return sorted(c for c in basis.channel_valid_until if channel_lapsed(basis, c, on))


# ---- deadlines -----------------------------------------------------------------------------------------


def add_months_clipped(day: date, months: int) -> date:
    """``day`` plus whole calendar months, clipped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def deadline(ceremony_date: date, basis: LegalBasis) -> date:
    """Last local day the data may exist, per nr. 41: ceremony + one calendar month, clipped."""
    return add_months_clipped(ceremony_date, basis.retention_after_ceremony_months)


def due_moment(day: date) -> datetime:
    """When a limit on local date ``day`` takes effect: 00:00 Brussels that day, in UTC (DST aware)."""
    return start_of_local_day(day)


def no_ceremony_due(received_at: datetime, basis: LegalBasis, max_months: int | None = None) -> datetime:
    """When a delivery that never got a ceremony is purged anyway (DESIGN.md §4, default 24 months).

    Counted in calendar months from the local receipt date; due at the start of that day.
    """
    months = basis.max_without_ceremony_months if max_months is None else max_months
    return due_moment(add_months_clipped(local_date(received_at), months))


# ---- dates typed by people -----------------------------------------------------------------------------

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class InvalidDate(ValueError):  # noqa: N818 - name fixed by the brief
    """A date from a person that is not a plausible ``YYYY-MM-DD``."""

    def __init__(self, value: str, problem: str) -> None:
        self.value = value
        self.problem = problem
        super().__init__(f"{value!r} {problem}; write the date as YYYY-MM-DD, for example 2026-06-21")

    def as_user_error(self) -> DateFormatError:
        """The catalogued error the command line shows (``date-format``, exit 2)."""
        return DateFormatError(value=self.value)


def parse_date(text: str) -> date:
    """Strictly ``YYYY-MM-DD`` (ASCII digits, no spaces, no time), year 2000..2100."""
    if not _ISO_DATE.fullmatch(text):
        raise InvalidDate(text, "is not in the form YYYY-MM-DD")
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        raise InvalidDate(text, "is not a calendar date") from None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise InvalidDate(text, f"is outside the years {MIN_YEAR}..{MAX_YEAR}")
    return parsed


# ---- purge decision ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionFacts:
    """What the rules need to know about one delivery (read from the store by the caller)."""

    delivery_id: str
    state: str
    received_at: datetime
    ceremony_date: date | None = None
    legal_basis: str = DEFAULT_LEGAL_BASIS
    hold_until: date | None = None
    channel: str | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown delivery state {self.state!r}; expected one of {STATES}")
        if self.received_at.utcoffset() is None:
            raise ValueError("received_at must be timezone-aware")


@dataclass(frozen=True)
class PurgePlan:
    delivery_id: str
    due_at: datetime | None  # None: purged, or nothing will purge it automatically
    deadline: date | None  # local date of due_at
    reason: PurgeReason | None
    is_due: bool
    held: bool
    blocked_by_hold: bool
    hold_ends_at: datetime | None
    days_left: int | None  # local days until the deadline day; 0 on it, negative when overdue


def purge_plan(
    facts: RetentionFacts, now: datetime, basis: LegalBasis, max_without_ceremony_months: int | None = None
) -> PurgePlan:
    """When and why the delivery must go, and whether that is now.

    * ceremony known → nr. 41 deadline (a recorded ceremony replaces the no-ceremony maximum; a ceremony
      later than that maximum is an extension the officer approves, see :func:`extends_retention`);
    * no ceremony → the no-ceremony maximum counted from receipt;
    * quarantined → never by a ceremony deadline (the officer decides), but the no-ceremony maximum still
      applies: unrecognised data must not stay forever;
    * held → not due while the hold runs; the hold ends at the start of ``hold_until`` (same convention as
      deadlines), after which an expired deadline is due at once; a hold without end date blocks until
      released. Only state ``held`` counts as a hold; a stale ``hold_until`` on another state is ignored;
    * purged → nothing is due, ever.
    """
    if facts.legal_basis != basis.id:
        raise ValueError(f"delivery {facts.delivery_id} has legal basis {facts.legal_basis}, not {basis.id}")
    if facts.state == PURGED:
        return PurgePlan(facts.delivery_id, None, None, None, False, False, False, None, None)
    due_at: datetime
    reason: PurgeReason
    if facts.ceremony_date is not None and facts.state != QUARANTINED:
        due_at, reason = due_moment(deadline(facts.ceremony_date, basis)), "deadline"
    else:
        due_at = no_ceremony_due(facts.received_at, basis, max_without_ceremony_months)
        reason = "no-ceremony-maximum"
    held = facts.state == HELD
    hold_ends_at = due_moment(facts.hold_until) if held and facts.hold_until is not None else None
    blocked = held and (hold_ends_at is None or now < hold_ends_at)
    deadline_day = local_date(due_at)
    return PurgePlan(
        delivery_id=facts.delivery_id,
        due_at=due_at,
        deadline=deadline_day,
        reason=reason,
        is_due=now >= due_at and not blocked,
        held=held,
        blocked_by_hold=blocked,
        hold_ends_at=hold_ends_at,
        days_left=(deadline_day - local_date(now)).days,
    )


def extends_retention(
    old_deadline: date | None, new_deadline: date, *, no_ceremony_limit: date | None = None
) -> bool:
    """Whether setting ``new_deadline`` keeps data longer than before (needs the officer and a reason).

    Moving a deadline later extends. A first ceremony replaces the no-ceremony maximum: it extends only
    when it lands after that maximum (pass its local date as ``no_ceremony_limit``), otherwise it shortens.
    """
    if old_deadline is not None:
        return new_deadline > old_deadline
    return no_ceremony_limit is not None and new_deadline > no_ceremony_limit


@dataclass(frozen=True)
class CeremonyJudgement:
    """What recording a ceremony date for one delivery would mean, judged before anything changes."""

    delivery_id: str
    ceremony_date: date
    received_on: date  # the local receipt date: no ceremony for this delivery took place before it
    latest_date: date  # the latest date accepted: receipt + the no-ceremony maximum (default 24 months)
    new_deadline: date
    new_due_at: datetime
    previous_due_at: datetime | None  # the due moment before the change (lateness is measured against it)
    extends: bool  # keeps the data longer than planned: the officer, with a reason
    early: bool  # due now or within EARLY_WINDOW: an early destruction (role destroy, reason, confirmation)
    after_the_fact: bool  # its deadline had already passed when it was recorded

    @property
    def before_receipt(self) -> bool:
        return self.ceremony_date < self.received_on

    @property
    def beyond_maximum(self) -> bool:
        return self.ceremony_date > self.latest_date


def judge_ceremony(facts: RetentionFacts, ceremony_date: date, now: datetime, basis: LegalBasis,
                   max_without_ceremony_months: int | None = None) -> CeremonyJudgement:
    """Recording ``ceremony_date`` now, for the delivery ``facts`` describes (invariant 11: no single mistyped
    command destroys a delivery).

    * a date before the receipt, or after ``latest_date``, is refused by the caller;
    * a date whose deadline is due now, or within :data:`EARLY_WINDOW`, is an *early destruction*: the delivery
      goes at once, on purpose, and its lateness is measured against ``previous_due_at`` — a deadline that
      existed before, never one that only came to exist when it had already passed (``after_the_fact``);
    * a date that keeps the data longer than planned extends the retention (see :func:`extends_retention`).
    """
    months = basis.max_without_ceremony_months if max_without_ceremony_months is None else max_without_ceremony_months
    received_on = local_date(facts.received_at)
    before = purge_plan(facts, now, basis, months)
    new_deadline = deadline(ceremony_date, basis)
    new_due_at = due_moment(new_deadline)
    old_deadline = deadline(facts.ceremony_date, basis) if facts.ceremony_date is not None else None
    limit = before.deadline if old_deadline is None else None
    return CeremonyJudgement(
        delivery_id=facts.delivery_id, ceremony_date=ceremony_date, received_on=received_on,
        latest_date=add_months_clipped(received_on, months), new_deadline=new_deadline, new_due_at=new_due_at,
        previous_due_at=before.due_at,
        extends=extends_retention(old_deadline, new_deadline, no_ceremony_limit=limit),
        early=new_due_at <= now + EARLY_WINDOW, after_the_fact=new_due_at <= now)


# ---- lateness ------------------------------------------------------------------------------------------


def lateness_seconds(due_at: datetime | None, purged_at: datetime) -> int:
    """Seconds from the moment a purge was due to the purge; 0 when it was on time, early, or never due.

    The one measure of lateness: the audit entry of the purge, its proof, and the DPO report all use it, with
    the due moment the purge record kept and the time of the purge's audit entry."""
    return 0 if due_at is None else max(0, int((purged_at - due_at).total_seconds()))


def purged_late(due_at: datetime | None, purged_at: datetime) -> bool:
    """Destroyed after the deadline day (nr. 41: "at the latest one month after the ceremony"): a purge during
    the day it fell due is on time, even a few seconds after its start."""
    return due_at is not None and local_date(purged_at) > local_date(due_at)


# ---- reminders -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReminderSettings:
    reminder_days_before: tuple[int, ...] = (7, 1)
    no_ceremony_staff_days: int = 14
    no_ceremony_officer_days: int = 30

    def __post_init__(self) -> None:
        values = (*self.reminder_days_before, self.no_ceremony_staff_days, self.no_ceremony_officer_days)
        if any(v < 1 for v in values):
            raise ValueError("reminder thresholds must be whole days of at least 1")

    @classmethod
    def from_config(cls, settings: RetentionSettings) -> ReminderSettings:
        return cls(
            tuple(settings.reminder_days_before),
            settings.no_ceremony_staff_days,
            settings.no_ceremony_officer_days,
        )


@dataclass(frozen=True)
class Reminder:
    key: str  # stable: the caller stores it and passes it back in ``already_sent``
    kind: ReminderKind
    audience: Audience
    delivery_id: str
    threshold: int | None  # days (before the deadline, or since receipt); None for a lapsed basis
    deadline: date | None = None


def reminders_due(
    facts: RetentionFacts,
    plan: PurgePlan,
    now: datetime,
    settings: ReminderSettings,
    already_sent: Set[str],
    basis: LegalBasis | None = None,
) -> list[Reminder]:
    """Reminders to send now that are not in ``already_sent``; nothing for purged deliveries.

    * purge-soon: when the deadline is at most N local days away (N from ``reminder_days_before``), only
      for the nearest threshold passed — after downtime, a 1-day reminder replaces the 7-day one. The key
      holds the deadline, so a moved ceremony reminds afresh. Not while a hold blocks the purge, nor once
      the purge is due (the purge itself reports then). Quarantined deliveries remind the officer.
    * no-ceremony: ``vaulted`` without ceremony, after N local days since receipt; staff and officer
      thresholds are independent (different people), so after downtime both fire.
    * legal-basis-lapsed (with ``basis``): the delivery arrived on a channel lapsed that day (nr. 43).
    """
    if facts.state == PURGED:
        return []
    found: list[Reminder] = []
    pending = not plan.is_due and not plan.blocked_by_hold
    if plan.deadline is not None and plan.days_left is not None and pending:
        passed = [n for n in settings.reminder_days_before if plan.days_left <= n]
        if passed:
            n = min(passed)
            audience: Audience = "officer" if facts.state == QUARANTINED else "staff"
            key = f"purge-{n}d:{facts.delivery_id}:{plan.deadline.isoformat()}"
            found.append(Reminder(key, "purge-soon", audience, facts.delivery_id, n, plan.deadline))
    if facts.state == VAULTED and facts.ceremony_date is None:
        waited = (local_date(now) - local_date(facts.received_at)).days
        thresholds: tuple[tuple[int, Audience], ...] = (
            (settings.no_ceremony_staff_days, "staff"),
            (settings.no_ceremony_officer_days, "officer"),
        )
        for n, who in thresholds:
            if waited >= n:
                key = f"no-ceremony-{n}d-{who}:{facts.delivery_id}"
                found.append(Reminder(key, "no-ceremony", who, facts.delivery_id, n))
    if basis is not None and facts.channel is not None:
        if channel_lapsed(basis, facts.channel, local_date(facts.received_at)):
            key = f"legal-basis-lapsed:{facts.delivery_id}:{basis.id}:{facts.channel}"
            found.append(Reminder(key, "legal-basis-lapsed", "officer", facts.delivery_id, None))
    return [r for r in found if r.key not in already_sent]


# ---- clock sanity --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockJump:
    kind: JumpKind
    last_seen: datetime
    now: datetime

    @property
    def delta(self) -> timedelta:
        """``now - last_seen``: negative for a backward jump."""
        return self.now - self.last_seen


def classify_clock(
    last_seen: datetime | None, now: datetime, forward_margin: timedelta = DEFAULT_FORWARD_MARGIN
) -> ClockJump | None:
    """A jump since the latest time seen: any step back, or forward by more than ``forward_margin``.

    The wall clock alone cannot tell a forward jump from the agent having been off for that long; the
    caller decides what a gap at start-up means.
    """
    if last_seen is None:
        return None
    if now < last_seen:
        return ClockJump("backward", last_seen, now)
    if now - last_seen > forward_margin:
        return ClockJump("forward", last_seen, now)
    return None


def needs_clock_confirmation(
    due_at: datetime | None,
    last_seen: datetime | None,
    now: datetime,
    margin: timedelta = DEFAULT_FORWARD_MARGIN,
) -> bool:
    """True when a purge became due only inside a forward jump: ``last_seen < due_at <= now`` and
    ``now - last_seen > margin``. Such a purge waits for the officer (``purge --due --confirm-clock``)."""
    if due_at is None or last_seen is None:
        return False
    jump = classify_clock(last_seen, now, margin)
    return jump is not None and jump.kind == "forward" and last_seen < due_at <= now


def effective_now(last_seen: datetime | None, now: datetime) -> datetime:
    """The later of the two: a clock set back must not make a due purge undue again."""
    return now if last_seen is None else max(last_seen, now)
