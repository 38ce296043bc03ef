"""Who is on the other end of the socket, according to the operating system.

Linux: ``SO_PEERCRED``; macOS/BSD: ``getpeereid``. The Windows named-pipe transport has its own
equivalent in ``windows_pipe.py``. Nothing the client sends is ever used as its identity.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import struct
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Peer:
    account: str
    uid: int
    pid: int | None


def account_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def peer_credentials(sock: socket.socket) -> tuple[int, int | None]:
    """The peer's uid (and pid where the OS says it), without looking up the account's name (a directory
    lookup that can be slow where accounts come from the network)."""
    if sys.platform.startswith("linux"):
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", raw)
        return uid, pid
    return _getpeereid(sock.fileno()), None


def _getpeereid(fd: int) -> int:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    uid, gid = ctypes.c_uint32(), ctypes.c_uint32()
    if libc.getpeereid(fd, ctypes.byref(uid), ctypes.byref(gid)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(uid.value)
