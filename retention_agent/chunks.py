"""A byte stream over chunks: how an upload, received frame by frame, is read as a file."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator


class ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (a client's upload)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            try:
                self._buffer = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]  # a view: a large chunk is never copied again for each read
        return size
