"""Overwrite a plaintext file before it is unlinked, and say why when that cannot be done.

Every plaintext file the agent or its command line removes (a drop-folder source, the source of
``retention-agent ingest``) is overwritten first: the same length of zeros, written through the handle the
file was read from (or a handle proven to be the same file), then ``fsync``. Unlinking alone leaves the
bytes in free blocks, where a forensic look at the disk finds them after the proof of deletion says
``verified``. On ext4, NTFS and most file systems without copy-on-write the overwrite lands in the same
blocks; on SSDs and copy-on-write file systems (btrfs, ZFS, APFS) it may not (docs/limitations.md).

When the overwrite is impossible the remover does not pretend: it records one of the codes below with the
delivery before the source goes, and the proof of deletion names it in ``not_covered``.
"""

from __future__ import annotations

import errno
import os

NO_WRITE_PERMISSION = "no-write-permission"  # the account that removes the file may not write it
READ_ONLY_FILE_SYSTEM = "read-only-file-system"
HARD_LINK = "hard-link"  # other names of the file keep its bytes; overwriting would destroy them too
WRITE_FAILED = "write-failed"  # the write or the fsync failed (an I/O error, a file system that refuses)
REASONS = (NO_WRITE_PERMISSION, READ_ONLY_FILE_SYSTEM, HARD_LINK, WRITE_FAILED)

_BLOCK = 1 << 20


def overwrite(fd: int, size: int) -> None:
    """Write zeros over the first ``size`` bytes through ``fd`` and fsync; ``OSError`` if any of it failed.

    Holes of a sparse file hold no data and are skipped (writing them would allocate the whole file)."""
    block = bytes(min(_BLOCK, max(size, 1)))
    write_at = getattr(os, "pwrite", _write_at)
    for start, end in data_ranges(fd, size):
        offset = start
        while offset < end:
            written = write_at(fd, block[: min(_BLOCK, end - offset)], offset)
            if written <= 0:
                raise OSError(errno.EIO, "the overwrite wrote nothing")
            offset += written
    os.fsync(fd)


def data_ranges(fd: int, size: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` ranges of ``fd`` that hold data (SEEK_DATA/SEEK_HOLE); the whole file where the
    file system or platform cannot tell."""
    seek_data, seek_hole = getattr(os, "SEEK_DATA", None), getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:
        return [(0, size)]
    ranges, offset = [], 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, seek_data)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # nothing but a hole from here on
                break
            return [(0, size)]
        end = min(os.lseek(fd, start, seek_hole), size)
        if start >= size or end <= start:
            break
        ranges.append((start, end))
        offset = end
    return ranges


def _write_at(fd: int, data: bytes, offset: int) -> int:  # pragma: no cover - Windows has no os.pwrite
    os.lseek(fd, offset, os.SEEK_SET)
    return os.write(fd, data)


def reason(exc: OSError) -> str:
    """The code for why a file could not be opened for, or given, its overwrite."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return NO_WRITE_PERMISSION
    if exc.errno == errno.EROFS:
        return READ_ONLY_FILE_SYSTEM
    return WRITE_FAILED
