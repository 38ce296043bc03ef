"""``proof export ID --out DIR``: the proof, its .sig, its PDF and the allowed_signers line, written by the caller.

The agent runs as root here; the officer who exports is a real non-root account in a forked child. Files
owned by that account, in a folder only that account may write, show that the client wrote them with the
caller's permissions — not the agent with its own.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from retention_agent.errors import AccessDeniedError, ExportWriteError
from retention_agent.session.exports import add_signer_line, write_new
from tests.accounts import as_account, needs_root, temporary_account
from tests.conftest import AgentProcess
from tests.helpers_accounts import shared_agent, traversable_folder
from tests.retention_support import api, grant_me, ingest_bytes


@pytest.fixture(scope="module")
def purged() -> Iterator[tuple[AgentProcess, str]]:
    """A real agent with one delivery destroyed early (so it has a signed proof and a PDF)."""
    with shared_agent() as agent:
        grant_me(agent.home, "import", "destroy")
        delivery = ingest_bytes(agent.home, b"PK\x03\x04 synthetic delivery for the proof export test")
        api(agent.home, "purge.one", {"delivery": delivery, "reason": "test"})
        yield agent, delivery


def _export(agent: AgentProcess, account: str, delivery: str, folder: Path) -> None:
    from retention_agent.api.client import Client
    from retention_agent.session.exports import export_proof
    from retention_agent.system.home import Home

    def run() -> list[str]:
        with Client(Home(agent.home).socket) as client:
            return [str(p) for p in export_proof(client, delivery, folder)]

    as_account(account, run)


@needs_root
def test_an_officer_exports_a_proof_that_ssh_keygen_verifies(purged: tuple[AgentProcess, str],
                                                            require_ssh_keygen: None) -> None:
    agent, delivery = purged
    with temporary_account("ra-dpo") as officer, traversable_folder() as base:
        api(agent.home, "staff.add", {"account": officer, "name": "Officer Two", "roles": ["officer"]})
        folder = base / "voor-de-dpo"
        folder.mkdir(mode=0o700)
        uid = pwd.getpwnam(officer).pw_uid
        os.chown(folder, uid, uid)

        _export(agent, officer, delivery, folder)

        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted([f"{delivery}.json", f"{delivery}.json.sig", f"{delivery}.pdf", "allowed_signers"])
        assert all(p.stat().st_uid == uid for p in folder.iterdir()), "written by the caller, not by the agent"
        assert (folder / f"{delivery}.pdf").read_bytes().startswith(b"%PDF")
        identity = api(agent.home, "keys.public")["identity"]
        with open(folder / f"{delivery}.json", "rb") as data:
            done = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(folder / "allowed_signers"), "-I", identity,
                                   "-n", "deletion-proof", "-s", str(folder / f"{delivery}.json.sig")],
                                  stdin=data, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        before = {p.name: p.read_bytes() for p in folder.iterdir()}

        _export(agent, officer, delivery, folder)  # again: the same files are fine, nothing is duplicated

        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
        exported = [e for e in api(agent.home, "audit.show", {"limit": 10000})["entries"]
                    if e["action"] == "proof.export"]
        assert [(e["actor"], e["outcome"], e["subject"]) for e in exported] == [(officer, "granted", [delivery])] * 2


@needs_root
def test_the_agent_writes_nothing_where_the_caller_may_not(purged: tuple[AgentProcess, str]) -> None:
    agent, delivery = purged
    with temporary_account("ra-dpo") as officer, traversable_folder() as base:
        api(agent.home, "staff.add", {"account": officer, "name": "Officer Three", "roles": ["officer"]})
        folder = base / "roots-folder"
        folder.mkdir(mode=0o755)  # root's: the agent (root) could write here, the caller cannot

        with pytest.raises(ExportWriteError):
            _export(agent, officer, delivery, folder)

        assert list(folder.iterdir()) == []
        assert not any(e["action"] == "proof.export" and e["actor"] == officer
                       for e in api(agent.home, "audit.show", {"limit": 10000})["entries"]), \
            "refused before the agent was asked"


@needs_root
def test_a_staff_member_without_the_officer_role_is_refused(purged: tuple[AgentProcess, str], tmp_path: Path) -> None:
    agent, delivery = purged
    with temporary_account("ra-clerk") as clerk, traversable_folder() as base:
        api(agent.home, "staff.add", {"account": clerk, "name": "Clerk", "roles": ["read", "destroy"]})
        folder = base / "out"
        folder.mkdir()
        folder.chmod(0o777)
        with pytest.raises(AccessDeniedError):
            _export(agent, clerk, delivery, folder)
        assert list(folder.iterdir()) == []


def test_the_cli_command_writes_the_four_files(purged: tuple[AgentProcess, str], tmp_path: Path) -> None:
    agent, delivery = purged
    done = agent.cli("proof", "export", delivery, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr.decode()
    assert len(done.stdout.decode().splitlines()) == 4
    assert {p.name for p in tmp_path.iterdir()} == {f"{delivery}.json", f"{delivery}.json.sig", f"{delivery}.pdf",
                                                    "allowed_signers"}
    unknown = agent.cli("proof", "export", "01NOSUCHDELIVERY0000000000", "--out", str(tmp_path))
    assert unknown.returncode == 1 and b"proof of deletion" in unknown.stderr


# ---- the writers, on their own ------------------------------------------------------------------------------


def test_an_existing_different_file_is_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "proof.json"
    write_new(target, b"first")
    write_new(target, b"first")  # the same bytes: fine
    with pytest.raises(ExportWriteError):
        write_new(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["proof.json"], "no temporary file is left behind"


def test_allowed_signers_gains_a_missing_line_once(tmp_path: Path) -> None:
    signers = tmp_path / "allowed_signers"
    signers.write_text("retention-agent@other namespaces=\"deletion-proof\" ssh-ed25519 AAAAother")
    line = 'retention-agent@de-panne namespaces="deletion-proof,dpo-report" ssh-ed25519 AAAAours'
    add_signer_line(signers, line)
    add_signer_line(signers, line)
    assert signers.read_text().splitlines() == [
        "retention-agent@other namespaces=\"deletion-proof\" ssh-ed25519 AAAAother", line]
