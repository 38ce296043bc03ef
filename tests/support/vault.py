"""Helpers for the vault tests (ingest, open, workspace): roles, JSON views, raw-byte search.

The "caller's own permissions" rules are checked as other OS accounts (tests/support/accounts.py: the
``accounts`` and ``shared_root`` fixtures, ``run_as``, ``cli_as``) against the ``shared_agent`` fixture
(tests/support/agent.py), whose home those accounts can reach.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from retention_agent.api.client import Client
from retention_agent.system.home import Home
from tests.support.agent import ME, AgentProcess


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
