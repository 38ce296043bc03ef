"""The agent's side of the local API: a Unix socket, one thread per connection, identity from the OS.

A malformed or hostile client can only end its own connection: every failure is caught here, logged
by error id, and the server goes on serving.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from retention_agent.api import protocol
from retention_agent.api.peer import Peer, account_name, peer_credentials
from retention_agent.errors import ProtocolError, RetentionAgentError

log = logging.getLogger(__name__)
MAX_CONNECTIONS = 32
MAX_CONNECTIONS_PER_ACCOUNT = 8  # so that no one account can hold every slot and lock the others out
IDLE_TIMEOUT_S = 300.0


class Session:
    """One client connection, as the operation handlers see it.

    The peer is given (Unix: read from the socket at accept) or found on first use (Windows: the pipe
    client can only be impersonated after it has sent something).
    """

    def __init__(self, sock: socket.socket, peer: Peer | None = None,
                 identify: Callable[[], Peer] | None = None) -> None:
        self.sock = sock
        self._peer = peer
        self._identify = identify

    @property
    def peer(self) -> Peer:
        if self._peer is None:
            assert self._identify is not None
            self._peer = self._identify()
        return self._peer

    def reply(self, result: Any = None) -> None:
        protocol.write_json(self.sock, {"v": protocol.VERSION, "ok": True, "result": result})

    def fail(self, error: RetentionAgentError) -> None:
        protocol.write_json(self.sock, {"v": protocol.VERSION, "ok": False, "error": error.to_wire()})

    def send_stream(self, header: Any, produce: Callable[[DataWriter], Any]) -> None:
        """Reply ``ok`` with ``header``, stream what ``produce`` writes, then its return value as trailer."""
        protocol.write_json(self.sock, {"v": protocol.VERSION, "ok": True, "stream": True, "result": header})
        trailer = produce(DataWriter(self.sock))
        protocol.write_frame(self.sock, protocol.END)
        protocol.write_json(self.sock, {"v": protocol.VERSION, "ok": True, "result": trailer})

    def receive_stream(self) -> protocol.DataReader:
        """The data stream the client sends next, as a readable binary stream."""
        return protocol.DataReader(self.sock)


class DataWriter:
    """A writable file-like object whose writes become ``D`` frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def write(self, data: bytes) -> int:
        if len(data) <= protocol.DATA_CHUNK:  # a whole vault chunk: sent as it is, not copied
            protocol.write_frame(self.sock, protocol.DATA, data)
            return len(data)
        view = memoryview(data)
        for start in range(0, len(view), protocol.DATA_CHUNK):
            protocol.write_frame(self.sock, protocol.DATA, bytes(view[start:start + protocol.DATA_CHUNK]))
        return len(data)


Handler = Callable[[Session, str, dict[str, Any]], None]


class ConnectionSlots:
    """How many connections the agent serves at once: so many in all, and so many for each account."""

    def __init__(self, total: int = MAX_CONNECTIONS, per_account: int = MAX_CONNECTIONS_PER_ACCOUNT) -> None:
        self.total = total
        self.per_account = per_account
        self._held: dict[int, int] = {}
        self._lock = threading.Lock()

    def take(self, uid: int) -> bool:
        with self._lock:
            if sum(self._held.values()) >= self.total or self._held.get(uid, 0) >= self.per_account:
                return False
            self._held[uid] = self._held.get(uid, 0) + 1
            return True

    def give_back(self, uid: int) -> None:
        with self._lock:
            self._held[uid] -= 1
            if not self._held[uid]:
                del self._held[uid]


class UnixApiServer:
    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self.handler = handler
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._slots = ConnectionSlots()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket: the pid lock guarantees no other agent uses it
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        self.path.chmod(0o666)  # every local account may connect; the agent decides and audits
        listener.listen(16)
        listener.settimeout(0.5)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, name="api-accept", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread:
            self._thread.join(timeout=5)
        if self._listener:
            self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("accept failed")
                continue
            try:
                uid, pid = peer_credentials(conn)
            except OSError:
                conn.close()
                log.exception("the identity of an API client could not be read; connection closed")
                continue
            if not self._slots.take(uid):
                conn.close()
                log.warning("too many API connections (uid %s); one refused", uid)
                continue
            threading.Thread(target=self._serve, args=(conn, uid, pid), name="api-conn", daemon=True).start()

    def _serve(self, conn: socket.socket, uid: int, pid: int | None) -> None:
        try:
            conn.settimeout(IDLE_TIMEOUT_S)
            serve_connection(Session(conn, Peer(account=account_name(uid), uid=uid, pid=pid)), self.handler)
        except Exception:
            log.exception("API connection failed")
        finally:
            conn.close()
            self._slots.give_back(uid)


def serve_connection(session: Session, handler: Handler) -> None:
    """Answer requests until the client hangs up or breaks the protocol."""
    while True:
        try:
            op, args = protocol.parse_request(protocol.read_json(session.sock))
        except protocol.ConnectionClosed:
            return
        except protocol.ProtocolViolation as exc:
            log.warning("protocol violation from uid %s", session.peer.uid)
            with contextlib.suppress(OSError):
                session.fail(ProtocolError(problem=str(exc)))
            return
        except (OSError, TimeoutError):
            return
        handler(session, op, args)
