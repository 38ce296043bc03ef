"""What a pinned drop folder is, on every platform: the interface, its identity and the refusal codes.

:mod:`.pinned` (POSIX, and the platform choice :func:`~retention_agent.intake.pinned.pin`) and
:mod:`.pinned_windows` both implement :class:`PinnedFolder` and take these from here: the Windows implementation
needs nothing else, so it does not import :mod:`.pinned`, which chooses it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# Refusal codes (stable; status, the audit log and the documentation use them).
FOLDER_MISSING = "folder-missing"  # not there (yet): not a refusal, the watcher retries
FOLDER_UNAVAILABLE = "folder-unavailable"  # cannot be opened for another reason: retried
FOLDER_LINK = "folder-link-in-path"  # a symbolic link (or reparse point) in the path, or not a directory
FOLDER_INSIDE_HOME = "folder-inside-home"  # inside the agent's home or the key store's folder
FOLDER_UNSAFE_PARENT = "folder-unsafe-parent"  # an ancestor others may write, without the sticky bit
FOLDER_SWAPPED = "folder-swapped"  # the path no longer leads to the pinned directory
RETRIED = frozenset({FOLDER_MISSING, FOLDER_UNAVAILABLE})


class FolderRefused(Exception):  # noqa: N818 - a verdict about a folder, read as "the folder was refused"
    """The folder cannot be (or no longer is) taken from; ``code`` is one of the codes above."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class DirIdentity:
    dev: int
    ino: int


class PinnedFolder(Protocol):
    """A drop folder held open; names are single path components inside it (never paths)."""

    path: Path
    identity: DirIdentity

    @property
    def handle_path(self) -> str | None:
        """A path that names the pinned directory itself (``/proc/self/fd/N``), where the platform has one."""
        ...

    def check(self) -> None:
        """Raise :class:`FolderRefused` unless the path still leads to this directory and it is still safe."""
        ...

    def names(self) -> set[str]: ...

    def lstat(self, name: str) -> os.stat_result: ...

    def exists(self, name: str) -> bool: ...

    def open_read(self, name: str) -> int:
        """Open a source read-only without following a link (a FIFO swapped in does not block)."""
        ...

    def reopen_for_writing(self, fd: int, name: str) -> int:
        """A writable descriptor of the very file ``fd`` (read from, now named ``name``), for the overwrite."""
        ...

    def rename(self, src: str, dst: str) -> None: ...

    def link(self, src: str, dst: str) -> None: ...

    def unlink(self, name: str) -> None: ...

    def close(self) -> None: ...


def lexists(folder: PinnedFolder, name: str) -> bool:
    """As ``os.path.lexists`` inside the folder: a name that cannot be looked up (too long) does not exist."""
    try:
        folder.lstat(name)
    except (OSError, ValueError):
        return False
    return True
