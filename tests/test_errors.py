"""The error catalogue: stable ids, documented exit codes, and messages that render fully in en and nl."""

from __future__ import annotations

import re
import string

import pytest

from retention_agent import errors
from retention_agent.errors import RetentionAgentError, by_id, catalogue

CLASSES = [cls for cls in catalogue() if cls.__module__.startswith("retention_agent")]
LEFTOVER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def placeholders(cls: type[RetentionAgentError]) -> set[str]:
    return {name for text in (cls.message, cls.hint)
            for _, name, _, _ in string.Formatter().parse(text) if name}


def sample_params(cls: type[RetentionAgentError]) -> dict[str, str]:
    return {name: f"<{name}-value>" for name in placeholders(cls)}


def test_the_catalogue_is_one_package() -> None:
    """borg's habit: every error a user can meet is declared in the one catalogue (a module per area), and every
    class is importable from the package itself."""
    elsewhere = [f"{cls.__module__}.{cls.__name__}" for cls in CLASSES
                 if not cls.__module__.startswith(f"{errors.__name__}.")]
    assert not elsewhere
    assert len(CLASSES) >= 30
    assert [cls for cls in CLASSES if getattr(errors, cls.__name__, None) is not cls] == []


def test_ids_are_unique_and_look_stable() -> None:
    ids = [cls.error_id for cls in CLASSES]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    for cls in CLASSES:
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", cls.error_id), cls
        if cls is not RetentionAgentError:
            assert "error_id" in vars(cls), f"{cls.__name__} inherits its id instead of having its own"


def test_some_ids_are_what_scripts_rely_on() -> None:
    assert errors.AccessDeniedError.error_id == "access-denied"
    assert errors.AgentUnreachableError.error_id == "agent-unreachable"
    assert errors.AuditIntegrityError.error_id == "audit-integrity"
    assert errors.KeyStoreRefusedError.error_id == "keystore-refused"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.error_id)
def test_exit_code_is_a_documented_one(cls: type[RetentionAgentError]) -> None:
    assert cls.exit_code in {1, 2, 3, 4}


def test_exit_codes_of_the_kinds_that_scripts_tell_apart() -> None:
    assert errors.AccessDeniedError.exit_code == 3
    assert errors.UsageError.exit_code == 2
    for cls in (errors.AuditIntegrityError, errors.VaultIntegrityError, errors.SignatureInvalidError):
        assert cls.exit_code == 4


@pytest.mark.parametrize("lang", ["en", "nl"])
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.error_id)
def test_renders_without_leftover_placeholders(cls: type[RetentionAgentError], lang: str) -> None:
    params = sample_params(cls)
    text = cls(**params).render(lang)
    assert not LEFTOVER.search(text), text
    shown_in_words = {"action"} if cls is errors.AccessDeniedError else set()  # a code, shown as what it does
    for name, value in params.items():
        assert name in shown_in_words or value in text, f"{cls.__name__} ({lang}) drops {value}"
    assert cls.message.strip()
    if cls is not RetentionAgentError:
        assert cls.hint.strip(), f"{cls.__name__} has no hint that says what to do next"


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.error_id)
def test_survives_the_wire(cls: type[RetentionAgentError]) -> None:
    """The agent sends ``to_wire``; the client rebuilds the same error from it."""
    original = cls(**sample_params(cls))
    wire = original.to_wire()
    rebuilt = by_id(wire["id"])(**wire["params"])
    assert type(rebuilt) is cls
    assert rebuilt.render("en") == original.render("en")


def test_a_missing_parameter_is_visible_not_a_crash() -> None:
    text = errors.HomeMissingError().render("en")
    assert "{home}" in text  # lenient: shows the gap rather than raising KeyError


def test_unknown_ids_map_to_the_generic_error() -> None:
    assert by_id("no-such-error") is RetentionAgentError


def test_a_delivery_state_in_a_message_is_a_word_of_the_language() -> None:
    from retention_agent.errors import DeliveryStateError

    error = DeliveryStateError(delivery="01JD5Z8K3Q4W7E2R9T6YABCDEF", state="held")
    assert "heeft de status juridisch geblokkeerd;" in error.render("nl")
    assert "is held;" in error.render("en")
    assert error.to_wire()["params"]["state"] == "held"  # the wire keeps the code; each client says it its way
