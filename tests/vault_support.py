"""Helpers for the vault tests (ingest, open, workspace): roles, JSON views, other OS accounts, raw-byte search.

Other accounts: the suite runs as root in CI, and root can read and delete every file, so the "caller's own
permissions" rules are checked by forking the test process (after all imports: the root-owned interpreter
under /root cannot be executed by other accounts) and dropping the child to a fresh account made with
``useradd``. The child talks to the real agent over its real socket; the agent sees the child's uid through
SO_PEERCRED. A home reachable by those accounts must not sit under pytest's 0700 temporary folders, hence
the ``shared_root`` fixture.

The fixtures here are named with ``name=``; a test module imports them as ``*_fixture`` (so that the test's
parameter does not shadow an import) and pytest finds them under their short names.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from retention_agent.api.client import Client
from retention_agent.cli.main import main
from retention_agent.errors import RetentionAgentError
from retention_agent.system.home import Home
from tests.accounts import create_account, in_child_as, remove_account
from tests.conftest import ME, AgentProcess, make_home


def api(agent: AgentProcess, op: str, args: dict[str, Any] | None = None) -> Any:
    """One request to the real agent over its real socket, from this process (faster than the CLI)."""
    with Client(Home(agent.home).socket) as client:
        return client.call(op, args)


def grant(agent: AgentProcess, account: str, *roles: str, name: str = "Staff") -> None:
    api(agent, "staff.add", {"account": account, "name": name, "roles": list(roles)})


def grant_me(agent: AgentProcess, *roles: str) -> None:
    """The officer keeps ``officer`` and gets ``roles`` too."""
    grant(agent, ME, "officer", *roles, name="Officer")


def deliveries(agent: AgentProcess) -> list[dict[str, Any]]:
    with Client(Home(agent.home).socket) as client:
        return list(client.pages("deliveries", "deliveries"))


def audit_entries(agent: AgentProcess) -> list[dict[str, Any]]:
    with Client(Home(agent.home).socket) as client:
        return list(client.pages("audit.show", "entries"))


def ingest_ok(agent: AgentProcess, path: Path) -> str:
    """Ingest one file with the real CLI; return its delivery id."""
    done = agent.cli("ingest", str(path))
    assert done.returncode == 0, done.stderr.decode()
    found = re.search(r"in the vault as (\w+)", done.stdout.decode())
    assert found, done.stdout.decode()
    return found.group(1)


def files_containing(root: Path, needles: list[bytes]) -> dict[str, list[str]]:
    """Every regular file under ``root`` whose raw bytes contain one of ``needles``: {file: [needle, ...]}."""
    hits: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue  # sockets and folders; symlinks would be followed out of the home
        data = path.read_bytes()
        found = [n.decode(errors="replace") for n in needles if n in data]
        if found:
            hits[str(path)] = found
    return hits


def db_rows(home: Home, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the agent's database directly (read-only queries; the agent may be running)."""
    conn = sqlite3.connect(home.database, timeout=10)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def data_key_files(home: Home) -> set[str]:
    return {p.name for p in home.keys.glob("data-key--*.key")}


def expected_key_files(home: Home) -> set[str]:
    rows = db_rows(home, "SELECT key_id FROM deliveries WHERE state != 'purged'")
    return {f"data-key--{key_id}.key" for (key_id,) in rows}


def assert_vault_consistent(home: Home) -> None:
    """No stray temporary, no orphan object, no pending row, no key of a discarded object."""
    assert sorted(p.name for p in home.vault_tmp.iterdir()) == []
    live = {row[0] for row in db_rows(home, "SELECT id FROM deliveries WHERE state != 'purged'")}
    objects = {p.name.removesuffix(".rav") for p in home.objects.iterdir()}
    assert objects == live, f"objects {objects} vs live deliveries {live}"
    assert db_rows(home, "SELECT key_id, delivery_id FROM pending_objects") == []
    assert data_key_files(home) == expected_key_files(home)


# ---- other OS accounts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int


@dataclass(frozen=True)
class Accounts:
    reader: Account  # gets roles from the tests that use it
    outsider: Account  # never on the staff list


def _create_account(name: str) -> Account:
    entry = create_account(name)
    return Account(name, entry.pw_uid, entry.pw_gid)


@pytest.fixture(scope="session", name="accounts")
def accounts_fixture() -> Iterator[Accounts]:
    """Two fresh OS accounts for the whole session (root only: CI runs as root)."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to create OS accounts (CI runs as root)")
    suffix = secrets.token_hex(3)
    made: list[str] = []
    try:
        reader = _create_account(f"rat-reader-{suffix}")
        made.append(reader.name)
        outsider = _create_account(f"rat-outsider-{suffix}")
        made.append(outsider.name)
        yield Accounts(reader, outsider)
    finally:
        for name in made:
            remove_account(name)


@pytest.fixture(name="shared_root")
def shared_root_fixture() -> Iterator[Path]:
    """A folder every account can traverse (0711), unlike pytest's own temporary folders."""
    root = Path(tempfile.mkdtemp(prefix="ra-vault-test-", dir="/tmp"))
    root.chmod(0o711)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(name="shared_agent")
def shared_agent_fixture(shared_root: Path) -> Iterator[AgentProcess]:
    """A real agent whose home other accounts can reach (its socket; nothing else is theirs to read)."""
    home = make_home(shared_root / "home")
    process = AgentProcess(home.root).start()
    try:
        yield process
    finally:
        process.stop()


def run_as(account: Account, fn: Callable[[], Any]) -> dict[str, Any]:
    """Run ``fn`` in a forked child that has dropped to ``account``; return what happened, as JSON.

    ``{"ok": value}``, ``{"error": error_id, "exit": code, "message": text}`` for the catalogue's errors,
    or ``{"exception": class name, "message": text}`` for anything else.
    """

    def outcome() -> bytes:
        result: dict[str, Any]
        try:
            result = {"ok": fn()}
        except RetentionAgentError as exc:
            result = {"error": exc.error_id, "exit": exc.exit_code, "message": exc.render("en")}
        except BaseException as exc:
            result = {"exception": type(exc).__name__, "message": str(exc)}
        return json.dumps(result, default=str).encode()

    answer: dict[str, Any] = json.loads(in_child_as(account.uid, account.gid, outcome))
    return answer


def cli_as(account: Account, home: Path, *args: str) -> dict[str, Any]:
    """The real command line (in-process, through click) run by ``account``: exit code and output.

    The home is given as ``RETENTION_AGENT_HOME``: ``--home`` is a ``click.Path`` that insists on a readable
    folder, and a shared home (0711) is not readable by staff accounts.
    """

    def invoke() -> dict[str, Any]:
        result = CliRunner().invoke(main, list(args), env={"RETENTION_AGENT_HOME": str(home)},
                                    catch_exceptions=True)
        crashed = result.exception if not isinstance(result.exception, SystemExit) else None
        return {"exit": result.exit_code, "stdout": result.stdout_bytes.decode(errors="replace"),
                "stdout_bytes": result.stdout_bytes.hex(), "stderr": result.stderr,
                "crash": repr(crashed) if crashed else None}

    outcome = run_as(account, invoke)
    assert "ok" in outcome, outcome
    done: dict[str, Any] = outcome["ok"]
    return done

