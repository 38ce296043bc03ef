"""Streams that let the vault run two passes over an object at once, in constant memory.

- :class:`FileFollower`, :class:`ReportingWriter` and :class:`ReceivedChunks`: the read-back check of a new
  object decrypts it in a second thread, right behind the writer, and compares each chunk with the bytes the
  writer received, instead of after it.
- :class:`BackgroundSha256`: hashing in a second thread while this one reads and decrypts (``vault verify``).

hashlib and AES-GCM release the GIL on large buffers, so with two or more cores the passes run side by side.
"""

from __future__ import annotations

import collections
import hashlib
import queue
import threading
from pathlib import Path
from typing import BinaryIO

_HASH_QUEUE_CHUNKS = 4  # chunks waiting for the hashing thread: memory stays a few chunks whatever the size
_COMPARE_QUEUE_CHUNKS = 32  # chunks held for the read-back (4 MiB of 128 KiB): slack when one thread waits for a core


class BackgroundSha256:
    """SHA-256 computed in a thread of its own; a stand-in for ``hashlib.sha256()`` (``update``, ``hexdigest``).

    ``update`` hands the chunk over and returns (it waits only when the thread is several chunks behind), so
    the caller must not change a chunk it handed over (``bytes`` never change). ``hexdigest`` waits for the
    thread. Use it as a context manager: the thread then also ends when the caller fails half-way.
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_HASH_QUEUE_CHUNKS)
        self._thread = threading.Thread(target=self._run, name="vault-sha256", daemon=True)
        self._thread.start()
        self._stopped = False

    def __enter__(self) -> BackgroundSha256:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def update(self, data: bytes, /) -> None:
        if self._stopped:
            raise ValueError("update() after hexdigest()")
        self._queue.put(data)

    def hexdigest(self) -> str:
        self._stop()
        return self._sha.hexdigest()

    def _stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self._sha.update(data)


class WriterFailed(Exception):  # noqa: N818 - reports the other thread's outcome
    """The file a :class:`FileFollower` reads will never be complete: its writer gave up."""


class FileFollower:
    """Reads a file while another thread is still writing it (the vault's read-back during the write).

    The writer reports each write with :meth:`wrote` (see :class:`ReportingWriter`), then calls :meth:`finish`
    or :meth:`abandon`. :meth:`read` returns only bytes the writer reported and waits when it has caught up;
    after ``finish`` it reads the file to its real end (so bytes that are in the file but were never written
    by the writer are seen too), and after ``abandon`` it raises :class:`WriterFailed`. It reads through a
    handle of its own: it sees what is in the file, not what the writer meant to write.
    """

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb", buffering=0)
        self._ready = threading.Condition()
        self._written = 0
        self._position = 0
        self._finished = False
        self._abandoned = False

    def close(self) -> None:
        self._file.close()

    # the writer's side

    def wrote(self, size: int) -> None:
        with self._ready:
            self._written += size
            self._ready.notify_all()

    def finish(self) -> None:
        with self._ready:
            self._finished = True
            self._ready.notify_all()

    def abandon(self) -> None:
        with self._ready:
            self._abandoned = True
            self._ready.notify_all()

    # the reader's side: what vault_format.decrypt needs of a stream

    def read(self, size: int) -> bytes:
        with self._ready:
            self._ready.wait_for(
                lambda: self._abandoned or self._finished or self._written - self._position >= size)
            if self._abandoned:
                raise WriterFailed()
            if not self._finished:
                size = min(size, self._written - self._position)
        data = self._file.read(size) if size > 0 else b""
        self._position += len(data)
        return data


class ReportingWriter:
    """A writable stream over ``out`` that tells ``follower`` about every write once it is in the file."""

    def __init__(self, out: BinaryIO, follower: FileFollower) -> None:
        self._out = out
        self._follower = follower

    def write(self, data: bytes) -> int:
        self._out.write(data)
        self._out.flush()  # in the file (the OS's page cache) before the follower may read it
        self._follower.wrote(len(data))
        return len(data)


class PlaintextMismatch(Exception):  # noqa: N818 - a verdict, like the format's ObjectCorrupt
    """The read-back decrypted other bytes than the writer received (or more, or fewer)."""


class ReceivedChunks:
    """The plaintext chunks a writer received, each held until the read-back compared its own with it.

    The writer hands each chunk over with :meth:`put` once it is sealed and written, and calls :meth:`end` after
    the last one (or :meth:`abandon`); :meth:`put` waits while the read-back is ``limit`` chunks behind, so
    memory stays a few megabytes whatever the size. The read-back decrypts into this object (the ``dest`` of
    ``vault_format.decrypt``): every chunk it passes to :meth:`write` must be exactly the next chunk put (an exact
    comparison, not of digests), and :meth:`check_complete` then says that none was left over. The read-back
    calls :meth:`close` when it ends, either way, so that a writer waiting in :meth:`put` goes on.
    """

    def __init__(self, limit: int = _COMPARE_QUEUE_CHUNKS) -> None:
        self._chunks: collections.deque[bytes] = collections.deque()
        self._limit = limit
        self._changed = threading.Condition()
        self._ended = False
        self._abandoned = False
        self._closed = False

    # the writer's side

    def put(self, chunk: bytes) -> None:
        """Hold ``chunk`` for the comparison (a ``bytes`` is held as it is; anything else is copied first)."""
        held = bytes(chunk)
        with self._changed:
            self._changed.wait_for(lambda: self._closed or len(self._chunks) < self._limit)
            if not self._closed:  # a read-back that ended early has its verdict already
                self._chunks.append(held)
                self._changed.notify_all()

    def end(self) -> None:
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def abandon(self) -> None:
        with self._changed:
            self._abandoned = True
            self._changed.notify_all()

    # the read-back's side

    def write(self, decrypted: bytes) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self._chunks or self._ended or self._abandoned)
            if self._abandoned:
                raise WriterFailed()
            if not self._chunks:
                raise PlaintextMismatch()
            expected = self._chunks.popleft()
            if len(self._chunks) == self._limit // 2:  # a writer waiting for room then puts several, not one
                self._changed.notify_all()
        if decrypted != expected:
            raise PlaintextMismatch()
        return len(decrypted)

    def check_complete(self) -> None:
        """Raise :class:`PlaintextMismatch` unless every chunk put was compared (after the writer's end)."""
        with self._changed:
            self._changed.wait_for(lambda: self._ended or self._abandoned)
            if self._abandoned:
                raise WriterFailed()
            if self._chunks:
                raise PlaintextMismatch()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._chunks.clear()
            self._changed.notify_all()
