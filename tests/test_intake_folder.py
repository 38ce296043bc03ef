"""Drop-folder intake against real files, real inotify (and polling) events and a real watcher thread.

``deliver`` here is a test double that encrypts nothing: it reads the stream to the end, records the bytes by
SHA-256 and answers ``duplicate`` for bytes it has seen, like the real one (which commits to the vault and is
tested with the vault's own tests). Every test uses its own temporary folder. Deterministic cases drive
``scan_once()`` with a ManualClock; the rest run the watcher and wait (bounded) for the folder to settle.

Unreadable files: the suite usually runs as root, for whom ``chmod 000`` changes nothing, so that test forks a
child that drops to uid/gid 65534 and runs the watcher there; as a normal user it runs in-process.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from watchdog.observers.api import ObservedWatch
from watchdog.observers.inotify import InotifyObserver
from watchdog.observers.polling import PollingObserver
from watchdog.utils.dirsnapshot import EmptyDirectorySnapshot

from retention_agent.clock import ManualClock, SystemClock
from retention_agent.errors import DiskFullError
from retention_agent.intake import folder_rules, pinned, source_file
from retention_agent.intake.base import DeliverResult
from retention_agent.intake.folder import FolderWatcher
from retention_agent.intake.folder_rules import (
    ERR_CHANGED,
    ERR_DELIVER,
    ERR_REFUSED,
    ERR_UNREADABLE,
    FolderConfig,
    is_temporary_name,
)
from retention_agent.intake.stability import StabilityTracker
from tests.retention_support import wait_for

SETTLE = 0.3
MakeWatcher = Callable[..., tuple[FolderWatcher, "RecordingDeliver"]]


# ---- test double and helpers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    sha256: str
    size: int
    channel: str
    source: str
    quarantine: bool


class RecordingDeliver:
    """Stands in for the vault: keeps bytes by SHA-256, idempotent by content, can be told to fail."""

    def __init__(self, *, fail_times: int = 0, during: Callable[[], None] | None = None) -> None:
        self.blobs: dict[str, bytes] = {}
        self.calls: list[Call] = []
        self.fail_times = fail_times
        self.during = during
        self._lock = threading.Lock()

    def __call__(self, stream: BinaryIO, *, channel: str, source: str, quarantine: bool,
                 reason: str = "") -> DeliverResult:
        chunks = []
        while chunk := stream.read(64 * 1024):
            chunks.append(chunk)
            if self.during is not None:
                during, self.during = self.during, None
                during()
        data = b"".join(chunks)
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            if self.fail_times > 0:
                self.fail_times -= 1
                raise DiskFullError(file="(drop folder)")
            duplicate = digest in self.blobs
            self.blobs.setdefault(digest, data)
            self.calls.append(Call(digest, len(data), channel, source, quarantine))
        return DeliverResult(delivery_id=digest[:16], duplicate=duplicate)

    def delivered(self) -> set[bytes]:
        with self._lock:
            return set(self.blobs.values())


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def state_of(watcher: FolderWatcher) -> str:
    return watcher.status.state


def wait_until_watching(watcher: FolderWatcher) -> None:
    """Until the watcher's first scan is done and its observer looks at the folder (inotify's watch is set up,
    a polling observer has its first snapshot): from then on only an event, or the next scan, finds a file."""

    def emitter_ready(emitter: object) -> bool:
        if hasattr(emitter, "_inotify"):
            return emitter._inotify is not None
        return not isinstance(getattr(emitter, "_snapshot", None), EmptyDirectorySnapshot)

    def ready() -> bool:
        observer = watcher._events.observer
        emitters = list(observer.emitters) if observer is not None else []
        return watcher.status.last_success is not None and bool(emitters) and all(map(emitter_ready, emitters))

    wait_for(ready, 10, "the watcher's first scan and its observer")


def entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
def make_watcher() -> Iterator[MakeWatcher]:
    started: list[FolderWatcher] = []

    def make(
        folder: Path,
        *,
        deliver: RecordingDeliver | None = None,
        start: bool = True,
        supervise_every_s: float = 5.0,
        **config: object,
    ) -> tuple[FolderWatcher, RecordingDeliver]:
        settings: dict[str, object] = {"settle_seconds": SETTLE, "scan_interval_s": 600}
        settings.update(config)
        cfg = FolderConfig(name="ceremonies", path=folder, **settings)  # type: ignore[arg-type]
        deliver = deliver or RecordingDeliver()
        watcher = FolderWatcher(cfg, deliver, SystemClock(), supervise_every_s=supervise_every_s)
        if start:
            watcher.start()
            started.append(watcher)
        return watcher, deliver

    yield make
    for watcher in started:
        watcher.stop()


def manual_watcher(
    folder: Path, deliver: RecordingDeliver | None = None, **config: object
) -> tuple[FolderWatcher, RecordingDeliver, ManualClock]:
    clock = ManualClock()
    settings: dict[str, object] = {"settle_seconds": 2.0}
    settings.update(config)
    cfg = FolderConfig(name="ceremonies", path=folder, **settings)  # type: ignore[arg-type]
    deliver = deliver or RecordingDeliver()
    return FolderWatcher(cfg, deliver, clock), deliver, clock


# ---- the stability tracker (pure, ManualClock) -----------------------------------------------------------


def test_stability_needs_settle_time_without_change() -> None:
    clock = ManualClock()
    tracker = StabilityTracker(clock, settle_seconds=2.0)
    assert not tracker.ready("a")
    tracker.observe("a", 10, 1)
    assert not tracker.ready("a")
    clock.advance(timedelta(seconds=1.999))
    tracker.observe("a", 10, 1)
    assert not tracker.ready("a")
    clock.advance(timedelta(seconds=0.001))
    assert tracker.ready("a")
    assert tracker.remaining("a") == 0


def test_stability_change_of_size_or_mtime_restarts_the_wait() -> None:
    clock = ManualClock()
    tracker = StabilityTracker(clock, settle_seconds=2.0)
    tracker.observe("a", 10, 1)
    clock.advance(timedelta(seconds=1.5))
    tracker.observe("a", 20, 1)  # grew
    clock.advance(timedelta(seconds=1.5))
    assert not tracker.ready("a")
    tracker.observe("a", 20, 2)  # same size, touched
    clock.advance(timedelta(seconds=1.5))
    assert not tracker.ready("a")
    assert tracker.remaining("a") == pytest.approx(0.5)
    clock.advance(timedelta(seconds=0.5))
    assert tracker.ready("a")


def test_stability_wall_clock_jumps_do_not_count() -> None:
    clock = ManualClock()
    tracker = StabilityTracker(clock, settle_seconds=2.0)
    tracker.observe("a", 1, 1)
    clock.set(clock.now() + timedelta(days=1))  # wall clock jumps; monotonic does not
    assert not tracker.ready("a")


def test_stability_forget_retain_and_zero_settle() -> None:
    clock = ManualClock()
    tracker = StabilityTracker(clock, settle_seconds=0)
    tracker.observe("a", 0, 0)
    tracker.observe("b", 0, 0)
    assert tracker.ready("a") and "a" in tracker and len(tracker) == 2
    tracker.forget("a")
    assert not tracker.ready("a") and tracker.remaining("a") is None
    tracker.retain({"c"})
    assert len(tracker) == 0
    with pytest.raises(ValueError):
        StabilityTracker(clock, settle_seconds=-1)


# ---- names and configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "lijst.xlsx.crdownload",
        "lijst.xlsx.part",
        "lijst.XLSX.PARTIAL",
        "lijst.xlsx.download",
        "~$lijst.xlsx",
        ".~lock.lijst.ods#",
        ".hidden",
        "~WRL0001.tmp",
        "Thumbs.db",
        "desktop.ini",
        "lijst.xlsx~",
        "#lijst.xlsx#",
    ],
)
def test_temporary_names(name: str) -> None:
    assert is_temporary_name(name)


@pytest.mark.parametrize("name", ["lijst.xlsx", "attest 2026.zip", "Überweisung.7z", "part.pdf", "a"])
def test_ordinary_names(name: str) -> None:
    assert not is_temporary_name(name)


def test_folder_config_validates_and_matches_case_insensitively(tmp_path: Path) -> None:
    cfg = FolderConfig(name="in", path=tmp_path, patterns=("*.xlsx", "*.zip"))
    assert cfg.matches("Lijst.XLSX") and cfg.matches("a.zip") and not cfg.matches("a.pdf")
    for bad in (
        {"name": " "},
        {"channel": "email"},
        {"patterns": ()},
        {"settle_seconds": -1},
        {"scan_interval_s": 0},
    ):
        settings: dict[str, object] = {"name": "in", "path": tmp_path}
        settings.update(bad)
        with pytest.raises(ValueError):
            FolderConfig(**settings)  # type: ignore[arg-type]


# ---- deterministic passes (ManualClock, scan_once) -------------------------------------------------------


def test_scan_once_waits_for_settle_then_delivers_and_removes(drop: Path) -> None:
    watcher, deliver, clock = manual_watcher(drop, channel="zivver")
    (drop / "lijst.xlsx").write_bytes(b"encrypted")
    assert watcher.scan_once().waiting == 1
    clock.advance(timedelta(seconds=1.9))
    assert watcher.scan_once().taken == 0
    clock.advance(timedelta(seconds=0.1))
    assert watcher.scan_once().taken == 1
    assert entries(drop) == set()
    assert deliver.calls == [Call(hashlib.sha256(b"encrypted").hexdigest(), 9, "zivver", "ceremonies", False)]
    status = watcher.status
    assert (status.files_taken, status.last_taken, status.state) == (1, clock.now(), "ok")
    assert status.last_success == clock.now() and status.intake.consecutive_failures == 0


def test_pattern_mismatch_is_delivered_as_quarantined(drop: Path) -> None:
    watcher, deliver, _clock = manual_watcher(drop, patterns=("*.xlsx",), settle_seconds=0)
    (drop / "Lijst.XLSX").write_bytes(b"one")
    (drop / "holiday.jpg").write_bytes(b"two")
    assert watcher.scan_once().taken == 2
    by_size = {c.sha256: c.quarantine for c in deliver.calls}
    assert by_size == {hashlib.sha256(b"one").hexdigest(): False, hashlib.sha256(b"two").hexdigest(): True}
    assert all(c.channel == "folder" and c.source == "ceremonies" for c in deliver.calls)


def test_duplicate_content_is_counted_and_removed(drop: Path) -> None:
    watcher, _deliver, _clock = manual_watcher(drop, settle_seconds=0)
    (drop / "a.xlsx").write_bytes(b"same")
    (drop / "b.xlsx").write_bytes(b"same")
    assert watcher.scan_once().taken == 2
    assert (watcher.status.files_taken, watcher.status.duplicates) == (2, 1)


def test_deliver_raising_keeps_the_source_and_retries(drop: Path) -> None:
    deliver = RecordingDeliver(fail_times=2)
    watcher, _deliver, _clock = manual_watcher(drop, deliver=deliver, settle_seconds=0)
    (drop / "a.xlsx").write_bytes(b"payload")
    assert watcher.scan_once().failed == 1
    assert watcher.scan_once().failed == 1
    assert entries(drop) == {"a.xlsx"}
    assert watcher.status.last_error_id == DiskFullError.error_id
    assert watcher.scan_once().taken == 1
    assert entries(drop) == set() and deliver.delivered() == {b"payload"}


def test_state_fails_after_repeated_failures_and_recovers(drop: Path) -> None:
    deliver = RecordingDeliver(fail_times=3)
    watcher, _deliver, clock = manual_watcher(drop, deliver=deliver, settle_seconds=0)
    (drop / "a.xlsx").write_bytes(b"payload")
    states = [(watcher.scan_once(), watcher.status.state)[1] for _ in range(3)]
    assert states == ["retrying", "retrying", "failing"]
    assert watcher.status.intake.next_retry is not None and watcher.status.last_success is None
    clock.advance(timedelta(minutes=1))
    assert watcher.scan_once().taken == 1
    assert state_of(watcher) == "ok" and watcher.status.last_success == clock.now()


def test_file_that_vanished_while_failing_does_not_keep_the_state_failing(drop: Path) -> None:
    deliver = RecordingDeliver(fail_times=5)
    watcher, _deliver, _clock = manual_watcher(drop, deliver=deliver, settle_seconds=0)
    (drop / "a.xlsx").write_bytes(b"payload")
    watcher.scan_once()
    assert state_of(watcher) == "retrying"
    (drop / "a.xlsx").unlink()  # the officer removed it by hand
    watcher.scan_once()
    assert state_of(watcher) == "ok"


def test_deliver_raising_an_unknown_error_is_reported_with_the_intake_id(drop: Path) -> None:
    def broken(stream: BinaryIO, *, channel: str, source: str, quarantine: bool, reason: str = "") -> DeliverResult:
        raise RuntimeError("vault unavailable")

    watcher = FolderWatcher(FolderConfig(name="x", path=drop, settle_seconds=0), broken, ManualClock())
    (drop / "a.xlsx").write_bytes(b"payload")
    assert watcher.scan_once().failed == 1
    assert watcher.status.last_error_id == ERR_DELIVER
    assert entries(drop) == {"a.xlsx"}


def test_file_changed_during_deliver_is_kept_and_delivered_again(drop: Path) -> None:
    target = drop / "a.xlsx"

    def writer_appends() -> None:
        with target.open("ab") as f:
            f.write(b" and more")

    deliver = RecordingDeliver(during=writer_appends)
    watcher, _deliver, clock = manual_watcher(drop, deliver=deliver, settle_seconds=1)
    target.write_bytes(b"first part")
    watcher.scan_once()
    clock.advance(timedelta(seconds=1))
    assert watcher.scan_once().taken == 0
    assert target.read_bytes() == b"first part and more"
    assert watcher.status.last_error_id == ERR_CHANGED
    watcher.scan_once()  # the change restarts the settle time
    clock.advance(timedelta(seconds=1))
    assert watcher.scan_once().taken == 1
    assert b"first part and more" in deliver.delivered() and entries(drop) == set()


def test_file_replaced_at_the_last_instant_is_put_back_not_deleted(drop: Path) -> None:
    target = drop / "a.xlsx"

    def replace_it() -> None:
        newer = drop / "newer.tmp"
        newer.write_bytes(b"a newer delivery")
        newer.rename(target)

    deliver = RecordingDeliver(during=replace_it)
    watcher, _deliver, _clock = manual_watcher(drop, deliver=deliver, settle_seconds=0)
    target.write_bytes(b"the first delivery")
    assert watcher.scan_once().taken == 0
    assert entries(drop) == {"a.xlsx"} and target.read_bytes() == b"a newer delivery"
    assert watcher.scan_once().taken == 1
    assert deliver.delivered() == {b"the first delivery", b"a newer delivery"}
    assert entries(drop) == set()


def test_claim_left_by_a_crash_is_delivered_again_as_quarantined(drop: Path) -> None:
    watcher, deliver, _clock = manual_watcher(drop, settle_seconds=0)
    (drop / ".retention-agent-claim-0123456789abcdef").write_bytes(b"already vaulted")
    assert watcher.scan_once().taken == 1
    assert deliver.calls[0].quarantine and entries(drop) == set()


def test_temporary_names_are_ignored_entirely(drop: Path) -> None:
    watcher, deliver, _clock = manual_watcher(drop, settle_seconds=0)
    names = {"a.xlsx.crdownload", "~$b.docx", ".hidden", ".~lock.c.odt#", "Thumbs.db", "d.zip.part"}
    for name in names:
        (drop / name).write_bytes(b"partial")
    assert watcher.scan_once().ignored == len(names)
    assert deliver.calls == [] and entries(drop) == names


def test_file_next_to_its_download_or_owner_file_waits(drop: Path) -> None:
    watcher, deliver, _clock = manual_watcher(drop, settle_seconds=0)
    (drop / "lijst.xlsx").write_bytes(b"")  # Firefox's empty placeholder
    (drop / "lijst.xlsx.part").write_bytes(b"half")
    (drop / "verslag.docx").write_bytes(b"open in Word")
    (drop / "~$rslag.docx").write_bytes(b"owner")
    assert watcher.scan_once().taken == 0
    (drop / "lijst.xlsx.part").write_bytes(b"the whole download")
    (drop / "lijst.xlsx.part").rename(drop / "lijst.xlsx")
    (drop / "~$rslag.docx").unlink()
    assert watcher.scan_once().taken == 2
    assert deliver.delivered() == {b"the whole download", b"open in Word"}


def test_zero_byte_file_is_taken_after_settle(drop: Path) -> None:
    watcher, deliver, clock = manual_watcher(drop)
    (drop / "leeg.xlsx").touch()
    assert watcher.scan_once().taken == 0
    clock.advance(timedelta(seconds=2))
    assert watcher.scan_once().taken == 1
    assert deliver.delivered() == {b""} and entries(drop) == set()


def test_symlink_and_directory_are_refused_once_and_left_alone(drop: Path, tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.xlsx"
    secret.write_bytes(b"not for the vault")
    (drop / "link.xlsx").symlink_to(secret)
    (drop / "dangling.xlsx").symlink_to(tmp_path / "missing")
    (drop / "sub").mkdir()
    (drop / "sub" / "inner.xlsx").write_bytes(b"nested")
    os.mkfifo(drop / "pipe.xlsx")
    watcher, deliver, _clock = manual_watcher(drop, settle_seconds=0)
    for _ in range(3):
        assert watcher.scan_once().refused == 4
    status = watcher.status
    assert (status.files_refused, status.last_error_id, len(status.refused_items)) == (4, ERR_REFUSED, 4)
    assert deliver.calls == [] and secret.read_bytes() == b"not for the vault"
    assert entries(drop) == {"link.xlsx", "dangling.xlsx", "sub", "pipe.xlsx"}
    assert (drop / "sub" / "inner.xlsx").read_bytes() == b"nested"
    assert all(len(item) == 12 and "xlsx" not in item for item in status.refused_items)


def test_symlink_swapped_in_after_the_scan_is_not_followed(drop: Path, tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.xlsx"
    secret.write_bytes(b"not for the vault")
    watcher, deliver, clock = manual_watcher(drop, settle_seconds=1)
    (drop / "a.xlsx").write_bytes(b"x")
    watcher.scan_once()
    clock.advance(timedelta(seconds=1))
    real_lstat = pinned.PosixPinnedFolder.lstat
    calls = {"n": 0}

    def lstat_then_swap(self: pinned.PosixPinnedFolder, name: str) -> os.stat_result:
        result = real_lstat(self, name)
        if name == "a.xlsx" and calls["n"] == 0:
            calls["n"] += 1
            (drop / name).unlink()
            (drop / name).symlink_to(secret)  # swapped between the scan's lstat and the open
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pinned.PosixPinnedFolder, "lstat", lstat_then_swap)
        assert watcher.scan_once().taken == 0
    assert watcher.scan_once().refused == 1
    assert deliver.calls == [] and secret.read_bytes() == b"not for the vault"


def test_logs_never_name_a_file(drop: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Invariant 3: error ids, counts and keyed hashes in the log, never a (possibly personal) name."""
    caplog.set_level("DEBUG", logger="retention_agent.intake")
    names = ["Jan Peeters rijksregister.xlsx", "Fatima El Amrani.zip", "link Marie.xlsx", "dir Ahmed"]
    (drop / names[0]).write_bytes(b"taken")
    (drop / names[1]).write_bytes(b"fails once")
    (drop / names[2]).symlink_to(tmp_path)
    (drop / names[3]).mkdir()
    watcher, _deliver, _clock = manual_watcher(drop, deliver=RecordingDeliver(fail_times=1), settle_seconds=0)
    watcher.scan_once()
    watcher.scan_once()
    assert caplog.records and ERR_REFUSED in caplog.text
    for word in ("Jan", "Peeters", "Fatima", "Marie", "Ahmed", "xlsx", str(drop)):
        assert word not in caplog.text


def test_unreadable_file_is_retried_until_readable() -> None:
    """As root (the usual CI case) a forked child drops to uid 65534, for whom chmod 000 means something."""
    folder = Path(tempfile.mkdtemp(prefix="intake-unreadable-"))
    try:
        folder.chmod(0o777)
        target = folder / "lijst.xlsx"
        target.write_bytes(b"secret")
        if os.geteuid() != 0:
            target.chmod(0)
            assert _unreadable_scenario(folder, lambda: target.chmod(0o600)) == 0
            return
        os.chown(target, 65534, 65534)
        target.chmod(0)
        assert _run_as_nobody(folder, lambda: target.chmod(0o600)) == 0
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


def _unreadable_scenario(folder: Path, make_readable: Callable[[], None]) -> int:
    """0 when the file stays while unreadable (error id reported) and is taken once readable."""
    watcher, deliver, _clock = manual_watcher(folder, settle_seconds=0)
    first = watcher.scan_once()
    if first.taken or entries(folder) != {"lijst.xlsx"}:
        return 1
    if watcher.status.last_error_id != ERR_UNREADABLE:
        return 2
    make_readable()
    if watcher.scan_once().taken != 1 or entries(folder) or deliver.delivered() != {b"secret"}:
        return 3
    return 0


def _run_as_nobody(folder: Path, make_readable: Callable[[], None]) -> int:
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery from here on, only os._exit
        code = 9
        try:
            os.setgid(65534)
            os.setuid(65534)

            def ask_parent() -> None:
                os.write(to_parent_w, b"r")
                os.read(to_child_r, 1)

            code = _unreadable_scenario(folder, ask_parent)
        finally:
            os._exit(code)
    os.read(to_parent_r, 1)
    make_readable()
    os.write(to_child_w, b"g")
    _pid, status = os.waitpid(pid, 0)
    for fd in (to_parent_r, to_parent_w, to_child_r, to_child_w):
        os.close(fd)
    return os.waitstatus_to_exitcode(status)


def test_sharing_violation_is_busy_not_an_error(drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What Windows says while Outlook holds the file (winerror 32), simulated: retried, status stays ok."""
    real_open = source_file.open_source
    refusals = iter(range(2))

    def held_by_outlook(folder: pinned.PinnedFolder, name: str) -> int:
        if next(refusals, None) is not None:
            exc = PermissionError(13, "The process cannot access the file")
            exc.winerror = 32  # type: ignore[attr-defined]
            raise exc
        return real_open(folder, name)

    monkeypatch.setattr(source_file, "open_source", held_by_outlook)
    watcher, deliver, _clock = manual_watcher(drop, settle_seconds=0)
    (drop / "bijlage.xlsx").write_bytes(b"attachment")
    for _ in range(2):
        result = watcher.scan_once()
        assert (result.taken, result.waiting, result.failed) == (0, 1, 0)
        assert state_of(watcher) == "ok" and watcher.status.last_error_id is None
    assert watcher.scan_once().taken == 1 and deliver.delivered() == {b"attachment"}


def test_file_locked_by_another_process_with_lockf_waits(drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """POSIX record locks belong to a process, so the lock holder must be another process.

    The holder has the file open for writing, which the Linux lease check sees on its own; it is switched
    off here, as it is where leases are unavailable (network shares, files of another owner).
    """
    monkeypatch.setattr(source_file, "_open_for_writing", lambda fd: False)
    target = drop / "lijst.xlsx"
    target.write_bytes(b"being written")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'r+b'); fcntl.lockf(f, fcntl.LOCK_EX);"
            "print('locked', flush=True); sys.stdin.readline()",
            str(target),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        watcher, deliver, _clock = manual_watcher(drop, settle_seconds=0)
        assert watcher.scan_once().taken == 0 and entries(drop) == {"lijst.xlsx"}
    finally:
        assert holder.stdin is not None
        holder.stdin.write(b"\n")
        holder.stdin.close()
        holder.wait(10)
    assert watcher.scan_once().taken == 1 and deliver.delivered() == {b"being written"}


# ---- the running watcher: real inotify events ------------------------------------------------------------


def test_file_present_before_start_is_taken(drop: Path, make_watcher: MakeWatcher) -> None:
    (drop / "was er al.xlsx").write_bytes(b"early")
    watcher, deliver = make_watcher(drop)
    assert wait_until(lambda: entries(drop) == set())
    assert deliver.delivered() == {b"early"}
    assert state_of(watcher) == "ok"


def test_slow_writer_is_never_taken_before_complete(drop: Path, make_watcher: MakeWatcher) -> None:
    _watcher, deliver = make_watcher(drop, settle_seconds=1.0)
    pieces = [os.urandom(10_000) for _ in range(10)]
    target = drop / "traag.xlsx"
    for piece in pieces:  # ~3 s in all; closed between pieces, so only the stability wait protects it
        with target.open("ab") as f:
            f.write(piece)
        time.sleep(0.3)
        assert deliver.calls == []
    assert wait_until(lambda: entries(drop) == set())
    assert deliver.delivered() == {b"".join(pieces)} and len(deliver.calls) == 1


def test_tmp_then_rename_writer_is_followed_by_its_moved_event(drop: Path, make_watcher: MakeWatcher) -> None:
    watcher, deliver = make_watcher(drop)  # scans every 600 s: only the moved event can find it
    wait_until_watching(watcher)
    temp = drop / "lijst.xlsx.tmp"
    temp.write_bytes(b"complete")
    temp.rename(drop / "lijst.xlsx")
    assert wait_until(lambda: entries(drop) == set())
    assert deliver.delivered() == {b"complete"}


def test_hundred_files_at_once(drop: Path, make_watcher: MakeWatcher) -> None:
    watcher, deliver = make_watcher(drop)
    wait_until_watching(watcher)
    contents = {f"levering {i:03d}.xlsx": os.urandom(2048) for i in range(100)}
    for name, data in contents.items():
        (drop / name).write_bytes(data)
    assert wait_until(lambda: entries(drop) == set(), timeout=20)
    assert deliver.delivered() == set(contents.values())
    assert watcher.status.files_taken == 100


def test_odd_names(drop: Path, make_watcher: MakeWatcher) -> None:
    names = [
        "naam met  spaties .xlsx",
        "Ünïcödé — ceremonie 🎉.xlsx",
        "e\u0301te\u0301.xlsx",  # decomposed accents
        "regel\nbreuk.xlsx",
        "é" * 125 + ".xlsx",  # 255 bytes in UTF-8
    ]
    assert len(os.fsencode(names[-1])) == 255
    _watcher, deliver = make_watcher(drop)
    expected = set()
    for i, name in enumerate(names):
        data = f"file {i}".encode()
        (drop / name).write_bytes(data)
        expected.add(data)
    undecodable = os.path.join(os.fsencode(drop), b"\xff\xfe.xlsx")
    with open(undecodable, "wb") as f:
        f.write(b"not utf-8")
    expected.add(b"not utf-8")
    assert wait_until(lambda: os.listdir(drop) == [])
    assert deliver.delivered() == expected
    assert not any(c.quarantine for c in deliver.calls)


def test_locked_file_is_taken_only_after_release(drop: Path, make_watcher: MakeWatcher) -> None:
    target = drop / "lijst.xlsx"
    target.write_bytes(b"held under a lock")
    with target.open("rb") as holder:  # read-only: only the flock can tell the watcher to wait
        fcntl.flock(holder, fcntl.LOCK_EX)
        _watcher, deliver = make_watcher(drop)
        time.sleep(SETTLE + 1.0)
        assert deliver.calls == [] and entries(drop) == {"lijst.xlsx"}
        fcntl.flock(holder, fcntl.LOCK_UN)  # makes no event: the busy re-check finds it
        assert wait_until(lambda: entries(drop) == set())
    assert deliver.delivered() == {b"held under a lock"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="read leases are Linux-only")
def test_writer_that_pauses_longer_than_settle_is_waited_for(drop: Path, make_watcher: MakeWatcher) -> None:
    """No lock and a pause beyond the settle time: the open write descriptor (lease check) keeps it."""
    _watcher, deliver = make_watcher(drop)
    with (drop / "pauze.xlsx").open("wb") as writer:
        writer.write(b"first half, ")
        writer.flush()
        time.sleep(SETTLE + 1.0)
        assert deliver.calls == []
        writer.write(b"second half")
    assert wait_until(lambda: entries(drop) == set())
    assert deliver.delivered() == {b"first half, second half"}


def test_observer_killed_is_restarted_and_files_still_taken(drop: Path, make_watcher: MakeWatcher) -> None:
    watcher, deliver = make_watcher(drop, supervise_every_s=0.2)
    dead = watcher._events.observer
    assert dead is not None
    dead.stop()
    dead.join()
    (drop / "tijdens de stilte.xlsx").write_bytes(b"while nobody listened")  # no observer saw this
    assert wait_until(lambda: watcher.status.observer_restarts == 1)
    assert wait_until(lambda: entries(drop) == set())
    (drop / "daarna.xlsx").write_bytes(b"after the restart")  # seen by the new observer's events
    assert wait_until(lambda: entries(drop) == set())
    assert deliver.delivered() == {b"while nobody listened", b"after the restart"}
    assert watcher._events.observer is not dead and watcher.status.state == "ok"
    assert watcher.status.last_error_id == folder_rules.ERR_OBSERVER


def test_dead_emitter_is_detected_by_supervise(drop: Path, make_watcher: MakeWatcher) -> None:
    watcher, _deliver = make_watcher(drop, polling=True)
    observer = watcher._events.observer
    assert observer is not None
    for emitter in list(observer.emitters):
        emitter.stop()
        emitter.join()
    assert observer.is_alive()
    assert watcher.supervise() is True
    assert watcher.supervise() is False
    assert watcher.status.observer_restarts == 1


def test_native_observer_that_cannot_watch_falls_back_to_polling(drop: Path, make_watcher: MakeWatcher) -> None:
    class NoWatchesLeft(InotifyObserver):
        def schedule(self, *args: object, **kwargs: object) -> ObservedWatch:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

    watcher, deliver = make_watcher(drop, start=False)
    watcher._events.factory = NoWatchesLeft
    watcher.start()
    try:
        assert isinstance(watcher._events.observer, PollingObserver)
        assert watcher.status.last_error_id == folder_rules.ERR_OBSERVER_FALLBACK
        wait_until_watching(watcher)
        (drop / "a.xlsx").write_bytes(b"seen by polling")
        assert wait_until(lambda: entries(drop) == set())
        assert deliver.delivered() == {b"seen by polling"}
    finally:
        watcher.stop()


def test_polling_observer_mode(drop: Path, make_watcher: MakeWatcher) -> None:
    watcher, deliver = make_watcher(drop, polling=True)
    assert isinstance(watcher._events.observer, PollingObserver)
    wait_until_watching(watcher)
    (drop / "van de netwerkschijf.xlsx").write_bytes(b"share")
    assert wait_until(lambda: entries(drop) == set())
    assert deliver.delivered() == {b"share"}


def test_missing_folder_degrades_then_recovers(tmp_path: Path, make_watcher: MakeWatcher) -> None:
    folder = tmp_path / "not yet mounted"
    watcher, deliver = make_watcher(folder, supervise_every_s=0.2)
    assert wait_until(lambda: watcher.status.state == "failing")  # three failed attempts in a row
    assert watcher.status.last_error_id == folder_rules.ERR_FOLDER and watcher.status.last_success is None
    folder.mkdir()
    (folder / "a.xlsx").write_bytes(b"after mount")
    assert wait_until(lambda: entries(folder) == set())
    assert wait_until(lambda: watcher.status.state == "ok")
    assert deliver.delivered() == {b"after mount"}


def test_stop_and_status(drop: Path, make_watcher: MakeWatcher) -> None:
    watcher, _deliver = make_watcher(drop, start=False)
    assert state_of(watcher) == "stopped"
    watcher.start()
    with pytest.raises(RuntimeError):
        watcher.start()
    assert state_of(watcher) == "ok"
    watcher.stop()
    assert state_of(watcher) == "stopped"
