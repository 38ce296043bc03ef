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

import json
import struct
from collections.abc import Iterator
from typing import Any, Protocol

VERSION = 1
JSON, DATA, END = b"J", b"D", b"E"
KINDS = (JSON, DATA, END)
MAX_FRAME = 1 << 20
DATA_CHUNK = 256 * 1024
_HEADER = struct.Struct(">cI")


class ProtocolViolation(Exception):  # noqa: N818 - a verdict about the peer, not a bug in us
    """The peer sent something that is not a valid frame or message."""


class ConnectionClosed(Exception):  # noqa: N818
    """The peer closed the connection cleanly between frames."""


class Transport(Protocol):
    def sendall(self, data: bytes) -> None: ...

    def recv(self, size: int) -> bytes: ...


def write_frame(transport: Transport, kind: bytes, payload: bytes = b"") -> None:
    if kind not in KINDS or len(payload) > MAX_FRAME:
        raise ValueError("invalid frame")
    transport.sendall(_HEADER.pack(kind, len(payload)) + payload)


def write_json(transport: Transport, message: dict[str, Any]) -> None:
    write_frame(transport, JSON, json.dumps(message, ensure_ascii=False).encode())


def read_frame(transport: Transport) -> tuple[bytes, bytes]:
    header = _recv_exact(transport, _HEADER.size, allow_eof=True)
    kind, length = _HEADER.unpack(header)
    if kind not in KINDS:
        raise ProtocolViolation("unknown frame kind")
    if length > MAX_FRAME:
        raise ProtocolViolation("frame too large")
    return kind, _recv_exact(transport, length, allow_eof=False)


def read_json(transport: Transport) -> dict[str, Any]:
    kind, payload = read_frame(transport)
    if kind != JSON:
        raise ProtocolViolation("expected a JSON frame")
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: [[[[… nested too deep
        raise ProtocolViolation("invalid JSON") from exc
    if not isinstance(message, dict):
        raise ProtocolViolation("a message must be a JSON object")
    return message


def read_data(transport: Transport) -> Iterator[bytes]:
    """Yield ``D`` payloads until ``E``."""
    while True:
        kind, payload = read_frame(transport)
        if kind == END:
            return
        if kind != DATA:
            raise ProtocolViolation("expected data")
        yield payload


def _recv_exact(transport: Transport, size: int, *, allow_eof: bool) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = transport.recv(min(remaining, DATA_CHUNK))
        if not chunk:
            if allow_eof and remaining == size:
                raise ConnectionClosed()
            raise ProtocolViolation("connection closed in the middle of a frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def request(op: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"v": VERSION, "op": op, "args": args or {}}


def parse_request(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if message.get("v") != VERSION:
        raise ProtocolViolation(f"unsupported protocol version {message.get('v')!r}")
    op, args = message.get("op"), message.get("args", {})
    if not isinstance(op, str) or not isinstance(args, dict):
        raise ProtocolViolation("a request needs an op and an args object")
    return op, args
