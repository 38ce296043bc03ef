"""The platform's API transport, chosen in one place: a Unix socket, or a named pipe on Windows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from retention_agent.api.server import Handler


class ApiServer(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


def make_server(socket_path: Path, handler: Handler) -> ApiServer:
    from retention_agent.api.server import Session, UnixApiServer, serve_connection

    if sys.platform != "win32":
        return UnixApiServer(socket_path, handler)
    from retention_agent.api.windows_pipe import PipeApiServer, PipeConnection

    def serve(conn: PipeConnection) -> None:
        try:
            serve_connection(Session(conn, identify=conn.peer), handler)
        finally:
            conn.close()

    return PipeApiServer(socket_path.parent, serve)


class _FileTransport:
    """A Windows pipe opened as a file, with the socket methods the protocol uses."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def sendall(self, data: bytes) -> None:
        self.handle.write(data)

    def recv(self, size: int) -> bytes:
        return bytes(self.handle.read(size) or b"")

    def recv_into(self, buffer: memoryview, nbytes: int) -> int:
        return int(self.handle.readinto(buffer[:nbytes]) or 0)

    def close(self) -> None:
        self.handle.close()


def connect_pipe(socket_path: Path) -> _FileTransport:
    from retention_agent.api.windows_pipe import connect

    return _FileTransport(connect(socket_path.parent))
