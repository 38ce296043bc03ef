"""Text someone else typed cannot rewrite the terminal: control and bidirectional characters are shown as
escapes in tables, messages and JSON output (the attack on ``audit show`` itself is in tests/test_hostile_api.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from retention_agent.cli.main import emit_json, table
from retention_agent.errors import UnknownStaffError
from retention_agent.i18n import catalogue as i18n
from retention_agent.i18n.safe_text import has_unsafe, safe, safe_json
from retention_agent.session.status_table import finding_text, table_lines

FORGED = "\r\x1b[2K9999  2026-11-02T09:00:00Z  red_officer  whoami  granted"
UNSAFE = ["\x00", "\x07", "\x08", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9b", "\u061c", "\u200e", "\u200f",
          "\u2028", "\u2029", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
          "\u2069"]


@pytest.mark.parametrize("char", UNSAFE)
def test_each_unsafe_character_is_shown_as_a_visible_escape(char: str) -> None:
    shown = safe(f"a{char}b")
    assert not has_unsafe(shown)
    assert shown.startswith("a\\") and shown.endswith("b") and len(shown) > 3


def test_ordinary_text_is_left_alone() -> None:
    text = "Mia Peeters-Çelik, café, Ελλάδα, 名单, عربي 👩\u200d💻"  # a zero-width joiner inside an emoji
    assert safe(text) == text


def test_a_forged_granted_line_in_a_table_stays_on_its_own_line() -> None:
    result = CliRunner().invoke(_table_command([("17", "uid:4242", FORGED)]))
    assert result.exit_code == 0
    assert "\r" not in result.output and "\x1b" not in result.output
    lines = result.output.splitlines()
    assert len(lines) == 3 and "\\x0d\\x1b[2K9999" in lines[2]


def test_status_tables_and_findings_escape_their_values() -> None:
    lines = table_lines(["a"], [[FORGED], ["\u202eevil"]])
    assert not any(has_unsafe(line) for line in lines)
    finding = {"message": "{source} is not a checkpoint of this log", "params": {"source": "x\x1b[31mred"}}
    assert not has_unsafe(finding_text(finding))


def test_messages_escape_their_values_in_both_languages() -> None:
    for lang in ("nl", "en"):
        text = UnknownStaffError(account="mia\r\x1b[2Kgranted").render(lang)
        assert not has_unsafe(text, allow_newlines=True), text  # the message and its hint are two lines
    i18n.set_language("en")
    try:
        assert i18n.t("{account} removed from the staff list.", account="a\u202eb") == \
            "a\\u202eb removed from the staff list."
    finally:
        i18n.set_language(None)


def test_json_output_stays_the_same_value_with_no_raw_control_or_bidi_character() -> None:
    value = {"subject": [FORGED, "\u202eevil\x85", "café"], "n": 1}
    result = CliRunner().invoke(_json_command(value))
    assert result.exit_code == 0
    assert json.loads(result.output) == value
    assert not has_unsafe(result.output, allow_newlines=True)
    assert "café" in result.output  # non-ASCII text stays readable
    assert safe_json(json.dumps({"a": 1}, indent=2)) == json.dumps({"a": 1}, indent=2)


def _table_command(rows: list[tuple[str, ...]]) -> object:
    import click

    @click.command()
    def show() -> None:
        table(["seq", "account", "subject"], rows)

    return show


def _json_command(value: object) -> object:
    import click

    @click.command()
    def show() -> None:
        emit_json(value)

    return show
