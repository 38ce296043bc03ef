"""What a drop folder takes, waits for, refuses or ignores, decided from names and ``lstat`` alone (pure).

The configuration of one folder (:class:`FolderConfig`), the names that are never a delivery
(:func:`is_temporary_name`) or say a file is still being written (:func:`busy_siblings`), why an entry is left
where it is (:func:`refusal_for`), and the stable error ids every decision of the watcher carries: logs and
status hold these ids, never file names. The I/O is in :mod:`.source_file`; the order of the steps in
:mod:`.folder`.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from retention_agent.intake.base import Channel

# Error ids (stable; logs and status carry these, never file names).
ERR_REFUSED = "source-refused"  # a symlink, directory or special file in a drop folder
ERR_UNREADABLE = "source-unreadable"  # open/stat failed for a reason other than a lock
ERR_DELIVER = "intake-deliver-failed"  # deliver raised something that is not a catalogue error
ERR_CHANGED = "intake-source-changed"  # the file changed while it was being delivered
ERR_REMOVE = "intake-remove-failed"  # delivered, but the source could not be removed yet
ERR_FOLDER = "intake-folder-unavailable"  # the folder cannot be listed or watched
ERR_OBSERVER = "intake-observer-restarted"  # the observer or an emitter thread died and was restarted
ERR_OBSERVER_FALLBACK = "intake-observer-polling"  # native events unavailable (e.g. inotify limits): polling
ERR_INTERNAL = "intake-internal"  # a bug caught by the worker loop so that intake keeps running
ERR_HARD_LINK = "source-hard-link"  # a file with more than one name
ERR_SPARSE = "source-sparse"  # a file that is mostly holes
ERR_TOO_LARGE = "source-too-large"  # larger than max_file_bytes
ERR_AGENTS_OWN = "source-owned-by-agent"  # owned by the agent's own account (shared mode)

CHANNELS = ("folder", "zivver")
CLAIM_PREFIX = ".retention-agent-claim-"
MAX_FILE_BYTES = 512 * 1024 * 1024

_TEMP_SUFFIXES = (
    ".crdownload",  # Chrome, Edge
    ".part",  # Firefox
    ".partial",  # old Edge, IE
    ".download",  # Safari
    ".opdownload",  # Opera
    ".filepart",  # WinSCP
    ".aria2",  # aria2 control file
    ".tmp",  # Office (~WRL0001.tmp), many tools
    ".temp",
    ".swp",  # vim
    "~",  # editor backups
)
_SYSTEM_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"})
_BUSY_SIBLING_SUFFIXES = (
    ".part",
    ".crdownload",
    ".partial",
    ".download",
    ".opdownload",
    ".filepart",
    ".aria2",
)
def is_temporary_name(name: str) -> bool:
    """True for names that are never a delivery: partial downloads, owner/lock files, dotfiles, OS litter."""
    folded = name.casefold()
    return (
        folded.startswith((".", "~$"))
        or (folded.startswith("#") and folded.endswith("#"))
        or folded.endswith(_TEMP_SUFFIXES)
        or folded in _SYSTEM_NAMES
    )


def busy_siblings(name: str) -> list[str]:
    """Names whose presence says ``name`` is still being downloaded or is open in an editor."""
    names = [name + suffix for suffix in _BUSY_SIBLING_SUFFIXES]
    names += ["~$" + name, ".~lock." + name + "#"]
    if len(name) > 2:
        names.append("~$" + name[2:])  # Word shortens long names: ~$port.docx for report.docx
    return names


@dataclass(frozen=True)
class FolderConfig:
    """One drop folder. ``name`` is what deliveries record as their source: a label, no personal data."""

    name: str
    path: Path
    patterns: tuple[str, ...] = ("*",)
    channel: Channel = "folder"
    polling: bool = False
    settle_seconds: float = 2.0
    scan_interval_s: float = 30
    max_file_bytes: int = MAX_FILE_BYTES
    """Larger files stay where they are, as a refusal (``source-too-large``)."""
    refuse_agent_files: bool = False
    """Refuse files owned by the agent's own account (shared mode, where it has an account of its own)."""
    protected: tuple[Path, ...] = ()
    """Folders a drop folder may not lie in: the agent's home and the key store's folders."""
    select: Callable[[str, os.stat_result], bool] | None = None
    """When set, only entries it accepts (from their name and ``lstat``) are considered; every other entry is
    ignored without being opened or reported (a Downloads folder, :mod:`.downloads`)."""
    file_types: tuple[str, ...] = ()
    """When set, a file whose type (read from its bytes) is not one of these is left where it is, unreported,
    and not read again until it changes."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "patterns", tuple(self.patterns))
        object.__setattr__(self, "protected", tuple(Path(p) for p in self.protected))
        problem = self._problem()
        if problem:
            raise ValueError(f"drop folder {self.name!r}: {problem}")

    def _problem(self) -> str | None:
        if not self.name.strip():
            return "name must not be empty"
        if self.channel not in CHANNELS:
            return f"channel must be one of {', '.join(CHANNELS)}, not {self.channel!r}"
        if not self.patterns or any(not p for p in self.patterns):
            return "patterns must be a non-empty list of non-empty glob patterns"
        if self.settle_seconds < 0:
            return "settle_seconds must not be negative"
        if self.scan_interval_s <= 0:
            return "scan_interval_s must be positive"
        if self.max_file_bytes <= 0:
            return "max_file_bytes must be positive"
        return None

    def matches(self, file_name: str) -> bool:
        """True when ``file_name`` matches one of the patterns (case-insensitive on every platform)."""
        folded = file_name.casefold()
        return any(fnmatch.fnmatchcase(folded, p.casefold()) for p in self.patterns)



@dataclass(frozen=True)
class Identity:
    """The parts of a stat that must not change between scan, open, deliver and removal."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Identity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def is_claim(name: str) -> bool:
    """A name the watcher gave a file it was removing (left by a crash): the agent's own, whatever else holds."""
    return name.startswith(CLAIM_PREFIX)


def refusal_for(config: FolderConfig, st: os.stat_result) -> str | None:
    """Why a directory entry is left where it is, from its ``lstat`` alone (sparse needs the open file)."""
    if not stat.S_ISREG(st.st_mode):
        return ERR_REFUSED
    if st.st_nlink > 1:
        return ERR_HARD_LINK
    if st.st_size > config.max_file_bytes:
        return ERR_TOO_LARGE
    if config.refuse_agent_files and hasattr(os, "geteuid") and st.st_uid == os.geteuid():
        return ERR_AGENTS_OWN
    return None


def episode(st: os.stat_result) -> tuple[int, ...]:
    """What must stay the same for a refused item to be the same refusal (reported once)."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISREG(mode):
        return "file"
    return "special-file"
