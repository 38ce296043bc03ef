"""The command line's side of the local API."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from retention_agent.api import protocol
from retention_agent.api.transport import connect_pipe
from retention_agent.errors import AgentUnreachableError, ProtocolError, RetentionAgentError, by_id
from retention_agent.i18n.msgids import N_

CONNECT_TIMEOUT_S = 5.0
REPLY_TIMEOUT_S = 3600.0  # purges and vault verification of large vaults take a while


class Client:
    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._sock: socket.socket | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connect(self) -> socket.socket:
        if self._sock is None and sys.platform == "win32":
            try:
                self._sock = connect_pipe(self.socket_path)  # type: ignore[assignment]
            except OSError as exc:
                raise AgentUnreachableError(socket=str(self.socket_path)) from exc
        if self._sock is None:
            sock = _connect_unix(self.socket_path)
            sock.settimeout(REPLY_TIMEOUT_S)
            self._sock = sock
        return self._sock

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        sock = self._connect()
        protocol.write_json(sock, protocol.request(op, args))
        return _result(self._read(sock))

    def pages(self, op: str, key: str, args: dict[str, Any] | None = None) -> Iterator[Any]:
        """Every row of a paged list (``deliveries``, ``audit.show``, ``proof.list``: api/paging.py), page
        after page; ``key`` is where a page holds its rows."""
        cursor = ""
        while True:
            page = self.call(op, {**(args or {}), **({"cursor": cursor} if cursor else {})})
            yield from page[key]
            cursor = page.get("next") or ""
            if not cursor:
                return

    def upload(self, op: str, args: dict[str, Any], chunks: Iterable[bytes]) -> Any:
        """Send a request followed by a data stream (the file read with the caller's own permissions)."""
        sock = self._connect()
        protocol.write_json(sock, protocol.request(op, args))
        ready = _result(self._read(sock))
        if ready != "send":
            return ready
        try:
            for chunk in chunks:
                protocol.write_frame(sock, protocol.DATA, chunk)
            protocol.write_frame(sock, protocol.END)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the agent stopped reading because it failed (a full disk...): its answer says why
        return _result(self._read(sock))

    def download(self, op: str, args: dict[str, Any], sink: BinaryIO) -> tuple[Any, Any]:
        """Send a request; when the answer is a stream, write it to ``sink``. Returns (header, trailer)."""
        sock = self._connect()
        protocol.write_json(sock, protocol.request(op, args))
        first = self._read(sock)
        header = _result(first)
        if not first.get("stream"):
            return header, None
        _copy(protocol.DataReader(sock), sink)
        return header, _result(self._read(sock))

    def _read(self, sock: socket.socket) -> dict[str, Any]:
        try:
            return protocol.read_json(sock)
        except (protocol.ConnectionClosed, protocol.ProtocolViolation, OSError) as exc:
            raise ProtocolError(problem=N_("the agent closed the connection")) from exc


def _copy(stream: protocol.DataReader, sink: BinaryIO) -> None:
    """Copy a data stream to ``sink`` through one reused buffer (nothing allocated per frame)."""
    buffer = memoryview(bytearray(protocol.DATA_CHUNK))
    while count := stream.readinto(buffer):
        sink.write(buffer[:count])


def _connect_unix(path: Path) -> socket.socket:
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            sock.connect(str(path))
            return sock
        except BlockingIOError as exc:  # the agent's queue of new connections is full: it is busy, wait
            sock.close()
            if time.monotonic() >= deadline:
                raise AgentUnreachableError(socket=str(path)) from exc
            time.sleep(0.02)
        except OSError as exc:
            sock.close()
            raise AgentUnreachableError(socket=str(path)) from exc


def _result(message: dict[str, Any]) -> Any:
    if message.get("ok"):
        return message.get("result")
    error = message.get("error") or {}
    raise remote_error(str(error.get("id", "")), error.get("params") or {})


def remote_error(error_id: str, params: dict[str, Any]) -> RetentionAgentError:
    cls = by_id(error_id)
    try:
        return cls(**params)
    except TypeError:
        return ProtocolError(problem=error_id)
