"""Drop folders pinned by handle (intake/pinned.py): the pure rules, then real folders, links, ACLs and accounts.

The Windows implementation cannot run here: its rules are tested as pure functions and the class is driven
through a fake ``WinApi`` (what the real ctypes calls would answer), which is all this machine allows.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from retention_agent.intake import pinned, pinned_windows
from retention_agent.intake.pinned import (
    ACL_GROUP,
    ACL_GROUP_OBJ,
    ACL_MASK,
    ACL_OTHER,
    ACL_USER,
    ACL_USER_OBJ,
    AclEntry,
    DirIdentity,
    FolderRefused,
    foreign_writer,
    is_sparse,
    parse_posix_acl,
)

AGENT, OWNER, STRANGER = 1000, 1001, 1002


def info(mode: int, uid: int = 0, gid: int = 0) -> os.stat_result:
    return os.stat_result((stat.S_IFDIR | mode, 1, 1, 2, uid, gid, 4096, 0, 0, 0))


def members(table: dict[int, frozenset[int]]) -> object:
    return lambda gid: table.get(gid, frozenset())


ALLOWED = frozenset({0, AGENT, OWNER})
NOBODY_ELSE = members({0: frozenset({0}), 50: frozenset({AGENT, OWNER}), 60: frozenset({OWNER, STRANGER})})


# ---- pure rules --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "uid", "gid", "foreign"), [
    (0o755, 0, 0, False),  # root's, only root writes
    (0o777, 0, 0, True),  # anyone writes
    (0o1777, 0, 0, False),  # anyone writes, but the sticky bit keeps their hands off others' entries
    (0o755, STRANGER, 0, True),  # a foreign owner can always chmod
    (0o1777, STRANGER, 0, True),  # ... also with a sticky bit
    (0o775, 0, 50, False),  # a group of the agent and the owner
    (0o775, 0, 60, True),  # a group with a stranger in it
    (0o755, 0, 60, False),  # that group may not write
    (0o755, OWNER, OWNER, False),  # the folder owner's own parent
])
def test_foreign_writer_from_mode_bits(mode: int, uid: int, gid: int, foreign: bool) -> None:
    assert foreign_writer(info(mode, uid, gid), ALLOWED, NOBODY_ELSE) is foreign  # type: ignore[arg-type]


def test_foreign_writer_from_acl_entries() -> None:
    base = [AclEntry(ACL_USER_OBJ, 7, None), AclEntry(ACL_GROUP_OBJ, 5, None), AclEntry(ACL_OTHER, 5, None)]
    dir_ = info(0o775, 0, 0)
    named_stranger = [*base, AclEntry(ACL_USER, 7, STRANGER), AclEntry(ACL_MASK, 7, None)]
    assert foreign_writer(dir_, ALLOWED, NOBODY_ELSE, named_stranger)  # type: ignore[arg-type]
    masked = [*base, AclEntry(ACL_USER, 7, STRANGER), AclEntry(ACL_MASK, 5, None)]
    assert not foreign_writer(dir_, ALLOWED, NOBODY_ELSE, masked)  # type: ignore[arg-type]
    named_agent = [*base, AclEntry(ACL_USER, 7, AGENT), AclEntry(ACL_MASK, 7, None)]
    assert not foreign_writer(dir_, ALLOWED, NOBODY_ELSE, named_agent)  # type: ignore[arg-type]
    strangers_group = [*base, AclEntry(ACL_GROUP, 7, 60), AclEntry(ACL_MASK, 7, None)]
    assert foreign_writer(dir_, ALLOWED, NOBODY_ELSE, strangers_group)  # type: ignore[arg-type]
    other_writes = [*base[:2], AclEntry(ACL_OTHER, 7, None)]
    assert foreign_writer(info(0o755, 0, 0), ALLOWED, NOBODY_ELSE, other_writes)  # type: ignore[arg-type]


def test_posix_acl_attribute_is_parsed_and_malformed_ones_are_refused() -> None:
    raw = struct.pack("<I", 2) + struct.pack("<HHI", ACL_USER_OBJ, 7, 0xFFFFFFFF) + struct.pack(
        "<HHI", ACL_USER, 6, 1234)
    assert parse_posix_acl(raw) == [AclEntry(ACL_USER_OBJ, 7, None), AclEntry(ACL_USER, 6, 1234)]
    for bad in (b"", struct.pack("<I", 1), raw[:-1]):
        with pytest.raises(ValueError):
            parse_posix_acl(bad)


@pytest.mark.parametrize(("size", "allocated", "sparse"), [
    (2 << 30, 4096, True),  # the 2 GB file of one block
    (10 << 20, 10 << 20, False),
    (10 << 20, 6 << 20, False),  # a hole, but most of it is data
    (10 << 20, 4 << 20, True),
    (512 << 10, 0, False),  # small files stored inline (ext4 inline data, btrfs) allocate nothing
    (0, 0, False),
])
def test_sparse_means_mostly_holes(size: int, allocated: int, sparse: bool) -> None:
    assert is_sparse(size, allocated) is sparse


def test_inside_protected_compares_identities() -> None:
    home, keys, other = DirIdentity(1, 10), DirIdentity(1, 11), DirIdentity(1, 12)
    assert pinned.inside_protected([DirIdentity(1, 2), home, DirIdentity(1, 99)], [home])
    assert pinned.inside_protected([keys], [home, keys])
    assert not pinned.inside_protected([DirIdentity(1, 2), other], [home, keys])


# ---- real folders ----------------------------------------------------------------------------------------


@pytest.fixture(name="area")
def area_fixture(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "area"
    root.mkdir(mode=0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def refused(path: Path, **kwargs: object) -> str:
    with pytest.raises(FolderRefused) as caught:
        pinned.pin(path, **kwargs)  # type: ignore[arg-type]
    return caught.value.code


def test_everything_goes_through_the_handle(area: Path) -> None:
    drop = area / "drop"
    drop.mkdir()
    (drop / "a.xlsx").write_bytes(b"one")
    folder = pinned.pin(drop)
    try:
        assert folder.names() == {"a.xlsx"}
        moved = area / "moved-away"
        drop.rename(moved)  # the handle follows the directory, not the path
        assert folder.names() == {"a.xlsx"}
        folder.rename("a.xlsx", "b.xlsx")
        assert (moved / "b.xlsx").read_bytes() == b"one"
        fd = folder.open_read("b.xlsx")
        os.close(fd)
        folder.unlink("b.xlsx")
        assert not any(moved.iterdir())
        for bad in ("..", "x/y", ""):
            with pytest.raises(ValueError):
                folder.lstat(bad)
    finally:
        folder.close()


def test_a_link_anywhere_in_the_path_is_refused_not_followed(area: Path) -> None:
    real = area / "real"
    (real / "drop").mkdir(parents=True)
    (area / "via-link").symlink_to(real)
    assert refused(area / "via-link" / "drop") == pinned.FOLDER_LINK
    (area / "drop-link").symlink_to(real / "drop")
    assert refused(area / "drop-link") == pinned.FOLDER_LINK
    (area / "plain-file").write_bytes(b"")
    assert refused(area / "plain-file") == pinned.FOLDER_LINK
    assert refused(area / "not-yet") == pinned.FOLDER_MISSING
    pinned.pin(real / "drop").close()


def test_a_swapped_folder_is_noticed_before_the_next_scan(area: Path) -> None:
    drop, keys = area / "drop", area / "keys"
    drop.mkdir()
    keys.mkdir()
    (keys / "signing-key.key").write_bytes(b"secret")
    folder = pinned.pin(drop)
    try:
        folder.check()
        drop.rename(area / "away")
        drop.symlink_to(keys)  # the attack: the drop folder's name now leads into the agent's keys
        with pytest.raises(FolderRefused) as caught:
            folder.check()
        assert caught.value.code == pinned.FOLDER_SWAPPED
        assert folder.names() == set()  # still the old, empty directory: the keys are never listed
        drop.unlink()
        drop.mkdir()  # a new, real folder under the old name is another directory all the same
        with pytest.raises(FolderRefused) as caught:
            folder.check()
        assert caught.value.code == pinned.FOLDER_SWAPPED
    finally:
        folder.close()
    assert (keys / "signing-key.key").read_bytes() == b"secret"


def test_a_folder_inside_the_home_or_key_store_is_refused(area: Path) -> None:
    home = area / "home"
    (home / "keys").mkdir(parents=True)
    (home / "inbox").mkdir()
    keyring_dir = area / "keyrings"
    (keyring_dir / "x").mkdir(parents=True)
    protected = [home, keyring_dir, area / "does-not-exist"]
    assert refused(home / "keys", protected=protected) == pinned.FOLDER_INSIDE_HOME
    assert refused(home / "inbox", protected=protected) == pinned.FOLDER_INSIDE_HOME
    assert refused(home, protected=protected) == pinned.FOLDER_INSIDE_HOME
    assert refused(keyring_dir / "x", protected=protected) == pinned.FOLDER_INSIDE_HOME
    (area / "elsewhere").mkdir()
    pinned.pin(area / "elsewhere", protected=protected).close()


def test_a_folder_that_becomes_unsafe_is_refused_at_the_next_check(area: Path) -> None:
    (area / "share" / "drop").mkdir(parents=True)
    folder = pinned.pin(area / "share" / "drop")
    try:
        (area / "share").chmod(0o777)
        with pytest.raises(FolderRefused) as caught:
            folder.check()
        assert caught.value.code == pinned.FOLDER_UNSAFE_PARENT
        (area / "share").chmod(0o1777)  # sticky: others may not rename what they do not own
        folder.check()
    finally:
        folder.close()


# ---- Windows, through a fake of the Win32 calls ----------------------------------------------------------


class FakeWin:
    """What CreateFileW / GetFileAttributesW / GetFileInformationByHandle / GetFinalPathNameByHandleW answer."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[int, int, str]] = {}  # path -> (attributes, file index, final path)
        self.handles: dict[int, str] = {}
        self.next = 100

    def add(self, path: str, *, directory: bool = True, reparse: bool = False, index: int = 0,
            final: str | None = None) -> None:
        attributes = (pinned_windows.FILE_ATTRIBUTE_DIRECTORY if directory else 0x80) | (
            pinned_windows.FILE_ATTRIBUTE_REPARSE_POINT if reparse else 0)
        self.entries[path.casefold()] = (attributes, index or len(self.entries) + 1, final or path)

    def _entry(self, path: str) -> tuple[int, int, str]:
        try:
            return self.entries[path.casefold()]
        except KeyError:
            raise FileNotFoundError(2, path) from None

    def attributes(self, path: str) -> int:
        return self._entry(path)[0]

    def open_directory(self, path: str) -> int:
        self._entry(path)
        self.next += 1
        self.handles[self.next] = path
        return self.next

    def open_file(self, path: str, *, write: bool) -> int:
        return self.open_directory(path)

    def info(self, handle: int) -> pinned_windows.HandleInfo:
        attributes, index, final = self._entry(self.handles[handle])
        return pinned_windows.HandleInfo(attributes=attributes, volume=7, index=index, links=1,
                                         final_path="\\\\?\\" + final)

    def close(self, handle: int) -> None:
        del self.handles[handle]


def win_folder(api: FakeWin, path: str, protected: list[str] | None = None) -> pinned_windows.WindowsPinnedFolder:
    return pinned_windows.WindowsPinnedFolder(Path(path), api, [Path(p) for p in protected or []])


def test_windows_reparse_points_on_the_way_are_refused() -> None:
    api = FakeWin()
    for path in ("C:\\Shares", "C:\\Shares\\AgII"):
        api.add(path)
    api.add("C:\\Shares\\AgII\\drop", reparse=True)  # a junction to somewhere else
    with pytest.raises(FolderRefused) as caught:
        win_folder(api, "C:\\Shares\\AgII\\drop")
    assert caught.value.code == pinned.FOLDER_LINK
    api.add("C:\\Shares\\AgII", reparse=True)
    api.add("C:\\Shares\\AgII\\drop")
    with pytest.raises(FolderRefused) as caught:
        win_folder(api, "C:\\Shares\\AgII\\drop")
    assert caught.value.code == pinned.FOLDER_LINK
    with pytest.raises(FolderRefused) as caught:
        win_folder(api, "C:\\Shares\\Nowhere")
    assert caught.value.code == pinned.FOLDER_MISSING
    assert api.handles == {}


def test_windows_swap_and_home_are_refused() -> None:
    api = FakeWin()
    for path in ("C:\\Shares", "C:\\Shares\\drop", "C:\\ProgramData", "C:\\ProgramData\\retention-agent"):
        api.add(path)
    api.add("C:\\ProgramData\\retention-agent\\keys")
    folder = win_folder(api, "C:\\Shares\\drop", ["C:\\ProgramData\\retention-agent"])
    folder.check()
    api.add("C:\\Shares\\drop", index=999)  # another directory under the same name
    with pytest.raises(FolderRefused) as caught:
        folder.check()
    assert caught.value.code == pinned.FOLDER_SWAPPED
    api.add("C:\\Shares\\drop", reparse=True)
    with pytest.raises(FolderRefused) as caught:
        folder.check()
    assert caught.value.code == pinned.FOLDER_SWAPPED
    folder.close()
    with pytest.raises(FolderRefused) as caught:
        win_folder(api, "C:\\ProgramData\\retention-agent\\keys", ["c:\\programdata\\RETENTION-AGENT"])
    assert caught.value.code == pinned.FOLDER_INSIDE_HOME
    assert api.handles == {}


def test_windows_final_path_rules() -> None:
    assert pinned_windows.directly_inside("\\\\?\\C:\\Drop", "\\\\?\\c:\\drop\\Lijst.xlsx", "lijst.xlsx")
    assert not pinned_windows.directly_inside("\\\\?\\C:\\Drop", "\\\\?\\C:\\Agent\\keys\\x.key", "x.key")
    assert not pinned_windows.directly_inside("C:\\Drop", "C:\\Drop\\sub\\x.xlsx", "x.xlsx")
    assert pinned_windows.normal_final_path("\\\\?\\UNC\\server\\share\\Drop\\") == "\\\\server\\share\\drop"
    assert pinned_windows.lies_within("C:\\Agent\\keys", "c:\\agent")
    assert not pinned_windows.lies_within("C:\\Agent2", "C:\\Agent")
    assert pinned_windows.ancestors("C:\\a\\b") == ["C:\\a", "C:\\a\\b"]
