"""Canonical JSON: the one byte form of a document that is hashed or signed (sorted keys, no spaces, UTF-8)."""

from __future__ import annotations

import json
from typing import Any


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
