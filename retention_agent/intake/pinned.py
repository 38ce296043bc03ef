"""Drop folders pinned by handle: opened once, then never looked up by their path again.

A drop folder is a place other accounts write to. Whoever may write the folder *above* it can rename the
drop folder away and put a link (or another folder) in its place; an agent that resolves the path again at
every list, open, rename and unlink would then read and remove whatever the link points at — its own key
store included. So the watcher works through a :class:`PinnedFolder`:

1. **Opened once, without links.** :func:`pin` walks the configured path from the root, one component at a
   time, each opened relative to the one before with ``O_DIRECTORY | O_NOFOLLOW``: a symbolic link anywhere
   in the path is refused (``folder-link-in-path``), not followed. The last handle is kept.
2. **Everything relative to the handle.** Listing, ``lstat``, opening a source, renaming it to a claim name,
   linking it back, unlinking it and re-opening it for the overwrite all go through the handle (``dir_fd``),
   never through the path.
3. **Checked before every scan** (:meth:`PinnedFolder.check`): the path is walked again the same way and must
   lead to the same directory (``st_dev``, ``st_ino``). Anything else — a link, a missing folder, another
   directory — is ``folder-swapped``: the caller stops taking files from it and never follows the new path.
4. **Refused where it is unsafe**, at the first pin and at every check: a folder that lies inside one of the
   ``protected`` folders (the agent's home, the key store's folders) is ``folder-inside-home``; a folder with
   an ancestor that an account other than root, the agent's own account and the folder's owner may write,
   and that has no sticky bit, is ``folder-unsafe-parent`` (mode bits, the ancestor's owner, its group's
   members and, on Linux, POSIX ACL entries all count).

The rules are pure functions (:func:`foreign_writer`, :func:`parse_posix_acl`, :func:`is_sparse`), tested
without files. Windows has the same interface in :mod:`.pinned_windows` (handles opened with
``FILE_FLAG_OPEN_REPARSE_POINT``, reparse points refused, identity by volume serial and file index); it was
never run on Windows. The interface both implement (:class:`PinnedFolder`, the refusal codes) is in
:mod:`.pinned_types`.

Not done: group membership comes from the local account database (``grp``/``pwd``); accounts known only to a
directory service that does not enumerate are not seen as members. ACLs are read on Linux only.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from retention_agent.intake.pinned_types import (
    FOLDER_INSIDE_HOME,
    FOLDER_LINK,
    FOLDER_MISSING,
    FOLDER_SWAPPED,
    FOLDER_UNAVAILABLE,
    FOLDER_UNSAFE_PARENT,
    RETRIED,
    DirIdentity,
    FolderRefused,
    PinnedFolder,
    lexists,
)

# The interface (pinned_types) is part of this module's surface: callers know a pinned folder by this module.
__all__ = [
    "ACL_GROUP",
    "ACL_GROUP_OBJ",
    "ACL_MASK",
    "ACL_OTHER",
    "ACL_USER",
    "ACL_USER_OBJ",
    "FOLDER_INSIDE_HOME",
    "FOLDER_LINK",
    "FOLDER_MISSING",
    "FOLDER_SWAPPED",
    "FOLDER_UNAVAILABLE",
    "FOLDER_UNSAFE_PARENT",
    "RETRIED",
    "SPARSE_MIN_HOLE",
    "AclEntry",
    "DirIdentity",
    "FolderRefused",
    "PinnedFolder",
    "PosixPinnedFolder",
    "foreign_writer",
    "group_members",
    "inside_protected",
    "is_sparse",
    "lexists",
    "parse_posix_acl",
    "pin",
]

SPARSE_MIN_HOLE = 1 << 20
"""A file counts as sparse when at least this many bytes, and at least half of its size, are holes."""


def pin(path: Path, *, protected: Sequence[Path] = (), agent_uid: int | None = None) -> PinnedFolder:
    """Open ``path`` as a pinned drop folder, or raise :class:`FolderRefused`."""
    if sys.platform == "win32":  # pragma: no cover - Windows; not run on the Linux test machines
        from retention_agent.intake.pinned_windows import pin_windows

        return pin_windows(path, protected=protected)
    return PosixPinnedFolder.open(path, protected=protected,
                                  agent_uid=os.geteuid() if agent_uid is None else agent_uid)


# ---- pure rules ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AclEntry:
    tag: int
    perm: int
    qualifier: int | None


ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_ACL_WRITE = 0x02
_ACL_VERSION = 2
_ACL_UNDEFINED_ID = 0xFFFFFFFF


def parse_posix_acl(raw: bytes) -> list[AclEntry]:
    """The entries of a Linux ``system.posix_acl_access`` attribute; ``ValueError`` if it is malformed."""
    if len(raw) < 4 or (len(raw) - 4) % 8 or struct.unpack_from("<I", raw)[0] != _ACL_VERSION:
        raise ValueError("not a version 2 POSIX ACL")
    entries = []
    for offset in range(4, len(raw), 8):
        tag, perm, qualifier = struct.unpack_from("<HHI", raw, offset)
        entries.append(AclEntry(tag, perm, None if qualifier == _ACL_UNDEFINED_ID else qualifier))
    return entries


def foreign_writer(info: os.stat_result, allowed: frozenset[int], members: Callable[[int], frozenset[int]],
                   acl: Sequence[AclEntry] | None = None) -> bool:
    """Whether an account outside ``allowed`` may rename or replace entries of the directory ``info``.

    Its owner can always change its mode, so a foreign owner is enough. With the sticky bit nobody else may
    rename or remove an entry they do not own. Otherwise write access by others, by a group with a foreign
    member, or by a foreign user or group named in the ACL (limited by the ACL's mask) counts.
    """
    if info.st_uid not in allowed:
        return True
    mode = info.st_mode
    if mode & stat.S_ISVTX:
        return False
    if mode & stat.S_IWOTH:
        return True
    if acl is None:
        return bool(mode & stat.S_IWGRP) and not members(info.st_gid) <= allowed
    mask = next((e.perm for e in acl if e.tag == ACL_MASK), 0x07)
    for entry in acl:
        writes = entry.perm & _ACL_WRITE and (entry.tag in (ACL_USER_OBJ, ACL_OTHER) or mask & _ACL_WRITE)
        if not writes:
            continue
        if entry.tag == ACL_OTHER:
            return True
        if entry.tag == ACL_USER and entry.qualifier not in allowed:
            return True
        if entry.tag == ACL_GROUP_OBJ and not members(info.st_gid) <= allowed:
            return True
        if entry.tag == ACL_GROUP and entry.qualifier is not None and not members(entry.qualifier) <= allowed:
            return True
    return False


def is_sparse(size: int, allocated: int) -> bool:
    """True when most of a file is holes (a 2 GB file of a few blocks): it would be vaulted at its full size."""
    holes = size - allocated
    return holes >= SPARSE_MIN_HOLE and holes * 2 >= size


def inside_protected(chain: Iterable[DirIdentity], protected: Iterable[DirIdentity]) -> bool:
    """Whether a directory whose path passes through ``chain`` (root first) lies in a protected folder."""
    return bool(set(chain) & set(protected))


# ---- POSIX ---------------------------------------------------------------------------------------------

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
# Ancestors need only be searchable, not readable (a 0711 home): Linux opens them as O_PATH handles.
_STEP_FLAGS = (_DIR_FLAGS & ~os.O_RDONLY) | os.O_PATH if hasattr(os, "O_PATH") else _DIR_FLAGS
_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
_WRITE_FLAGS = (os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
_ACL_XATTR = "system.posix_acl_access"


class PosixPinnedFolder:
    """A directory file descriptor opened by :func:`_walk`; see the module documentation."""

    def __init__(self, path: Path, fd: int, protected: Sequence[Path], agent_uid: int) -> None:
        self.path = path
        self._fd = fd
        self._protected = tuple(protected)
        self._agent_uid = agent_uid
        info = os.fstat(fd)
        self.identity = DirIdentity(info.st_dev, info.st_ino)

    @classmethod
    def open(cls, path: Path, *, protected: Sequence[Path], agent_uid: int) -> PosixPinnedFolder:
        fd, chain = _walk(path)
        try:
            _judge(chain, protected, agent_uid)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, protected, agent_uid)

    @property
    def handle_path(self) -> str | None:
        proc = f"/proc/self/fd/{self._fd}"
        return proc if sys.platform.startswith("linux") and Path(proc).is_dir() else None

    def check(self) -> None:
        try:
            fd, chain = _walk(self.path)
        except FolderRefused as refused:
            if refused.code == FOLDER_UNAVAILABLE:
                raise
            raise FolderRefused(FOLDER_SWAPPED) from None
        try:
            if _identity(chain[-1].info) != self.identity:
                raise FolderRefused(FOLDER_SWAPPED)
            _judge(chain, self._protected, self._agent_uid)
        finally:
            os.close(fd)

    def names(self) -> set[str]:
        return set(os.listdir(self._fd))  # noqa: PTH208 - a directory descriptor, not a path

    def lstat(self, name: str) -> os.stat_result:
        return os.stat(_one(name), dir_fd=self._fd, follow_symlinks=False)

    def exists(self, name: str) -> bool:
        return lexists(self, name)

    def open_read(self, name: str) -> int:
        return os.open(_one(name), _READ_FLAGS, dir_fd=self._fd)

    def reopen_for_writing(self, fd: int, name: str) -> int:
        """Linux re-opens the descriptor itself (``/proc/self/fd``); elsewhere the name, checked to be it."""
        read = os.fstat(fd)
        proc = f"/proc/self/fd/{fd}"
        if sys.platform.startswith("linux") and Path(proc).exists():
            wfd = os.open(proc, os.O_WRONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        else:
            wfd = os.open(_one(name), _WRITE_FLAGS, dir_fd=self._fd)
        written = os.fstat(wfd)
        if (written.st_dev, written.st_ino) != (read.st_dev, read.st_ino) or not stat.S_ISREG(written.st_mode):
            os.close(wfd)
            raise OSError(errno.ESTALE, "the name no longer holds the file that was read")
        return wfd

    def rename(self, src: str, dst: str) -> None:
        os.rename(_one(src), _one(dst), src_dir_fd=self._fd, dst_dir_fd=self._fd)

    def link(self, src: str, dst: str) -> None:
        os.link(_one(src), _one(dst), src_dir_fd=self._fd, dst_dir_fd=self._fd, follow_symlinks=False)

    def unlink(self, name: str) -> None:
        os.unlink(_one(name), dir_fd=self._fd)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


def _one(name: str) -> str:
    """A single name inside the folder: never a path, never ``..``."""
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError("not a name inside the folder")
    return name


def _identity(info: os.stat_result) -> DirIdentity:
    return DirIdentity(info.st_dev, info.st_ino)


@dataclass(frozen=True)
class _Level:
    """One directory of the path as the walk met it: its stat and, on Linux, its ACL attribute."""

    info: os.stat_result
    acl: bytes | None


def _walk(path: Path) -> tuple[int, list[_Level]]:
    """Open ``path`` component by component without following links; the handle and each level met."""
    normal = Path(os.path.normpath(path))
    if not normal.is_absolute():
        raise FolderRefused(FOLDER_UNAVAILABLE)
    parts = normal.parts[1:]
    fd = os.open(normal.anchor, _STEP_FLAGS if parts else _DIR_FLAGS)
    try:
        chain = [_level(fd)]
        for depth, part in enumerate(parts, start=1):
            try:
                child = os.open(part, _DIR_FLAGS if depth == len(parts) else _STEP_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                raise FolderRefused(FOLDER_MISSING) from None
            except OSError as exc:
                # ELOOP/ENOTDIR: a link or not a directory; EMLINK is what FreeBSD says for O_NOFOLLOW on a link
                linked = exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)
                raise FolderRefused(FOLDER_LINK if linked else FOLDER_UNAVAILABLE) from None
            os.close(fd)
            fd = child
            chain.append(_level(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd, chain


def _level(fd: int) -> _Level:
    info = os.fstat(fd)
    if not hasattr(os, "getxattr") or not info.st_mode & 0o070:
        return _Level(info, None)  # no ACLs here, or the group class (which holds the ACL mask) grants nothing
    try:
        return _Level(info, _xattr(fd))
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.EOPNOTSUPP, getattr(errno, "ENOATTR", errno.ENODATA)):
            return _Level(info, None)
        return _Level(info, b"")  # present but unreadable: judged as the worst case


def _xattr(fd: int) -> bytes:
    try:
        return os.getxattr(fd, _ACL_XATTR)
    except OSError as exc:
        if exc.errno != errno.EBADF:
            raise
        return os.getxattr(f"/proc/self/fd/{fd}", _ACL_XATTR)  # an O_PATH handle: through its magic link


def _judge(chain: Sequence[_Level], protected: Sequence[Path], agent_uid: int) -> None:
    """Raise :class:`FolderRefused` when the folder lies in a protected folder or has an unsafe ancestor."""
    guarded = []
    for folder in protected:
        try:
            guarded.append(_identity(Path(folder).stat()))
        except OSError:
            continue  # a key-store folder that does not exist holds nothing to protect
    if inside_protected((_identity(level.info) for level in chain), guarded):
        raise FolderRefused(FOLDER_INSIDE_HOME)
    allowed = frozenset({0, agent_uid, chain[-1].info.st_uid})
    for level in chain[:-1]:
        if foreign_writer(level.info, allowed, group_members, _acl(level.acl)):
            raise FolderRefused(FOLDER_UNSAFE_PARENT)


def _acl(raw: bytes | None) -> list[AclEntry] | None:
    if raw is None:
        return None
    try:
        return parse_posix_acl(raw)
    except ValueError:
        return [AclEntry(ACL_OTHER, _ACL_WRITE, None)]  # unreadable or malformed: assume the worst


def group_members(gid: int) -> frozenset[int]:
    """Accounts in group ``gid``: listed members and accounts whose primary group it is."""
    import grp
    import pwd

    uids: set[int] = set()
    try:
        names = grp.getgrgid(gid).gr_mem
    except KeyError:
        names = []
    for name in names:
        try:
            uids.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            continue
    uids |= {entry.pw_uid for entry in pwd.getpwall() if entry.pw_gid == gid}
    return frozenset(uids)
