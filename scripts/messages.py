#!/usr/bin/env python3
"""Collect every user-facing English message of retention-agent, and keep ``locale/nl.po`` complete.

Messages are: the ``message`` and ``hint`` of every error class, the literal first argument of every call
to ``t()``, ``translate()`` and ``N_()``, the values of ``notify.MESSAGES``, the docstring of every click
command and the ``help=`` of its options, and click's own messages that a person can see (from the installed
click: its ``_()`` and ``ngettext()`` calls). ``tests/test_i18n.py`` fails when one of them has no Dutch
translation.

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
MARKERS = {"t", "translate", "N_", "tr_", "words"}  # tr_: the desktop app's translate-for-this-view; words: the PDFs'


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
    installer = [] if package != PACKAGE else sorted((ROOT / "installer").rglob("*.py"))  # ships inside it
    for path in [*sorted(package.rglob("*.py")), *installer]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = str(path.relative_to(package.parent if path.is_relative_to(package) else ROOT))
        for node in ast.walk(tree):
            for text, line in _messages_in(node):
                if text.strip():
                    found.setdefault(text, f"{where}:{line}")
    for text, where in click_messages().items():
        found.setdefault(text, where)
    return found


# click's messages that only a programming error in a command's definition, shell completion or a feature
# the command line does not use can show
CLICK_UNSEEN = frozenset({
    "d", "Windows error: {error}", "{editor}: Editing failed", "{editor}: Editing failed: {e}",
    "Could not determine name for option with declarations {decls!r}",
    "No options defined but a name was passed ({name}). Did you mean to declare an argument instead? Did you "
    "mean to pass '--{name}'?",
    "Arguments take exactly one parameter declaration, got {length}: {decls}.", "Name '{name}' defined twice",
    "Boolean option {decl!r} cannot use the same flag for true/false.", "Value must be an iterable.",
    "Couldn't detect Bash version, shell completion is not supported.",
    "Shell completion is not supported for Bash versions older than 4.4.", "Unknown color {colour!r}",
    "Unknown standard stream '{name}'", "Press any key to continue...", "Invalid start character for option ({option})",
})


def click_messages() -> dict[str, str]:
    """The installed click's messages a person can see -> where (``click/file.py:line``); of a plural message
    (``ngettext``) both forms."""
    import click

    from retention_agent.cli.click_words import CLICK_MODULES

    found: dict[str, str] = {}
    folder = Path(click.__file__).parent
    for name in CLICK_MODULES:
        tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "ngettext"):
                texts = [text for arg in node.args[:2] if (text := _string(arg)) is not None]
                for text in texts if node.func.id == "ngettext" else texts[:1]:
                    if text not in CLICK_UNSEEN:
                        found.setdefault(text, f"click/{name}.py:{node.lineno}")
    return found


def _messages_in(node: ast.AST) -> list[tuple[str, int]]:
    if isinstance(node, ast.FunctionDef) and any(_is_click_command(d) for d in node.decorator_list):
        text = ast.get_docstring(node, clean=True)
        return [(text, node.lineno)] if text else []
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name in ("option", "argument", "version_option"):
            return [(text, node.lineno) for keyword in node.keywords if keyword.arg == "help"
                    if (text := _string(keyword.value)) is not None]
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


def _is_click_command(decorator: ast.expr) -> bool:
    """``@main.command()``, ``@staff.command("add")``, ``@click.group(...)``."""
    func = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(func, ast.Attribute) and func.attr in ("command", "group")


def translated(po_file: Path = PO_FILE) -> dict[str, str]:
    from babel.messages.pofile import read_po

    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale="nl")
    return {msgid: text for m in catalog if m.id for msgid, text in entry_texts(m.id, m.string)}


def entry_texts(msgid: object, msgstr: object) -> list[tuple[str, str]]:
    """An entry as ``(msgid, translation)`` pairs; a plural entry answers for its singular and plural msgid,
    translated only when every form is (an empty translation when one is missing)."""
    if isinstance(msgid, str):
        return [(msgid, str(msgstr))]
    forms = [str(form) for form in msgstr] if isinstance(msgstr, tuple | list) else [str(msgstr)]
    complete = "\n".join(forms) if forms and all(form.strip() for form in forms) else ""
    return [(str(one), complete) for one in msgid] if isinstance(msgid, tuple | list) else [(str(msgid), complete)]


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
