"""Overwriting plaintext before it is unlinked (retention_agent/system/wipe.py), on real files."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from retention_agent.system import wipe


def test_every_byte_becomes_zero_through_the_handle(tmp_path: Path) -> None:
    path = tmp_path / "lijst.csv"
    content = b"85073003328;Jan Peeters\n" * 100_000  # more than one block of the overwrite
    path.write_bytes(content)
    fd = os.open(path, os.O_RDWR)
    try:
        wipe.overwrite(fd, len(content))
    finally:
        os.close(fd)
    assert path.read_bytes() == bytes(len(content))


def test_holes_are_skipped_so_a_sparse_source_is_not_filled(tmp_path: Path) -> None:
    path = tmp_path / "gaten.xlsx"
    with open(path, "wb") as out:
        out.write(b"PK\x03\x04 data at the start")
        out.seek(64 << 20)
        out.write(b"and data at the end")
    size = path.stat().st_size
    blocks = path.stat().st_blocks
    fd = os.open(path, os.O_RDWR)
    try:
        ranges = wipe.data_ranges(fd, size)
        assert ranges[0][0] == 0 and ranges[-1][1] == size and sum(e - s for s, e in ranges) < 1 << 20
        wipe.overwrite(fd, size)
    finally:
        os.close(fd)
    assert path.stat().st_blocks <= blocks  # nothing allocated for the 64 MiB hole
    with open(path, "rb") as back:
        assert back.read(64) == bytes(64)
        back.seek(size - 19)
        assert back.read() == bytes(19)


def test_why_an_overwrite_was_impossible() -> None:
    assert wipe.reason(PermissionError(errno.EACCES, "")) == wipe.NO_WRITE_PERMISSION
    assert wipe.reason(OSError(errno.EPERM, "")) == wipe.NO_WRITE_PERMISSION
    assert wipe.reason(OSError(errno.EROFS, "")) == wipe.READ_ONLY_FILE_SYSTEM
    assert wipe.reason(OSError(errno.EIO, "")) == wipe.WRITE_FAILED
    assert set(wipe.REASONS) == {"no-write-permission", "read-only-file-system", "hard-link", "write-failed"}
