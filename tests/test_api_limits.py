"""What a caller may cost the agent, as pure parts with given times: refusals folded, the request budget,
connection slots with reserves, rate-limited logging, pages and typed requests. The same limits against the
real agent and real OS accounts: tests/test_hostile_api.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from retention_agent.api.budget import OFFICER, OTHER, STAFF, ConnectionSlots, RequestBudget, TokenBucket
from retention_agent.api.paging import fill
from retention_agent.api.refusals import RefusalKey, RefusalLedger
from retention_agent.api.requests import a_date, arg, choice, flag, free_text, parse, text, texts, whole
from retention_agent.errors import DateFormatError, PersonalDataInTextError, UsageError
from retention_agent.system.log_limits import LogLimiter, traceback_lines

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
KEY = RefusalKey("mallory", 1666, "ceremony.set", "not-on-staff-list")


def at(seconds: float) -> tuple[float, datetime]:
    return seconds, T0 + timedelta(seconds=seconds)


# ---- refusals, folded -------------------------------------------------------------------------------------


def test_the_first_refusal_of_a_window_is_audited_at_once_and_its_repeats_are_folded() -> None:
    ledger = RefusalLedger(window_s=60)
    assert ledger.note(KEY, *at(0)) is True
    assert [ledger.note(KEY, *at(s)) for s in (1, 2, 59)] == [False, False, False]
    assert ledger.due(59.9) == []  # the window is still open
    [follow_up] = ledger.due(60)  # closed by the periodic duty, with no further request
    assert (follow_up.key, follow_up.repeated) == (KEY, 3)
    assert follow_up.details() == {"reason": "not-on-staff-list", "repeated": 3, "from": "2026-11-02T09:00:01Z",
                                   "until": "2026-11-02T09:00:59Z", "uid": 1666}
    assert ledger.due(120) == [] and ledger.pending() == 0
    assert ledger.note(KEY, *at(61)) is True  # a new window


def test_a_window_without_repeats_writes_nothing_more_and_keys_are_separate() -> None:
    ledger = RefusalLedger(window_s=60)
    other = RefusalKey("mallory", 1666, "open", "not-on-staff-list")
    assert ledger.note(KEY, *at(0)) and ledger.note(other, *at(1))
    assert not ledger.note(other, *at(2))
    assert [(f.key.action, f.repeated) for f in ledger.due(100)] == [("open", 1)]


def test_a_refusal_after_the_window_closes_it_and_opens_the_next() -> None:
    ledger = RefusalLedger(window_s=60)
    ledger.note(KEY, *at(0))
    ledger.note(KEY, *at(30))
    assert ledger.note(KEY, *at(61)) is True
    [follow_up] = ledger.due(61)
    assert follow_up.repeated == 1


def test_counted_refusals_are_written_when_the_agent_stops_and_kept_when_they_cannot_be() -> None:
    ledger = RefusalLedger(window_s=60)
    slots = RefusalKey("", 1666, "connect", "no-free-slot")
    for second in range(5):
        assert ledger.note(slots, *at(second), at_once=False) is False  # never audited one by one
    ledger.note(KEY, *at(0))
    ledger.note(KEY, *at(1))
    drained = ledger.drain()
    assert sorted((f.key.action, f.repeated) for f in drained) == [("ceremony.set", 1), ("connect", 5)]
    ledger.give_back(drained)  # the database was full
    assert ledger.pending() == 6 and len(ledger.due(0)) == 2


# ---- the request budget and connection slots ---------------------------------------------------------------


def test_the_token_bucket_allows_a_burst_then_its_rate_and_refuses_long_waits() -> None:
    bucket = TokenBucket(rate=2, burst=3, tokens=3, stamp=0)
    assert [bucket.take(0, max_wait=1) for _ in range(3)] == [0, 0, 0]
    assert bucket.take(0, max_wait=1) == pytest.approx(0.5)  # waits for the next token
    assert bucket.take(0, max_wait=1) == pytest.approx(1.0)
    assert bucket.take(0, max_wait=1) is None  # would wait 1.5 s: refused, nothing taken
    assert bucket.take(10, max_wait=1) == 0  # refilled (up to the burst)


def test_the_budget_is_per_account() -> None:
    budget = RequestBudget(rate=1, burst=2, max_wait=0)
    assert [budget.take("mallory", 0) for _ in range(3)] == [0, 0, None]
    assert budget.take("trudy", 0) == 0


def test_four_hostile_accounts_cannot_take_the_slots_kept_for_staff_and_the_officer() -> None:
    slots = ConnectionSlots(total=32, per_account=8, reserved={OFFICER: 4, STAFF: 8})
    taken = [slots.take(uid, OTHER) for uid in (1001, 1002, 1003, 1004) for _ in range(8)]
    assert taken.count(True) == 20  # 32 minus both reserves
    assert [slots.take(2001, STAFF) for _ in range(8)] == [True] * 8  # staff use their reserve
    assert slots.take(2002, STAFF) is False  # but not the officer's
    assert [slots.take(0, OFFICER) for _ in range(4)] == [True] * 4
    assert slots.take(0, OFFICER) is False  # every slot is now in use
    slots.give_back(1001)
    assert slots.take(1001, OTHER) is False and slots.take(0, OFFICER) is True


# ---- logging a caller can trigger -----------------------------------------------------------------------


def test_one_line_per_key_and_minute_and_the_count_of_those_left_out() -> None:
    now = [0.0]
    limiter = LogLimiter(lambda: now[0], interval_s=60)
    assert limiter.allow("internal:open") == 0
    assert [limiter.allow("internal:open") for _ in range(3)] == [None] * 3
    assert limiter.allow("internal:hold") == 0
    now[0] = 60
    assert limiter.allow("internal:open") == 3


def test_a_traceback_without_the_exceptions_message() -> None:
    try:
        {}["88031412365"]
    except KeyError as exc:
        shown = traceback_lines(exc)
    assert "builtins.KeyError" in shown and "test_api_limits.py" in shown
    assert "88031412365" not in shown.split("\n")[-1]  # the message (the missing key) is not there


# ---- pages and typed requests --------------------------------------------------------------------------------


def test_a_page_ends_at_its_limit_or_its_bytes_and_holds_at_least_one_row() -> None:
    assert fill(iter(range(11)), 10, lambda r: 1) == (list(range(10)), True)
    assert fill(iter(range(3)), 10, lambda r: 1) == ([0, 1, 2], False)
    assert fill(iter(range(11)), 10, lambda r: 300, budget=1000) == ([0, 1, 2], True)
    assert fill(iter([5, 6]), 10, lambda r: 5000, budget=1000) == ([5], True)


@dataclass(frozen=True)
class Sample:
    delivery: str = arg(text(64))
    when: object = arg(a_date)
    note: str = arg(free_text(20, "--note"), default="")
    count: int = arg(whole(1, 5), default=1)
    mode: str = arg(choice(("a", "b")), default="a")
    yes: bool = arg(flag, default=False)
    ids: tuple[str, ...] = arg(texts(text(8), min_items=0, max_items=2), default=())


def test_a_typed_request_is_built_from_checked_arguments() -> None:
    parsed = parse(Sample, {"delivery": "D1", "when": "2026-11-02", "note": " ok ", "count": 5, "mode": "b",
                            "yes": True, "ids": ["x", "y"]}, "sample")
    assert (parsed.delivery, str(parsed.when), parsed.note, parsed.count, parsed.mode, parsed.yes, parsed.ids) == (
        "D1", "2026-11-02", "ok", 5, "b", True, ("x", "y"))
    assert parse(Sample, {"delivery": "D1", "when": "2026-11-02", "note": None}, "sample").note == ""


@pytest.mark.parametrize(("args", "message"), [
    ({"when": "2026-11-02"}, "delivery is required"),
    ({"delivery": "D1", "when": "2026-11-02", "account": "root"}, "unknown argument 'account'"),
    ({"delivery": 7, "when": "2026-11-02"}, "delivery must be a text"),
    ({"delivery": "D1", "when": "2026-11-02", "count": True}, "count must be a whole number from 1 to 5"),
    ({"delivery": "D1", "when": "2026-11-02", "count": 9}, "count must be a whole number"),
    ({"delivery": "D1", "when": "2026-11-02", "mode": "c"}, "mode must be one of a, b"),
    ({"delivery": "D1", "when": "2026-11-02", "yes": "yes"}, "yes must be true or false"),
    ({"delivery": "D1", "when": "2026-11-02", "ids": "x"}, "ids must be a list of 0 to 2 items"),
    ({"delivery": "D1", "when": "2026-11-02", "ids": ["x", "y", "z"]}, "ids must be a list"),
    ({"delivery": "D1", "when": "2026-11-02", "note": "x" * 21}, "--note must be one line of at most 20"),
])
def test_each_bad_argument_is_a_usage_error_that_names_it(args: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        parse(Sample, args, "sample")
    assert caught.value.params["command"] == "sample"


def test_a_check_may_raise_its_own_catalogue_error() -> None:
    with pytest.raises(DateFormatError):
        parse(Sample, {"delivery": "D1", "when": "2 november"}, "sample")
    with pytest.raises(PersonalDataInTextError):
        parse(Sample, {"delivery": "D1", "when": "2026-11-02", "note": "a@example.be"}, "sample")
