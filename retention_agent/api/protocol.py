"""The local API's wire format, version 1.

A connection carries frames: one kind byte, a 4-byte big-endian length, the payload.

- ``J``: a JSON object (request, response, or the trailer after a data stream), at most 1 MiB.
- ``D``: a chunk of file data, at most 1 MiB.
- ``E``: end of a data stream (empty payload).

A request is ``{"v": 1, "op": "...", "args": {...}}``. A response is ``{"v": 1, "ok": true, "result": ...}``
or ``{"v": 1, "ok": false, "error": {"id": "...", "params": {...}}}``. An operation that streams data
(``ingest`` from the client, ``open`` to the client) sends ``D`` frames then ``E``, followed by a ``J``
trailer with the outcome. Nothing the client says about who it is counts: identity comes from the OS.
"""

from __future__ import annotations

import io
import json
import re
import struct
from typing import Any, Protocol

VERSION = 1
JSON, DATA, END = b"J", b"D", b"E"
KINDS = (JSON, DATA, END)
MAX_FRAME = 1 << 20
DATA_CHUNK = 128 * 1024  # the data frames senders make: one vault chunk each (vault.format.DEFAULT_CHUNK_SIZE)
_HEADER = struct.Struct(">cI")
_JOIN_BELOW = 64 * 1024  # a smaller payload goes out with its header in one write; a larger one is not copied


class ProtocolViolation(Exception):  # noqa: N818 - a verdict about the peer, not a bug in us
    """The peer sent something that is not a valid frame or message; ``code`` names which rule it broke
    (what the audit log records), the message says it in words (what the peer is told)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class FrameTooLargeError(ValueError):
    """We were about to send a frame larger than :data:`MAX_FRAME`: the answer should have been paged."""


class ConnectionClosed(Exception):  # noqa: N818
    """The peer closed the connection cleanly between frames."""


class Transport(Protocol):
    def sendall(self, data: bytes) -> None: ...

    def recv_into(self, buffer: memoryview, nbytes: int) -> int: ...


def write_frame(transport: Transport, kind: bytes, payload: bytes = b"") -> None:
    if len(payload) > MAX_FRAME:
        raise FrameTooLargeError(f"a frame of {len(payload)} bytes")
    if kind not in KINDS:
        raise ValueError("invalid frame")
    header = _HEADER.pack(kind, len(payload))
    if len(payload) < _JOIN_BELOW:
        transport.sendall(header + payload)
    else:
        transport.sendall(header)
        transport.sendall(payload)


def write_json(transport: Transport, message: dict[str, Any]) -> None:
    write_frame(transport, JSON, json.dumps(message, ensure_ascii=False).encode())


def read_frame(transport: Transport) -> tuple[bytes, bytearray]:
    kind, length = _read_header(transport)
    return kind, _recv_exact(transport, length, allow_eof=False)


def read_json(transport: Transport) -> dict[str, Any]:
    kind, payload = read_frame(transport)
    if kind != JSON:
        raise ProtocolViolation("expected a JSON frame", "expected-json")
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: [[[[… nested too deep
        raise ProtocolViolation("invalid JSON", "invalid-json") from exc
    if not isinstance(message, dict):
        raise ProtocolViolation("a message must be a JSON object", "not-an-object")
    if _ESCAPED_SURROGATE.search(payload) and _has_lone_surrogate(message):
        raise ProtocolViolation("a text holds a lone UTF-16 surrogate (\\ud800-\\udfff)", "lone-surrogate")
    return message


# Valid UTF-8 cannot hold a surrogate; JSON can, as a \\uD800-\\uDFFF escape that no low/high partner follows.
# Such a text cannot be encoded again (not in the audit log, not in an answer): it is refused here.
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _has_lone_surrogate(message: dict[str, Any]) -> bool:
    try:
        json.dumps(message, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        return True
    return False


class DataReader(io.RawIOBase):
    """The ``D`` frames of a data stream, up to its ``E``, as one readable stream.

    Each read receives straight into the caller's buffer: no frame is held in memory or copied on the way.
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._left = 0  # bytes of the current frame not read yet
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            if self._ended:
                return 0
            self._next_frame()
        view = memoryview(buffer).cast("B")[: self._left]
        count = self._transport.recv_into(view, len(view))
        if not count:
            raise ProtocolViolation("connection closed in the middle of a frame", "cut-frame")
        self._left -= count
        return count

    def _next_frame(self) -> None:
        kind, length = _read_header(self._transport)
        if kind == END:
            _recv_exact(self._transport, length, allow_eof=False)
            self._ended = True
        elif kind == DATA:
            self._left = length
        else:
            raise ProtocolViolation("expected data", "expected-data")


def _read_header(transport: Transport) -> tuple[bytes, int]:
    kind, length = _HEADER.unpack(_recv_exact(transport, _HEADER.size, allow_eof=True))
    if kind not in KINDS:
        raise ProtocolViolation("unknown frame kind", "unknown-frame-kind")
    if length > MAX_FRAME:
        raise ProtocolViolation("frame too large", "frame-too-large")
    return kind, length


def _recv_exact(transport: Transport, size: int, *, allow_eof: bool) -> bytearray:
    """Receive exactly ``size`` bytes straight into one buffer (no per-piece allocation, no join)."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = transport.recv_into(view[received:], size - received)
        if not count:
            if allow_eof and received == 0:
                raise ConnectionClosed()
            raise ProtocolViolation("connection closed in the middle of a frame", "cut-frame")
        received += count
    return buffer


def request(op: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"v": VERSION, "op": op, "args": args or {}}


def parse_request(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if message.get("v") != VERSION:
        raise ProtocolViolation(f"unsupported protocol version {repr(message.get('v'))[:40]}", "unsupported-version")
    op, args = message.get("op"), message.get("args", {})
    if not isinstance(op, str) or not isinstance(args, dict):
        raise ProtocolViolation("a request needs an op and an args object", "no-op-or-args")
    return op, args
