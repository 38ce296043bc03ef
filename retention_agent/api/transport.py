"""The platform's API transport, chosen in one place: a Unix socket, or a named pipe on Windows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from retention_agent.api.server import Session


class ApiServer(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class ApiHandler(Protocol):
    """What the server calls (the agent's ``agent.ApiHandler``)."""

    def request(self, session: Session, op: str, args: dict[str, Any]) -> None: ...

    def violation(self, session: Session, code: str) -> None: ...

    def refused_connection(self, uid: int) -> None: ...

    def classify(self, uid: int) -> str: ...


def make_server(socket_path: Path, handler: ApiHandler) -> ApiServer:
    from retention_agent.api.server import Session, UnixApiServer, serve_connection

    if sys.platform != "win32":
        return UnixApiServer(socket_path, handler.request, violation=handler.violation, classify=handler.classify,
                             refused=handler.refused_connection)
    from retention_agent.api.windows_pipe import PipeApiServer, PipeConnection

    def serve(conn: PipeConnection) -> None:  # no slots and no first-frame deadline here (not run: limitations)
        try:
            serve_connection(Session(conn, identify=conn.peer), handler.request, violation=handler.violation)
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
