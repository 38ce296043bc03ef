"""What a drop folder may not make the agent do: follow a swapped folder, take links, holes or huge files, or
leave plaintext behind. The folder watcher against real files and a real (pinned) folder, driven by scans.

``deliver`` is the recording double of tests/test_intake_folder.py; the agent-level attacks (a real second
account, the real agent process, a loop-mounted ext4 image) are in tests/test_intake_attacks.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

import pytest

from retention_agent.clock import ManualClock
from retention_agent.intake import pinned
from retention_agent.intake.base import DeliverResult
from retention_agent.intake.folder import FolderWatcher
from retention_agent.intake.folder_ledger import PassResult
from retention_agent.intake.folder_rules import FolderConfig
from tests.accounts import in_child_as, needs_root
from tests.helpers_accounts import traversable_folder
from tests.test_intake_folder import RecordingDeliver, entries


class Reports:
    """The watcher's ``report`` and ``source_kept`` callbacks, recorded."""

    def __init__(self, folder: Path | None = None) -> None:
        self.refused: list[tuple[str, str, str]] = []
        self.kept: list[tuple[tuple[str, ...], str, set[str]]] = []
        self.folder = folder

    def report(self, source: str, code: str, item: str) -> None:
        self.refused.append((source, code, item))

    def source_kept(self, delivery_ids: object, why: str) -> None:
        present = {p.name for p in self.folder.iterdir()} if self.folder else set()
        self.kept.append((tuple(delivery_ids), why, present))  # type: ignore[arg-type]

    def codes(self) -> list[str]:
        return [code for _, code, _ in self.refused]


def watcher_for(folder: Path, reports: Reports | None = None, deliver: RecordingDeliver | None = None,
                **config: object) -> tuple[FolderWatcher, RecordingDeliver, Reports]:
    reports = reports or Reports(folder)
    deliver = deliver or RecordingDeliver()
    settings: dict[str, object] = {"settle_seconds": 0}
    settings.update(config)
    cfg = FolderConfig(name="drop", path=folder, **settings)  # type: ignore[arg-type]
    watcher = FolderWatcher(cfg, deliver, ManualClock(), report=reports.report, source_kept=reports.source_kept)
    return watcher, deliver, reports


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "share" / "drop"
    folder.mkdir(parents=True)
    return folder


# ---- the folder itself -------------------------------------------------------------------------------------


def test_a_folder_swapped_for_a_link_to_the_keys_is_never_followed(drop: Path, tmp_path: Path) -> None:
    keys = tmp_path / "home" / "keys"
    keys.mkdir(parents=True)
    key_files = {"signing-key.key": secrets.token_bytes(32), "data-key--0123.key": secrets.token_bytes(32)}
    for name, secret in key_files.items():
        (keys / name).write_bytes(secret)
    watcher, deliver, reports = watcher_for(drop)
    (drop / "lijst.xlsx").write_bytes(b"first delivery")
    assert watcher.scan_once().taken == 1
    drop.rename(drop.parent / "elsewhere")
    drop.symlink_to(keys)  # what a writer of the parent folder can do
    for _ in range(3):
        assert watcher.scan_once() == PassResult()
    assert {n: (keys / n).read_bytes() for n in key_files} == key_files
    assert deliver.delivered() == {b"first delivery"}
    status = watcher.status
    assert status.stopped_because == pinned.FOLDER_SWAPPED and status.state == "failing"
    assert status.intake.refused == ((pinned.FOLDER_SWAPPED, 1),)
    assert reports.codes() == [pinned.FOLDER_SWAPPED]  # once, not once per scan
    drop.unlink()
    (drop.parent / "elsewhere").rename(drop)  # put back: the agent still waits for a restart
    (drop / "later.xlsx").write_bytes(b"later")
    assert watcher.scan_once().taken == 0 and status.stopped_because == pinned.FOLDER_SWAPPED


def test_a_folder_inside_the_home_is_refused_until_it_is_moved(tmp_path: Path) -> None:
    home = tmp_path / "home"
    inside = home / "inbox"
    inside.mkdir(parents=True)
    (inside / "a.xlsx").write_bytes(b"x")
    watcher, deliver, reports = watcher_for(inside, protected=(home,))
    for _ in range(2):
        assert watcher.scan_once().taken == 0
    assert watcher.status.stopped_because == pinned.FOLDER_INSIDE_HOME
    assert reports.codes() == [pinned.FOLDER_INSIDE_HOME] and deliver.calls == []
    assert entries(inside) == {"a.xlsx"}


def test_an_unsafe_parent_is_refused_and_intake_resumes_once_fixed(drop: Path) -> None:
    drop.parent.chmod(0o777)
    (drop / "a.xlsx").write_bytes(b"x")
    watcher, deliver, reports = watcher_for(drop)
    assert watcher.scan_once().taken == 0
    assert watcher.scan_once().taken == 0
    assert watcher.status.stopped_because == pinned.FOLDER_UNSAFE_PARENT
    drop.parent.chmod(0o1777)  # the fix the status names
    assert watcher.scan_once().taken == 1
    assert watcher.status.stopped_because is None and watcher.status.intake.refused == ()
    assert reports.codes() == [pinned.FOLDER_UNSAFE_PARENT] and deliver.delivered() == {b"x"}


# ---- files ----------------------------------------------------------------------------------------------------


def test_hard_links_sparse_and_huge_files_stay_and_are_reported_once(drop: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.xlsx"
    outside.write_bytes(b"somebody else's file")
    os.link(outside, drop / "link.xlsx")
    for name, size in (("holes.xlsx", 4 << 20), ("big.xlsx", 9 << 20)):
        with open(drop / name, "wb") as out:
            out.write(b"PK\x03\x04")
            out.truncate(size)  # nothing but a hole after the first bytes
    (drop / "fine.xlsx").write_bytes(b"fine")
    watcher, deliver, reports = watcher_for(drop, max_file_bytes=8 << 20)
    for _ in range(3):
        watcher.scan_once()
    assert deliver.delivered() == {b"fine"}
    assert entries(drop) == {"link.xlsx", "holes.xlsx", "big.xlsx"}
    assert outside.read_bytes() == b"somebody else's file"
    assert sorted(reports.codes()) == ["source-hard-link", "source-sparse", "source-too-large"]
    assert dict(watcher.status.intake.refused) == {"source-hard-link": 1, "source-sparse": 1, "source-too-large": 1}
    assert all(len(item) == 12 for _, _, item in reports.refused)  # keyed hashes, never names
    outside.unlink()  # the other name is gone: now it is an ordinary file
    (drop / "big.xlsx").unlink()
    assert watcher.scan_once().taken == 1
    assert dict(watcher.status.intake.refused) == {"source-sparse": 1}


@needs_root
def test_files_of_the_agents_own_account_are_refused_in_shared_mode(drop: Path) -> None:
    (drop / "own.xlsx").write_bytes(b"made by the agent's account")
    theirs = drop / "theirs.xlsx"
    theirs.write_bytes(b"made by staff")
    os.chown(theirs, 65534, 65534)
    watcher, deliver, reports = watcher_for(drop, refuse_agent_files=True)
    watcher.scan_once()
    assert deliver.delivered() == {b"made by staff"} and entries(drop) == {"own.xlsx"}
    assert reports.codes() == ["source-owned-by-agent"]
    per_user, deliver, _reports = watcher_for(drop)  # per-user mode: the staff member's own files
    per_user.scan_once()
    assert deliver.delivered() == {b"made by the agent's account"}


# ---- no plaintext left behind ---------------------------------------------------------------------------------


class Witness(RecordingDeliver):
    """Keeps a second handle on each file it delivers, to look at the inode after the name is gone."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.handles: list[int] = []

    def __call__(self, stream: object, **kwargs: object) -> DeliverResult:
        names = [p for p in self.folder.iterdir() if p.is_file()]
        self.handles += [os.open(p, os.O_RDONLY) for p in names]
        return super().__call__(stream, **kwargs)  # type: ignore[arg-type]


def test_a_taken_source_is_overwritten_before_it_is_unlinked(drop: Path) -> None:
    content = b"rijksregisternummer;naam\n" + b"85073003328;Jan Peeters\n" * 5000
    (drop / "lijst.xlsx").write_bytes(content)
    deliver = Witness(drop)
    watcher, _deliver, reports = watcher_for(drop, deliver=deliver)
    assert watcher.scan_once().taken == 1
    assert entries(drop) == set() and deliver.delivered() == {content}
    (handle,) = deliver.handles
    try:
        assert os.fstat(handle).st_nlink == 0  # unlinked ...
        assert os.pread(handle, len(content) + 1, 0) == bytes(len(content))  # ... after its bytes became zeros
    finally:
        os.close(handle)
    assert reports.kept == []


def test_a_claim_of_zeros_left_by_a_crash_is_removed_without_a_delivery(drop: Path) -> None:
    (drop / ".retention-agent-claim-00112233aabbccdd").write_bytes(bytes(4096))
    (drop / ".retention-agent-claim-44556677aabbccdd").write_bytes(b"not yet overwritten")
    watcher, deliver, _reports = watcher_for(drop)
    watcher.scan_once()
    assert entries(drop) == set()
    assert deliver.delivered() == {b"not yet overwritten"} and deliver.calls[0].quarantine


@needs_root
def test_a_source_the_agent_may_not_write_is_recorded_before_it_is_unlinked() -> None:
    """The agent's account (uid 65534 here) may remove the file from the folder but not write it: the
    delivery must record that before the name goes, so the proof can say the bytes may remain."""
    with traversable_folder() as base:
        _not_writable_scenario(base / "drop")


def _not_writable_scenario(drop: Path) -> None:
    drop.mkdir()
    drop.chmod(0o777)  # the folder is the agent's to empty
    os.chown(drop, 65534, 65534)
    source = drop / "lijst.xlsx"
    source.write_bytes(b"not writable by the agent")
    source.chmod(0o644)  # owned by root: the agent can read it, not write it

    def scan_as_agent() -> bytes:
        watcher, deliver, reports = watcher_for(drop)
        result = watcher.scan_once()
        return json.dumps({"taken": result.taken, "delivered": [d.decode() for d in deliver.delivered()],
                           "kept": [[list(ids), why, sorted(present)] for ids, why, present in reports.kept]}).encode()

    outcome = json.loads(in_child_as(65534, 65534, scan_as_agent))
    assert outcome["taken"] == 1 and outcome["delivered"] == ["not writable by the agent"]
    ((ids, why, present),) = outcome["kept"]
    assert ids == [hashlib.sha256(b"not writable by the agent").hexdigest()[:16]] and why == "no-write-permission"
    assert len(present) == 1 and present[0].startswith(".retention-agent-claim-")  # recorded before the unlink
    assert entries(drop) == set()
