"""Copies on the workstation, end to end: a real per-user agent running as a real second OS account, its
workbook unlocked, copies in that account's Downloads and Documents and a CSV derived from the workbook, a
sweep by that account's own session, the purge erasing them, and the proof saying so (checked with
``ssh-keygen``). Beside it, the attacks: a third account's sweep cannot read or erase the first one's files,
a forged report cannot make the agent erase anything, and the agent never learns the name of a file that is
not a found copy.

Real: OS accounts (useradd), the agent process (forked, then setuid() to the account: the test's Python lives
under /root, where another account cannot start it), its socket and SO_PEERCRED, the command line (in a
child of that account), the files and the file system. NOT run: Windows and macOS locations, the desktop app.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from retention_agent.api.client import Client
from retention_agent.clock import SystemClock
from retention_agent.copies import erase as eraser
from retention_agent.copies import wire
from retention_agent.copies.locations import Location
from retention_agent.copies.session import Sweeper, cache_path
from retention_agent.evidence import proof as proofs
from retention_agent.rules import rrn
from retention_agent.session.copies_link import ApiLink
from retention_agent.system.home import Home
from retention_agent.system.init_home import init_home
from tests import copies_support as fixtures
from tests.conftest import socket_answers
from tests.helpers_accounts import NEEDS_ROOT, TempAccount, cli_in_process, hermetic, run_as
from tests.retention_support import wait_for

pytestmark = [NEEDS_ROOT, pytest.mark.root]


def _preload() -> None:
    """Everything the agent and the command line import, imported before any fork: the account the child becomes
    cannot read the Python installation under /root."""
    import _strptime  # noqa: F401 - datetime.strptime imports it on first use
    import concurrent.futures.process
    import concurrent.futures.thread  # noqa: F401
    import email.mime.application  # noqa: F401
    import getpass  # noqa: F401
    import importlib.readers  # noqa: F401
    import unicodedata  # noqa: F401

    import msoffcrypto  # noqa: F401
    import openpyxl
    import pypdf  # noqa: F401
    from apscheduler.executors.pool import ThreadPoolExecutor  # noqa: F401
    from apscheduler.jobstores.memory import MemoryJobStore  # noqa: F401
    from apscheduler.triggers.date import DateTrigger  # noqa: F401

    from retention_agent.cli.commands import copies, reports, retention, vault  # noqa: F401
    from retention_agent.i18n import catalogue as i18n
    from retention_agent.intake import router, setup  # noqa: F401
    from retention_agent.pdf import proof as proof_pdf  # noqa: F401
    from retention_agent.reports import schedule  # noqa: F401
    from retention_agent.runtime import (
        agent,  # noqa: F401
        capabilities,
    )

    for lang in i18n.LANGUAGES:
        i18n.translate("Proof of deletion", lang)
    from datetime import UTC, datetime

    from retention_agent.pdf import document as pdf

    document = pdf.new_document("preload", created=datetime(2026, 11, 1, tzinfo=UTC))
    document.cell(0, 6, "Bewijs van vernietiging — één")
    document.output()
    capabilities.register_operations()
    openpyxl.load_workbook(io.BytesIO(fixtures.xlsx(fixtures.rows(fixtures.people(2)))), read_only=True).close()


_preload()


@dataclass
class PerUserAgent:
    account: TempAccount
    user_home: Path
    home: Home
    pid: int


def _as(account: TempAccount, user_home: Path) -> None:
    """Become ``account`` in this (forked) child, with its own home in the environment."""
    os.setgroups([])
    os.setgid(account.gid)
    os.setuid(account.uid)
    os.environ["HOME"] = str(user_home)
    os.environ.pop("XDG_STATE_HOME", None)


@contextlib.contextmanager
def per_user_agent(account: TempAccount) -> Iterator[PerUserAgent]:
    """The agent in per-user mode, running as ``account`` (the default deployment on a Windows desktop)."""
    user_home = Path(pwd.getpwnam(account.name).pw_dir)
    base = Path(tempfile.mkdtemp(prefix="ra-copies-", dir="/var/tmp"))
    base.chmod(0o755)
    os.chown(base, account.uid, account.gid)
    home = Home(base / "home")

    def make() -> bytes:
        init_home(home, municipality="De Panne", officer=account.name, officer_name="Mia Peeters",
                  key_store="file", inboxes=[], clock=SystemClock())
        text = home.config.read_text().replace("[retention]\n", "[retention]\ntick_seconds = 1\n", 1)
        home.config.write_text(text + '\n[reports]\nschedule = "off"\n')
        return b""

    _in_child(account, user_home, make)
    log = open(base / "agent-output.txt", "wb")
    pid = os.fork()
    if pid == 0:  # the agent process
        code = 1
        try:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            _as(account, user_home)
            from retention_agent.runtime.agent import Agent

            agent = Agent(home)
            agent.install_signal_handlers()
            agent.run()
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    log.close()
    try:
        try:
            wait_for(lambda: socket_answers(home.socket) or os.waitpid(pid, os.WNOHANG)[0], 30,
                     "the per-user agent's socket")
        except AssertionError:
            print((base / "agent-output.txt").read_text(errors="replace"), file=sys.stderr)
            raise
        assert socket_answers(home.socket), (base / "agent-output.txt").read_text(errors="replace")
        yield PerUserAgent(account, user_home, home, pid)
    finally:
        with contextlib.suppress(OSError):  # shown when the test failed
            print(home.log.read_text(errors="replace")[-6000:], file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        shutil.rmtree(base, ignore_errors=True)


def _in_child(account: TempAccount, user_home: Path, fn: Any) -> Any:
    from tests.accounts import in_child_as

    def produce() -> bytes:
        os.environ["HOME"] = str(user_home)
        os.environ.pop("XDG_STATE_HOME", None)
        result = fn()
        return result if isinstance(result, bytes) else json.dumps(result).encode()

    return in_child_as(account.uid, account.gid, produce)


def call_as(agent: PerUserAgent, account: TempAccount, op: str, args: dict[str, Any] | None = None) -> Any:
    home = Path(pwd.getpwnam(account.name).pw_dir)

    def call() -> Any:
        os.environ["HOME"] = str(home)
        with Client(agent.home.socket) as client:
            return client.call(op, args)

    outcome = run_as(account, call)
    assert "value" in outcome, outcome
    return outcome["value"]


def cli_as(agent: PerUserAgent, account: TempAccount, *args: str, stdin: str = "") -> dict[str, Any]:
    home = Path(pwd.getpwnam(account.name).pw_dir)

    def run() -> None:
        os.environ["HOME"] = str(home)
        os.environ.pop("XDG_STATE_HOME", None)
        sys.stdin = io.StringIO(stdin)
        cli_in_process(agent.home, *args, home_option=True)

    return run_as(account, run)


def write_as(account: TempAccount, path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    for part in [path, *path.parents]:
        if part == Path(pwd.getpwnam(account.name).pw_dir):
            break
        os.chown(part, account.uid, account.gid)


def agent_bytes(home: Home) -> bytes:
    """Every byte of the agent's own files: database, its WAL, log, proofs."""
    found = b""
    for path in home.root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.suffix != ".sock" and path.name != "agent.sock":
            found += path.read_bytes()
    return found


def test_copies_in_downloads_documents_and_a_derived_csv_are_found_erased_at_purge_and_proven(
        tmp_path: Path, require_ssh_keygen: None) -> None:
    with hermetic(), TempAccount() as mia, per_user_agent(mia) as agent:
        call_as(agent, mia, "staff.add", {"account": mia.name, "name": "Mia Peeters",
                                          "roles": ["officer", "import", "read", "destroy"]})
        workbook, numbers = fixtures.agii_workbook(212)

        def ingest() -> str:
            os.environ["HOME"] = str(agent.user_home)
            with Client(agent.home.socket) as client:
                return str(client.upload("ingest", {}, [workbook])["delivery"])

        delivery = run_as(mia, ingest)["value"]
        unlocked = cli_as(agent, mia, "delivery", "unlock", delivery, "--password-stdin",
                          stdin=fixtures.PASSWORD + "\n")
        assert unlocked.get("exit") in (0, None) and "212 inburgeraars" in unlocked["stdout"], unlocked

        downloads = agent.user_home / "Downloads" / "inburgeraars-november.xlsx"
        renamed = agent.user_home / "Documents" / "Ceremonie" / "kopie voor de zaal.xlsx"
        derived = agent.user_home / "Documents" / "Ceremonie" / "mailmerge uitnodigingen.csv"
        decoys = {agent.user_home / "Documents" / "Verslag Peeters-Janssens.txt": b"geen nummers hier\n",
                  agent.user_home / "Desktop" / "Sollicitatie Van den Broeck.csv": b"naam;functie\nx;y\n",
                  agent.user_home / "Downloads" / "same-size-as-the-delivery.bin": os.urandom(len(workbook))}
        write_as(mia, downloads, workbook)
        write_as(mia, renamed, workbook)
        write_as(mia, derived, fixtures.mail_merge_csv(numbers[:60]))
        for path, data in decoys.items():
            write_as(mia, path, data)

        swept = cli_as(agent, mia, "copies", "sweep", "--json")
        assert swept.get("exit") in (0, None), swept
        result = json.loads(swept["stdout"])
        assert sorted((f["match"], f["kind"], f["path"], f["people"]) for f in result["found"]) == [
            ("derived", "documents", "Ceremonie/mailmerge uitnodigingen.csv", 60),
            ("exact", "documents", "Ceremonie/kopie voor de zaal.xlsx", 0),
            ("exact", "downloads", "inburgeraars-november.xlsx", 0)]

        status = call_as(agent, mia, "status")
        copies = status["copies"]
        assert copies["contents"][0]["people"] == 212 and copies["found"]["count"] == 3
        assert {(f["kind"], f["path"]) for f in copies["found"]["items"]} == {
            ("documents", "Ceremonie/mailmerge uitnodigingen.csv"), ("documents", "Ceremonie/kopie voor de zaal.xlsx"),
            ("downloads", "inburgeraars-november.xlsx")}
        assert "copies-found" in {w["code"] for w in status["warnings"]}
        everything = agent_bytes(agent.home)  # the agent never learned another file's name
        for path in decoys:
            assert path.name.encode() not in everything and path.stem.encode() not in everything
        assert rrn.written(numbers[0]).encode() not in everything and numbers[0].encode() not in everything

        purged = call_as(agent, mia, "purge.one", {"delivery": delivery, "reason": "ceremonie voorbij"})
        assert purged["proof_sha256"]
        assert not downloads.exists() and not renamed.exists() and not derived.exists()
        assert all(path.exists() for path in decoys)  # nothing else was touched
        doc = json.loads((agent.home.proofs / f"{delivery}.json").read_bytes())
        section = doc["copies"]
        assert section["exact"] == {"found": 2, "erased": 2, "gone": 0, "remaining": 0}
        assert section["derived"] == {"found": 1, "erased": 1, "gone": 0, "remaining": 0, "people_max": 60}
        assert section["derived_searched"] is True and section["sweeps"]["accounts"] == 1
        assert {"documents", "downloads"} <= set(section["sweeps"]["locations"])
        assert section["by_location"] == [{"kind": "documents", "found": 2, "erased": 2, "gone": 0, "remaining": 0},
                                          {"kind": "downloads", "found": 1, "erased": 1, "gone": 0, "remaining": 0}]
        assert proofs.WORKSTATION_COPIES_REMAINING not in doc["not_covered"]
        assert doc["verification"]["unlock_secrets_absent"] is True
        assert not list(agent.home.keys.glob("*fingerprint*")) and not list(agent.home.keys.glob("*password*"))

        keys = call_as(agent, mia, "keys.public")
        (tmp_path / "allowed_signers").write_text(keys["allowed_signers"] + "\n")
        with open(agent.home.proofs / f"{delivery}.json", "rb") as data:
            checked = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(tmp_path / "allowed_signers"),
                                      "-I", doc["signer"], "-n", "deletion-proof", "-s",
                                      str(agent.home.proofs / f"{delivery}.json.sig")], stdin=data,
                                     capture_output=True, check=False)
        assert checked.returncode == 0, checked.stderr
        after = call_as(agent, mia, "status")
        assert "copies-remaining" not in {p["code"] for p in after["problems"]}
        assert b"Ceremonie" not in agent_bytes(agent.home)  # the paths went with the purge


def test_another_accounts_sweep_cannot_read_or_erase_the_first_accounts_copies_nor_make_the_agent_erase(
        tmp_path: Path) -> None:
    with hermetic(), TempAccount() as mia, TempAccount() as tom, per_user_agent(mia) as agent:
        call_as(agent, mia, "staff.add", {"account": mia.name, "name": "Mia", "roles": ["officer", "import", "read",
                                                                                           "destroy"]})
        call_as(agent, mia, "staff.add", {"account": tom.name, "name": "Tom", "roles": ["import", "read"]})
        workbook, _numbers = fixtures.agii_workbook(30)

        def ingest() -> str:
            with Client(agent.home.socket) as client:
                return str(client.upload("ingest", {}, [workbook])["delivery"])

        delivery = run_as(mia, ingest)["value"]
        shared = Path(tempfile.mkdtemp(prefix="ra-shared-", dir="/var/tmp"))
        try:
            shared.chmod(0o1777)
            mine = shared / "lijst van mia.xlsx"
            mine.write_bytes(workbook)
            os.chown(mine, mia.uid, mia.gid)
            mine.chmod(0o666)  # even writable by Tom: still not his to erase
            private = agent.user_home / "Documents" / "lijst.xlsx"
            write_as(mia, private, workbook)
            tom_home = Path(pwd.getpwnam(tom.name).pw_dir)

            def tom_sweeps() -> dict[str, Any]:
                os.environ["HOME"] = str(tom_home)
                sweeper = Sweeper(ApiLink(agent.home.socket), cache_path(agent.home.socket),
                                  locations=[Location("configured", shared), Location("documents", private.parent)])
                result = sweeper.run()
                sha = hashlib.sha256(workbook).hexdigest()
                return {"found": len(result.found), "stats": result.stats,
                        "erase_shared": eraser.erase(str(shared), [mine.name], sha256=sha, signature=None),
                        "erase_private": eraser.erase(str(private.parent), [private.name], sha256=sha, signature=None)}

            seen = run_as(tom, tom_sweeps)["value"]
            assert seen["found"] == 0 and seen["stats"]["foreign"] >= 1  # seen, never read
            assert seen["erase_shared"] == ["remaining", wire.NOT_OWNER]
            assert seen["erase_private"][0] == "remaining"  # cannot even reach it
            assert mine.read_bytes() == workbook and private.read_bytes() == workbook

            forged = {"complete": True, "locations": [{"kind": "documents", "state": "swept", "files": 1}],
                      "stats": {"files": 1}, "settled": [],
                      "found": [{"delivery": delivery, "match": "exact", "kind": "documents", "path": "lijst.xlsx",
                                 "people": 0}]}
            call_as(agent, tom, "copies.report", forged)  # Tom claims Mia's file as his copy
            call_as(agent, mia, "purge.one", {"delivery": delivery, "reason": "einde"})
            assert private.read_bytes() == workbook  # the agent (Mia) never erases a path another account named
            doc = json.loads((agent.home.proofs / f"{delivery}.json").read_bytes())
            assert doc["copies"]["exact"]["remaining"] == 1
            assert doc["copies"]["remaining_reasons"] == {wire.AWAITING_SESSION: 1}
            assert proofs.WORKSTATION_COPIES_REMAINING in doc["not_covered"]
            problems = {p["code"]: p["params"] for p in call_as(agent, mia, "status")["problems"]}
            assert problems["copies-remaining"]["count"] == 1
        finally:
            shutil.rmtree(shared, ignore_errors=True)


def test_shared_mode_the_session_learns_of_the_purge_erases_its_copies_and_the_problem_clears(
        tmp_path: Path) -> None:
    """The hand-off without a per-user agent: the proof counts the session's copies as awaiting it; the session's
    next run (what the notifier does when ``copies_due`` says so) erases them and reports back."""
    from retention_agent.copies.session import Sweeper
    from tests.conftest import AgentProcess, make_home
    from tests.retention_support import api, grant_me, ingest_bytes

    home = make_home(tmp_path / "home", sweep_copies=True)
    home.config.write_text(home.config.read_text().replace('language = "nl"\n', 'language = "nl"\ndeployment = '
                                                                                '"shared"\n', 1))
    agent = AgentProcess(home.root).start()
    try:
        grant_me(home.root, "import", "read", "destroy")
        workbook, _numbers = fixtures.agii_workbook(20)
        delivery = ingest_bytes(home.root, workbook)
        folder = tmp_path / "Downloads"
        folder.mkdir()
        (folder / "lijst.xlsx").write_bytes(workbook)
        session = Sweeper(ApiLink(home.socket), tmp_path / "state" / "copies.json",
                          locations=[Location("downloads", folder)])
        assert [f.parts for f in session.run().found] == [("lijst.xlsx",)]
        api(home.root, "purge.one", {"delivery": delivery, "reason": "einde"})
        doc = json.loads((home.proofs / f"{delivery}.json").read_bytes())
        assert doc["copies"]["exact"] == {"found": 1, "erased": 0, "gone": 0, "remaining": 1}
        assert doc["copies"]["remaining_reasons"] == {"awaiting-session": 1}
        assert api(home.root, "notifications", {"after": 0})["copies_due"] == 1
        assert "copies-remaining" in {p["code"] for p in api(home.root, "status")["problems"]}
        result = session.run()
        assert [(s.outcome, s.path) for s in result.settled] == [("erased", "lijst.xlsx")]
        assert not (folder / "lijst.xlsx").exists()
        assert api(home.root, "notifications", {"after": 0})["copies_due"] == 0
        status = api(home.root, "status")
        assert "copies-remaining" not in {p["code"] for p in status["problems"]}
        report = api(home.root, "report", {})
        assert report["name"]
    finally:
        agent.stop()
