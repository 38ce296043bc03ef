"""One sweep in the user's session: the entry point the notifier, the desktop app and the per-user agent call.

:meth:`Sweeper.run` asks the agent what to look for (``copies.targets``), first erases the copies of deliveries
whose purge has begun, then sweeps, erases what it found of those deliveries too, tells the agent the counts and
the locations of found copies (``copies.report``) and saves its cache. :meth:`Sweeper.erase` erases the known
copies of one delivery only (the per-user agent's purge step). Both hold one lock: a sweep and an erase never
run at once. Qt-free: the app's tray calls it from a worker thread.

The agent is reached through a :class:`Link`: ``session.copies_link.ApiLink`` over the local API (a session of
its own account), or the per-user agent's in-process link (``records.LocalLink``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import platformdirs

from retention_agent.copies import cache as cache_file
from retention_agent.copies import erase as eraser
from retention_agent.copies import locations as places
from retention_agent.copies import wire
from retention_agent.copies.cache import KnownCopy
from retention_agent.copies.sweep import FoundFile, Matcher, SweepResult, sweep
from retention_agent.i18n.catalogue import translate


class Link(Protocol):
    def targets(self) -> dict[str, Any]: ...

    def report(self, report: dict[str, Any]) -> dict[str, Any]: ...


def cache_path(socket: Path, state_dir: Path | None = None) -> Path:
    """The user's sweep cache for one agent (named after its socket's path), beside the notifier's state."""
    folder = state_dir or platformdirs.user_state_path("retention-agent", appauthor=False)
    return folder / f"copies-{hashlib.sha256(str(socket).encode()).hexdigest()[:16]}.json"


@dataclass
class SessionResult:
    new: list[FoundFile] = field(default_factory=list)  # copies found for the first time (to show the user)
    found: list[FoundFile] = field(default_factory=list)
    settled: list[wire.Settled] = field(default_factory=list)
    complete: bool = True
    stats: dict[str, int] = field(default_factory=dict)


class Sweeper:
    def __init__(self, link: Link, cache: Path, *, exclude: Sequence[Path] = (),
                 locations: Sequence[places.Location] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.link, self.cache_file, self.clock = link, cache, clock
        self.exclude = [*exclude, cache.parent]
        self.locations = locations
        self.lock = threading.Lock()

    def run(self, *, scheduled: bool = False) -> SessionResult:
        """Sweep now; ``scheduled`` (the tray's or the notifier's own timing): not where the agent sweeps this
        account itself."""
        with self.lock, _file_lock(self.cache_file):
            targets = wire.parse_targets(self.link.targets())
            if not targets.settings.enabled or not (targets.exact or targets.derived or targets.erase):
                return SessionResult(complete=False)  # switched off, or nothing to look for: no walk at all
            if scheduled and targets.settings.agent_sweeps:
                return SessionResult(complete=False)  # the agent, running as this account, sweeps it
            cache = cache_file.load(self.cache_file)
            settled = self._erase_known(cache, set(targets.erase), targets)
            chosen = self.locations if self.locations is not None else places.for_this_account(
                targets.settings.locations, defaults=targets.settings.defaults)
            result = sweep(chosen, Matcher(targets), cache, exclude=self.exclude, clock=self.clock)
            known = {(c.delivery, c.match, c.root, c.path) for c in cache.copies}
            new = [f for f in result.found if (f.delivery, f.match, f.root, "/".join(f.parts)) not in known]
            kept = self._remember(cache, result, settled)
            settled += self._erase_known(cache, set(targets.erase), targets)
            settled = list({(s.delivery, s.match, s.kind, s.path): s for s in settled}.values())  # last word
            report = wire.Report(result.complete, tuple(result.locations), dict(result.stats),
                                 tuple(_wire_found(f) for f in kept if f.delivery not in targets.erase),
                                 tuple(settled))
            self.link.report(wire.report_to_wire(report))
            cache_file.save(self.cache_file, cache)
            return SessionResult([f for f in new if f.delivery not in targets.erase], kept, settled,
                                 result.complete, dict(result.stats))

    def erase(self, delivery: str, sha256: str) -> list[wire.Settled]:
        """Erase this account's known copies of ``delivery`` now (the per-user agent's purge step)."""
        with self.lock, _file_lock(self.cache_file):
            cache = cache_file.load(self.cache_file)
            exact = wire.Targets(exact=(wire.Exact(delivery, 0, sha256),))
            settled = self._erase_known(cache, {delivery}, exact)
            cache_file.save(self.cache_file, cache)
            return settled

    @staticmethod
    def _remember(cache: cache_file.Cache, result: SweepResult, settled: list[wire.Settled]) -> list[FoundFile]:
        """Keep the copies found now (and, for a location not swept completely, those found before there)."""
        swept = {r.kind for r in result.locations if r.state == "swept"} if result.complete else set()
        done = {(s.delivery, s.match, s.kind, s.path) for s in settled}
        now = [KnownCopy(f.delivery, f.match, f.kind, f.root, "/".join(f.parts), f.signature, f.people)
               for f in result.found]
        found_keys = {(c.delivery, c.match, c.root, c.path) for c in now}
        earlier = [c for c in cache.copies if c.kind not in swept and (c.delivery, c.match, c.root, c.path)
                   not in found_keys and (c.delivery, c.match, c.kind, wire.printable_path(c.path.split("/")))
                   not in done]
        cache.copies = now + earlier
        return [*result.found, *(FoundFile(c.delivery, c.match, c.kind, c.root, tuple(c.path.split("/")),
                                           c.signature, c.people) for c in earlier)]

    @staticmethod
    def _erase_known(cache: cache_file.Cache, deliveries: set[str], targets: wire.Targets) -> list[wire.Settled]:
        hashes = {t.delivery: t.sha256 for t in targets.exact}
        settled, keep = [], []
        for copy in cache.copies:
            if copy.delivery not in deliveries:
                keep.append(copy)
                continue
            sha = hashes.get(copy.delivery) if copy.match == "exact" else None
            if copy.match == "exact" and sha is None:
                keep.append(copy)  # the hash to confirm it by is not known here: never erase unconfirmed
                continue
            outcome, why = eraser.erase(copy.root, copy.path.split("/"), sha256=sha,
                                        signature=None if sha else copy.signature)
            settled.append(wire.Settled(copy.delivery, copy.match, copy.kind,
                                        wire.printable_path(copy.path.split("/")), outcome, why))
            if outcome == "remaining":
                keep.append(copy)
        cache.copies = keep
        return settled


@contextlib.contextmanager
def _file_lock(cache: Path) -> Iterator[None]:
    """One sweep or erase at a time per account and agent, across processes (the CLI, the notifier, the agent)."""
    cache.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(cache.with_name(cache.name + ".lock"), os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        if os.name == "posix":
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _wire_found(found: FoundFile) -> wire.Found:
    return wire.Found(found.delivery, found.match, found.kind, wire.printable_path(found.parts), found.people)


# ---- what the user is told ---------------------------------------------------------------------------------


def messages(result: SessionResult, lang: str | None = None) -> list[str]:
    """Lines for the user (the notifier and the app's tray show them): new copies, what was erased."""
    lines = []
    by_delivery: dict[str, list[str]] = {}
    for found in result.new:
        by_delivery.setdefault(found.delivery, []).append(f"{found.kind}: {wire.printable_path(found.parts)}")
    for delivery, where in sorted(by_delivery.items()):
        lines.append(translate("Copies of delivery {delivery} on this computer: {places}. They are erased when the "
                               "delivery is purged.", lang).format(delivery=delivery, places="; ".join(where[:5])))
    erased: dict[str, int] = {}
    remaining: dict[str, list[str]] = {}
    for item in result.settled:
        if item.outcome == "erased":
            erased[item.delivery] = erased.get(item.delivery, 0) + 1
        elif item.outcome == "remaining":
            remaining.setdefault(item.delivery, []).append(f"{item.kind}: {item.path} ({item.why})")
    for delivery, count in sorted(erased.items()):
        lines.append(translate("{count} copies of purged delivery {delivery} were erased from this computer.",
                               lang, count).format(count=count, delivery=delivery))
    for delivery, where in sorted(remaining.items()):
        lines.append(translate("Copies of purged delivery {delivery} could not be erased: {places}. Remove them "
                               "yourself, or ask the privacy officer.", lang).format(delivery=delivery,
                                                                                     places="; ".join(where[:5])))
    return lines
