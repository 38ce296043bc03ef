"""Erase one found copy, with the user's rights: overwrite it through its own handle, then unlink it.

The copy is reached from its location's folder one name at a time, each folder opened relative to the one
before with ``O_NOFOLLOW`` (POSIX), so a folder swapped for a link since the sweep leads nowhere. The file is
opened for writing without following a link, and erased only if it is still the copy that was found:

- a regular file with one name (another name would keep the bytes: ``hard-link``), owned by the user;
- an exact copy still hashes to the delivery's SHA-256; a derived copy still has the size, time and identity
  it had when its people were counted (its key is destroyed at the purge, so it cannot be read again);

then zeros are written over its data (:func:`retention_agent.system.wipe.overwrite`), it is fsynced, and the name is
unlinked if it still names that file. Anything else leaves the file as it is and says why
(:data:`retention_agent.copies.wire.REMAIN_REASONS`); a file that is no longer there is ``gone``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from retention_agent.copies import wire
from retention_agent.copies.cache import Signature
from retention_agent.copies.sweep import hash_fd
from retention_agent.system import wipe

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_WRITE_FLAGS = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)

Outcome = tuple[str, str]  # (outcome, why)


def erase(root: str, parts: Sequence[str], *, sha256: str | None, signature: Signature | None) -> Outcome:
    """Erase the copy at ``parts`` inside the location ``root`` if it is still the copy: ``sha256`` for an exact
    copy, ``signature`` for a derived one. Returns ``("erased", "")``, ``("gone", "")`` or ``("remaining", why)``."""
    if os.name != "posix":  # pragma: no cover - Windows
        return _erase_by_path(Path(root).joinpath(*parts), sha256=sha256, signature=signature)
    try:
        parent = _open_parent(Path(root), parts[:-1])
    except FileNotFoundError:
        return "gone", ""
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            return "remaining", wire.NOT_A_FILE
        return "remaining", wipe.reason(exc)  # a folder on the way this account may not open
    try:
        return _erase_in(parent, parts[-1], sha256, signature)
    finally:
        os.close(parent)


def _open_parent(root: Path, folders: Sequence[str]) -> int:
    fd = os.open(root, _DIR_FLAGS)
    for name in folders:
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        fd = child
    return fd


def _erase_in(parent: int, name: str, sha256: str | None, signature: Signature | None) -> Outcome:
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return "gone", ""
    if not stat.S_ISREG(info.st_mode):
        return "remaining", wire.NOT_A_FILE
    if info.st_uid != os.geteuid():
        return "remaining", wire.NOT_OWNER
    if info.st_nlink > 1:
        return "remaining", wipe.HARD_LINK
    try:
        fd = os.open(name, _WRITE_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        return "gone", ""
    except OSError as exc:
        return "remaining", wipe.reason(exc) if exc.errno != errno.ELOOP else wire.NOT_A_FILE
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino) or not stat.S_ISREG(opened.st_mode):
            return "remaining", wire.NOT_A_FILE
        if not _still_the_copy(fd, opened, sha256, signature):
            return "remaining", wire.CHANGED
        try:
            wipe.overwrite(fd, opened.st_size)
        except OSError as exc:
            return "remaining", wipe.reason(exc)
    finally:
        os.close(fd)
    try:
        now = os.stat(name, dir_fd=parent, follow_symlinks=False)
        if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
            return "remaining", wire.CHANGED  # renamed away meanwhile: its bytes are zeros, its name is not ours
        os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        return "erased", ""  # overwritten; someone removed the name meanwhile
    except OSError as exc:
        return "remaining", wipe.reason(exc)
    with contextlib.suppress(OSError):
        os.fsync(parent)
    return "erased", ""


def _still_the_copy(fd: int, info: os.stat_result, sha256: str | None, signature: Signature | None) -> bool:
    if sha256 is not None:
        os.lseek(fd, 0, os.SEEK_SET)
        return hash_fd(fd) == sha256
    if signature is not None:
        return (info.st_size, info.st_mtime_ns, info.st_ino) == tuple(signature)
    return False


def _erase_by_path(path: Path, *, sha256: str | None, signature: Signature | None) -> Outcome:  # pragma: no cover
    """Windows: by path, with the reparse-point check made on the file itself (not run here)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "gone", ""
    except OSError:
        return "remaining", wire.NOT_A_FILE
    if getattr(info, "st_file_attributes", 0) & 0x400 or not stat.S_ISREG(info.st_mode):
        return "remaining", wire.NOT_A_FILE
    if info.st_nlink > 1:
        return "remaining", wipe.HARD_LINK
    try:
        fd = os.open(path, _WRITE_FLAGS)
    except OSError as exc:
        return "remaining", wipe.reason(exc)
    try:
        opened = os.fstat(fd)
        if signature is not None and sha256 is None:
            signature = (signature[0], signature[1], opened.st_ino if signature[2] == 0 else signature[2])
        if not _still_the_copy(fd, opened, sha256, signature):
            return "remaining", wire.CHANGED
        wipe.overwrite(fd, opened.st_size)
    except OSError as exc:
        return "remaining", wipe.reason(exc)
    finally:
        os.close(fd)
    try:
        path.unlink()
    except OSError as exc:
        return "remaining", wipe.reason(exc)
    return "erased", ""
