"""Text from elsewhere, made safe to print on a terminal (pure).

Whatever a caller typed can come back to a person's screen: an account name in a table, a subject in
``audit show``, a file name in an error message. A carriage return, an ANSI escape sequence (ESC, or the C1
control CSI), a backspace or a bidirectional override in such text could rewrite what the officer sees: a
refused request that prints as a fake "granted" line, a name shown backwards. :func:`safe` replaces each of
these characters by a visible escape (``\\x1b``, ``\\u202e``), so the text shows for what it is.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls, DEL, C1 controls; the bidirectional embeddings, overrides, isolates and marks; the line and
# paragraph separators (some terminals and viewers break lines on them).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str) -> str:
    """``text`` with every control and bidirectional formatting character shown as an escape."""
    return _UNSAFE.sub(_visible, text)


def safe_value(value: Any) -> Any:
    """:func:`safe` for text; other values (numbers, None) as they are."""
    return safe(value) if isinstance(value, str) else value


def has_unsafe(text: str, *, allow_newlines: bool = False) -> bool:
    """Whether ``text`` holds a character :func:`safe` would escape (optionally allowing line ends)."""
    return bool(_UNSAFE.search(text.replace("\n", "") if allow_newlines else text))


def safe_json(text: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``) with the unsafe characters as ``\\uXXXX`` escapes.

    JSON already escapes C0 controls inside strings (and its own line ends between values must stay); DEL, C1
    controls and bidirectional characters it leaves raw, and those only occur inside strings. The escaped form
    is the same JSON value, so scripts read exactly what they read before.
    """
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
