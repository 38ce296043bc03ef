"""watchdog events as hints for a drop-folder watcher: which names to look at before the next scan.

Events are only hints (step 1 of :mod:`.folder`): they mark names as candidates, and a scan is the truth.
:class:`FolderEvents` starts the configured observer (native, or polling for network shares), falls back to
polling when native events cannot be had (inotify limits), and tells whether its threads still live.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from retention_agent.intake import pinned
from retention_agent.intake.folder_ledger import FolderLedger
from retention_agent.intake.folder_rules import ERR_INTERNAL, ERR_OBSERVER_FALLBACK, FolderConfig

log = logging.getLogger("retention_agent.intake.folder")  # one logger name for every line of the watcher

_POLLING_OBSERVER_INTERVAL_S = 1.0
_HINT_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileClosedEvent,
    FileAttribEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
]


class _Hints(FileSystemEventHandler):
    """Turns watchdog events into candidate names. Must never raise: that would kill the observer thread."""

    def __init__(self, mark: Callable[[str], None]) -> None:
        self._mark = mark

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self._mark(os.fsdecode(event.src_path))
            if event.dest_path:
                self._mark(os.fsdecode(event.dest_path))
        except Exception:
            log.error("intake: %s in the event handler (ignored; the next scan covers it)", ERR_INTERNAL)


class FolderEvents:
    """The observer of one drop folder; every event names a candidate through ``candidate(name)``."""

    def __init__(self, config: FolderConfig, folder: Path, ledger: FolderLedger, candidate: Callable[[str], None],
                 *, factory: Callable[[], BaseObserver] | None = None) -> None:
        self.config = config
        self.factory = factory or self._default_observer
        self._folder = folder
        self._ledger = ledger
        self._candidate = candidate
        self._watched: str = str(folder)  # the path the observer watches (events name it)
        self._observer: BaseObserver | None = None

    @property
    def observer(self) -> BaseObserver | None:
        return self._observer

    def _default_observer(self) -> BaseObserver:
        if self.config.polling:
            return PollingObserver(timeout=_POLLING_OBSERVER_INTERVAL_S)
        return Observer()

    def start(self, folder: pinned.PinnedFolder) -> bool:
        """Start the configured observer; if it cannot watch (inotify limits), fall back to polling.

        A polling observer lists the pinned handle where the platform names it (``/proc/self/fd/N``); inotify
        watches an inode, found by the path once: either way events are only hints for the pinned scan.
        False when no observer could watch the folder.
        """
        factories = [self.factory]
        if not self.config.polling:
            factories.append(lambda: PollingObserver(timeout=_POLLING_OBSERVER_INTERVAL_S))
        for attempt, factory in enumerate(factories):
            observer = factory()
            polls = isinstance(observer, PollingObserver)
            watched = folder.handle_path if polls and folder.handle_path else str(self._folder)
            try:
                observer.schedule(_Hints(self._mark), watched, recursive=False, event_filter=_HINT_EVENTS)
                observer.start()
            except OSError:
                continue
            if attempt:
                log.warning("intake %s: %s; polling the folder instead", self.config.name, ERR_OBSERVER_FALLBACK)
                self._ledger.note(ERR_OBSERVER_FALLBACK)
            self._watched = watched
            self._observer = observer
            return True
        return False

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is None:
            return
        with contextlib.suppress(Exception):
            observer.stop()
            if observer.is_alive():
                observer.join(5.0)

    def healthy(self) -> bool:
        observer = self._observer
        if observer is None or not observer.is_alive():
            return False
        return all(emitter.is_alive() for emitter in list(observer.emitters))

    def _mark(self, path: str) -> None:
        hinted = Path(path)
        if str(hinted.parent) != self._watched:
            return  # the folder itself, or a moved-out destination elsewhere
        self._candidate(hinted.name)
