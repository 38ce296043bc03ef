"""The agent's side of the local API: a Unix socket, one thread per connection, identity from the OS.

A malformed or hostile client can only end its own connection: every failure is caught here, logged by error
id (at most once a minute for each kind: ``log_limits``), and the server goes on serving. A connection must
send its first frame within :data:`FIRST_FRAME_TIMEOUT_S`; slots are kept back for staff and the officer
(``budget.ConnectionSlots``); every protocol violation is reported to the handler, which audits it.
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
from retention_agent.api.budget import OTHER, ConnectionSlots
from retention_agent.api.peer import Peer, account_name, peer_credentials
from retention_agent.clock import SystemClock, utc_iso
from retention_agent.errors import InternalError, ProtocolError, RetentionAgentError
from retention_agent.system.log_limits import LogLimiter, left_out, traceback_lines

log = logging.getLogger(__name__)
IDLE_TIMEOUT_S = 300.0
FIRST_FRAME_TIMEOUT_S = 5.0  # a connection that says nothing this long only holds a slot


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
        """Answer ``ok``; an answer too large for a frame is an internal error (the operation should have paged),
        raised for the dispatcher to audit and answer."""
        try:
            protocol.write_json(self.sock, {"v": protocol.VERSION, "ok": True, "result": result})
        except protocol.FrameTooLargeError as exc:
            raise InternalError(problem="reply-too-large", at=utc_iso(SystemClock().now())) from exc

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
Violation = Callable[[Session, str], None]  # the session and the violation's code (ProtocolViolation.code)


class UnixApiServer:
    def __init__(self, path: Path, handler: Handler, *, violation: Violation | None = None,
                 classify: Callable[[int], str] | None = None, refused: Callable[[int], None] | None = None,
                 slots: ConnectionSlots | None = None) -> None:
        self.path = path
        self.handler = handler
        self.violation = violation
        self.classify = classify or (lambda uid: OTHER)
        self.refused = refused
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._slots = slots or ConnectionSlots()
        self._logs = LogLimiter(SystemClock().monotonic)
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
                self._log("accept", "accept failed")
                continue
            try:
                uid, pid = peer_credentials(conn)
            except OSError:
                conn.close()
                self._log("peer", "the identity of an API client could not be read; connection closed")
                continue
            if not self._slots.take(uid, self.classify(uid)):
                conn.close()
                if self.refused is not None:
                    self.refused(uid)
                self._log(f"slots:{uid}", f"too many API connections (uid {uid}); refused")
                continue
            threading.Thread(target=self._serve, args=(conn, uid, pid), name="api-conn", daemon=True).start()

    def _serve(self, conn: socket.socket, uid: int, pid: int | None) -> None:
        try:
            session = Session(conn, Peer(account=account_name(uid), uid=uid, pid=pid))
            serve_connection(session, self.handler, violation=self.violation,
                             first_frame_timeout=FIRST_FRAME_TIMEOUT_S, idle_timeout=IDLE_TIMEOUT_S)
        except Exception as exc:
            self._log(f"failed:{uid}:{type(exc).__name__}", f"API connection of uid {uid} failed",
                      traceback_lines(exc))
        finally:
            conn.close()
            self._slots.give_back(uid)

    def _log(self, key: str, message: str, detail: str = "") -> None:
        count = self._logs.allow(key)
        if count is not None:
            log.warning("%s%s%s", message, left_out(count), f"\n{detail}" if detail else "")


def serve_connection(session: Session, handler: Handler, *, violation: Violation | None = None,
                     first_frame_timeout: float | None = None, idle_timeout: float | None = None) -> None:
    """Answer requests until the client hangs up or breaks the protocol (reported to ``violation``).

    With ``first_frame_timeout`` the first request must arrive within that many seconds; later ones within
    ``idle_timeout`` of the previous answer.
    """
    if first_frame_timeout is not None:
        session.sock.settimeout(first_frame_timeout)
    first = True
    while True:
        try:
            op, args = protocol.parse_request(protocol.read_json(session.sock))
        except protocol.ConnectionClosed:
            return
        except protocol.ProtocolViolation as exc:
            _violated(session, violation, exc.code, str(exc))
            return
        except TimeoutError:
            if first:
                _violated(session, violation, "first-frame-timeout", "no request in time")
            return
        except OSError:
            return
        if first and idle_timeout is not None:
            session.sock.settimeout(idle_timeout)
        first = False
        handler(session, op, args)


def _violated(session: Session, violation: Violation | None, code: str, problem: str) -> None:
    """Report the violation (the handler audits it), answer it if the client still listens, end the connection."""
    if violation is not None:
        violation(session, code)
    with contextlib.suppress(OSError):
        session.fail(ProtocolError(problem=problem))
