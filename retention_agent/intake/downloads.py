"""Zivver downloads: take AgII's files from a clerk's Downloads folder, and nothing else there.

Since the e-mail channel's legal basis lapsed (deliberation nr. 43), AgII's files come through Zivver: a
notification mail says a secure message is waiting, the clerk opens it in the browser and downloads the file
into the Downloads folder, where it must not stay. In per-user mode the agent can watch that folder. It is
the clerk's own folder, full of other things, so the rules are narrow, and a file must pass all of them
(:class:`DownloadRules`):

1. its **name** matches one of the configured patterns (AgII's file names, e.g. ``Inburgeraars*.xlsx``);
2. its **size** is within ``min_bytes`` .. ``max_bytes``;
3. with a notification mailbox configured, its **modification time** (a browser sets it when the download
   finishes) lies in a **window** after a Zivver notification mail arrived: from a few minutes before it
   (the clocks of mail server and PC differ) to ``window_minutes`` after it (:class:`NoticeBoard`);
4. its **type**, read from its first bytes, is one of ``file_types`` (checked after the file is opened).

Rules 1-3 are decided from the directory entry alone, without opening the file; a file that fails one of
them is never opened, read, moved or reported. A file that fails rule 4 was read (its first 64 KiB) but is
left exactly where it was, and is not read again until it changes. Symbolic links, folders and special files
are ignored. Partial downloads (``.crdownload``, ``.part``) are never candidates, and a file whose partial
sibling still exists is waited for (the folder watcher's rules).

Everything the drop-folder machinery guarantees holds here too (:mod:`.folder`, :mod:`.pinned`): the folder is
pinned by handle and refused when swapped, reached through a link, or under a folder others may write; a file
taken is the very file that was scanned, delivered with the channel ``zivver``, overwritten and then removed.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

CLOCK_SKEW = timedelta(minutes=5)
"""A download may seem to finish slightly before the notification arrived: the PC's and the mail server's
clocks differ."""
MAX_NOTICES = 64


@dataclass(frozen=True)
class DownloadRules:
    patterns: tuple[str, ...]
    file_types: tuple[str, ...]
    min_bytes: int
    max_bytes: int
    window: timedelta | None = None
    """How long after a notification a download is taken; None: no notification needed."""


class NoticeBoard:
    """When Zivver notifications arrived (told by the mailbox watcher), in memory; listeners are woken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._notices: list[datetime] = []
        self._listeners: list[Callable[[], None]] = []

    def notice(self, at: datetime) -> None:
        moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        with self._lock:
            if moment not in self._notices:
                self._notices = sorted([*self._notices, moment])[-MAX_NOTICES:]
            listeners = list(self._listeners)
        for wake in listeners:
            wake()

    def subscribe(self, wake: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(wake)

    def within(self, moment: datetime, window: timedelta) -> bool:
        """Whether ``moment`` lies in the window of some notification."""
        with self._lock:
            notices = list(self._notices)
        return any(at - CLOCK_SKEW <= moment <= at + window for at in notices)


def selects(rules: DownloadRules, name: str, info: os.stat_result, board: NoticeBoard | None) -> bool:
    """Rules 1-3 for one directory entry, from its ``lstat`` alone."""
    if not stat.S_ISREG(info.st_mode):
        return False
    folded = name.casefold()
    if not any(fnmatch.fnmatchcase(folded, pattern.casefold()) for pattern in rules.patterns):
        return False
    if not rules.min_bytes <= info.st_size <= rules.max_bytes:
        return False
    if rules.window is None:
        return True
    if board is None:
        return False
    modified = datetime.fromtimestamp(info.st_mtime, UTC)
    return board.within(modified, rules.window)
