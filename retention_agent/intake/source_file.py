"""One source file in a pinned drop folder: open it, tell whether another program still holds it, measure its
holes, overwrite it, and put a claimed file back.

Every call works relative to the :class:`~.pinned.PinnedFolder` handle and never follows a link. Which of these
runs when, and why, is the contract of :mod:`.folder`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable
from typing import BinaryIO

from retention_agent.intake import pinned
from retention_agent.system import wipe

WINDOWS = sys.platform == "win32"
_MAX_EXTENTS = 4096  # data/hole pairs looked at before the sparse check falls back to allocated blocks


def open_source(folder: pinned.PinnedFolder, name: str) -> int:
    """Open read-only, relative to the pinned folder; a link fails (ELOOP) and a FIFO does not block.

    On Windows the pinned folder opens with no sharing at all: PermissionError while another program has it.
    """
    return folder.open_read(name)


if sys.platform == "win32":  # pragma: no cover - Windows; not run on the Linux test machines

    def in_use_elsewhere(fd: int) -> bool:
        return False  # the unshared open already proved nobody else has the file open

else:
    import fcntl

    def in_use_elsewhere(fd: int) -> bool:
        """True when a writer still has the file open (Linux leases) or holds an flock or record lock."""
        return _open_for_writing(fd) or _locked_by_another(fd)

    def _open_for_writing(fd: int) -> bool:
        """Linux: a read lease is refused (EAGAIN) while any process has the file open for writing.

        Only the file's owner (or a process with CAP_LEASE) may take a lease, and network file systems
        refuse them: then this says False and the stability wait and the locks have to do.
        """
        setlease = getattr(fcntl, "F_SETLEASE", None)
        if setlease is None:
            return False
        try:
            fcntl.fcntl(fd, setlease, fcntl.F_RDLCK)
        except BlockingIOError:
            return True
        except OSError:
            return False
        fcntl.fcntl(fd, setlease, fcntl.F_UNLCK)  # never hold it: a lease break would signal this process
        return False

    def _locked_by_another(fd: int) -> bool:
        """True when another process holds an flock or a POSIX record lock that excludes readers."""
        attempts: list[Callable[[], object]] = [
            lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB),
            lambda: fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB),
        ]
        for attempt in attempts:
            try:
                attempt()
            except (BlockingIOError, PermissionError):
                return True
            except OSError:
                continue  # this kind of lock is not supported here (some network file systems)
        return False


def overwrite(folder: pinned.PinnedFolder, claim: str, fd: int | None, size: int) -> str | None:
    """Overwrite the claimed file with zeros through a handle on the file that was read; why not, or None."""
    try:
        target = folder.reopen_for_writing(-1 if fd is None else fd, claim)
    except OSError as exc:
        return wipe.reason(exc)
    try:
        wipe.overwrite(target, size)
    except OSError as exc:
        return wipe.reason(exc)
    finally:
        os.close(target)
    return None


def put_back(folder: pinned.PinnedFolder, claim: str, name: str) -> None:
    """Return a claimed file to its name without overwriting whatever may have appeared there meanwhile.

    If the name is taken again (or hard links are unsupported and the name exists) the file stays under its
    claim name, where the next scan delivers it as quarantined.
    """
    try:
        folder.link(claim, name)
    except FileExistsError:
        return
    except (OSError, NotImplementedError):
        if not folder.exists(name):
            with contextlib.suppress(OSError):
                folder.rename(claim, name)
        return
    with contextlib.suppress(OSError):
        folder.unlink(claim)


def allocated(fd: int, st: os.stat_result) -> int:
    """Bytes of the file that are not holes: SEEK_DATA/SEEK_HOLE where offered, else allocated blocks."""
    size = st.st_size
    if WINDOWS:  # pragma: no cover - Windows; not run on the Linux test machines
        from retention_agent.intake.pinned_windows import allocated_bytes

        return min(size, allocated_bytes(fd))
    seek_data, seek_hole = getattr(os, "SEEK_DATA", None), getattr(os, "SEEK_HOLE", None)
    fallback = getattr(st, "st_blocks", size // 512 + 1) * 512
    if seek_data is None or seek_hole is None or size == 0:
        return min(size, fallback)
    holes, offset = 0, 0
    try:
        for _ in range(_MAX_EXTENTS):
            if offset >= size:
                return size - holes
            try:
                data = os.lseek(fd, offset, seek_data)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: no data after offset, the rest is one hole
                    raise
                return size - holes - (size - offset)
            holes += data - offset
            offset = os.lseek(fd, data, seek_hole)
        return min(size, fallback)  # a file of very many extents: judge by its blocks
    except OSError:
        return min(size, fallback)
    finally:
        os.lseek(fd, 0, os.SEEK_SET)


def only_zeros(stream: BinaryIO, size: int) -> bool:
    """Whether a claim file holds nothing but zeros (then rewinds it)."""
    try:
        while block := stream.read(1 << 20):
            if block.count(0) != len(block):
                return False
        return size > 0
    finally:
        stream.seek(0)
