"""Manual ingest against the real agent process, real files, the real vault and a real SQLite database.

What is checked: a file ends up as one verified, encrypted delivery and its source goes; duplicates are
recognised; bad sources are refused by name and left alone; the caller's own permissions decide what may be
read and removed (a forked child dropped to another OS account, see ``vault_support``); plaintext never
reaches the home; and a SIGKILL at every step of ingest is recovered without loss, duplicate or leftovers.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import signal
import stat
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from retention_agent.api.client import Client
from retention_agent.cli.commands.vault import _download_to
from retention_agent.errors import RetentionAgentError, SourceRefusedError
from retention_agent.session.ingest import ingest_one
from retention_agent.session.state import State
from retention_agent.system.home import Home
from retention_agent.testing_hooks import FAULTS_ENV
from retention_agent.vault.format import DEFAULT_CHUNK_SIZE
from tests.conftest import AgentProcess
from tests.retention_support import AGII_HEAD
from tests.vault_support import (
    Accounts,
    accounts_fixture,  # noqa: F401 - the fixture `accounts`
    api,
    assert_vault_consistent,
    audit_entries,
    cli_as,
    data_key_files,
    db_rows,
    deliveries,
    files_containing,
    grant,
    grant_me,
    ingest_ok,
    run_as,
    shared_agent_fixture,  # noqa: F401 - the fixture `shared_agent`
    shared_root_fixture,  # noqa: F401 - the fixture `shared_root`
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def importer(agent: AgentProcess) -> AgentProcess:
    grant_me(agent, "import", "read")
    return agent


def test_ingested_file_is_one_verified_delivery_and_the_source_is_gone(importer: AgentProcess,
                                                                       tmp_path: Path) -> None:
    home = Home(importer.home)
    data = AGII_HEAD + b"rijksregisternummer;naam\n" + secrets.token_bytes(200_000)
    source = tmp_path / "inburgeraars-2026-11.xlsx"
    source.write_bytes(data)

    done = importer.cli("ingest", str(source))

    assert done.returncode == 0, done.stderr.decode()
    assert str(source) in done.stdout.decode() and "the source was removed" in done.stdout.decode()
    assert not source.exists()
    listed = importer.cli("deliveries", "--json")
    assert listed.returncode == 0, listed.stderr.decode()
    [row] = json.loads(listed.stdout)
    assert (row["sha256"], row["size"], row["channel"], row["state"]) == (sha(data), len(data), "manual", "vaulted")
    assert row["ceremony_date"] is None and row["deadline"] is None
    assert datetime.fromisoformat(row["received_at"].replace("Z", "+00:00"))
    assert row["id"] in done.stdout.decode()
    stored = (home.objects / f"{row['id']}.rav").read_bytes()
    assert len(stored) > len(data) and data[:64] not in stored and data[-64:] not in stored
    assert len(data_key_files(home)) == 1
    assert_vault_consistent(home)
    verified = importer.cli("vault", "verify", "--json")
    assert verified.returncode == 0, verified.stderr.decode()
    assert json.loads(verified.stdout)["checked"] == 1
    received = [e for e in audit_entries(importer) if e["action"] == "delivery.received"]
    assert [(e["subject"], e["details"]["sha256"]) for e in received] == [([row["id"]], sha(data))]


def test_duplicate_content_is_reported_not_stored_twice_and_its_source_removed(importer: AgentProcess,
                                                                               tmp_path: Path) -> None:
    home = Home(importer.home)
    data = secrets.token_bytes(5000)
    first, second = tmp_path / "lijst.xlsx", tmp_path / "lijst (kopie).xlsx"
    first.write_bytes(data)
    second.write_bytes(data)
    delivery = ingest_ok(importer, first)

    again = importer.cli("ingest", str(second))

    assert again.returncode == 0, again.stderr.decode()
    assert f"already in the vault as {delivery}" in again.stdout.decode()
    assert not second.exists()
    assert [r["id"] for r in deliveries(importer)] == [delivery]
    assert [p.name for p in home.objects.iterdir()] == [f"{delivery}.rav"]
    assert len(data_key_files(home)) == 1
    assert_vault_consistent(home)
    assert [e["subject"] for e in audit_entries(importer) if e["action"] == "delivery.duplicate"] == [[delivery]]


def test_an_account_without_import_is_denied_with_exit_3_and_the_source_stays(agent: AgentProcess,
                                                                              tmp_path: Path) -> None:
    source = tmp_path / "lijst.xlsx"
    source.write_bytes(b"the officer alone may not import")

    done = agent.cli("ingest", str(source))  # the officer has only the officer role

    assert done.returncode == 3, done.stderr.decode()
    assert "import" in done.stderr.decode()
    assert source.read_bytes() == b"the officer alone may not import"
    assert deliveries(agent) == []
    assert [e["outcome"] for e in audit_entries(agent) if e["action"] == "ingest"] == ["denied"]
    assert_vault_consistent(Home(agent.home))


def _device(path: Path) -> Path:
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # what /dev/null is
    except PermissionError:
        return Path("/dev/null")  # a container that forbids mknod: the real one will do
    return path


def test_symlinks_folders_fifos_devices_and_missing_files_are_refused_by_name(importer: AgentProcess,
                                                                              tmp_path: Path) -> None:
    target = tmp_path / "real.xlsx"
    target.write_bytes(b"the target of a link")
    link = tmp_path / "link.xlsx"
    link.symlink_to(target)
    folder = tmp_path / "map.xlsx"
    folder.mkdir()
    (folder / "inside.xlsx").write_bytes(b"inside a folder")
    fifo = tmp_path / "pipe.xlsx"
    os.mkfifo(fifo)
    device = _device(tmp_path / "device.xlsx")
    missing = tmp_path / "missing.xlsx"
    cases = {link: "symbolic link", folder: "folder", fifo: "not a regular file", device: "not a regular file",
             missing: "cannot be read"}
    before = {path: os.lstat(path) for path in cases if path != missing}

    good = tmp_path / "good.xlsx"
    good.write_bytes(b"a good file among bad ones")

    done = importer.cli("ingest", *map(str, cases), str(good), timeout=30)  # a FIFO opened by mistake hangs

    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("retention-agent: ")]
    assert len(lines) == len(cases), stderr
    for (path, why), line in zip(cases.items(), lines, strict=True):
        assert line.startswith(f"retention-agent: {path} ") and why in line, line
    assert importer.proc is not None and importer.proc.poll() is None, "the agent must keep running"
    for path, info in before.items():
        now = os.lstat(path)
        assert (now.st_ino, now.st_mode, now.st_size) == (info.st_ino, info.st_mode, info.st_size), path
    assert target.read_bytes() == b"the target of a link"
    assert (folder / "inside.xlsx").read_bytes() == b"inside a folder"
    assert not good.exists()
    assert [r["sha256"] for r in deliveries(importer)] == [sha(b"a good file among bad ones")]
    assert_vault_consistent(Home(importer.home))


def test_a_file_the_caller_cannot_read_is_refused_although_the_agent_could(
        shared_agent: AgentProcess, accounts: Accounts, shared_root: Path) -> None:
    reader = accounts.reader
    grant(shared_agent, reader.name, "import")
    state = State(Home(shared_agent.home))
    # control: the same account can ingest a file it may read and delete (so the refusal below is about
    # the permissions, not about reaching the agent)
    own = shared_root / "own"
    own.mkdir()
    os.chown(own, reader.uid, reader.gid)
    readable = own / "readable.xlsx"
    readable.write_bytes(b"readable by the caller")
    os.chown(readable, reader.uid, reader.gid)
    taken = run_as(reader, lambda: ingest_one(state, readable))
    assert taken["ok"]["removed"] is True and not readable.exists(), taken
    secret = shared_root / "secret.xlsx"
    secret.write_bytes(b"only root may read this")
    secret.chmod(0o600)

    refused = run_as(reader, lambda: ingest_one(state, secret))
    shown = cli_as(reader, shared_agent.home, "ingest", str(secret))

    assert refused.get("error") == "source-unreadable", refused
    assert str(secret) in refused["message"]
    assert shown["exit"] == 1 and str(secret) in shown["stderr"] and shown["crash"] is None, shown
    assert secret.read_bytes() == b"only root may read this"
    assert [r["sha256"] for r in deliveries(shared_agent)] == [sha(b"readable by the caller")]
    assert shared_agent.proc is not None and shared_agent.proc.poll() is None
    assert_vault_consistent(Home(shared_agent.home))


@pytest.mark.parametrize("folder_kind", ["sticky", "read-only"])
def test_a_file_the_caller_may_read_but_not_delete_is_vaulted_and_kept(
        shared_agent: AgentProcess, accounts: Accounts, shared_root: Path, folder_kind: str) -> None:
    reader = accounts.reader
    grant(shared_agent, reader.name, "import")
    folder = shared_root / folder_kind
    folder.mkdir()
    folder.chmod(0o1777 if folder_kind == "sticky" else 0o755)  # owned by root either way
    source = folder / "lijst.xlsx"
    data = AGII_HEAD + b"readable by all, removable by root only"
    source.write_bytes(data)
    source.chmod(0o644)

    shown = cli_as(reader, shared_agent.home, "ingest", str(source))

    assert shown["exit"] == 0 and shown["crash"] is None, shown
    assert str(source) in shown["stdout"] and "could not be removed" in shown["stdout"], shown
    assert source.read_bytes() == data
    [row] = deliveries(shared_agent)
    assert (row["sha256"], row["state"]) == (sha(data), "vaulted")
    again = run_as(reader, lambda: ingest_one(State(Home(shared_agent.home)), source))
    assert again["ok"]["duplicate"] is True and again["ok"]["removed"] is False, again
    assert again["ok"]["kept_because"] in ("Permission denied", "Operation not permitted")
    assert source.exists() and len(deliveries(shared_agent)) == 1


def test_a_50_mb_file_round_trips_through_the_vault(importer: AgentProcess, tmp_path: Path) -> None:
    data = secrets.token_bytes(50 * 1024 * 1024 + 17)
    source = tmp_path / "groot.zip"
    source.write_bytes(data)
    delivery = ingest_ok(importer, source)
    assert not source.exists()

    opened = importer.cli("open", delivery, "--purpose", "invite", "--stdout")

    assert opened.returncode == 0, opened.stderr.decode()
    assert len(opened.stdout) == len(data) and opened.stdout == data
    assert deliveries(importer)[0]["sha256"] == sha(data)


def test_no_plaintext_reaches_any_file_of_the_home(importer: AgentProcess, tmp_path: Path) -> None:
    """Only the vault's ciphertext: not the database, its WAL, the log, keys, proofs (workspace: test_open)."""
    home = Home(importer.home)
    canaries = [f"CANARY-{secrets.token_hex(8)}".encode() for _ in range(4)]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    small = inbox / f"{canaries[3].decode()}.xlsx"  # names may be personal data too
    small.write_bytes(b"naam;adres\n" + canaries[0] + b";Dorpsstraat 1\n")
    large = bytearray(secrets.token_bytes(1024 * 1024))
    boundary = DEFAULT_CHUNK_SIZE - 8
    large[boundary:boundary + len(canaries[1])] = canaries[1]  # across the first chunk boundary
    (inbox / "groot.zip").write_bytes(bytes(large))
    (inbox / "tekst.csv").write_bytes((canaries[2] + b"\n") * 1000)
    refused = inbox / f"link-{canaries[3].decode()}.xlsx"
    refused.symlink_to(small)
    state = State(home)  # the CLI's own code paths, in this process (the agent is the real process)
    ids = [ingest_one(state, inbox / name)["delivery"] for name in (small.name, "groot.zip", "tekst.csv")]
    with pytest.raises(SourceRefusedError):
        ingest_one(state, refused)
    out = tmp_path / "out"
    out.mkdir()
    for delivery in ids:
        streamed = io.BytesIO()
        with state.client() as client:
            client.download("open", {"delivery": delivery, "purpose": "invite", "note": "", "mode": "stdout"},
                            streamed)  # type: ignore[arg-type]
        assert any(c in streamed.getvalue() for c in canaries)
        _download_to(state, {"delivery": delivery, "purpose": "phone", "note": "", "mode": "to-dir"}, out, delivery)
    assert api(importer, "vault.verify")["ok"] is True
    assert set(files_containing(out, canaries[:3])) == {str(out / f"{d}.bin") for d in ids}, "search works"

    scanned = {p.relative_to(home.root).as_posix() for p in home.root.rglob("*") if p.is_file()}
    assert {"agent.db", "agent.db-wal", "agent.log", "config.toml"} <= scanned, scanned
    assert {f"vault/objects/{d}.rav" for d in ids} <= scanned
    assert len([n for n in scanned if n.startswith("keys/data-key--")]) == len(ids)
    running = files_containing(home.root, canaries)
    assert importer.stop() == 0
    stopped = files_containing(home.root, canaries)
    output = files_containing(importer.output.parent, canaries)

    assert running == {} and stopped == {}
    assert [name for name in output if not name.startswith(str(out)) and "inbox" not in name] == []
    assert sorted(p.name for p in home.workspace.iterdir()) == []  # no opening went to the workspace


# ---- crash recovery --------------------------------------------------------------------------------


INGEST_STEPS = ["ingest.after-pending", "ingest.after-key", "ingest.after-rename", "ingest.after-commit"]


@pytest.mark.parametrize("point", INGEST_STEPS)
def test_sigkill_at_every_step_of_ingest_loses_nothing_and_duplicates_nothing(home: Home, tmp_path: Path,
                                                                              point: str) -> None:
    data = secrets.token_bytes(2 * 1024 * 1024 + 5)
    source = tmp_path / "lijst.xlsx"
    source.write_bytes(data)
    doomed = AgentProcess(home.root, env={FAULTS_ENV: point}).start()
    try:
        grant_me(doomed, "import")
        crashed = doomed.cli("ingest", str(source))
        assert doomed.wait_exit(timeout=20) == -signal.SIGKILL
    finally:
        doomed.kill()
    assert crashed.returncode == 1, crashed
    assert "Traceback" not in crashed.stderr.decode() and crashed.stderr.decode().startswith("retention-agent:")
    assert source.read_bytes() == data, "the source goes only after the client got the commit"

    agent = AgentProcess(home.root).start()
    try:
        committed = [r for r in deliveries(agent) if r["sha256"] == sha(data)]
        assert len(committed) == (1 if point == "ingest.after-commit" else 0)
        assert_vault_consistent(home)
        recovered = [e for e in audit_entries(agent) if e["action"] == "ingest.recovered"]
        assert len(recovered) == (0 if point == "ingest.after-commit" else 1)

        again = agent.cli("ingest", str(source))

        assert again.returncode == 0, again.stderr.decode()
        assert ("already in the vault" in again.stdout.decode()) == (point == "ingest.after-commit")
        assert not source.exists()
        assert len([r for r in deliveries(agent) if r["sha256"] == sha(data)]) == 1
        assert_vault_consistent(home)
        assert api(agent, "vault.verify")["ok"] is True
    finally:
        agent.kill()


def test_sigkill_in_the_middle_of_writing_the_object_leaves_nothing_behind(home: Home) -> None:
    agent = AgentProcess(home.root).start()
    grant_me(agent, "import")

    def chunks() -> Iterator[bytes]:
        yield secrets.token_bytes(1 << 20)
        deadline = time.monotonic() + 30
        while not list(home.vault_tmp.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.01)
        agent.kill()
        for _ in range(64):
            yield secrets.token_bytes(1 << 20)

    try:
        with pytest.raises((OSError, RetentionAgentError)), Client(home.socket) as client:
            client.upload("ingest", {}, chunks())
    finally:
        agent.kill()
    assert [p.suffix for p in home.vault_tmp.iterdir()] == [".part"], "killed while writing the object"
    assert len(db_rows(home, "SELECT key_id FROM pending_objects")) == 1
    assert len(data_key_files(home)) == 1

    restarted = AgentProcess(home.root).start()
    try:
        assert deliveries(restarted) == []
        assert_vault_consistent(home)
        assert data_key_files(home) == set()
    finally:
        restarted.stop()
