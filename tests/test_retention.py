"""The retention rules (VCMP 05/2024 nr. 41 and 43): pure, no files, no clock, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_agent.clock import BRUSSELS, local_date
from retention_agent.config import RetentionSettings
from retention_agent.errors import DateFormatError
from retention_agent.rules.retention import (
    DEFAULT_LEGAL_BASIS,
    LEGAL_BASES,
    STATES,
    CeremonyJudgement,
    ClockJump,
    InvalidDate,
    LegalBasis,
    ReminderSettings,
    RetentionFacts,
    UnknownLegalBasis,
    add_months_clipped,
    channel_lapsed,
    classify_clock,
    deadline,
    due_moment,
    effective_now,
    extends_retention,
    judge_ceremony,
    lapsed_channels,
    lateness_seconds,
    legal_basis,
    needs_clock_confirmation,
    no_ceremony_due,
    parse_date,
    purge_plan,
    purged_late,
    reminders_due,
)

BASIS = legal_basis(DEFAULT_LEGAL_BASIS)
RECEIVED = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def facts(
    state: str = "scheduled",
    ceremony: date | None = date(2026, 3, 1),
    hold_until: date | None = None,
    received_at: datetime = RECEIVED,
    channel: str | None = None,
) -> RetentionFacts:
    return RetentionFacts("D1", state, received_at, ceremony, DEFAULT_LEGAL_BASIS, hold_until, channel)


dates_in_range = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
moments = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime(2098, 12, 31), timezones=st.just(UTC)
)

# ---- calendar months -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
        (date(2028, 1, 29), 1, date(2028, 2, 29)),
        (date(2028, 1, 30), 1, date(2028, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 5, 31), 1, date(2026, 6, 30)),
        (date(2026, 12, 31), 1, date(2027, 1, 31)),  # year boundary
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 1, 15), 1, date(2026, 2, 15)),
        (date(2026, 2, 28), 1, date(2026, 3, 28)),
        (date(2028, 2, 29), 1, date(2028, 3, 29)),
        (date(2028, 2, 29), 12, date(2029, 2, 28)),
        (date(2026, 5, 31), 24, date(2028, 5, 31)),
        (date(2026, 8, 31), 18, date(2028, 2, 29)),
        (date(2100, 1, 31), 1, date(2100, 2, 28)),  # 2100 is not a leap year
        (date(2000, 1, 31), 1, date(2000, 2, 29)),  # 2000 is
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 1, 10), -1, date(2025, 12, 10)),
        (date(2026, 6, 1), 0, date(2026, 6, 1)),
    ],
)
def test_add_months_clipped(day: date, months: int, expected: date) -> None:
    assert add_months_clipped(day, months) == expected


def test_deadline_is_one_month_after_the_ceremony() -> None:
    assert BASIS.retention_after_ceremony_months == 1
    assert deadline(date(2027, 1, 31), BASIS) == date(2027, 2, 28)
    assert deadline(date(2026, 6, 21), BASIS) == date(2026, 7, 21)


def test_deadline_follows_the_rule_of_its_basis() -> None:
    three = LegalBasis("TEST", "three months", retention_after_ceremony_months=3)
    assert deadline(date(2026, 11, 30), three) == date(2027, 2, 28)


@given(dates_in_range, dates_in_range)
def test_deadline_is_monotonic_in_the_ceremony_date(a: date, b: date) -> None:
    early, late = sorted((a, b))
    assert deadline(early, BASIS) <= deadline(late, BASIS)


@given(dates_in_range)
def test_deadline_is_after_the_ceremony_by_at_most_31_days(ceremony: date) -> None:
    gap = (deadline(ceremony, BASIS) - ceremony).days
    assert 28 <= gap <= 31


@given(dates_in_range, st.integers(min_value=-1200, max_value=1200))
def test_add_months_lands_in_the_right_month_and_never_beyond_the_day(day: date, months: int) -> None:
    result = add_months_clipped(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    assert result.day <= day.day
    if result.day < day.day:  # clipped: must be the month's last day
        assert (result + DAY).day == 1


# ---- due moments and DST -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 28), utc(2026, 3, 27, 23)),  # CET
        (date(2026, 3, 29), utc(2026, 3, 28, 23)),  # DST starts at 02:00 that day; midnight still CET
        (date(2026, 3, 30), utc(2026, 3, 29, 22)),  # CEST
        (date(2026, 10, 24), utc(2026, 10, 23, 22)),
        (date(2026, 10, 25), utc(2026, 10, 24, 22)),  # DST ends at 03:00 that day; midnight still CEST
        (date(2026, 10, 26), utc(2026, 10, 25, 23)),  # CET again
        (date(2026, 1, 1), utc(2025, 12, 31, 23)),
        (date(2028, 2, 29), utc(2028, 2, 28, 23)),
    ],
)
def test_due_moment_is_local_midnight_in_utc(day: date, expected: datetime) -> None:
    assert due_moment(day) == expected
    assert due_moment(day).utcoffset() == timedelta(0)


def test_ceremonies_whose_deadline_falls_on_a_dst_sunday() -> None:
    assert due_moment(deadline(date(2026, 2, 28), BASIS)) == utc(2026, 3, 27, 23)
    assert due_moment(deadline(date(2026, 2, 28), BASIS)) != due_moment(date(2026, 3, 29))
    assert due_moment(deadline(date(2026, 9, 25), BASIS)) == utc(2026, 10, 24, 22)


@given(dates_in_range)
def test_due_moment_is_always_the_first_instant_of_the_local_day(day: date) -> None:
    moment = due_moment(day)
    local = moment.astimezone(BRUSSELS)
    assert local.date() == day
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    assert local_date(moment - timedelta(microseconds=1)) == day - DAY
    assert moment.astimezone(BRUSSELS).utcoffset() in (timedelta(hours=1), timedelta(hours=2))


def test_purge_plan_across_the_spring_dst_change() -> None:
    f = facts(ceremony=date(2026, 2, 28))  # deadline 2026-03-28
    before = purge_plan(f, utc(2026, 3, 27, 22, 59, 59), BASIS)
    at = purge_plan(f, utc(2026, 3, 27, 23), BASIS)
    assert (before.is_due, before.days_left) == (False, 1)
    assert (at.is_due, at.days_left) == (True, 0)
    nxt = purge_plan(facts(ceremony=date(2026, 2, 28)), utc(2026, 3, 29, 21, 59), BASIS)
    assert nxt.days_left == -1  # 23:59 local on 29 March, one day late


def test_purge_plan_across_the_autumn_dst_change() -> None:
    f = facts(ceremony=date(2026, 9, 25))  # deadline 2026-10-25, the last Sunday of October
    assert purge_plan(f, utc(2026, 10, 24, 21, 59, 59), BASIS).is_due is False
    assert purge_plan(f, utc(2026, 10, 24, 22), BASIS).is_due is True
    assert purge_plan(f, utc(2026, 10, 24, 22), BASIS).days_left == 0
    assert purge_plan(f, utc(2026, 10, 25, 22, 59), BASIS).days_left == 0  # 25 hours in that day
    assert purge_plan(f, utc(2026, 10, 25, 23), BASIS).days_left == -1


# ---- the no-ceremony maximum ---------------------------------------------------------------------------


def test_no_ceremony_due_counts_calendar_months_from_the_local_receipt_date() -> None:
    assert no_ceremony_due(RECEIVED, BASIS) == due_moment(date(2028, 1, 15))
    assert no_ceremony_due(RECEIVED, BASIS, 6) == due_moment(date(2026, 7, 15))
    late_evening = utc(2026, 1, 31, 23, 30)  # 00:30 on 1 February in Brussels
    assert no_ceremony_due(late_evening, BASIS) == due_moment(date(2028, 2, 1))
    assert no_ceremony_due(utc(2026, 8, 31, 10), BASIS, 18) == due_moment(date(2028, 2, 29))


# ---- parsing dates typed by people ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["2026-06-01", "2000-01-01", "2100-12-31", "2028-02-29", "2026-10-25"]
)
def test_parse_date_accepts_iso_dates(text: str) -> None:
    assert parse_date(text).isoformat() == text


@pytest.mark.parametrize(
    "text",
    [
        "2026-6-1",
        "2026-06-1",
        "01/06/2026",
        "1/6/2026",
        "01-06-2026",
        "2026/06/01",
        "2026.06.01",
        "20260601",
        "2026-06-01T00:00",
        "2026-06-01T00:00:00Z",
        "2026-06-01 00:00",
        "2026-06-01Z",
        "2026-06-01+02:00",
        " 2026-06-01",
        "2026-06-01 ",
        "2026-06-01\n",
        "+2026-06-01",
        "-2026-06-01",
        "2026-W23-1",
        "2026-152",
        "2026-06",
        "26-06-01",
        "1 juni 2026",
        "June 1, 2026",
        "morgen",
        "",
        "２０２６-０６-０１",  # full-width digits
        "٢٠٢٦-٠٦-٠١",  # Arabic-Indic digits
        "2026‐06‐01",  # Unicode hyphen
        "2026-02-30",
        "2027-02-29",
        "2100-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-04-31",
        "2026-06-00",
        "0000-01-01",
        "0001-01-01",
        "1999-12-31",
        "2101-01-01",
        "9999-12-31",
    ],
)
def test_parse_date_refuses_everything_else(text: str) -> None:
    with pytest.raises(InvalidDate) as caught:
        parse_date(text)
    assert isinstance(caught.value, ValueError)
    assert "YYYY-MM-DD" in str(caught.value)
    assert caught.value.value == text


def test_invalid_date_maps_to_the_catalogued_user_error() -> None:
    with pytest.raises(InvalidDate) as caught:
        parse_date("01/06/2026")
    error = caught.value.as_user_error()
    assert isinstance(error, DateFormatError)
    assert error.error_id == "date-format"
    assert "01/06/2026" in error.render("en")


@given(dates_in_range)
def test_parse_date_round_trips(day: date) -> None:
    assert parse_date(day.isoformat()) == day


@given(st.text(max_size=14))
def test_parse_date_returns_only_what_was_written(text: str) -> None:
    try:
        parsed = parse_date(text)
    except InvalidDate:
        return
    assert parsed.isoformat() == text


# ---- legal bases and channels (nr. 43) -----------------------------------------------------------------


def test_registry() -> None:
    assert LEGAL_BASES[DEFAULT_LEGAL_BASIS] is BASIS
    assert BASIS.deliberation_date == date(2024, 11, 18)
    assert BASIS.max_without_ceremony_months == 24
    with pytest.raises(UnknownLegalBasis) as caught:
        legal_basis("VCMP-99-2030")
    assert isinstance(caught.value, KeyError)
    assert "VCMP-99-2030" in str(caught.value)
    assert DEFAULT_LEGAL_BASIS in str(caught.value)


def test_registry_cannot_be_changed_in_place() -> None:
    with pytest.raises(TypeError):
        LEGAL_BASES["X"] = BASIS  # type: ignore[index]
    with pytest.raises(TypeError):
        BASIS.channel_valid_until["email"] = None  # type: ignore[index]
    channels: dict[str, date | None] = {"email": date(2026, 1, 1)}
    mine = LegalBasis("MINE", "mine", channel_valid_until=channels)
    channels["email"] = None  # the caller's dict is copied, not shared
    assert mine.channel_valid_until["email"] == date(2026, 1, 1)
    assert hash(mine) == hash(LegalBasis("MINE", "mine", channel_valid_until={"email": None}))
    with pytest.raises(ValueError, match="at least one month"):
        LegalBasis("BAD", "bad", retention_after_ceremony_months=0)


@pytest.mark.parametrize(
    ("channel", "on", "lapsed"),
    [
        ("email", date(2024, 11, 18), False),
        ("email", date(2025, 11, 17), False),
        ("email", date(2025, 11, 18), False),  # the last day of the year granted
        ("email", date(2025, 11, 19), True),
        ("email", date(2030, 1, 1), True),
        ("zivver", date(2025, 11, 19), False),
        ("zivver", date(2100, 12, 31), False),
        ("folder", date(2030, 1, 1), False),
        ("manual", date(2030, 1, 1), False),
        ("fax", date(2025, 1, 1), True),  # a channel the basis does not name is not authorised
    ],
)
def test_channel_validity_around_the_boundary(channel: str, on: date, lapsed: bool) -> None:
    assert channel_lapsed(BASIS, channel, on) is lapsed


def test_lapsed_channels() -> None:
    assert lapsed_channels(BASIS, date(2025, 11, 18)) == []
    assert lapsed_channels(BASIS, date(2025, 11, 19)) == ["email"]


# ---- purge plans ---------------------------------------------------------------------------------------


def test_scheduled_delivery_is_due_at_the_start_of_its_deadline_day() -> None:
    f = facts(ceremony=date(2026, 3, 1))  # deadline 2026-04-01, 00:00 CEST = 2026-03-31T22:00Z
    plan = purge_plan(f, utc(2026, 3, 20), BASIS)
    assert plan.due_at == utc(2026, 3, 31, 22)
    assert plan.deadline == date(2026, 4, 1)
    assert plan.reason == "deadline"
    assert (plan.is_due, plan.held, plan.blocked_by_hold, plan.hold_ends_at) == (False, False, False, None)
    assert plan.days_left == 12
    assert purge_plan(f, utc(2026, 3, 31, 22), BASIS).is_due
    overdue = purge_plan(f, utc(2026, 4, 11, 12), BASIS)
    assert (overdue.is_due, overdue.days_left) == (True, -10)


def test_vaulted_without_ceremony_goes_at_the_maximum() -> None:
    f = facts(state="vaulted", ceremony=None)
    plan = purge_plan(f, utc(2026, 2, 1), BASIS)
    assert (plan.reason, plan.deadline, plan.is_due) == ("no-ceremony-maximum", date(2028, 1, 15), False)
    assert purge_plan(f, due_moment(date(2028, 1, 15)), BASIS).is_due
    short = purge_plan(f, utc(2026, 8, 1), BASIS, max_without_ceremony_months=6)
    assert (short.deadline, short.is_due) == (date(2026, 7, 15), True)


def test_a_ceremony_replaces_the_maximum_whatever_the_state_label_says() -> None:
    vaulted_with_date = purge_plan(facts(state="vaulted", ceremony=date(2026, 3, 1)), RECEIVED, BASIS)
    assert vaulted_with_date.reason == "deadline"
    scheduled_without = purge_plan(facts(state="scheduled", ceremony=None), RECEIVED, BASIS)
    assert scheduled_without.reason == "no-ceremony-maximum"


def test_hold_blocks_until_the_start_of_its_end_date() -> None:
    f = facts(state="held", ceremony=date(2026, 3, 1), hold_until=date(2026, 6, 1))
    during = purge_plan(f, utc(2026, 5, 1), BASIS)
    assert (during.is_due, during.held, during.blocked_by_hold) == (False, True, True)
    assert during.days_left is not None and during.days_left < 0  # shown as retention beyond the rule
    assert during.hold_ends_at == due_moment(date(2026, 6, 1))
    last_moment = purge_plan(f, due_moment(date(2026, 6, 1)) - timedelta(seconds=1), BASIS)
    assert last_moment.blocked_by_hold
    after = purge_plan(f, due_moment(date(2026, 6, 1)), BASIS)
    assert (after.is_due, after.held, after.blocked_by_hold) == (True, True, False)


def test_hold_that_ends_before_the_deadline_changes_nothing() -> None:
    f = facts(state="held", ceremony=date(2026, 3, 1), hold_until=date(2026, 3, 10))
    assert not purge_plan(f, utc(2026, 3, 20), BASIS).is_due
    assert purge_plan(f, utc(2026, 4, 1), BASIS).is_due


def test_hold_without_end_blocks_until_released() -> None:
    f = facts(state="held", ceremony=date(2026, 3, 1), hold_until=None)
    plan = purge_plan(f, utc(2090, 1, 1), BASIS)
    assert (plan.is_due, plan.blocked_by_hold, plan.hold_ends_at) == (False, True, None)


def test_a_stale_hold_date_on_a_released_delivery_is_ignored() -> None:
    f = facts(state="scheduled", ceremony=date(2026, 3, 1), hold_until=date(2027, 1, 1))
    plan = purge_plan(f, utc(2026, 4, 2), BASIS)
    assert (plan.is_due, plan.held, plan.blocked_by_hold) == (True, False, False)


def test_quarantined_ignores_the_ceremony_but_not_the_maximum() -> None:
    f = facts(state="quarantined", ceremony=date(2026, 3, 1))
    plan = purge_plan(f, utc(2026, 6, 1), BASIS)
    assert (plan.is_due, plan.reason, plan.deadline) == (False, "no-ceremony-maximum", date(2028, 1, 15))
    assert purge_plan(f, utc(2028, 1, 16), BASIS).is_due


def test_purged_is_never_due() -> None:
    plan = purge_plan(facts(state="purged"), utc(2099, 1, 1), BASIS)
    assert (plan.due_at, plan.deadline, plan.reason, plan.is_due, plan.days_left) == (
        None, None, None, False, None,
    )


def test_plan_refuses_facts_of_another_basis_and_bad_facts() -> None:
    other = LegalBasis("OTHER", "other")
    with pytest.raises(ValueError, match="legal basis"):
        purge_plan(facts(), RECEIVED, other)
    with pytest.raises(ValueError, match="state"):
        facts(state="deleted")
    with pytest.raises(ValueError, match="timezone"):
        facts(received_at=datetime(2026, 1, 1))  # naive on purpose


@settings(max_examples=300)
@given(
    state=st.sampled_from(STATES),
    ceremony=st.none() | dates_in_range,
    hold_until=st.none() | dates_in_range,
    received_at=moments,
    now=moments,
)
def test_purge_plan_invariants(
    state: str, ceremony: date | None, hold_until: date | None, received_at: datetime, now: datetime
) -> None:
    f = facts(state=state, ceremony=ceremony, hold_until=hold_until, received_at=received_at)
    plan = purge_plan(f, now, BASIS)
    if state == "purged":
        assert not plan.is_due and plan.due_at is None
        return
    assert plan.due_at is not None and plan.deadline is not None and plan.days_left is not None
    assert plan.due_at == due_moment(plan.deadline)
    if plan.is_due:
        assert now >= plan.due_at and not plan.blocked_by_hold
    if state != "held":
        assert plan.is_due == (plan.days_left <= 0)
    elif hold_until is None:
        assert not plan.is_due
    if state == "quarantined" or ceremony is None:
        assert plan.reason == "no-ceremony-maximum"
    else:
        assert plan.deadline == deadline(ceremony, BASIS)


# ---- moving ceremonies ---------------------------------------------------------------------------------


def test_extends_retention() -> None:
    assert extends_retention(date(2026, 4, 1), date(2026, 4, 2))
    assert not extends_retention(date(2026, 4, 1), date(2026, 4, 1))
    assert not extends_retention(date(2026, 4, 1), date(2026, 3, 1))
    assert not extends_retention(None, date(2027, 1, 1))
    limit = date(2028, 1, 15)
    assert not extends_retention(None, date(2027, 1, 1), no_ceremony_limit=limit)
    assert not extends_retention(None, limit, no_ceremony_limit=limit)
    assert extends_retention(None, date(2028, 1, 16), no_ceremony_limit=limit)


# ---- reminders -----------------------------------------------------------------------------------------

DEFAULTS = ReminderSettings()
CEREMONY = date(2026, 3, 1)  # deadline 2026-04-01


def _due(f: RetentionFacts, now: datetime, sent: set[str] | frozenset[str] = frozenset()) -> list[str]:
    return [r.key for r in reminders_due(f, purge_plan(f, now, BASIS), now, DEFAULTS, sent, BASIS)]


def test_purge_reminders_fire_once_per_threshold() -> None:
    f = facts(ceremony=CEREMONY)
    seven = "purge-7d:D1:2026-04-01"
    one = "purge-1d:D1:2026-04-01"
    assert _due(f, due_moment(date(2026, 3, 25)) - timedelta(seconds=1)) == []
    assert _due(f, due_moment(date(2026, 3, 25))) == [seven]
    assert _due(f, due_moment(date(2026, 3, 28)), {seven}) == []
    assert _due(f, due_moment(date(2026, 3, 31)), {seven}) == [one]
    assert _due(f, due_moment(date(2026, 3, 31)) + timedelta(hours=20), {seven, one}) == []
    assert _due(f, due_moment(date(2026, 4, 1))) == []  # due now: the purge itself reports


def test_after_downtime_only_the_nearest_passed_threshold_fires() -> None:
    f = facts(ceremony=CEREMONY)
    [reminder] = reminders_due(
        f, purge_plan(f, utc(2026, 3, 31, 8), BASIS), utc(2026, 3, 31, 8), DEFAULTS, set()
    )
    assert (reminder.kind, reminder.audience, reminder.threshold) == ("purge-soon", "staff", 1)
    assert reminder.deadline == date(2026, 4, 1)


def test_a_moved_ceremony_reminds_afresh() -> None:
    sent = {"purge-7d:D1:2026-04-01"}
    moved = facts(ceremony=date(2026, 3, 8))  # deadline 2026-04-08
    assert _due(moved, due_moment(date(2026, 4, 1)), sent) == ["purge-7d:D1:2026-04-08"]


def test_no_purge_reminder_while_a_hold_blocks() -> None:
    f = facts(state="held", ceremony=CEREMONY, hold_until=date(2026, 12, 1))
    assert _due(f, due_moment(date(2026, 3, 31))) == []


def test_quarantined_reminders_go_to_the_officer() -> None:
    f = facts(state="quarantined", ceremony=None)
    [reminder] = reminders_due(
        f, purge_plan(f, utc(2028, 1, 10), BASIS), utc(2028, 1, 10), DEFAULTS, set()
    )
    assert (reminder.key, reminder.audience) == ("purge-7d:D1:2028-01-15", "officer")


def test_no_ceremony_reminders_to_staff_then_officer() -> None:
    f = facts(state="vaulted", ceremony=None)
    staff, officer = "no-ceremony-14d-staff:D1", "no-ceremony-30d-officer:D1"
    assert _due(f, due_moment(date(2026, 1, 29)) - timedelta(seconds=1)) == []
    assert _due(f, due_moment(date(2026, 1, 29))) == [staff]
    assert _due(f, utc(2026, 2, 5), {staff}) == []
    assert _due(f, due_moment(date(2026, 2, 14)), {staff}) == [officer]
    assert _due(f, utc(2026, 6, 1)) == [staff, officer]  # after downtime: different people, both
    assert _due(f, utc(2026, 6, 1), {staff, officer}) == []
    assert _due(facts(state="scheduled", ceremony=CEREMONY), utc(2026, 2, 14)) == []


def test_no_ceremony_thresholds_are_configurable() -> None:
    f = facts(state="vaulted", ceremony=None)
    custom = ReminderSettings(reminder_days_before=(3,), no_ceremony_staff_days=2, no_ceremony_officer_days=5)
    keys = [r.key for r in reminders_due(f, purge_plan(f, utc(2026, 1, 20), BASIS), utc(2026, 1, 20), custom,
                                         set())]
    assert keys == ["no-ceremony-2d-staff:D1", "no-ceremony-5d-officer:D1"]


def test_the_maximum_is_announced_before_it_purges() -> None:
    f = facts(state="vaulted", ceremony=None)
    keys = _due(f, utc(2028, 1, 14, 12), {"no-ceremony-14d-staff:D1", "no-ceremony-30d-officer:D1"})
    assert keys == ["purge-1d:D1:2028-01-15"]


def test_never_a_reminder_for_a_purged_delivery() -> None:
    f = facts(state="purged", ceremony=None, channel="email", received_at=utc(2026, 1, 1))
    assert _due(f, utc(2026, 6, 1)) == []


@pytest.mark.parametrize(
    ("received_at", "channel", "expected"),
    [
        (utc(2025, 11, 18, 12), "email", []),
        (utc(2025, 11, 18, 22, 59), "email", []),  # 23:59 in Brussels on the last valid day
        (utc(2025, 11, 18, 23, 0), "email", ["legal-basis-lapsed:D1:VCMP-05-2024:email"]),
        (utc(2026, 2, 1), "email", ["legal-basis-lapsed:D1:VCMP-05-2024:email"]),
        (utc(2026, 2, 1), "zivver", []),
        (utc(2026, 2, 1), "folder", []),
        (utc(2026, 2, 1), None, []),
    ],
)
def test_delivery_on_a_lapsed_channel_alerts_the_officer(
    received_at: datetime, channel: str | None, expected: list[str]
) -> None:
    f = facts(ceremony=None, state="scheduled", received_at=received_at, channel=channel)
    now = received_at + timedelta(hours=1)
    found = reminders_due(f, purge_plan(f, now, BASIS), now, DEFAULTS, set(), BASIS)
    assert [r.key for r in found] == expected
    assert all(r.audience == "officer" and r.kind == "legal-basis-lapsed" for r in found)
    assert reminders_due(f, purge_plan(f, now, BASIS), now, DEFAULTS, set()) == []  # no basis given


@settings(max_examples=60, deadline=None)
@given(
    ceremony_offset=st.integers(min_value=-10, max_value=120),
    tick_hours=st.integers(min_value=2, max_value=72),
    state=st.sampled_from(["vaulted", "scheduled"]),
)
def test_ticking_sends_each_reminder_at_most_once(ceremony_offset: int, tick_hours: int, state: str) -> None:
    ceremony = None if state == "vaulted" else local_date(RECEIVED) + timedelta(days=ceremony_offset)
    f = facts(state=state, ceremony=ceremony)
    sent: list[str] = []
    now = RECEIVED
    while True:
        plan = purge_plan(f, now, BASIS, max_without_ceremony_months=3)
        if plan.is_due:
            break
        sent += [r.key for r in reminders_due(f, plan, now, DEFAULTS, set(sent), BASIS)]
        now += timedelta(hours=tick_hours)
    assert len(sent) == len(set(sent))
    if tick_hours <= 24:  # the agent saw the day before the deadline
        assert any(key.startswith("purge-1d:") for key in sent)


def test_reminder_settings() -> None:
    assert DEFAULTS == ReminderSettings((7, 1), 14, 30)
    assert ReminderSettings.from_config(RetentionSettings()) == DEFAULTS
    with pytest.raises(ValueError, match="at least 1"):
        ReminderSettings(reminder_days_before=(7, 0))


# ---- clock sanity --------------------------------------------------------------------------------------

SEEN = utc(2026, 5, 1, 12)
MARGIN = timedelta(days=2)


def test_classify_clock() -> None:
    assert classify_clock(None, SEEN, MARGIN) is None
    assert classify_clock(SEEN, SEEN, MARGIN) is None
    assert classify_clock(SEEN, SEEN + MARGIN, MARGIN) is None  # within the margin
    jump = classify_clock(SEEN, SEEN + MARGIN + timedelta(seconds=1), MARGIN)
    assert jump == ClockJump("forward", SEEN, SEEN + MARGIN + timedelta(seconds=1))
    assert jump.delta == MARGIN + timedelta(seconds=1)
    back = classify_clock(SEEN, SEEN - timedelta(seconds=1), MARGIN)
    assert back is not None and back.kind == "backward" and back.delta == timedelta(seconds=-1)
    assert classify_clock(SEEN, SEEN + timedelta(days=3)) is not None  # default margin: 2 days
    assert classify_clock(SEEN, SEEN + timedelta(days=3), timedelta(days=4)) is None


def test_purge_due_only_through_a_forward_jump_waits_for_the_officer() -> None:
    now = SEEN + timedelta(days=30)
    assert needs_clock_confirmation(SEEN + timedelta(days=10), SEEN, now, MARGIN)
    assert needs_clock_confirmation(now, SEEN, now, MARGIN)
    assert not needs_clock_confirmation(SEEN, SEEN, now, MARGIN)  # was already due before the jump
    assert not needs_clock_confirmation(SEEN - DAY, SEEN, now, MARGIN)
    assert not needs_clock_confirmation(now + DAY, SEEN, now, MARGIN)  # not due at all
    assert not needs_clock_confirmation(SEEN + DAY, SEEN, SEEN + MARGIN, MARGIN)  # normal running
    assert not needs_clock_confirmation(None, SEEN, now, MARGIN)
    assert not needs_clock_confirmation(SEEN + DAY, None, now, MARGIN)  # first start: nothing to compare
    assert not needs_clock_confirmation(SEEN - DAY, SEEN, SEEN - timedelta(days=3), MARGIN)  # backward


def test_a_backward_jump_never_makes_a_due_purge_undue() -> None:
    f = facts(ceremony=CEREMONY)
    last_seen, now = utc(2026, 4, 2), utc(2026, 3, 20)
    assert not purge_plan(f, now, BASIS).is_due
    assert purge_plan(f, effective_now(last_seen, now), BASIS).is_due
    assert effective_now(None, now) == now
    assert effective_now(now, last_seen) == last_seen


# ---- what a ceremony date may do (invariant 11) ----------------------------------------------------------------

NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)  # received 2026-01-15: a date from then on is plausible


def judged(ceremony: date, *, state: str = "vaulted", recorded: date | None = None,
           now: datetime = NOW) -> CeremonyJudgement:
    return judge_ceremony(facts(state=state, ceremony=recorded), ceremony, now, BASIS)


def test_a_date_before_the_receipt_or_after_the_maximum_is_impossible() -> None:
    assert judged(date(2026, 1, 14)).before_receipt and not judged(date(2026, 1, 15)).before_receipt
    assert judged(date(2025, 12, 12)).before_receipt  # the typo of the issue: 2025 for 2026
    latest = judged(date(2028, 1, 15))
    assert latest.latest_date == date(2028, 1, 15) and not latest.beyond_maximum
    assert judged(date(2028, 1, 16)).beyond_maximum


@pytest.mark.parametrize(("ceremony", "now", "early", "after_the_fact"), [
    (date(2026, 2, 19), NOW, True, True),  # deadline 2026-03-19: passed
    (date(2026, 2, 20), NOW, True, True),  # deadline today: due since 00:00
    (date(2026, 2, 21), NOW, True, False),  # due at midnight tonight: within 24 h
    (date(2026, 2, 21), datetime(2026, 3, 20, 22, 59, 59, tzinfo=UTC), True, False),
    (date(2026, 2, 22), datetime(2026, 3, 20, 23, 0, 0, tzinfo=UTC), True, False),  # due exactly 24 h ahead
    (date(2026, 2, 22), datetime(2026, 3, 20, 22, 59, 59, tzinfo=UTC), False, False),  # 24 h and a second
    (date(2026, 3, 1), NOW, False, False),
])
def test_a_date_that_makes_the_delivery_due_within_24_hours_is_an_early_destruction(
        ceremony: date, now: datetime, early: bool, after_the_fact: bool) -> None:
    found = judged(ceremony, now=now)
    assert (found.early, found.after_the_fact) == (early, after_the_fact)
    assert found.new_due_at == due_moment(deadline(ceremony, BASIS))


def test_lateness_is_measured_against_the_deadline_before_the_change() -> None:
    first = judged(date(2026, 2, 19))  # no ceremony yet: the 24-month maximum applied
    assert first.previous_due_at == no_ceremony_due(RECEIVED, BASIS)
    moved = judged(date(2026, 2, 19), state="scheduled", recorded=date(2026, 4, 1))
    assert moved.previous_due_at == due_moment(date(2026, 5, 1))
    assert moved.early and not moved.extends  # earlier: no extension, whatever else it is


def test_an_extension_is_a_later_deadline_than_the_one_before() -> None:
    assert judged(date(2026, 4, 2), state="scheduled", recorded=date(2026, 4, 1)).extends
    assert not judged(date(2026, 3, 31), state="scheduled", recorded=date(2026, 4, 1)).extends
    assert not judged(date(2026, 4, 2)).extends  # a first date shortens the 24-month maximum
    assert judged(date(2027, 12, 20)).extends  # deadline 2028-01-20, after the maximum (2028-01-15)


@given(ceremony=dates_in_range, now=moments)
def test_judging_a_date_is_consistent(ceremony: date, now: datetime) -> None:
    found = judge_ceremony(facts(state="vaulted", ceremony=None), ceremony, now, BASIS)
    assert found.early == (found.new_due_at <= now + timedelta(hours=24))
    assert not found.after_the_fact or found.early  # after the fact is always an early destruction
    assert found.before_receipt == (ceremony < local_date(RECEIVED))


def test_lateness_and_being_late() -> None:
    due = datetime(2026, 12, 9, 23, 0, tzinfo=UTC)  # 00:00 on 10 December in Brussels
    assert lateness_seconds(None, due) == 0
    assert lateness_seconds(due, due - DAY) == 0  # early: never negative
    assert lateness_seconds(due, due + timedelta(hours=5, seconds=3)) == 5 * 3600 + 3
    assert not purged_late(due, due + timedelta(hours=22))  # still 10 December in Brussels: on time
    assert purged_late(due, due + timedelta(hours=25))
    assert not purged_late(None, due)
