"""A scripted tour of the whole command line in Dutch: nothing a person reads is English.

The real agent runs; the real command line is run as a staff member (a real OS account, in a child of this
process that dropped to it) and as the privacy officer (the account running the tests, in a subprocess),
through every command: each one's ``--help``, its ordinary use, and deliberate mistakes that make click
refuse the command line ("Missing option", "No such option", a value that is no number) or the agent refuse
the request (a typed error). Every output, and the text of the PDFs it writes, is checked as the desktop
app's views are (``tests/english_check.py``): no word of the catalogue's English source strings that no Dutch
translation uses. What a person types is not English prose and is left out: command names, option names,
the values of a choice, ids, paths, account names. Timestamps are not looked at here.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from retention_agent.cli.main import main as cli_main
from retention_agent.cli.main import register_commands
from retention_agent.demo import synthetic_delivery
from retention_agent.i18n import catalogue as i18n
from retention_agent.status.checklist import IDS as CHECKLIST_IDS
from tests.accounts import in_child_as
from tests.conftest import ME, AgentProcess, make_home
from tests.english_check import english_in, english_only_words
from tests.helpers_accounts import NEEDS_ROOT, TempAccount, hermetic, traversable_folder

pytestmark = NEEDS_ROOT
DUTCH = {"RETENTION_AGENT_LANG": "nl"}


@dataclass
class Tour:
    home: Path
    folder: Path
    staff: TempAccount
    agent: AgentProcess
    deliveries: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def tour() -> Iterator[Tour]:
    with traversable_folder() as folder, hermetic(), TempAccount() as staff:
        home = make_home(folder / "home")
        agent = AgentProcess(home.root, env=DUTCH).start()
        try:
            yield Tour(home.root, folder, staff, agent)
        finally:
            agent.stop()


def _all_commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            if sub is not None and not sub.hidden:
                yield from _all_commands(sub, (*path, name))


def _typed_words() -> set[str]:
    """What a person types rather than reads: command names and the values of a choice (``invite``, ``read``)."""
    register_commands()
    words: set[str] = set(CHECKLIST_IDS)
    for path in _all_commands(cli_main):
        words.update(path)
        command: click.Command = cli_main
        for name in path:
            assert isinstance(command, click.Group)
            found = command.get_command(click.Context(command), name)
            assert found is not None
            command = found
        for param in command.params:
            if isinstance(param.type, click.Choice):
                words.update(str(choice) for choice in param.type.choices)
    return {part.lower() for word in words for part in re.findall(r"[A-Za-z]+", word)}


def _prose(text: str, accounts: list[str]) -> str:
    """``text`` without what a person typed or the agent named and numbered: paths and file names, options, ids
    and hashes, account names."""
    text = re.sub(r"\S*[/\\]\S*", " ", text)  # paths, as english_in does, before they are cut up below
    files = r"[\w.-]+\.(?:json|sig|pdf|html|zip|xlsx|csv|txt)\b"
    text = re.sub(rf"{files}|\b(?:report-)?\d{{4}}-[\w-]+", " ", text)  # files, dates, reports
    text = re.sub(r"(?<![\w-])--?[A-Za-z][\w-]*", " ", text)  # options
    text = re.sub(r"\b[0-9A-Z_]{2,}\b", " ", text)  # ids (ULIDs), metavars, error names (ENOENT)
    text = re.sub(r"\b[0-9a-fA-F]{16,}\b|\bSHA256:\S+", " ", text)  # hashes and key fingerprints
    for account in accounts:
        text = re.sub(rf"\b{re.escape(account)}\b", " ", text)
    return text


def _english(outputs: dict[str, str], accounts: list[str]) -> list[str]:
    vocabulary = english_only_words() - _typed_words()
    return [f"{label}: {hit}" for label, text in outputs.items()
            for hit in english_in([_prose(line, accounts) for line in text.splitlines()], vocabulary)]


# ---- running the command line ----------------------------------------------------------------------------------


def officer(tour: Tour, *args: str, lang: dict[str, str] = DUTCH, stdin: str = "") -> tuple[int, str]:
    """The officer (the account running the tests) runs the real command line in a new process."""
    done = subprocess.run([sys.executable, "-m", "retention_agent", "--home", str(tour.home), *args],
                          capture_output=True, text=True, input=stdin, timeout=120, check=False,
                          env={**os.environ, **lang})
    return done.returncode, done.stdout + done.stderr


def as_staff(tour: Tour, commands: list[list[str]], lang: str = "nl") -> list[tuple[int, str]]:
    """The staff member runs each command line, in a child of this process that became the account (the
    Python installation is not readable by it, so it cannot start a new one); its own home is ``~``."""
    entry = pwd.getpwnam(tour.staff.name)
    register_commands()
    for language in i18n.LANGUAGES:  # loaded now: the account may not read the installation's files
        i18n.catalogue(language)
        i18n.plural_forms(language)
        i18n.format_moment("2026-11-28T13:05:00Z", language)
        i18n.format_day("2026-11-28", language, long=True)

    def run_all() -> bytes:
        os.environ.update({"RETENTION_AGENT_LANG": lang, "HOME": entry.pw_dir, "USER": entry.pw_name})
        results = []
        for args in commands:
            out, err = io.StringIO(), io.StringIO()
            code: Any = 0
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    cli_main.main(args=["--home", str(tour.home), *args], prog_name="retention-agent")
                except SystemExit as exc:
                    code = exc.code
            results.append((code if isinstance(code, int) else 1, out.getvalue() + err.getvalue()))
        return json.dumps(results).encode()

    return [tuple(r) for r in json.loads(in_child_as(entry.pw_uid, entry.pw_gid, run_all))]


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(str(path)).pages)


# ---- the tour ---------------------------------------------------------------------------------------------------


def _staff_tour(tour: Tour) -> dict[str, str]:
    staff_home = Path(pwd.getpwnam(tour.staff.name).pw_dir)
    new_file = staff_home / "inburgeraars-2026-11.zip"
    new_file.write_bytes(synthetic_delivery(7))
    os.chown(new_file, tour.staff.uid, tour.staff.gid)
    (staff_home / "map").mkdir(exist_ok=True)
    os.chown(staff_home / "map", tour.staff.uid, tour.staff.gid)
    target, other = tour.deliveries[0], tour.deliveries[1]
    in_ten_days = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    commands = [
        ["--help"], *[[*path, "--help"] for path in list(_all_commands(cli_main))[1:]],
        ["whoami"],
        ["ingest", str(new_file)],
        ["ingest", str(staff_home / "bestaat-niet.xlsx")],  # an OS error: No such file or directory
        ["ingest", str(staff_home / "map")],  # a folder: refused
        ["deliveries"],
        ["ceremony", "list"],
        ["ceremony", "set", target, "--date", in_ten_days, "--label", "najaar"],
        ["open", target, "--purpose", "invite", "--to", str(staff_home / "map"), "--no-launch"],
        ["open", target],  # click: Missing option '--purpose'
        ["open", target, "--purpose", "feest"],  # click: Invalid value
        ["open", "01AAAAAAAAAAAAAAAAAAAAAAAA", "--purpose", "invite", "--no-launch"],  # the agent: no such delivery
        ["open", other, "--purpose", "other", "--no-launch"],  # 'other' needs a note
        ["staff", "list"],
        ["audit", "verify"],  # not an officer: refused
        ["audit", "show", "--limit", "veel"],  # click: not a number
        ["statuss"],  # click: No such command
        ["deliveries", "--alles"],  # click: No such option
        ["ceremony", "set", target],  # click: Missing option '--date'
        ["copies", "sweep"],
        ["notifier", "--once", "--no-sweep"],
        ["delivery", "unlock", target, "--password-stdin"],  # no password on standard input
    ]
    results = as_staff(tour, commands)
    return {"staff: " + " ".join(args): f"[{code}] {text}"
            for args, (code, text) in zip(commands, results, strict=True)}


def _officer_tour(tour: Tour) -> dict[str, str]:
    out = tour.folder / "voor-de-dpo"
    out.mkdir(exist_ok=True)
    broken_signers = tour.folder / "kapotte_signers"
    broken_signers.write_text("retention-agent@de-panne namespaces=\"deletion-proof\" ssh-ed25519\n")
    held, purged = tour.deliveries[2], tour.deliveries[3]
    today = datetime.now(UTC).date()
    month = today.strftime("%Y-%m")
    runs: list[list[str]] = [
        ["status"], ["whoami"], ["staff", "list"], ["deliveries"], ["ceremony", "list"],
        ["audit", "show"], ["audit", "verify"], ["vault", "verify"],
        ["checklist", "set", "website", "--done", today.isoformat(), "--evidence", "www.gemeente.be/privacy"],
        ["checklist", "set", "kerstfeest", "--done", today.isoformat()],  # unknown checklist item
        ["checklist", "set", "dpo", "--done", "morgen"],  # not a date
        ["hold", held, "--reason", "klacht 2026/17", "--until", (today + timedelta(days=60)).isoformat()],
        ["release", held],
        ["purge", purged, "--reason", "ceremonie geannuleerd", "--yes"],
        ["purge", "--due"],
        ["proof", "list"],
        ["proof", "export", purged, "--out", str(out)],
        ["proof", "verify", str(out / f"{purged}.json"), "--allowed-signers", str(out / "allowed_signers")],
        ["proof", "verify", str(out / f"{purged}.json"), "--allowed-signers", str(broken_signers)],  # key missing
        ["report", "--period", month, "--format", "pdf", "--out", str(out)],
        ["dpo", "verify", str(out)],
        ["quarantine", "release", "01AAAAAAAAAAAAAAAAAAAAAAAA", "--reason", "toch van AgII"],
        ["service", "status"],
        ["hold", held, "--reason", "klacht", "--until", "binnenkort"],
        ["purge"],  # neither --due nor a delivery
        ["init", "--municipality", "De Panne", "--officer", ME],  # a home is there already
        ["service", "install", "--mode", "user", "--dry-run", "--out", str(tour.folder / "dienst")],
        ["demo"],
    ]
    outputs = {}
    for args in runs:
        code, text = officer(tour, *args, stdin="geheim\n")
        outputs["officer: " + " ".join(args)] = f"[{code}] {text}"
    tampered = out / "gewijzigd.json"
    other_id = purged[:-1] + ("1" if purged.endswith("0") else "0")
    tampered.write_text((out / f"{purged}.json").read_text().replace(purged, other_id))
    (out / "gewijzigd.json.sig").write_bytes((out / f"{purged}.json.sig").read_bytes())
    code, text = officer(tour, "proof", "verify", str(tampered), "--allowed-signers", str(out / "allowed_signers"))
    assert code == 4, text
    outputs["officer: proof verify (changed)"] = text
    for pdf in sorted(out.glob("*.pdf")):
        outputs[f"PDF {pdf.name}"] = _pdf_text(pdf)
    assert any(name.startswith("PDF report") for name in outputs) and f"PDF {purged}.pdf" in outputs, sorted(outputs)
    return outputs


def _seed(tour: Tour) -> None:
    """Four deliveries, taken in by the officer, and the staff member on the list with the everyday roles."""
    code, text = officer(tour, "staff", "add", tour.staff.name, "--name", "Mia Peeters", "--role", "import",
                         "--role", "read", "--role", "modify")
    assert code == 0, text
    code, text = officer(tour, "staff", "add", ME, "--name", "Jan De Wit", *[f"--role={role}" for role in
                                                                          ("officer", "import", "destroy")])
    assert code == 0, text
    files = []
    for n in range(4):
        path = tour.folder / f"levering-{n}.zip"
        path.write_bytes(synthetic_delivery(n + 1))
        files.append(str(path))
    code, text = officer(tour, "ingest", *files)
    assert code == 0, text
    code, listing = officer(tour, "deliveries", "--json")
    assert code == 0, listing
    tour.deliveries = sorted(row["id"] for row in json.loads(listing))


def test_a_tour_of_every_command_in_dutch_shows_no_english(tour: Tour) -> None:
    _seed(tour)
    outputs = {**_staff_tour(tour), **_officer_tour(tour)}
    assert len(outputs) > 80
    # the mistakes were refused, each with its own message (not a traceback)
    for mistake, code in (("open " + tour.deliveries[0], 2), ("statuss", 2), ("deliveries --alles", 2),
                          ("audit show --limit veel", 2), ("audit verify", 3), ("staff list", 3)):
        assert outputs["staff: " + mistake].startswith(f"[{code}]"), outputs["staff: " + mistake]
    assert all("Traceback" not in text for text in outputs.values())
    # the demo ends as a demo should: it ran, and the officer's status it shows is the expected one
    demo = outputs["officer: demo"]
    assert demo.startswith("[0]") and "In orde: ja" in demo and "ssh-keygen: de handtekening klopt." in demo, demo
    assert "{" not in demo, "the demo shows people no JSON"
    english = _english(outputs, [ME, tour.staff.name])
    assert english == [], "English in the Dutch command line:\n" + "\n".join(english)


def test_a_prompt_is_dutch_too(tour: Tour, monkeypatch: pytest.MonkeyPatch) -> None:
    """click's prompt (``secret set`` at a terminal: asked twice, hidden) is in the user's language."""
    monkeypatch.setattr(click.testing._NamedTextIOWrapper, "isatty", lambda self: True)  # the runner's stdin
    result = CliRunner(env=DUTCH).invoke(cli_main, ["--home", str(tour.home), "secret", "set", "smtp"],
                                         input="geheim\ngeheim\n")
    assert result.exit_code == 0, result.output
    asked = i18n.translate("Password or token", "nl")
    assert asked != "Password or token" and result.output.startswith(f"{asked}: "), result.output
    assert _english({"secret set smtp": result.output}, [ME]) == []


def test_the_check_sees_english_when_there_is_english(tour: Tour) -> None:
    """The same commands in English hold words the check finds: it can fail."""
    english = {" ".join(args): text for args in (["--help"], ["open", "--help"], ["open", "x"], ["whoami"])
               for _code, text in as_staff(tour, [args], lang="en")}
    hits = _english(english, [ME, tour.staff.name])
    assert {hit.split(":")[0] for hit in hits} >= {"--help", "open --help", "open x"}, hits
