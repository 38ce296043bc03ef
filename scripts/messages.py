#!/usr/bin/env python3
"""Collect every user-facing English message of retention-agent, and keep ``locale/nl.po`` complete.

Messages are: the ``message`` and ``hint`` of every error class, the literal first argument of every call
to ``t()``, ``translate()`` and ``N_()``, and the values of ``notify.MESSAGES``. ``tests/test_i18n.py``
fails when one of them has no Dutch translation.

    scripts/messages.py --missing     # list messages without a Dutch translation
    scripts/messages.py --add         # append them to nl.po with an empty msgstr, to be translated
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "retention_agent"
PO_FILE = PACKAGE / "locale" / "nl.po"
MARKERS = {"t", "translate", "N_", "tr_"}  # tr_: the desktop app's translate-for-this-view


def _string(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _string(node.left), _string(node.right)
        return left + right if left is not None and right is not None else None
    return None


def collect(package: Path = PACKAGE) -> dict[str, str]:
    """msgid -> first place it was seen (file:line)."""
    found: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = str(path.relative_to(package.parent))
        for node in ast.walk(tree):
            for text, line in _messages_in(node):
                if text.strip():
                    found.setdefault(text, f"{where}:{line}")
    return found


def _messages_in(node: ast.AST) -> list[tuple[str, int]]:
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name in MARKERS and node.args:
            text = _string(node.args[0])
            return [(text, node.lineno)] if text is not None else []
    if isinstance(node, ast.ClassDef):
        return [(text, item.lineno) for item in node.body if isinstance(item, ast.Assign)
                for target in item.targets if isinstance(target, ast.Name) and target.id in ("message", "hint")
                if (text := _string(item.value)) is not None]
    if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "MESSAGES" for t in node.targets):
        if isinstance(node.value, ast.Dict):
            return [(text, node.lineno) for v in node.value.values if (text := _string(v)) is not None]
    return []


def translated(po_file: Path = PO_FILE) -> dict[str, str]:
    from babel.messages.pofile import read_po

    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale="nl")
    return {str(m.id): str(m.string) for m in catalog if m.id}


def _po_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--missing", action="store_true")
    parser.add_argument("--add", action="store_true")
    args = parser.parse_args()
    known = translated()
    missing = {m: w for m, w in collect().items() if not known.get(m)}
    if args.add:
        new = [m for m in missing if m not in known]
        with PO_FILE.open("a", encoding="utf-8") as po:
            for msgid in new:
                po.write(f"\n#: {missing[msgid]}\nmsgid {_po_quote(msgid)}\nmsgstr \"\"\n")
        print(f"added {len(new)} messages to {PO_FILE}")
    for msgid, where in missing.items():
        print(f"{where}: {msgid}")
    return 1 if missing and args.missing else 0


if __name__ == "__main__":
    sys.exit(main())
