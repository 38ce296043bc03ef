"""The strings a module's source writes, as Python joins them (adjacent literals; an f-string's holes as ``{}``),
lower case with whitespace folded: what the tests that look for SQL in the tree read."""

from __future__ import annotations

import ast
from collections.abc import Iterator


def folded_strings(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) for every string literal and f-string in ``source``."""
    for node in ast.walk(ast.parse(source)):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        if text is not None:
            yield node.lineno, " ".join(text.lower().split())
