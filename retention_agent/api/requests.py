"""Typed request objects: each operation's arguments, checked one by one before the operation runs.

An operation declares its arguments as a frozen dataclass whose fields carry a check (:func:`arg`) and
registers it (``@operation("hold", request=HoldArgs)``); :func:`parse` builds it from the request's JSON
object before the operation runs, or raises a catalogue error that names the argument
(a usage error, or the specific error a check raises: a bad date, a missing purpose, personal data in a
note). Nothing else is turned into a usage error: an exception from the operation itself is a bug, reported
as an internal error. Unknown arguments are refused, so a misspelt one is never silently ignored.

    @dataclass(frozen=True)
    class HoldArgs:
        delivery: str = arg(text(64))
        reason: str = arg(free_text(500, "--reason"))
        until: date = arg(a_date)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

from retention_agent.errors import UsageError
from retention_agent.rules.free_text import check_free_text

Check = Callable[[Any, "Field"], Any]
R = TypeVar("R")
_MISSING = dataclasses.MISSING


@dataclasses.dataclass(frozen=True)
class NoArguments:
    """The request of an operation that takes no arguments."""


@dataclasses.dataclass(frozen=True)
class Field:
    """The argument being checked, for messages: its name and the command it belongs to."""

    name: str
    command: str

    def invalid(self, problem: str) -> UsageError:
        return UsageError(problem=f"{self.name} {problem}", command=self.command)


def arg(check: Check, default: Any = _MISSING) -> Any:
    """A request field checked by ``check``; without a default the argument is required."""
    return dataclasses.field(default=default, metadata={"check": check})


def parse(cls: type[R], args: Mapping[str, Any], command: str) -> R:
    """The request ``cls`` built from ``args``, every argument checked; unknown ones refused. ``command`` is
    the command line's name for the operation, for the hint of a usage error."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(args) - set(fields))
    if unknown:
        raise UsageError(problem=f"unknown argument {unknown[0][:40]!r}", command=command)
    values: dict[str, Any] = {}
    for name, spec in fields.items():
        if name in args and args[name] is not None:
            values[name] = spec.metadata["check"](args[name], Field(name, command))
        elif spec.default is _MISSING:
            raise UsageError(problem=f"{name} is required", command=command)
    return cls(**values)


# ---- checks ----------------------------------------------------------------------------------------------


def text(max_len: int) -> Check:
    def check(value: Any, field: Field) -> str:
        if not isinstance(value, str) or len(value) > max_len:
            raise field.invalid(f"must be a text of at most {max_len} characters")
        return value

    return check


def free_text(max_len: int, label: str) -> Check:
    """Text kept on purpose (a note, a label, a reason): bounded, one line, no personal data (free_text.py)."""
    def check(value: Any, field: Field) -> str:
        if not isinstance(value, str) or len(value) > 4 * max_len:
            raise field.invalid(f"must be a text of at most {max_len} characters")
        return check_free_text(value, field=label, max_len=max_len, command=field.command)

    return check


def whole(low: int, high: int) -> Check:
    def check(value: Any, field: Field) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise field.invalid(f"must be a whole number from {low} to {high}")
        return value

    return check


def flag(value: Any, field: Field) -> bool:
    if not isinstance(value, bool):
        raise field.invalid("must be true or false")
    return value


def choice(options: Sequence[str], error: Callable[[], Exception] | None = None) -> Check:
    def check(value: Any, field: Field) -> str:
        if value not in options:
            raise error() if error else field.invalid(f"must be one of {', '.join(options)}")
        return str(value)

    return check


def a_date(value: Any, field: Field) -> date:
    from retention_agent.lifecycle.decisions import parse_user_date

    return parse_user_date(value)  # DateFormatError, with the value cut short


def texts(item: Check, *, min_items: int, max_items: int) -> Check:
    def check(value: Any, field: Field) -> tuple[Any, ...]:
        if not isinstance(value, list) or not min_items <= len(value) <= max_items:
            raise field.invalid(f"must be a list of {min_items} to {max_items} items")
        return tuple(item(v, field) for v in value)

    return check
