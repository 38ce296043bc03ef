"""The command line's side of ``ingest``: remove the source once the vault holds it, overwritten first.

Runs with the caller's own rights, after the agent answered that the delivery is committed. In order:

1. the open file must be unchanged (size, mtime) and the path must still name it (``st_dev``, ``st_ino``);
   otherwise the source is kept (``changed``) — somebody is still working on it;
2. the path is renamed to a private claim name in the same folder: a caller who may not remove the file
   keeps it intact (nothing is overwritten that cannot then be removed) and is told so;
3. the claimed file is overwritten with zeros of the same length through a handle on the very file that was
   read (Linux re-opens the descriptor itself, ``/proc/self/fd``; elsewhere the claim name, proven to be the
   same file), and fsynced. A file with other names (hard links) is not overwritten: that would destroy the
   other names' content;
4. when the overwrite was impossible, ``record(why)`` tells the agent *before* the unlink (the delivery and
   its later proof of deletion then say so); if that fails the source is put back and kept;
5. the claim is unlinked.

Windows cannot rename a file while a handle without ``FILE_SHARE_DELETE`` is open: there the read handle is
closed first and the claim re-opened and proven by its file index (written, not run on Windows).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from retention_agent.system import wipe

CLAIM_PREFIX = ".retention-agent-claim-"
CHANGED = "changed"
NOT_RECORDED = "not-recorded"

Removal = tuple[bool, str, str]
"""(removed, why it was kept or "", why it was not overwritten or "")."""


def remove(path: Path, source: BinaryIO, opened: os.stat_result, record: Callable[[str], None]) -> Removal:
    """Remove ``path`` (read through ``source``, which was ``opened``) as described above."""
    fd = source.fileno()
    now = os.fstat(fd)
    if (now.st_size, now.st_mtime_ns) != (opened.st_size, opened.st_mtime_ns):
        return False, CHANGED, ""
    try:
        named = path.lstat()
    except FileNotFoundError:
        return True, "", ""  # removed by someone else meanwhile
    except OSError as exc:
        return False, exc.strerror or type(exc).__name__, ""
    if (named.st_dev, named.st_ino, named.st_size, named.st_mtime_ns) != (
            opened.st_dev, opened.st_ino, opened.st_size, opened.st_mtime_ns):
        return False, CHANGED, ""
    claim = path.with_name(CLAIM_PREFIX + secrets.token_hex(8))
    if os.name == "nt":  # pragma: no cover - Windows: a file open without FILE_SHARE_DELETE cannot be renamed
        source.close()
        fd = -1
    try:
        path.rename(claim)
    except FileNotFoundError:
        return True, "", ""
    except OSError as exc:  # e.g. a sticky or read-only folder: the caller may read but not remove
        return False, exc.strerror or type(exc).__name__, ""
    why = "" if opened.st_nlink <= 1 else wipe.HARD_LINK
    if not why:
        why = _overwrite(claim, fd, opened)
    if why:
        try:
            record(why)
        except Exception:  # the agent could not note it: keep the source rather than claim more than was done
            _put_back(claim, path)
            return False, NOT_RECORDED, ""
    try:
        claim.unlink()
    except OSError as exc:
        return False, exc.strerror or type(exc).__name__, why
    return True, "", why


def _overwrite(claim: Path, fd: int, opened: os.stat_result) -> str:
    """Zeros over the whole file through a handle on it; "" when done, else a :mod:`wipe` code."""
    try:
        target = _writable(claim, fd, opened)
    except OSError as exc:
        return wipe.reason(exc)
    try:
        wipe.overwrite(target, opened.st_size)
    except OSError as exc:
        return wipe.reason(exc)
    finally:
        os.close(target)
    return ""


def _writable(claim: Path, fd: int, opened: os.stat_result) -> int:
    proc = Path(f"/proc/self/fd/{fd}")
    if fd >= 0 and proc.exists():
        target = os.open(proc, os.O_WRONLY)
    else:
        target = os.open(claim, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0))
    found = os.fstat(target)
    if (found.st_dev, found.st_ino) != (opened.st_dev, opened.st_ino) or not stat.S_ISREG(found.st_mode):
        os.close(target)
        raise OSError(0, "the claim is not the file that was read")
    return target


def _put_back(claim: Path, path: Path) -> None:
    if not path.exists():
        with contextlib.suppress(OSError):
            claim.rename(path)
