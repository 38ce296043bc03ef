"""Short, sortable identifiers (ULID: 48-bit milliseconds + 80 random bits, Crockford base32)."""

from __future__ import annotations

import os
import threading

from retention_agent.clock import Clock

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last = {"ms": -1, "rand": 0}


def new_ulid(clock: Clock) -> str:
    """A ULID from ``clock``; monotonic within a millisecond so ids sort in creation order."""
    ms = int(clock.now().timestamp() * 1000)
    with _lock:
        if ms == _last["ms"]:
            rand = (_last["rand"] + 1) & ((1 << 80) - 1)
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        _last["ms"], _last["rand"] = ms, rand
    value = (ms << 80) | rand
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def random_hex(size: int = 16) -> str:
    return os.urandom(size).hex()
