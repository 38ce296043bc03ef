"""The local API: frames and connection limits, on the API server in this process.

The tests of this subject that need no agent process, Dovecot or OS account; the others are in
tests/integration/test_api.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import struct
import threading
from typing import Any

import pytest

from retention_agent.api import protocol
from retention_agent.api.budget import ConnectionSlots
from retention_agent.api.client import Client
from retention_agent.system.home import Home


def frame(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload


def request(message: Any) -> bytes:
    return frame(b"J", json.dumps(message).encode())


DATA_STREAMS: dict[str, tuple[bytes, bytes | str]] = {  # what arrives after "send", and what it reads as
    "frames of any size": (b"".join(frame(b"D", p) for p in (b"ab", b"", b"c" * 300_000, b"d")) + frame(b"E", b""),
                           b"ab" + b"c" * 300_000 + b"d"),
    "nothing": (frame(b"E", b""), b""),
    "bytes after the end": (frame(b"D", b"x") + frame(b"E", b"") + frame(b"D", b"never read"), b"x"),
    "cut inside a frame": (frame(b"D", b"x" * 1000)[:500], "connection closed in the middle of a frame"),
    "cut inside a header": (frame(b"D", b"x") + b"D\x00", "connection closed in the middle of a frame"),
    "a request instead of data": (frame(b"D", b"x") + request({"v": 1}), "expected data"),
    "oversize frame": (b"D" + struct.pack(">I", protocol.MAX_FRAME + 1), "frame too large"),
}


@pytest.mark.parametrize("name", sorted(DATA_STREAMS))
def test_a_data_stream_reads_as_its_bytes_or_fails_as_a_protocol_violation(name: str) -> None:
    """The agent's side of an upload (``Session.receive_stream``), over a real socket pair."""
    sent, expected = DATA_STREAMS[name]
    left, right = socket.socketpair()

    def send() -> None:  # more than the socket's buffer holds: sent while the stream is read
        with contextlib.suppress(OSError):
            left.sendall(sent)
            left.shutdown(socket.SHUT_WR)

    sender = threading.Thread(target=send)
    sender.start()
    with left, right:
        stream = io.BufferedReader(protocol.DataReader(right), protocol.DATA_CHUNK)
        if isinstance(expected, bytes):
            assert stream.read() == expected
        else:
            with pytest.raises(protocol.ProtocolViolation, match=expected):
                stream.read()
        right.shutdown(socket.SHUT_RD)
        sender.join(timeout=10)


def test_connection_slots_are_capped_in_all_and_for_each_account() -> None:
    slots = ConnectionSlots(total=3, per_account=2, reserved={})
    assert slots.take(1000) and slots.take(1000)
    assert not slots.take(1000)  # this account's share is used up
    assert slots.take(1001)  # another account still gets in
    assert not slots.take(1002)  # and now every slot is taken
    slots.give_back(1000)
    assert slots.take(1002)
    assert not slots.take(1000)


def test_a_stale_socket_left_by_a_crashed_agent(home: Home) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(home.socket))  # bound but never listening: what a killed agent leaves behind
    stale.close()
    with pytest.raises(Exception, match="not running or cannot be reached") as caught:
        Client(home.socket).call("staff.list")
    assert getattr(caught.value, "exit_code", None) == 1
