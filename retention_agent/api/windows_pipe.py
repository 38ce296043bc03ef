"""The Windows transport of the local API: a named pipe whose client identity comes from Windows.

NOT RUN on the Linux test machines: it is kept small, uses only ctypes, and sits behind the same
``Session``/``serve_connection`` interface as the Unix socket. The caller's account is read from its
token while the server impersonates it (``ImpersonateNamedPipeClient``), never from anything it sends.
The pipe refuses remote clients and its DACL lets authenticated local users connect; the agent decides.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from retention_agent.api.peer import Peer

log = logging.getLogger(__name__)

PIPE_ACCESS_DUPLEX = 0x3
PIPE_TYPE_BYTE, PIPE_READMODE_BYTE, PIPE_WAIT, PIPE_REJECT_REMOTE_CLIENTS = 0x0, 0x0, 0x0, 0x8
PIPE_UNLIMITED_INSTANCES = 255
TOKEN_QUERY = 0x0008
TOKEN_USER_CLASS = 1
BUFFER = 64 * 1024
# Authenticated users may read/write; SYSTEM and the owner (the agent's account) have full control.
PIPE_SDDL = "D:(A;;GRGW;;;AU)(A;;GA;;;SY)(A;;GA;;;OW)"


def pipe_name(home: Path) -> str:
    """``\\\\.\\pipe\\retention-agent-<hash of the home path>``: derivable from the home path alone."""
    digest = hashlib.sha256(str(home).lower().encode()).hexdigest()[:16]
    return rf"\\.\pipe\retention-agent-{digest}"


class PipeConnection:
    """A connected pipe instance with the methods the protocol needs."""

    def __init__(self, handle: int) -> None:
        self.handle = handle
        self._k32: Any = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]

    def sendall(self, data: bytes) -> None:
        written = ctypes.c_ulong(0)
        view = memoryview(data)
        while view:
            if not self._k32.WriteFile(self.handle, bytes(view), len(view), ctypes.byref(written), None):
                raise OSError(ctypes.get_last_error(), "WriteFile failed")  # type: ignore[attr-defined]
            view = view[written.value:]

    def recv(self, size: int) -> bytes:
        buffer = ctypes.create_string_buffer(size)
        read = ctypes.c_ulong(0)
        if not self._k32.ReadFile(self.handle, buffer, size, ctypes.byref(read), None):
            return b""  # broken pipe: the client went away
        return buffer.raw[: read.value]

    def recv_into(self, buffer: memoryview, nbytes: int) -> int:
        data = self.recv(nbytes)
        buffer[: len(data)] = data
        return len(data)

    def peer(self) -> Peer:
        """Impersonate the client just long enough to read the account from its token."""
        advapi: Any = ctypes.WinDLL("advapi32", use_last_error=True)  # type: ignore[attr-defined]
        if not advapi.ImpersonateNamedPipeClient(self.handle):
            raise OSError(ctypes.get_last_error(), "ImpersonateNamedPipeClient failed")  # type: ignore[attr-defined]
        token = ctypes.c_void_p()
        try:
            if not advapi.OpenThreadToken(self._k32.GetCurrentThread(), TOKEN_QUERY, True, ctypes.byref(token)):
                raise OSError(ctypes.get_last_error(), "OpenThreadToken failed")  # type: ignore[attr-defined]
        finally:
            advapi.RevertToSelf()
        try:
            return Peer(account=_account_of_token(advapi, token), uid=-1, pid=None)
        finally:
            self._k32.CloseHandle(token)

    def close(self) -> None:
        self._k32.FlushFileBuffers(self.handle)
        self._k32.DisconnectNamedPipe(self.handle)
        self._k32.CloseHandle(self.handle)


def _account_of_token(advapi: Any, token: ctypes.c_void_p) -> str:
    size = ctypes.c_ulong(0)
    advapi.GetTokenInformation(token, TOKEN_USER_CLASS, None, 0, ctypes.byref(size))
    info = ctypes.create_string_buffer(size.value)
    if not advapi.GetTokenInformation(token, TOKEN_USER_CLASS, info, size, ctypes.byref(size)):
        raise OSError(ctypes.get_last_error(), "GetTokenInformation failed")  # type: ignore[attr-defined]
    sid = ctypes.cast(info, ctypes.POINTER(ctypes.c_void_p))[0]
    name, domain = ctypes.create_unicode_buffer(256), ctypes.create_unicode_buffer(256)
    name_len, domain_len, use = ctypes.c_ulong(256), ctypes.c_ulong(256), ctypes.c_ulong(0)
    if not advapi.LookupAccountSidW(None, sid, name, ctypes.byref(name_len), domain, ctypes.byref(domain_len),
                                    ctypes.byref(use)):
        raise OSError(ctypes.get_last_error(), "LookupAccountSidW failed")  # type: ignore[attr-defined]
    return f"{domain.value}\\{name.value}"


class PipeApiServer:
    """Same life cycle as ``UnixApiServer``: ``start()``, ``stop()``; one thread per client."""

    def __init__(self, home: Path, serve: Callable[[PipeConnection], None]) -> None:
        self.name = pipe_name(home)
        self.serve = serve
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._listen, name="api-pipe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        try:  # wake the blocked ConnectNamedPipe with a throw-away connection
            with open(self.name, "r+b", buffering=0):
                pass
        except OSError:
            pass

    def _listen(self) -> None:
        k32: Any = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        security = _security_attributes()
        while not self._stopping.is_set():
            handle = k32.CreateNamedPipeW(self.name, PIPE_ACCESS_DUPLEX,
                                          PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
                                          PIPE_UNLIMITED_INSTANCES, BUFFER, BUFFER, 0, security)
            if handle in (-1, 0xFFFFFFFFFFFFFFFF):
                log.error("could not create the API pipe (error %s)", ctypes.get_last_error())  # type: ignore[attr-defined]
                self._stopping.wait(5)
                continue
            k32.ConnectNamedPipe(handle, None)
            if self._stopping.is_set():
                k32.CloseHandle(handle)
                return
            threading.Thread(target=self.serve, args=(PipeConnection(handle),), daemon=True).start()


class _SecurityAttributes(ctypes.Structure):
    _fields_ = [("nLength", ctypes.c_ulong), ("lpSecurityDescriptor", ctypes.c_void_p),
                ("bInheritHandle", ctypes.c_int)]


def _security_attributes() -> Any:
    advapi: Any = ctypes.WinDLL("advapi32", use_last_error=True)  # type: ignore[attr-defined]
    descriptor = ctypes.c_void_p()
    if not advapi.ConvertStringSecurityDescriptorToSecurityDescriptorW(PIPE_SDDL, 1, ctypes.byref(descriptor), None):
        raise OSError(ctypes.get_last_error(), "invalid pipe security descriptor")  # type: ignore[attr-defined]
    return ctypes.byref(_SecurityAttributes(ctypes.sizeof(_SecurityAttributes), descriptor, 0))


def connect(home: Path) -> Any:
    """The client side: a named pipe opens like a file on Windows."""
    return open(pipe_name(home), "r+b", buffering=0)
