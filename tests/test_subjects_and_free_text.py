"""What a request's text may leave in the agent's storage (pure): subjects only once validated, free text only
without anything that looks like personal data. The attack through the real agent is in test_hostile_api.py."""

from __future__ import annotations

import pytest

from retention_agent.errors import PersonalDataInTextError, UsageError
from retention_agent.rules.free_text import check_free_text, is_national_number, personal_data_in
from retention_agent.rules.subjects import (
    INVALID,
    MAX_LISTED,
    is_account_name,
    is_delivery_id,
    keyed_digest,
    recorded,
    refused,
)

KEY = b"k" * 32
ULID = "01JD5Z8K3Q4W7E2R9T6YABCDEF"

# check digits: 97 - (first nine digits mod 97), or with a 2 in front for people born from 2000 on
NATIONAL_NUMBERS = [
    "88031412365",  # 14 March 1988 (the number typed in the attack)
    "05031412397",  # 14 March 2005: 97 - (2050314123 mod 97) = 97
    "88231412311",  # a BIS number: month + 20
    "88.03.14-123.65", "880314 123 65", "880314-123-65", "88 03 14 123 65",
]


@pytest.mark.parametrize("text", NATIONAL_NUMBERS)
def test_a_national_or_bis_number_is_found_however_it_is_written(text: str) -> None:
    assert personal_data_in(f"belde terug naar {text} gisteren") == "national-number"


@pytest.mark.parametrize("text", ["88031412366", "05031412396", "88131412365", "88033212365", "880314123650",
                                  "1880314123651", "2026-11-02", "dossier 2026/1234", "0470 12 34 56"])
def test_numbers_without_valid_check_digits_or_date_are_not_national_numbers(text: str) -> None:
    assert personal_data_in(text) is None


def test_the_post_2000_rule_is_its_own() -> None:
    """The century is not in the number: both rules are tried. 05031412397 passes only the post-2000 one."""
    assert 97 - 50314123 % 97 != 97 and is_national_number("05031412397")
    assert is_national_number("88031412365") and not is_national_number("88031412364")


@pytest.mark.parametrize("text", ["mail jan.peeters@example.be", "J.Peeters+x@gemeente.vlaanderen.be",
                                  "naar mia_p@sub.domain.org vragen"])
def test_an_e_mail_address_is_found(text: str) -> None:
    assert personal_data_in(text) == "e-mail"


def test_free_text_is_bounded_one_printable_line_and_free_of_personal_data() -> None:
    assert check_free_text("  klacht 2026/17  ", field="--reason", max_len=50, command="hold") == "klacht 2026/17"
    with pytest.raises(PersonalDataInTextError) as found:
        check_free_text("belde 88.03.14-123.65 terug", field="--note", max_len=200, command="open")
    assert found.value.params == {"field": "--note", "what": "national-number"}
    assert "88" not in found.value.render("en")  # the text itself is never repeated
    for bad in ("x" * 51, "twee\nregels", "escape \x1b[2K"):
        with pytest.raises(UsageError):
            check_free_text(bad, field="--reason", max_len=50, command="hold")


def test_valid_subjects_are_recorded_as_they_are() -> None:
    subjects, details = recorded({"delivery": ULID, "account": "mpeeters", "period": "2026-Q4",
                                  "item": "privacy-statement", "name": "Mia Peeters", "note": "x"}, KEY)
    assert subjects == [ULID, "mpeeters", "2026-Q4", "privacy-statement"] and details == {}  # names are no ids
    assert is_account_name("GEMEENTE\\mpeeters") and is_account_name("Jan Peeters") and is_account_name("svc$")


@pytest.mark.parametrize(("name", "value"), [
    ("delivery", "88031412365 Zzqxcanary Holdout"), ("delivery", "88031412365"), ("delivery", ULID.lower()),
    ("delivery", "\r\x1b[2K9999 red_officer whoami granted"), ("account", "88031412365"),
    ("account", "jan88031412365"), ("account", "mia@example.be"), ("account", "-rf"), ("period", "2026-13"),
    ("item", "Website"), ("item", "../../etc/passwd"), ("delivery", 42), ("deliveries", [ULID, {"x": 1}]),
])
def test_anything_else_is_an_invalid_subject_with_its_length_and_a_keyed_hash(name: str, value: object) -> None:
    subjects, details = recorded({name: value}, KEY)
    bad = value[-1] if isinstance(value, list) else value
    assert subjects[-1] == INVALID
    assert details["invalid_subjects"][-1] == {"length": len(bad) if isinstance(bad, str) else -1,
                                               "hmac": keyed_digest(KEY, [bad])}
    assert str(bad) not in str(details) and str(bad) not in subjects


def test_a_long_list_is_recorded_up_to_a_limit_and_counted_beyond() -> None:
    ids = [ULID[:-3] + f"{n:03d}" for n in range(MAX_LISTED + 7)]
    subjects, details = recorded({"deliveries": ids}, KEY)
    assert subjects == ids[:MAX_LISTED] and details == {"subjects_not_listed": 7}


def test_a_refusal_keeps_the_number_of_subjects_and_one_keyed_hash() -> None:
    args = {"deliveries": ["88031412365 Zzqxcanary"] * 3, "date": "2026-01-01", "reason": "x"}
    kept = refused(args, KEY)
    assert kept == {"subjects": 3, "subjects_hmac": keyed_digest(KEY, ["88031412365 Zzqxcanary"] * 3)}
    assert refused(args, b"another key" * 3)["subjects_hmac"] != kept["subjects_hmac"]  # keyed: no dictionary
    assert refused({"date": "2026-01-01"}, KEY) == {"subjects": 0}
    assert is_delivery_id(ULID) and not is_delivery_id("8" + ULID[1:])  # a ULID's first character is at most 7
