"""The sweep: walk the locations with the user's rights, find files equal to a delivery or holding its people.

For every regular file the walk meets (links, special files and folders reached through links are never
entered or read), in this order, cheapest first:

1. its size is compared with the deliveries' sizes, and its name with the document kinds the readers know;
   a file that is neither (nearly all of them) costs one ``lstat``, already made by the directory listing;
2. files of other accounts are left alone (POSIX: the owner is not the sweeping account);
3. a file that did not change since the last sweep (size, modification time and identity in the cache)
   gives the answer it gave then;
4. otherwise a candidate is hashed (SHA-256) and a document of at most ``max_document_bytes`` is read for
   national register numbers, each fingerprinted with every unlocked delivery's key and looked up.

Directories are opened relative to their parent's handle with ``O_NOFOLLOW`` (POSIX), and each file likewise,
its identity compared with the listing's before a byte is read: a folder or file swapped for a link meanwhile is
not followed. A folder that is another location is left to that location's own walk, and the excluded folders
(the agent's home, the sweep's own cache) are not entered. The whole sweep stops at ``sweep_seconds``
(``complete`` false, the rest ``partial``), each document at ``document_seconds``.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from retention_agent.copies import readers, wire, workbook
from retention_agent.copies.cache import Cache, Entry, Signature
from retention_agent.copies.locations import Location

MAX_DEPTH = 64
_HASH_BLOCK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
_FILE_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_REPARSE_POINT = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT: a junction or symbolic link on Windows


@dataclass(frozen=True)
class FoundFile:
    delivery: str
    match: str  # exact | derived
    kind: str  # location kind
    root: str
    parts: tuple[str, ...]  # names from the location's folder down to the file
    signature: Signature
    people: int = 0


@dataclass
class SweepResult:
    locations: list[wire.LocationResult] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)
    found: list[FoundFile] = field(default_factory=list)
    complete: bool = True


class Matcher:
    """What the sweep looks for, arranged for fast lookups."""

    def __init__(self, targets: wire.Targets, extra_exact: Sequence[wire.Exact] = ()) -> None:
        self.by_size: dict[int, list[wire.Exact]] = {}
        for target in (*targets.exact, *extra_exact):
            self.by_size.setdefault(target.size, []).append(target)
        self.derived = targets.derived
        self.settings = targets.settings
        keys = sorted(t.delivery.encode() + b"\0" + hashlib.sha256(t.key).digest() for t in self.derived)
        self.generation = hashlib.sha256(b"".join(keys)).hexdigest()[:32]

    def people(self, found: set[str]) -> dict[str, int]:
        counts = {}
        for target in self.derived:
            n = sum(1 for digits in found if workbook.fingerprint(target.key, digits) in target.fingerprints)
            if n:
                counts[target.delivery] = n
        return counts


def sweep(locations: Sequence[Location], matcher: Matcher, cache: Cache, *, exclude: Sequence[Path] = (),
          clock: Callable[[], float] = time.monotonic) -> SweepResult:
    """Walk every location once; return what was found and the counts of what was looked at."""
    result = SweepResult()
    deadline = clock() + matcher.settings.sweep_seconds
    roots = _identities([Path(loc.path) for loc in locations])
    skip_always = set(_identities(list(exclude)).values())
    walked: set[tuple[int, int]] = set()
    seen_entries: dict[str, Entry] = {}
    for location in locations:
        root = Path(location.path)
        identity = roots.get(str(root))
        if identity is not None and identity in walked:
            continue  # the same folder under two names
        if clock() > deadline:
            result.complete = False
            result.locations.append(wire.LocationResult(location.kind, "partial", 0))
            continue
        others = {ident for path, ident in roots.items() if path != str(root)} | skip_always
        state, files = _sweep_location(location, matcher, cache, others, result, seen_entries, deadline, clock)
        if identity is not None:
            walked.add(identity)
        if state == "partial":
            result.complete = False
        result.locations.append(wire.LocationResult(location.kind, state, files))
    cache.entries = seen_entries if result.complete else {**cache.entries, **seen_entries}
    return result


def _identities(paths: Sequence[Path]) -> dict[str, tuple[int, int]]:
    found = {}
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            found[str(path)] = (info.st_dev, info.st_ino)
    return found


def _sweep_location(location: Location, matcher: Matcher, cache: Cache, skip: set[tuple[int, int]],
                    result: SweepResult, seen: dict[str, Entry], deadline: float,
                    clock: Callable[[], float]) -> tuple[str, int]:
    root = Path(location.path)
    tree = PosixTree if os.name == "posix" else WindowsTree
    try:
        walk = tree.open(root)
    except FileNotFoundError:
        return "missing", 0
    except PermissionError:
        return "denied", 0
    except OSError:
        return "link", 0  # the folder itself is a link (ELOOP) or not a folder
    files = 0
    with walk:
        for item in walk.files(skip, result.stats):
            files += 1
            if files % 256 == 0 and clock() > deadline:
                return "partial", files
            _look_at(item, location, matcher, cache, result, seen, clock)
    return "swept", files


@dataclass
class FileItem:
    parts: tuple[str, ...]
    info: os.stat_result
    open: Callable[[], int]  # a read-only descriptor of this very file (checked against ``info``)


def _look_at(item: FileItem, location: Location, matcher: Matcher, cache: Cache, result: SweepResult,
             seen: dict[str, Entry], clock: Callable[[], float]) -> None:
    size = item.info.st_size
    candidates = matcher.by_size.get(size, [])
    kind = readers.kind_of(item.parts[-1]) if matcher.derived else None
    if not candidates and kind is None:
        return
    if os.name == "posix" and item.info.st_uid != os.geteuid():
        result.stats["foreign"] += 1
        return
    signature = (size, item.info.st_mtime_ns, item.info.st_ino)
    key = cache.digest(str(Path(location.path).joinpath(*item.parts)))
    known = cache.entries.get(key)
    known = known if known is not None and known.signature == signature else None
    entry = Entry(signature, known.sha256 if known else None, known.generation if known else None,
                  dict(known.people) if known else {})
    readable = kind is not None and size <= matcher.settings.max_document_bytes
    if kind is not None and not readable:
        result.stats["too_large"] += 1
    need_hash = bool(candidates) and entry.sha256 is None
    need_read = readable and entry.generation != matcher.generation
    if known and not need_hash and not need_read:
        result.stats["cached"] += 1
    if need_hash or need_read:
        _read(item, entry, matcher, kind if need_read else None, need_hash=need_hash, stats=result.stats, clock=clock)
    seen[key] = entry
    for target in candidates:
        if entry.sha256 == target.sha256:
            result.found.append(FoundFile(target.delivery, "exact", location.kind, str(location.path), item.parts,
                                          signature))
    if readable and entry.generation == matcher.generation:
        for delivery, count in sorted(entry.people.items()):
            result.found.append(FoundFile(delivery, "derived", location.kind, str(location.path), item.parts,
                                          signature, count))


def _read(item: FileItem, entry: Entry, matcher: Matcher, kind: str | None, *, need_hash: bool,
          stats: Counter[str], clock: Callable[[], float]) -> None:
    try:
        fd = item.open()
    except OSError:
        stats["denied"] += 1
        return
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_ino, opened.st_size) != (item.info.st_ino,
                                                                                    item.info.st_size):
            stats["unreadable"] += 1  # changed or swapped since it was listed: next sweep
            return
        data = b""
        if kind is not None:
            data = _read_all(fd, item.info.st_size)
            if need_hash:
                entry.sha256 = hashlib.sha256(data).hexdigest()
        elif need_hash:
            entry.sha256 = _hash_fd(fd)
        if need_hash:
            stats["hashed"] += 1
    except OSError:
        stats["unreadable"] += 1
        return
    finally:
        os.close(fd)
    if kind is None:
        return
    stats["documents"] += 1
    try:
        found = readers.numbers(kind, data, deadline=clock() + matcher.settings.document_seconds, clock=clock)
    except readers.Unreadable:
        stats["unreadable"] += 1
        found = set()
    entry.people = matcher.people(found)
    entry.generation = matcher.generation


def _read_all(fd: int, size: int) -> bytes:
    chunks, left = [], size
    while left > 0:
        chunk = os.read(fd, min(left, _HASH_BLOCK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _hash_fd(fd: int) -> str:
    digest = hashlib.sha256()
    while chunk := os.read(fd, _HASH_BLOCK):
        digest.update(chunk)
    return digest.hexdigest()


def hash_fd(fd: int) -> str:
    """SHA-256 of the rest of an open file (used again to confirm a copy before it is erased)."""
    return _hash_fd(fd)


# ---- walking a folder without following links --------------------------------------------------------------


class PosixTree:
    """A location walked by directory handles: every folder and file opened relative to its parent with
    ``O_NOFOLLOW``, its identity compared with what the listing said."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls, root: Path) -> PosixTree:
        fd = os.open(root, _DIR_FLAGS)
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotADirectoryError(str(root))
        return cls(fd)

    def __enter__(self) -> PosixTree:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def files(self, skip: set[tuple[int, int]], stats: Counter[str]) -> Iterator[FileItem]:
        stack: list[tuple[int, tuple[str, ...], list[tuple[str, int, int]] | None]] = [(self.fd, (), None)]
        while stack:
            fd, prefix, subdirs = stack[-1]
            if subdirs is None:
                subdirs = []
                stack[-1] = (fd, prefix, subdirs)
                yield from self._list(fd, prefix, subdirs, skip, stats)
            if subdirs and len(stack) < MAX_DEPTH:
                name, dev, ino = subdirs.pop()
                child = self._open_dir(fd, name, dev, ino, stats)
                if child is not None:
                    stack.append((child, (*prefix, name), None))
                continue
            if subdirs:
                stats["denied"] += len(subdirs)  # deeper than MAX_DEPTH
            stack.pop()
            if fd != self.fd:
                os.close(fd)

    def _list(self, fd: int, prefix: tuple[str, ...], subdirs: list[tuple[str, int, int]],
              skip: set[tuple[int, int]], stats: Counter[str]) -> Iterator[FileItem]:
        try:
            entries = list(os.scandir(fd))
        except OSError:
            stats["denied"] += 1
            return
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                if (info.st_dev, info.st_ino) not in skip:
                    subdirs.append((entry.name, info.st_dev, info.st_ino))
            elif stat.S_ISREG(info.st_mode):
                stats["files"] += 1
                yield FileItem((*prefix, entry.name), info, _opener(fd, entry.name))
            elif stat.S_ISLNK(info.st_mode):
                stats["links"] += 1

    @staticmethod
    def _open_dir(parent: int, name: str, dev: int, ino: int, stats: Counter[str]) -> int | None:
        try:
            child = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError:
            stats["denied"] += 1
            return None
        info = os.fstat(child)
        if (info.st_dev, info.st_ino) != (dev, ino):  # swapped since the listing
            os.close(child)
            stats["links"] += 1
            return None
        return child


def _opener(fd: int, name: str) -> Callable[[], int]:
    return lambda: os.open(name, _FILE_FLAGS, dir_fd=fd)


class WindowsTree:  # pragma: no cover - Windows; not run on the Linux test machines
    """A location walked by path; junctions and symbolic links (reparse points) are neither entered nor read,
    and a file is read only if its handle is the file the listing named (volume serial and file index)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def open(cls, root: Path) -> WindowsTree:
        info = os.lstat(root)
        if getattr(info, "st_file_attributes", 0) & _REPARSE_POINT or not stat.S_ISDIR(info.st_mode):
            raise OSError(f"{root} is a link or not a folder")
        return cls(root)

    def __enter__(self) -> WindowsTree:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def files(self, skip: set[tuple[int, int]], stats: Counter[str]) -> Iterator[FileItem]:
        stack: list[tuple[Path, tuple[str, ...]]] = [(self.root, ())]
        while stack:
            folder, prefix = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                stats["denied"] += 1
                continue
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if getattr(info, "st_file_attributes", 0) & _REPARSE_POINT or entry.is_symlink():
                    stats["links"] += 1
                elif stat.S_ISDIR(info.st_mode) and len(prefix) < MAX_DEPTH:
                    full = Path(entry.path).lstat()
                    if (full.st_dev, full.st_ino) not in skip:
                        stack.append((Path(entry.path), (*prefix, entry.name)))
                elif stat.S_ISREG(info.st_mode):
                    stats["files"] += 1
                    full = Path(entry.path).lstat()
                    yield FileItem((*prefix, entry.name), full, _path_opener(Path(entry.path)))


def _path_opener(path: Path) -> Callable[[], int]:  # pragma: no cover - Windows
    return lambda: os.open(path, _FILE_FLAGS)

