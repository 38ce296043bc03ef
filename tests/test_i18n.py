"""The Dutch catalogue is complete and sound, and people get Dutch by default and English on request.

Every user-facing English message is found by ``scripts/messages.py`` (the same collector a developer runs
with ``--missing``); a message without Dutch fails here with the place it was found.
"""

from __future__ import annotations

import importlib.util
import os
import re
import string
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.pofile import denormalize, read_po

from retention_agent.errors import AgentUnreachableError
from retention_agent.i18n import catalogue as i18n

ROOT = Path(__file__).resolve().parents[1]
PO_FILE = ROOT / "retention_agent" / "locale" / "nl.po"


def _load_collector() -> ModuleType:
    spec = importlib.util.spec_from_file_location("retention_agent_messages_script", ROOT / "scripts" / "messages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


messages = _load_collector()


@pytest.fixture(scope="module")
def collected() -> dict[str, str]:
    found: dict[str, str] = messages.collect()
    assert len(found) > 100, "the collector found almost no messages: is scripts/messages.py still working?"
    return found


@pytest.fixture(scope="module")
def catalog() -> dict[str, str]:
    """msgid -> msgstr as the agent reads them (a fuzzy entry counts as untranslated, as it does at run time)."""
    with PO_FILE.open("rb") as handle:
        parsed = read_po(handle, locale="nl")
    return {msgid: text for m in parsed if m.id and not m.fuzzy for msgid, text in messages.entry_texts(m.id, m.string)}


@pytest.fixture(scope="module")
def plurals() -> dict[tuple[str, str], tuple[str, ...]]:
    """(msgid, msgid_plural) -> the Dutch forms, of every plural entry."""
    with PO_FILE.open("rb") as handle:
        parsed = read_po(handle, locale="nl")
    return {(str(m.id[0]), str(m.id[1])): tuple(str(form) for form in m.string) for m in parsed
            if m.id and isinstance(m.id, tuple)}


@pytest.fixture
def language(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No language chosen: neither by the environment (conftest sets English) nor by ``set_language``."""
    monkeypatch.delenv("RETENTION_AGENT_LANG", raising=False)
    i18n.set_language(None)
    yield
    i18n.set_language(None)


def _placeholders(text: str) -> Counter[str]:
    return Counter(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


# ---- the catalogue ---------------------------------------------------------------------------------------


def test_every_message_has_a_dutch_translation(collected: dict[str, str], catalog: dict[str, str]) -> None:
    missing = [f"{where}: {msgid}" for msgid, where in collected.items() if not catalog.get(msgid, "").strip()]
    assert not missing, (f"{len(missing)} messages have no Dutch translation in {PO_FILE.name} "
                         "(run scripts/messages.py --add, then translate):\n" + "\n".join(missing))


def test_translations_keep_the_placeholders(catalog: dict[str, str],
                                            plurals: dict[tuple[str, str], tuple[str, ...]]) -> None:
    wrong = []
    pairs = [(msgid, msgstr) for msgid, msgstr in catalog.items() if not any(msgid in key for key in plurals)]
    for (one, other), forms in plurals.items():
        assert len(forms) == 2, f"{one!r}: Dutch has two plural forms (one, other), not {len(forms)}"
        pairs += [(one, forms[0]), (other, forms[1])]
    for msgid, msgstr in pairs:
        if not msgstr:
            continue
        try:
            if _placeholders(msgid) != _placeholders(msgstr):
                wrong.append(f"{msgid!r}: {sorted(_placeholders(msgid).elements())} -> "
                             f"{sorted(_placeholders(msgstr).elements())}")
        except ValueError as exc:  # an unbalanced brace: str.format would fail when the message is shown
            wrong.append(f"{msgid!r} / {msgstr!r}: {exc}")
    assert not wrong, "translations whose {placeholders} differ from the English:\n" + "\n".join(wrong)


# a number of things: "{count} deliveries", "{n} files"; not a number that names one ("entry {n} was changed",
# "report no. {n}") nor one before a verb or participle ("{count} found", "{count} wiped", "type {n} to …")
COUNTED = re.compile(r"(?<!entry )(?<!no\. )\{(count|n)\} (?!(?:of|more|on|in|to|found|[a-z]+ed)\b)[A-Za-z]")


def test_every_counted_message_has_plural_forms(collected: dict[str, str],
                                                plurals: dict[tuple[str, str], tuple[str, ...]]) -> None:
    """"1 bestanden" is wrong: a message that counts things is a plural entry (one form for 1, one for the rest),
    and ``t()`` chooses the form by its ``count`` (or ``n``)."""
    plural_ids = {msgid for key in plurals for msgid in key}
    singular = [f"{where}: {msgid}" for msgid, where in collected.items()
                if COUNTED.search(msgid) and msgid not in plural_ids]
    assert not singular, ("messages that count things without plural forms (write them in nl.po as msgid (one), "
                          "msgid_plural (the text in the code), msgstr[0], msgstr[1]):\n" + "\n".join(singular))
    incomplete = [one for (one, _), forms in plurals.items() if not all(form.strip() for form in forms)]
    assert not incomplete, f"plural entries with a Dutch form missing: {incomplete}"


NO_DATE = "{count} deliveries have no ceremony date yet"


def test_the_plural_form_follows_the_count(language: None) -> None:
    i18n.set_language("nl")
    assert i18n.t(NO_DATE, count=1) == "1 levering heeft nog geen ceremoniedatum"
    assert i18n.t(NO_DATE, count=3) == "3 leveringen hebben nog geen ceremoniedatum"
    assert i18n.t(NO_DATE, count=0).startswith("0 leveringen")
    i18n.set_language("en")  # the English singular comes from the same entry
    assert i18n.t("{count} deliveries have no ceremony date yet", count=1) == "1 delivery has no ceremony date yet"
    assert i18n.t(NO_DATE, count=2) == "2 deliveries have no ceremony date yet"


def test_the_catalogue_parses_without_duplicates_or_fuzzy_entries() -> None:
    with PO_FILE.open("rb") as handle:
        parsed = read_po(handle, locale="nl", abort_invalid=True)
    fuzzy = [str(m.id) for m in parsed if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy entries are ignored at run time; review them and remove the flag: {fuzzy}"
    msgids = _raw_msgids(PO_FILE.read_text(encoding="utf-8"))
    duplicates = sorted(msgid for msgid, n in Counter(msgids).items() if n > 1)
    assert not duplicates, f"msgids that occur more than once (Babel keeps only one): {duplicates}"
    assert len(msgids) == len(parsed) + 1  # every msgid seen here is one entry for Babel, plus the header


def _raw_msgids(text: str) -> list[str]:
    """The msgid of every (non-obsolete) entry as written, continuation lines joined."""
    found: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if current is not None and line.startswith('"'):
            current.append(line)
            continue
        if current is not None:
            found.append(denormalize("\n".join(current)))
            current = None
        match = re.match(r"msgid (\".*)$", line)
        if match:
            current = [match.group(1)]
    if current is not None:
        found.append(denormalize("\n".join(current)))
    return found


# ---- choosing the language -------------------------------------------------------------------------------

SAMPLE = "The retention-agent service is not running or cannot be reached at {socket}."


def test_dutch_by_default_and_english_on_request(language: None, monkeypatch: pytest.MonkeyPatch,
                                                 catalog: dict[str, str]) -> None:
    dutch = catalog[SAMPLE].format(socket="/x/agent.sock")
    english = SAMPLE.format(socket="/x/agent.sock")
    assert dutch != english
    assert i18n.current_language() == "nl"
    assert i18n.t(SAMPLE, socket="/x/agent.sock") == dutch
    assert i18n.t("yes") == "ja"

    monkeypatch.setenv("RETENTION_AGENT_LANG", "en")
    assert i18n.t(SAMPLE, socket="/x/agent.sock") == english
    monkeypatch.setenv("RETENTION_AGENT_LANG", "nl_BE.UTF-8")
    assert i18n.t(SAMPLE, socket="/x/agent.sock") == dutch

    i18n.set_language("en")
    assert i18n.t(SAMPLE, socket="/x/agent.sock") == english
    assert i18n.t("yes") == "yes"
    i18n.set_language("nl")
    monkeypatch.setenv("RETENTION_AGENT_LANG", "en")
    assert i18n.t(SAMPLE, socket="/x/agent.sock") == dutch  # the explicit choice wins over the environment


def test_an_unknown_language_falls_back_to_dutch(language: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETENTION_AGENT_LANG", "fr")
    assert i18n.current_language() == "nl"
    assert i18n.t("yes") == "ja"


def test_an_error_is_rendered_in_dutch_with_its_hint() -> None:
    text = AgentUnreachableError(socket="/x/agent.sock").render("nl")
    assert text.splitlines()[1].startswith("tip: ")
    assert "/x/agent.sock" in text and "cannot be reached" not in text


# ---- the real command line -------------------------------------------------------------------------------


def _status(home: Path, *options: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_AGENT_")}
    return subprocess.run([sys.executable, "-m", "retention_agent", *options, "--home", str(home), "status"],
                          capture_output=True, text=True, env=env, timeout=60, check=False, cwd=ROOT)


def test_the_cli_speaks_dutch_by_default_and_english_with_lang_en(tmp_path: Path) -> None:
    home = tmp_path / "no-home-here"

    dutch = _status(home)
    assert dutch.returncode != 0
    assert "De dienst retention-agent draait niet of is niet bereikbaar op" in dutch.stderr, dutch.stderr
    assert "tip: Start hem met 'retention-agent run'" in dutch.stderr, dutch.stderr
    assert "cannot be reached" not in dutch.stderr and "hint:" not in dutch.stderr

    english = _status(home, "--lang", "en")
    assert english.returncode == dutch.returncode
    assert "The retention-agent service is not running or cannot be reached at" in english.stderr, english.stderr
    assert "hint: Start it with 'retention-agent run'" in english.stderr, english.stderr
    assert "draait niet" not in english.stderr
    assert not home.exists()  # asking for the status creates nothing


# ---- click's own words and the help texts -----------------------------------------------------------------


def _cli_in_process(*args: str) -> tuple[int, str]:
    from click.testing import CliRunner

    from retention_agent.cli.main import main

    result = CliRunner().invoke(main, list(args), prog_name="retention-agent")
    return result.exit_code, result.output


@pytest.mark.usefixtures("language")
def test_click_refuses_a_command_line_in_dutch_and_in_english_with_lang_en() -> None:
    code, dutch = _cli_in_process("open", "01JD5Z8K3Q4W7E2R9T6Y")
    assert code == 2
    assert "Gebruik: retention-agent open [OPTIES] LEVERING" in dutch
    assert "Fout: Ontbrekende optie '--purpose'." in dutch and "Missing" not in dutch
    code, english = _cli_in_process("--lang", "en", "open", "01JD5Z8K3Q4W7E2R9T6Y")
    assert code == 2
    assert "Usage: retention-agent open [OPTIONS] DELIVERY" in english
    assert "Error: Missing option '--purpose'." in english
    code, dutch = _cli_in_process("audit", "show", "--limit", "veel")
    assert (code, dutch.splitlines()[-1]) == (2, "Fout: Ongeldige waarde voor '--limit': 'veel' is geen geldig getal.")


@pytest.mark.usefixtures("language")
def test_help_is_dutch_by_default_and_english_with_lang_en() -> None:
    code, dutch = _cli_in_process("open", "--help")
    assert code == 0
    assert "Open een levering voor een opgegeven doel" in dutch and "Voorbeeld: retention-agent open" in dutch
    assert "--note TEKST" in dutch and "Toon deze uitleg en stop." in dutch
    code, english = _cli_in_process("--lang", "en", "open", "--help")
    assert "Open a delivery for a stated purpose" in english and "Show this message and exit." in english
    code, listing = _cli_in_process("staff", "--help")
    assert "Opdrachten:" in listing and "Voeg een medewerker toe" in listing
