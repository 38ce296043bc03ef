"""Bad input against the real agent process (DESIGN.md section 5, invariant 7): broken and hostile files in
a drop folder, a zip bomb, a huge file, odd names, links and special files, a file that cannot be removed,
a full disk, an unavailable key store, a locked database and a client that hangs up mid-upload.

Each case checks the same three things: the agent keeps running, nothing received is lost (it is in the
vault whole, or still where it was), and an error a person sees names the file and the fix. The corpus is
generated here (msoffcrypto-tool, pyzipper, py7zr make real encrypted files, then they are cut or bent).
Garbage on the API socket and unreadable sources are covered by tests/integration/test_api.py and
tests/integration/test_vault_ingest.py; the key store's refusals by tests/unit/test_keystore.py (one more case
here: this machine's own default backend).
"""

from __future__ import annotations

import contextlib
import email.message
import hashlib
import io
import os
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msoffcrypto.format.ooxml
import py7zr
import pytest
import pyzipper

from retention_agent.api import protocol
from retention_agent.api.client import Client
from retention_agent.intake import mailfile
from tests.support.agent import ME, AgentProcess, make_home
from tests.support.retention import wait_for

EN = {"RETENTION_AGENT_LANG": "en"}
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount, chattr); CI runs the tests as root")
HUGE_MB = int(os.environ.get("RA_HUGE_MB") or 300)  # RA_HUGE_MB=2048 for the 2 GB run
MAX_FILE_MB = 48  # the drop folder's intake.max_file_bytes here: above the 33 MiB mail file below


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _call(home: Path, op: str, args: dict[str, Any] | None = None) -> Any:
    with Client(home / "agent.sock") as client:
        return client.call(op, args)


def _pages(home: Path, op: str, key: str) -> list[dict[str, Any]]:
    with Client(home / "agent.sock") as client:
        return list(client.pages(op, key))


def _deliveries(home: Path) -> list[dict[str, Any]]:
    return _pages(home, "deliveries", "deliveries")


def _shas(home: Path) -> dict[str, str]:
    return {r["sha256"]: r["state"] for r in _deliveries(home)}


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def _reset_peak(pid: int) -> int:
    """Start measuring the peak afresh (Linux: writing 5 to clear_refs resets VmHWM); the RSS now, in KiB."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _memory(pid)["VmRSS"]


def _growth_mib(pid: int, baseline_kib: int) -> float:
    """How far the peak rose above the RSS at the reset: what handling one input cost in memory."""
    return (_memory(pid)["VmHWM"] - baseline_kib) / 1024


def _leftovers(home: Path) -> list[str]:
    left = [f"vault/tmp/{p.name}" for p in (home / "vault" / "tmp").iterdir()]
    with contextlib.closing(sqlite3.connect(f"file:{home / 'agent.db'}?mode=ro", uri=True)) as db:
        pending = db.execute("SELECT COUNT(*) FROM pending_objects").fetchone()[0]
    return left + ([f"{pending} pending_objects rows"] if pending else [])


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AgentProcess, Path]]:
    """One agent with a drop folder (short settle time), shared by the drop-folder cases."""
    root = tmp_path_factory.mktemp("bad-input")
    inbox = root / "inbox"
    inbox.mkdir()
    home = make_home(root / "home", inboxes=[str(inbox)])
    home.config.write_text(home.config.read_text().replace(
        'path = "', 'settle_seconds = 0.3\nscan_interval_seconds = 1.0\npath = "').replace(
        "[retention]", f"[intake]\nmax_file_bytes = {MAX_FILE_MB << 20}\nmax_files_per_message = 20\n\n[retention]"))
    agent = AgentProcess(home.root, env=EN).start()
    roles = [a for r in ("officer", "import", "read") for a in ("--role", r)]
    assert agent.cli("staff", "add", ME, "--name", "Officer", *roles, env=EN).returncode == 0
    yield agent, inbox
    assert agent.stop() == 0


def _drop(inbox: Path, name: str | bytes, data: bytes) -> Path:
    """Write under a hidden name and rename into place, as a browser or Outlook does."""
    staged = inbox / f".staging-{sha(os.fsencode(name) if isinstance(name, str) else name)[:12]}"
    staged.write_bytes(data)
    target = Path(os.fsdecode(os.path.join(os.fsencode(inbox), os.fsencode(name))))
    staged.rename(target)
    return target


# ---- a generated corpus of broken files -----------------------------------------------------------------


def _plain_xlsx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats'
                                                '.org/package/2006/content-types"/>')
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


def _encrypted_xlsx() -> bytes:
    out = io.BytesIO()
    msoffcrypto.format.ooxml.OOXMLFile(io.BytesIO(_plain_xlsx())).encrypt("geheim", out)
    return out.getvalue()


def _aes_zip() -> bytes:
    buffer = io.BytesIO()
    with pyzipper.AESZipFile(buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as z:
        z.setpassword(b"geheim")
        z.writestr("lijst.csv", "rrn;naam\n" * 200)
    return buffer.getvalue()


def _seven_zip() -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w", password="geheim") as archive:
        archive.writestr("rrn;naam\n" * 200, "lijst.csv")
    return buffer.getvalue()


def _eml(parts: list[bytes], *, cut: int | None = None, boundary: str | None = None) -> bytes:
    message = email.message.EmailMessage()
    message["From"] = "agii@integratie-inburgering.be"
    message["Subject"] = "Inburgeraars"
    message.set_content("Zie bijlage.")
    for n, part in enumerate(parts):
        message.add_attachment(part, maintype="application", subtype="octet-stream", filename=f"deel{n}.xlsx")
    if boundary:
        message.set_boundary(boundary)
    data = message.as_bytes()
    return data[:cut] if cut else data


def _flip_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


def corpus() -> dict[str, bytes]:
    xlsx, azip, sz = _encrypted_xlsx(), _aes_zip(), _seven_zip()
    return {
        "lijst.xlsx": xlsx,
        "lijst-half.xlsx": xlsx[: len(xlsx) // 2],
        "lijst-flipped.xlsx": _flip_middle(xlsx),
        "lijst-header-only.xlsx": xlsx[:512],
        "lijst.zip": azip,
        "lijst-half.zip": azip[: len(azip) // 2],
        "lijst-no-central-directory.zip": azip[: azip.rfind(b"PK\x01\x02")],
        "lijst-flipped.zip": _flip_middle(azip),
        "lijst.7z": sz,
        "lijst-half.7z": sz[: len(sz) // 2],
        "lijst-signature-only.7z": sz[:32],
        "bericht.eml": _eml([xlsx]),
        "bericht-cut-in-base64.eml": _eml([xlsx], cut=len(_eml([xlsx])) - 300),
        "bericht-cut-in-headers.eml": _eml([xlsx])[:40],
        "bericht-bad-boundary.eml": _eml([xlsx], boundary="x").replace(b"--x--", b"--y--"),
        "bericht-broken-attachment.eml": _eml([xlsx[:100], azip[: len(azip) // 3]]),
        "bericht-no-headers.eml": b"\r\n\r\nnothing but a body",
        "leeg.zip": b"",
        "garbage.xlsx": bytes(range(256)) * 40,
        "pdf-header-only.pdf": b"%PDF-1.7\n",
        "nul.zip": b"\0" * 4096,
    }


ODD_NAMES: list[str | bytes] = [
    "café lijst.zip",
    "cafe\u0301 lijst (NFD).zip",
    "  spaties vooraan en achteraan  .zip",
    "-rf --no-preserve-root.zip",
    "regel\neinde.zip",
    "tab\tin naam.zip",
    "a" * 240 + ".zip",
    "Ρ΄ λίστα 名单 قائمة.zip",
    "back\\slash:colon*star?.zip",
    "'; DROP TABLE deliveries; --.zip",
    "$(touch pwned).zip",
    b"latin1-\xe9\xff.zip",
]


def test_a_corpus_of_broken_files_is_taken_whole_and_nothing_is_left_behind(intake: tuple[AgentProcess, Path]
                                                                         ) -> None:
    agent, inbox = intake
    files = corpus()
    files.update({f"odd-{i}": b"PK\x03\x04" + os.urandom(64) for i in range(len(ODD_NAMES))})
    names: dict[str | bytes, bytes] = {k: v for k, v in files.items() if not k.startswith("odd-")}
    names.update({name: files[f"odd-{i}"] for i, name in enumerate(ODD_NAMES)})
    for name, data in names.items():
        _drop(inbox, name, data)
    wait_for(lambda: not any(inbox.iterdir()), 60, "every file taken out of the drop folder")

    vaulted = _shas(agent.home)
    for name, data in names.items():
        if isinstance(name, str) and name.endswith(".eml") and sha(data) not in vaulted:
            parts = mailfile.attachments(data, 1 << 20)  # unpacked: each attachment is in the vault
            assert parts and all(sha(p.data) in vaulted for p in parts), name
        else:
            assert sha(data) in vaulted, f"{name!r} is not in the vault as it was received"
    assert _leftovers(agent.home) == []
    assert _call(agent.home, "vault.verify")["ok"] is True
    log = agent.home.joinpath("agent.log").read_bytes()
    for name in names:
        encoded = os.fsencode(name) if isinstance(name, str) else name
        if len(encoded) > 8:
            assert encoded not in log, f"a file name reached the log: {name!r}"  # names may be personal data


# ---- hostile sizes -----------------------------------------------------------------------------------------


def _zip_bomb(uncompressed: int = 1 << 30) -> bytes:
    """A one-entry zip whose 1 MiB of deflate expands to ``uncompressed`` zeros (built without inflating)."""
    chunk = b"\0" * (1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)  # identical after a full flush
    stream = first + repeat * (uncompressed // len(chunk) - 1) + compressor.flush()
    crc = 0
    for _ in range(uncompressed // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    name = b"nullen.csv"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(stream), uncompressed, len(name), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(stream), uncompressed,
                          len(name), 0, 0, 0, 0, 0, 0)
    offset = len(local) + len(name) + len(stream)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(name), offset, 0)
    return local + name + stream + central + name + end


def test_a_zip_bomb_is_vaulted_as_it_is_never_expanded(intake: tuple[AgentProcess, Path]) -> None:
    agent, inbox = intake
    bomb = _zip_bomb()
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:  # a real bomb: 1 GiB behind ~1 MiB
        assert archive.infolist()[0].file_size == 1 << 30
        assert archive.open("nullen.csv").read(1 << 20) == b"\0" * (1 << 20)
    assert pid_alive(agent)
    baseline = _reset_peak(agent.proc.pid)  # type: ignore[union-attr]
    _drop(inbox, "bom.zip", bomb)
    wait_for(lambda: sha(bomb) in _shas(agent.home), 60, "the bomb vaulted")
    grew_mib = _growth_mib(agent.proc.pid, baseline)  # type: ignore[union-attr]
    row = next(r for r in _deliveries(agent.home) if r["sha256"] == sha(bomb))
    assert row["size"] == len(bomb) and row["state"] == "vaulted"  # the archive as received, not its content
    assert grew_mib < 40, f"the agent's memory grew by {grew_mib:.0f} MiB while taking a zip bomb"
    opened = agent.cli("open", row["id"], "--purpose", "invite", "--stdout", env=EN)
    assert opened.returncode == 0 and opened.stdout == bomb


def pid_alive(agent: AgentProcess) -> bool:
    return agent.proc is not None and agent.proc.poll() is None


def test_a_huge_sparse_file_streams_through_in_constant_memory(intake: tuple[AgentProcess, Path],
                                                              tmp_path: Path) -> None:
    agent, _inbox = intake
    huge = tmp_path / "huge.xlsx"
    with open(huge, "wb") as out:
        out.write(b"PK\x03\x04")
        out.truncate(HUGE_MB << 20)  # sparse: costs no disk until the vault writes it
    expected = hashlib.sha256()
    with open(huge, "rb") as source:
        while block := source.read(1 << 20):
            expected.update(block)
    baseline = _reset_peak(agent.proc.pid)  # type: ignore[union-attr]
    started = time.monotonic()
    done = agent.cli("ingest", str(huge), env=EN, timeout=900)
    seconds = time.monotonic() - started
    grew_mib = _growth_mib(agent.proc.pid, baseline)  # type: ignore[union-attr]
    assert done.returncode == 0, done.stderr.decode()
    assert not huge.exists()
    row = next(r for r in _deliveries(agent.home) if r["sha256"] == expected.hexdigest())
    assert row["size"] == HUGE_MB << 20
    assert grew_mib < 40, f"{HUGE_MB} MiB took {grew_mib:.0f} MiB more agent memory ({seconds:.1f} s)"
    assert _leftovers(agent.home) == []


def test_a_huge_file_that_looks_like_mail_is_vaulted_whole(intake: tuple[AgentProcess, Path]) -> None:
    """Larger than a mail file is opened in memory: taken whole (quarantined), never cut to the limit."""
    agent, inbox = intake
    data = b"From: agii@integratie-inburgering.be\r\nSubject: x\r\n\r\n" + os.urandom(33 << 20)
    baseline = _reset_peak(agent.proc.pid)  # type: ignore[union-attr]
    _drop(inbox, "groot.eml", data)
    wait_for(lambda: not (inbox / "groot.eml").exists(), 60, "the big mail file taken")
    assert _shas(agent.home).get(sha(data)) == "quarantined"
    grew_mib = _growth_mib(agent.proc.pid, baseline)  # type: ignore[union-attr]
    assert grew_mib < 130, f"a {len(data) >> 20} MiB mail file took {grew_mib:.0f} MiB more agent memory"


# ---- links, special files, a file that cannot be removed ------------------------------------------------


def _status(home: Path) -> dict[str, Any]:
    status: dict[str, Any] = _call(home, "status")
    return status


def _refused(home: Path) -> dict[str, int]:
    watcher = next(w for w in _status(home)["health"]["intake"] if w["name"] == "folder:inbox-1")
    return {r["code"]: r["count"] for r in watcher["refused"]}


def _refusal_entries(home: Path) -> list[str]:
    entries = _pages(home, "audit.show", "entries")
    return [e["details"]["why"] + ":" + e["details"].get("item", "") for e in entries
            if e["action"] == "intake.refused"]


def _problems(home: Path) -> dict[str, str]:
    from retention_agent.session.status_table import finding_text

    return {p["code"]: finding_text(p) for p in _status(home)["problems"]}


def test_links_and_special_files_are_never_followed_and_left_in_place(intake: tuple[AgentProcess, Path],
                                                                     tmp_path: Path) -> None:
    agent, inbox = intake
    audited = len(_refusal_entries(agent.home))
    secret = tmp_path / "elders.xlsx"  # outside the drop folder: must never be read through a link
    secret.write_bytes(b"PK\x03\x04 not for the agent " + os.urandom(32))
    folder = tmp_path / "map"
    folder.mkdir()
    (inbox / "link.xlsx").symlink_to(secret)
    (inbox / "dangling.xlsx").symlink_to(tmp_path / "nowhere.xlsx")
    (inbox / "link-to-folder.zip").symlink_to(folder)
    (inbox / "submap.zip").mkdir()
    os.mkfifo(inbox / "pijp.zip")
    hard_data = b"PK\x03\x04 hard link " + os.urandom(32)
    other_name = tmp_path / "andere-naam.zip"
    other_name.write_bytes(hard_data)
    os.link(other_name, inbox / "harde-link.zip")
    wait_for(lambda: _refused(agent.home) == {"source-refused": 5, "source-hard-link": 1}, 30, "the refusals")
    time.sleep(2.5)  # two more scans over what stays: nothing is reported twice
    assert sorted(p.name for p in inbox.iterdir()) == ["dangling.xlsx", "harde-link.zip", "link-to-folder.zip",
                                                     "link.xlsx", "pijp.zip", "submap.zip"]
    vaulted = _shas(agent.home)
    assert sha(secret.read_bytes()) not in vaulted and sha(hard_data) not in vaulted
    assert secret.exists() and other_name.read_bytes() == hard_data
    refusals = _refusal_entries(agent.home)[audited:]
    assert len(refusals) == 6 and len(set(refusals)) == 6, refusals  # each item audited once
    problems = _problems(agent.home)
    assert "put a copy in the folder, not a link" in problems["source-hard-link"]
    assert "put the file itself in the folder" in problems["source-refused"]
    assert pid_alive(agent)
    for item in ("link.xlsx", "dangling.xlsx", "link-to-folder.zip", "harde-link.zip"):
        (inbox / item).unlink()
    (inbox / "submap.zip").rmdir()
    (inbox / "pijp.zip").unlink()
    wait_for(lambda: _refused(agent.home) == {}, 30, "the refusals cleared once the items are gone")


def test_sparse_and_oversized_files_stay_where_they_are_with_a_problem(intake: tuple[AgentProcess, Path]) -> None:
    agent, inbox = intake
    audited = len(_refusal_entries(agent.home))
    for name, size in (("gaten.xlsx", 40 << 20), ("te-groot.zip", (MAX_FILE_MB + 1) << 20)):
        staged = inbox / f".staging-{name}"
        with open(staged, "wb") as out:
            out.write(b"PK\x03\x04")
            out.truncate(size)  # 40 MiB of holes would become a 40 MiB vault object
        staged.rename(inbox / name)
    wait_for(lambda: _refused(agent.home) == {"source-sparse": 1, "source-too-large": 1}, 30, "the refusals")
    time.sleep(2.5)
    assert sorted(p.name for p in inbox.iterdir()) == ["gaten.xlsx", "te-groot.zip"]
    assert sorted(r.partition(":")[0] for r in _refusal_entries(agent.home)[audited:]) == ["source-sparse",
                                                                                          "source-too-large"]
    problems = _problems(agent.home)
    assert "sparse" in problems["source-sparse"] and "retention-agent ingest" in problems["source-too-large"]
    assert _leftovers(agent.home) == []
    for name in ("gaten.xlsx", "te-groot.zip"):
        (inbox / name).unlink()
    wait_for(lambda: _refused(agent.home) == {}, 30, "the refusals cleared")


def test_a_mail_file_with_too_many_attachments_is_one_quarantined_delivery(intake: tuple[AgentProcess, Path]
                                                                           ) -> None:
    agent, inbox = intake
    parts = [b"%PDF-1.7\n" + os.urandom(16) for _ in range(25)]
    data = _eml(parts)
    before = {r["id"] for r in _deliveries(agent.home)}
    notified = _notification_kinds(agent.home)
    _drop(inbox, "vloed.eml", data)
    wait_for(lambda: not (inbox / "vloed.eml").exists(), 30, "the mail file taken")
    new = [r for r in _deliveries(agent.home) if r["id"] not in before]
    assert [(r["sha256"], r["state"]) for r in new] == [(sha(data), "quarantined")]
    assert not {sha(p) for p in parts} & set(_shas(agent.home))
    problems = _problems(agent.home)
    assert new[0]["id"] in problems["mail-too-many-files"]
    assert _notification_kinds(agent.home)[len(notified):] == ["message-too-many-files"]  # one, not 25
    assert _call(agent.home, "purge.one", {"delivery": new[0]["id"], "reason": "vloed"})["proof"]
    assert "mail-too-many-files" not in _problems(agent.home)


def _notification_kinds(home: Path) -> list[str]:
    found = _call(home, "notifications", {"after": 0, "limit": 200})["notifications"]
    return [n["kind"] for n in found]


@ROOT_ONLY
def test_a_file_that_cannot_be_removed_is_vaulted_once_and_kept_until_it_can(intake: tuple[AgentProcess, Path]
                                                                              ) -> None:
    agent, inbox = intake
    data = b"PK\x03\x04 immutable " + os.urandom(64)
    path = _drop(inbox, "vast.zip", data)
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode != 0:
        pytest.fail("this file system has no immutable flag (chattr +i); the test needs ext4, as in CI")
    try:
        wait_for(lambda: sha(data) in _shas(agent.home), 30, "vaulted although it cannot be removed")
        time.sleep(3)  # several retries of the removal
        assert path.exists() and path.read_bytes() == data
        rows = [r for r in _deliveries(agent.home) if r["sha256"] == sha(data)]
        assert len(rows) == 1, "every retry must be recognised as the same delivery"
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    wait_for(lambda: not path.exists(), 30, "removed once it could be")
    assert len([r for r in _deliveries(agent.home) if r["sha256"] == sha(data)]) == 1


# ---- a full disk -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs here (the test runs as root, as in CI): {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@ROOT_ONLY
def test_a_full_vault_disk_names_the_file_and_the_fix_and_loses_nothing(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    home = make_home(tmp_path / "home", inboxes=[str(inbox)])
    home.config.write_text(home.config.read_text().replace(
        'path = "', 'settle_seconds = 0.3\nscan_interval_seconds = 1.0\npath = "'))
    vault = home.root / "vault"
    shutil.rmtree(vault)
    with _tmpfs(vault, "8m"):
        for sub in ("objects", "tmp"):
            (vault / sub).mkdir(mode=0o700)
        agent = AgentProcess(home.root, env=EN).start()
        try:
            assert agent.cli("staff", "add", ME, "--name", "O", "--role", "officer", "--role", "import",
                             env=EN).returncode == 0
            big = tmp_path / "groot bestand.xlsx"
            data = b"PK\x03\x04" + os.urandom(20 << 20)
            big.write_bytes(data)
            done = agent.cli("ingest", str(big), env=EN)
            message = done.stderr.decode()
            assert done.returncode == 1, message
            assert str(big) in message and "not enough disk space" in message and "Free space" in message
            assert "Traceback" not in message
            assert big.read_bytes() == data, "the source is kept"
            assert _leftovers(home.root) == [] and not list((vault / "objects").iterdir())

            dropped = _drop(inbox, "ook groot.zip", data[:-1] + b"!")
            time.sleep(3)  # several attempts while the disk is full
            assert dropped.exists(), "a file the vault has no room for stays where it was"
            # the watcher keeps retrying (at most a second apart): between two attempts nothing is half-written
            wait_for(lambda: _leftovers(home.root) == [] and _deliveries(home.root) == [], 30,
                     "a moment between two attempts with nothing left behind")
            assert dropped.exists()

            small = tmp_path / "klein.xlsx"
            small.write_bytes(b"PK\x03\x04 small")
            # an attempt on the big file may hold the disk for a moment: the small file fits between two
            wait_for(lambda: agent.cli("ingest", str(small), env=EN).returncode == 0, 30,
                     "the agent goes on working")

            subprocess.run(["mount", "-o", "remount,size=64m", str(vault)], check=True)  # space freed
            wait_for(lambda: not dropped.exists(), 30, "taken once there is room")
            assert agent.cli("ingest", str(big), env=EN).returncode == 0
            assert {sha(data), sha(data[:-1] + b"!"), sha(b"PK\x03\x04 small")} <= set(_shas(home.root))
            assert _call(home.root, "vault.verify")["ok"] is True
        finally:
            agent.stop()


@ROOT_ONLY
def test_a_completely_full_disk_under_the_database_is_a_clear_error_not_a_dropped_line(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "mnt", "8m") as mount:
        home = make_home(mount / "home")
        agent = AgentProcess(home.root, env=EN).start()
        filler = mount / "filler"
        try:
            assert agent.cli("staff", "list", env=EN).returncode == 0
            free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
            with open(filler, "wb") as out:
                with contextlib.suppress(OSError):
                    out.write(b"\0" * free)
                    out.write(b"\0" * (1 << 20))  # whatever is left
            done = agent.cli("staff", "list", env=EN)
            message = done.stderr.decode()
            assert done.returncode == 1, message
            assert "not enough disk space" in message and str(home.root / "agent.db") in message, message
            assert pid_alive(agent)
            filler.unlink()
            again = agent.cli("staff", "list", "--json", env=EN)
            assert again.returncode == 0, again.stderr.decode()
            verified = agent.cli("audit", "verify", env=EN)
            assert verified.returncode == 0, verified.stderr.decode()
        finally:
            filler.unlink(missing_ok=True)
            agent.stop()


# ---- the key store and the database ------------------------------------------------------------------------


def test_this_machines_default_key_store_is_refused_with_the_catalogue_message(tmp_path: Path) -> None:
    """key_store = "keyring" on a headless machine with no PYTHON_KEYRING_BACKEND: whatever keyring picks
    here (a fail, null or plaintext-file backend) is refused at start-up, saying where the keys are. (init, which
    could still choose, refuses earlier and names --key-store file: test_home.py.)"""
    home = make_home(tmp_path / "home")
    home.config.write_text(home.config.read_text().replace('key_store = "file"', 'key_store = "keyring"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON_KEYRING", "DBUS_"))}
    done = subprocess.run([sys.executable, "-m", "retention_agent", "--home", str(home.root), "run"],
                          env={**env, **EN, "RETENTION_AGENT_TESTING": "1"}, capture_output=True, timeout=60,
                          check=False)
    message = done.stderr.decode()
    assert done.returncode == 1, message
    assert "The key store backend" in message and "the keys of this home are in that key store" in message, message
    assert "Traceback" not in message
    assert not (home.root / "agent.sock").exists()


class _LockHolder:
    """Another program holding an exclusive lock on the database until the test releases it (not for a fixed
    time: on a busy machine the request might only arrive after such a lock had ended)."""

    def __init__(self, database: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", (
            "import sqlite3, sys\n"
            f"db = sqlite3.connect({str(database)!r}, isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True)\n"
            "sys.stdin.readline(); db.execute('COMMIT')\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdout is not None and self.process.stdout.readline() == b"locked\n"

    def release(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"release\n")
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0


def test_a_locked_database_makes_requests_wait_or_fail_and_the_agent_survives(intake: tuple[AgentProcess, Path]
                                                                             ) -> None:
    agent, inbox = intake
    holder = _LockHolder(agent.home / "agent.db")
    answers: list[subprocess.CompletedProcess[bytes]] = []
    started = time.monotonic()
    asking = threading.Thread(target=lambda: answers.append(agent.cli("staff", "list", env=EN)))
    asking.start()
    time.sleep(2)  # how long the lock is held while the request waits for it
    holder.release()
    asking.join(timeout=60)
    assert answers[0].returncode == 0 and time.monotonic() - started >= 2, "waited for the lock, then served"

    holder = _LockHolder(agent.home / "agent.db")  # held until the request has failed: longer than the agent waits
    # the request first: a delivery started before it would hold the agent's store while it waits for
    # SQLite, and the request, queued behind it, would only reach SQLite when the lock is nearly gone
    done = agent.cli("staff", "list", env=EN)
    data = b"PK\x03\x04 dropped while locked " + os.urandom(32)
    _drop(inbox, "tijdens-slot.zip", data)
    holder.release()
    message = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in message, message
    assert pid_alive(agent)
    wait_for(lambda: sha(data) in _shas(agent.home), 30, "the file dropped during the lock is taken after it")
    assert agent.cli("staff", "list", env=EN).returncode == 0
    assert agent.cli("audit", "verify", env=EN).returncode == 0
    assert "agent.db" in message and "locked" in message, message  # names the file and what to do


# ---- a client that hangs up mid-upload --------------------------------------------------------------------


@pytest.mark.parametrize("cut", ["between frames", "inside a frame", "before the end frame"])
def test_a_client_that_disconnects_mid_upload_leaves_nothing(intake: tuple[AgentProcess, Path], cut: str) -> None:
    agent, _inbox = intake
    before = _deliveries(agent.home)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(agent.home / "agent.sock"))
    protocol.write_json(sock, protocol.request("ingest", {}))
    assert protocol.read_json(sock)["result"] == "send"
    block = b"PK\x03\x04" + os.urandom(protocol.DATA_CHUNK - 4)
    for _ in range(12):  # 3 MiB of a file that never ends
        protocol.write_frame(sock, protocol.DATA, block)
    if cut == "inside a frame":
        sock.sendall(b"D" + struct.pack(">I", protocol.DATA_CHUNK) + block[:1000])
    elif cut == "before the end frame":
        protocol.write_frame(sock, protocol.DATA, block[:10])
    sock.close()
    wait_for(lambda: _leftovers(agent.home) == [], 10, "the half upload cleaned up")
    assert _deliveries(agent.home) == before
    assert pid_alive(agent)
    assert _call(agent.home, "vault.verify")["ok"] is True
