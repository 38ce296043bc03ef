"""Opening a delivery for a purpose, against the real agent process: authorisation, purposes, the three modes
(stdout, --to DIR, workspace copy), the audit trail, damaged objects, ``vault verify``, the workspace's
lifecycle (private, wiped on time) and, in shared mode, the POSIX ACL that lets the opener alone read it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from retention_agent.api import ops_vault
from retention_agent.api.client import Client
from retention_agent.cli.commands.vault import _download_to
from retention_agent.clock import ManualClock
from retention_agent.errors import ProtocolError, PurposeRequiredError, VaultIntegrityError
from retention_agent.lifecycle import opening
from retention_agent.lifecycle.workspace_wipe import wipe_expired_copies
from retention_agent.rules.subjects import keyed_digest
from retention_agent.runtime.agent import SUBJECT_KEY_PURPOSE
from retention_agent.runtime.context import AgentContext
from retention_agent.session.state import State
from retention_agent.system.home import Home
from retention_agent.system.init_home import load_signing_key
from retention_agent.testing_hooks import CLOCK_ENV
from retention_agent.vault import ingest as ingest_module
from retention_agent.vault.format import DEFAULT_CHUNK_SIZE
from retention_agent.vault.keys import FileKeyStore
from retention_agent.vault.verify import verify_vault
from tests.conftest import ME, AgentProcess
from tests.report_support import FakeSession
from tests.retention_support import AGII_HEAD, wait_for
from tests.vault_support import (
    Accounts,
    accounts_fixture,  # noqa: F401 - the fixture `accounts`
    api,
    audit_entries,
    cli_as,
    db_rows,
    files_containing,
    grant,
    grant_me,
    ingest_ok,
    run_as,
    shared_agent_fixture,  # noqa: F401 - the fixture `shared_agent`
    shared_root_fixture,  # noqa: F401 - the fixture `shared_root`
)

COPY_LINE = re.compile(r"Opened copy: (.+) \(wiped automatically at (\d\d/\d\d/\d{4} \d\d:\d\d)\)\.")  # local


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def opened(agent: AgentProcess) -> list[dict[str, Any]]:
    return [e for e in audit_entries(agent) if e["action"] == "delivery.opened"]


def put(agent: AgentProcess, folder: Path, data: bytes, name: str = "lijst.xlsx") -> str:
    folder.mkdir(exist_ok=True)
    source = folder / name
    source.write_bytes(data)
    return ingest_ok(agent, source)


@pytest.fixture
def staff(agent: AgentProcess) -> AgentProcess:
    """The officer may also import and read."""
    grant_me(agent, "import", "read")
    return agent


def test_an_account_without_read_is_denied_with_exit_3_and_the_refusal_is_audited(agent: AgentProcess,
                                                                                  tmp_path: Path) -> None:
    grant_me(agent, "import")  # officer + import: may list, may not open
    delivery = put(agent, tmp_path / "in", AGII_HEAD + b"not for this account")

    done = agent.cli("open", delivery, "--purpose", "invite", "--stdout")

    assert done.returncode == 3, done.stderr.decode()
    assert done.stdout == b"" and ME in done.stderr.decode() and "read" in done.stderr.decode()
    denied = [e for e in audit_entries(agent) if e["action"] == "open" and e["outcome"] == "denied"]
    assert [(e["actor"], e["subject"], e["details"]["reason"]) for e in denied] == [(ME, [], "no-role")]
    # a refusal keeps no subject's text, only how many and a keyed hash, which the agent's key can match
    key = load_signing_key(FileKeyStore(agent.home / "keys")).derive(SUBJECT_KEY_PURPOSE)
    assert denied[0]["details"]["subjects"] == 1
    assert denied[0]["details"]["subjects_hmac"] == keyed_digest(key, [delivery])
    assert opened(agent) == []


def test_a_purpose_is_required_and_checked_by_the_agent(staff: AgentProcess, tmp_path: Path) -> None:
    delivery = put(staff, tmp_path / "in", b"purpose first")
    usage = {
        "no purpose": staff.cli("open", delivery, "--stdout"),
        "unknown purpose": staff.cli("open", delivery, "--purpose", "marketing", "--stdout"),
        "other without note": staff.cli("open", delivery, "--purpose", "other", "--stdout"),
        "other with blank note": staff.cli("open", delivery, "--purpose", "other", "--note", "   ", "--stdout"),
    }
    for case, done in usage.items():
        assert done.returncode == 2, (case, done.stderr.decode())
        assert done.stdout == b"" and "Traceback" not in done.stderr.decode(), case
    assert "--purpose" in usage["no purpose"].stderr.decode()
    assert "other" in usage["other without note"].stderr.decode()

    # a client that skips the command line's checks meets the same rules in the agent
    home = Home(staff.home)
    for args in ({}, {"purpose": "marketing"}, {"purpose": "other"}, {"purpose": "other", "note": " "},
                 {"purpose": ["invite"]}):
        sink = io.BytesIO()
        with pytest.raises(PurposeRequiredError), Client(home.socket) as client:
            client.download("open", {"delivery": delivery, "mode": "stdout", **args}, sink)  # type: ignore[arg-type]
        assert sink.getvalue() == b""
    assert opened(staff) == []
    assert db_rows(home, "SELECT COUNT(*) FROM openings") == [(0,)]


def test_a_copy_saved_in_a_folder_keeps_the_extension_of_its_type(staff: AgentProcess, tmp_path: Path) -> None:
    workbook = io.BytesIO()
    with zipfile.ZipFile(workbook, "w") as archive:
        for name in ("[Content_Types].xml", "xl/workbook.xml"):
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 2, 9, 0, 0)), b"<x/>")
    kinds = {".xlsx": workbook.getvalue(), ".pdf": b"%PDF-1.7\n" + secrets.token_bytes(64),
             ".bin": b"no known type " + secrets.token_bytes(64)}
    out = tmp_path / "uit"
    out.mkdir()
    for extension, data in kinds.items():
        delivery = put(staff, tmp_path / "in", data, name=f"lijst{extension}")
        saved = staff.cli("open", delivery, "--purpose", "invite", "--to", str(out))
        assert saved.returncode == 0, saved.stderr.decode()
        assert (out / f"{delivery}{extension}").read_bytes() == data
        assert str(out / f"{delivery}{extension}") in saved.stdout.decode()
    assert len(list(out.iterdir())) == 3


def test_each_mode_releases_the_exact_bytes_and_every_opening_is_audited_with_a_note_hash(
        staff: AgentProcess, tmp_path: Path) -> None:
    home = Home(staff.home)
    data = bytes(range(256)) * 1000 + secrets.token_bytes(4097)  # several vault chunks, every byte value
    delivery = put(staff, tmp_path / "in", data)
    empty = put(staff, tmp_path / "in", b"", name="leeg.xlsx")
    out = tmp_path / "uit"
    out.mkdir()
    notes = {"phone": f"belronde {secrets.token_hex(6)}", "other": f"controle {secrets.token_hex(6)}"}

    streamed = staff.cli("open", delivery, "--purpose", "invite", "--stdout")
    saved = staff.cli("open", delivery, "--purpose", "phone", "--note", notes["phone"], "--to", str(out))
    copied = staff.cli("open", delivery, "--purpose", "other", "--note", notes["other"], "--no-launch")
    nothing = staff.cli("open", empty, "--purpose", "attendance", "--stdout")

    assert streamed.returncode == 0 and streamed.stdout == data, streamed.stderr.decode()
    assert nothing.returncode == 0 and nothing.stdout == b"", nothing.stderr.decode()
    assert saved.returncode == 0, saved.stderr.decode()
    assert sorted(p.name for p in out.iterdir()) == [f"{delivery}.bin"]  # no partial file beside it
    written = out / f"{delivery}.bin"
    assert written.read_bytes() == data
    assert (written.stat().st_uid, stat.S_IMODE(written.stat().st_mode)) == (os.geteuid(), 0o600)
    assert copied.returncode == 0, copied.stderr.decode()
    match = COPY_LINE.search(copied.stdout.decode())
    assert match, copied.stdout.decode()
    copy = Path(match.group(1))
    assert copy.parent == home.workspace / ME and copy.name.startswith(delivery)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600 and copy.stat().st_uid == os.geteuid()
    assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o700
    assert copy.read_bytes() == data

    entries = audit_entries(staff)
    got = [(e["subject"], e["actor"], e["details"]["purpose"], e["details"]["mode"], e["details"]["note_sha256"])
           for e in entries if e["action"] == "delivery.opened"]
    assert got == [
        ([delivery], ME, "invite", "stdout", ""),
        ([delivery], ME, "phone", "to-dir", sha(notes["phone"].encode())),
        ([delivery], ME, "other", "workspace", sha(notes["other"].encode())),
        ([empty], ME, "attendance", "stdout", ""),
    ]
    text = json.dumps(entries, ensure_ascii=False)
    assert notes["phone"] not in text and notes["other"] not in text


def test_to_dir_failures_leave_no_file_and_a_clear_message(staff: AgentProcess, tmp_path: Path) -> None:
    delivery = put(staff, tmp_path / "in", b"to a folder")
    missing = tmp_path / "bestaat-niet"

    done = staff.cli("open", delivery, "--purpose", "invite", "--to", str(missing))

    assert done.returncode == 1, done.stderr.decode()
    assert "Traceback" not in done.stderr.decode() and str(missing) in done.stderr.decode()
    assert not missing.exists()
    assert opened(staff) == [], "checked before the agent releases anything"


def test_a_stream_cut_off_by_the_agent_dying_leaves_no_partial_file(staff: AgentProcess, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's own code (in this process) against the real agent, SIGKILLed after the first bytes."""
    delivery = put(staff, tmp_path / "in", secrets.token_bytes(8 * 1024 * 1024))
    out = tmp_path / "uit"
    out.mkdir()
    real_fdopen = os.fdopen

    class KillOnFirstWrite:
        def __init__(self, handle: BinaryIO) -> None:
            self.handle = handle

        def write(self, data: bytes) -> int:
            staff.kill()
            return self.handle.write(data)

        def __enter__(self) -> KillOnFirstWrite:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: KillOnFirstWrite(real_fdopen(fd, mode)))
    with pytest.raises(ProtocolError):
        _download_to(State(Home(staff.home)), {"delivery": delivery, "purpose": "invite", "note": "",
                                               "mode": "to-dir"}, out, delivery)
    monkeypatch.undo()

    assert staff.proc is not None and staff.proc.poll() is not None, "the agent died mid-stream"
    assert list(out.iterdir()) == []


def _flip_last_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))


def test_a_damaged_object_exits_4_naming_the_delivery_and_releases_not_one_byte(staff: AgentProcess,
                                                                                tmp_path: Path) -> None:
    home = Home(staff.home)
    delivery = put(staff, tmp_path / "in", secrets.token_bytes(1024 * 1024))  # several chunks; damage the last
    _flip_last_byte(home.objects / f"{delivery}.rav")
    out = tmp_path / "uit"
    out.mkdir()

    streamed = staff.cli("open", delivery, "--purpose", "invite", "--stdout")
    saved = staff.cli("open", delivery, "--purpose", "invite", "--to", str(out))
    copied = staff.cli("open", delivery, "--purpose", "invite", "--no-launch")

    for done in (streamed, saved, copied):
        assert done.returncode == 4, done.stderr.decode()
        assert delivery in done.stderr.decode() and "Traceback" not in done.stderr.decode()
    assert streamed.stdout == b""
    assert list(out.iterdir()) == []
    assert not (home.workspace / ME).exists() or list((home.workspace / ME).iterdir()) == []
    entries = audit_entries(staff)
    assert [e["subject"] for e in entries if e["action"] == "delivery.integrity-failure"] == [[delivery]] * 3
    assert [e for e in entries if e["action"] == "delivery.opened"] == []


def test_stdout_sends_the_recorded_hash_and_refuses_an_authentic_object_of_another_size(ctx: AgentContext) -> None:
    """In process: the second pass is not hashed again, so the trailer carries the recorded SHA-256; the first
    pass also checks the size the database records, and a mismatch releases nothing."""
    data = secrets.token_bytes(3 * DEFAULT_CHUNK_SIZE + 5)
    delivery = ctx.ingest.receive(io.BytesIO(data), channel="manual", source="manual", quarantine=False,
                                  actor=ME).delivery_id
    args = ops_vault.Open(delivery=delivery, purpose="invite", mode="stdout")

    served = FakeSession(ME)
    ops_vault.open_delivery(ctx, served, args)  # type: ignore[arg-type]
    assert served.streamed == data
    assert served.replies[-1]["trailer"] == {"sha256": sha(data), "size": len(data)}

    with ctx.store.transaction():
        ctx.store.conn.execute("UPDATE deliveries SET size = size - 1 WHERE id = ?", (delivery,))
    refused = FakeSession(ME)
    with pytest.raises(VaultIntegrityError):
        ops_vault.open_delivery(ctx, refused, args)  # type: ignore[arg-type]
    assert (refused.streamed, refused.replies) == (b"", [])
    assert [e["subject"] for e in ctx.audit.entries() if e["action"] == "delivery.integrity-failure"] == [[delivery]]


def test_vault_verify_reports_corrupt_missing_keyless_and_extra_objects_all_at_once(staff: AgentProcess,
                                                                                   tmp_path: Path) -> None:
    home = Home(staff.home)
    ids = [put(staff, tmp_path / "in", secrets.token_bytes(70_000), name=f"{n}.xlsx") for n in range(4)]
    corrupt, missing, keyless, healthy = ids
    _flip_last_byte(home.objects / f"{corrupt}.rav")
    (home.objects / f"{missing}.rav").unlink()
    [(key_id,)] = db_rows(home, "SELECT key_id FROM deliveries WHERE id = ?", (keyless,))
    (home.keys / f"data-key--{key_id}.key").unlink()
    stray = "01STRAY0000000000000000000"
    shutil.copyfile(home.objects / f"{healthy}.rav", home.objects / f"{stray}.rav")

    as_json = staff.cli("vault", "verify", "--json")
    as_text = staff.cli("vault", "verify")

    assert as_json.returncode == 4, as_json.stderr.decode()
    found = json.loads(as_json.stdout)
    assert found["ok"] is False and found["checked"] == 4
    assert (found["corrupt"], found["missing"], found["keyless"], found["extra"], found["mismatch"]) == (
        [corrupt], [missing], [keyless], [stray], [])
    assert as_text.returncode == 4
    for item in (corrupt, missing, keyless, stray):
        assert item in as_text.stderr.decode()


def test_vault_verify_does_not_call_an_ingest_in_progress_extra(ctx: AgentContext,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the rename into vault/objects and the commit, the object has no delivery row yet."""
    seen: dict[str, Any] = {}

    def at(point: str) -> None:
        if point == "ingest.after-rename":
            assert len(ctx.vault.object_ids()) == 1
            seen["during"] = verify_vault(ctx.store, ctx.vault, ctx.clock)

    monkeypatch.setattr(ingest_module, "fault_point", at)
    ctx.ingest.receive(io.BytesIO(b"arriving"), channel="folder", source="inbox", quarantine=False, actor="agent")

    assert (seen["during"]["ok"], seen["during"]["extra"], seen["during"]["checked"]) == (True, [], 0)
    after = verify_vault(ctx.store, ctx.vault, ctx.clock)
    assert (after["ok"], after["checked"]) == (True, 1)


# ---- the workspace: private copies, wiped on time ------------------------------------------------------


def test_workspace_copy_exists_only_after_open_and_is_wiped_by_the_running_agent(home: Home,
                                                                                 tmp_path: Path) -> None:
    """The real agent, its ticker every second, and its clock moved 9 hours on through the clock file."""
    config = home.config.read_text()
    assert "[retention]\n" in config
    home.config.write_text(config.replace("[retention]\n", "[retention]\ntick_seconds = 1\n", 1))
    shift = tmp_path / "clock-offset"
    shift.write_text("0")
    agent = AgentProcess(home.root, env={CLOCK_ENV: str(shift)}).start()
    try:
        grant_me(agent, "import", "read")
        canary = f"CANARY-{secrets.token_hex(8)}".encode()
        delivery = put(agent, tmp_path / "in", b"naam;telefoon\n" + canary + b";0470000000\n")
        assert files_containing(home.root, [canary]) == {}, "nothing in the home before an opening"

        done = agent.cli("open", delivery, "--purpose", "phone", "--no-launch")

        assert done.returncode == 0, done.stderr.decode()
        match = COPY_LINE.search(done.stdout.decode())
        assert match, done.stdout.decode()
        copy = Path(match.group(1))
        assert set(files_containing(home.root, [canary])) == {str(copy)}, "the copy is the one exception"
        assert copy.parent == home.workspace / ME and stat.S_IMODE(copy.stat().st_mode) == 0o600
        shift.write_text(str(9 * 3600))
        # generous: the ticker runs every second, the machine may be busy
        wait_for(lambda: not copy.exists(), 30, "the periodic duty wiping the copy after wipe_after_hours")
        assert files_containing(home.root, [canary]) == {}
        wiped = [e for e in audit_entries(agent) if e["action"] == "workspace.wiped"]
        assert [(e["subject"], e["details"]["why"]) for e in wiped] == [([delivery], "expired")]
        assert db_rows(home, "SELECT COUNT(*) FROM openings WHERE wiped_at IS NOT NULL") == [(1,)]
        assert api(agent, "vault.verify")["ok"] is True, "the vault object itself stays"
    finally:
        agent.stop()


def test_wipe_happens_at_wipe_after_hours_and_not_before(ctx: AgentContext, clock: ManualClock) -> None:
    data = b"in-process, with a manual clock"
    received = ctx.ingest.receive(io.BytesIO(data), channel="manual", source="manual", quarantine=False,
                                  actor=ME)
    ctx.staff.put(ME, "Officer", ["officer", "read"])  # a copy of someone who may no longer read goes at once
    opened = opening.open_delivery(ctx, ME, received.delivery_id, purpose="invite", mode="workspace", note="")
    assert opened.copy is not None
    copy = opened.copy.path
    assert copy.read_bytes() == data and ctx.config.workspace.wipe_after_hours == 8.0

    clock.advance(timedelta(hours=8) - timedelta(seconds=1))
    assert wipe_expired_copies(ctx) == 0 and copy.exists()
    clock.advance(timedelta(seconds=1))
    assert wipe_expired_copies(ctx) == 1 and not copy.exists()
    assert wipe_expired_copies(ctx) == 0, "each copy is wiped once"
    wiped = [e for e in ctx.audit.entries() if e["action"] == "workspace.wiped"]
    assert [e["subject"] for e in wiped] == [[received.delivery_id]]


# ---- shared mode: the agent runs as another account than the opener ------------------------------------


def test_shared_mode_copy_is_readable_by_the_opener_alone(shared_agent: AgentProcess, accounts: Accounts,
                                                          shared_root: Path) -> None:
    home = Home(shared_agent.home)
    reader, outsider = accounts.reader, accounts.outsider
    grant_me(shared_agent, "import")
    grant(shared_agent, reader.name, "read")
    data = AGII_HEAD + b"for the opener's eyes only " + secrets.token_bytes(100)
    delivery = put(shared_agent, shared_root / "in", data)

    done = cli_as(reader, home.root, "open", delivery, "--purpose", "invite", "--no-launch")

    assert done["exit"] == 0 and done["crash"] is None, done
    match = COPY_LINE.search(done["stdout"])
    assert match, done
    copy = Path(match.group(1))
    assert copy.parent == home.workspace / reader.name
    assert copy.stat().st_uid == os.geteuid(), "owned by the agent, so it can always wipe it"
    assert stat.S_IMODE(copy.stat().st_mode) & 0o007 == 0
    acl = subprocess.run(["getfacl", "--numeric", "--omit-header", str(copy)], capture_output=True, text=True,
                         check=True).stdout
    assert f"user:{reader.uid}:r--" in acl.splitlines() and "group::---" in acl.splitlines(), acl
    assert run_as(reader, lambda: copy.read_bytes().hex()) == {"ok": data.hex()}
    assert run_as(outsider, lambda: copy.read_bytes().hex()).get("exception") == "PermissionError"
    assert run_as(outsider, lambda: sorted(os.listdir(copy.parent))).get("exception") == "PermissionError"
    assert [e["actor"] for e in audit_entries(shared_agent) if e["action"] == "delivery.opened"] == [reader.name]


@pytest.mark.parametrize("change", ["removed", "loses read"])
def test_an_account_that_may_no_longer_read_loses_its_copies_at_once(shared_agent: AgentProcess, accounts: Accounts,
                                                                   shared_root: Path, change: str) -> None:
    """Its copies used to stay readable until their wipe time (8 hours by default)."""
    reader = accounts.reader
    grant_me(shared_agent, "import")
    grant(shared_agent, reader.name, "read")
    delivery = put(shared_agent, shared_root / "in", AGII_HEAD + b"copies of a leaver " + secrets.token_bytes(100))
    copies = []
    for _ in range(2):
        done = cli_as(reader, shared_agent.home, "open", delivery, "--purpose", "invite", "--no-launch")
        assert done["exit"] == 0, done
        match = COPY_LINE.search(done["stdout"])
        assert match, done
        copies.append(Path(match.group(1)))
    assert all(copy.exists() for copy in copies)

    if change == "removed":
        api(shared_agent, "staff.remove", {"account": reader.name})
    else:
        grant(shared_agent, reader.name, "modify")

    assert [copy for copy in copies if copy.exists()] == [], "wiped before the answer came back"
    wiped = [e for e in audit_entries(shared_agent) if e["action"] == "workspace.wiped"]
    assert [(e["subject"], e["details"]["account"], e["details"]["why"]) for e in wiped] == [
        ([delivery], reader.name, "access-removed")] * 2
    assert db_rows(Home(shared_agent.home), "SELECT COUNT(*) FROM openings WHERE wiped_at IS NULL") == [(0,)]


def test_shared_mode_to_dir_is_written_with_the_callers_own_permissions(
        shared_agent: AgentProcess, accounts: Accounts, shared_root: Path) -> None:
    reader = accounts.reader
    grant_me(shared_agent, "import")
    grant(shared_agent, reader.name, "read")
    data = AGII_HEAD + b"saved by the caller " + secrets.token_bytes(100)
    delivery = put(shared_agent, shared_root / "in", data)
    mine = shared_root / "mine"
    mine.mkdir()
    os.chown(mine, reader.uid, reader.gid)
    not_mine = shared_root / "not-mine"
    not_mine.mkdir()
    not_mine.chmod(0o755)  # readable, not writable, by the caller

    saved = cli_as(reader, shared_agent.home, "open", delivery, "--purpose", "invite", "--to", str(mine))
    refused = cli_as(reader, shared_agent.home, "open", delivery, "--purpose", "invite", "--to", str(not_mine))

    assert saved["exit"] == 0 and saved["crash"] is None, saved
    written = mine / f"{delivery}.zip"  # the extension of its type
    assert written.read_bytes() == data and written.stat().st_uid == reader.uid
    assert refused["exit"] == 1 and refused["crash"] is None and str(not_mine) in refused["stderr"], refused
    assert list(not_mine.iterdir()) == []
    assert len([e for e in audit_entries(shared_agent) if e["action"] == "delivery.opened"]) == 1
