"""Rewrite imports and paths after modules moved: ``python scripts/dev/rewrite_imports.py [files...]``.

Reads the moves from ``MOVES`` (old dotted name -> new dotted name) and rewrites, in every text file given
(default: every tracked file), ``retention_agent.<old>`` names, ``retention_agent/<old>.py`` paths and
``from retention_agent[.pkg] import <old>`` lines. Idempotent: running it twice changes nothing more.
Kept for branches that still import old paths; delete it once no branch needs it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MOVES: dict[str, str] = {
    "retention": "rules.retention", "access": "rules.access", "free_text": "rules.free_text",
    "rrn": "rules.rrn", "subjects": "rules.subjects",
    "proof": "evidence.proof", "sshsig": "evidence.sshsig", "checkpoint": "evidence.checkpoint",
    "merkle": "evidence.merkle", "reports.consistency": "evidence.consistency",
    "audit": "audit.log", "audit_query": "audit.query",
    "pdf": "pdf.document", "proof_pdf": "pdf.proof",
    "store": "store.database", "upkeep": "store.upkeep", "diskspace": "store.diskspace",
    "deliveries": "store.deliveries", "mail_copies": "store.mail_copies", "staff": "store.staff",
    "notify": "store.notifications",
    "lifecycle": "lifecycle.states", "ceremonies": "lifecycle.decisions", "purge": "lifecycle.purge",
    "schedule": "lifecycle.purge_schedule",
    "agent": "runtime.agent", "capabilities": "runtime.capabilities", "context": "runtime.context",
    "testing": "testing_hooks", "runtime.testing": "testing_hooks",
    "status": "status.facts", "checklist": "status.checklist",
    "home": "system.home", "installation": "system.init_home", "deployment": "system.service",
    "platform_accounts": "system.accounts", "log_limits": "system.log_limits", "wipe": "system.wipe",
    "i18n": "i18n.catalogue", "msgids": "i18n.msgids", "os_errors": "i18n.os_errors",
    "cli": "cli.main", "cli_commands": "cli.commands", "cli_i18n": "cli.click_words",
    "terminal": "i18n.safe_text", "cli.terminal": "i18n.safe_text", "status_view": "cli.status_table",
    "exports": "session.exports", "notifier": "session.notifier",
    "workbook": "copies.workbook",
}
# Names that later left their module: (module, name) -> the module that has it now.
NAMES: dict[tuple[str, str], str] = {
    ("status.facts", "build_status"): "status.document", ("status.facts", "note_test_hooks"): "status.document",
    ("status.facts", "STATUS_VERSION"): "status.document", ("status.facts", "FINDINGS"): "status.findings",
    ("status.facts", "assess"): "status.findings",
}
PKG = "retention_agent"
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".sh", ".cfg", ".ini", ".service", ".plist", ".xml", ".in", ""}


def _new_submodules(package: str) -> set[str]:
    """The modules a package has now: the moves' targets, and those written since (``store/reports.py``)."""
    on_disk = Path(__file__).resolve().parents[2] / PKG / package.replace(".", "/")
    return ({new.split(".", 1)[1] for new in [*MOVES.values(), *NAMES.values()] if new.startswith(package + ".")}
            | {path.stem for path in on_disk.glob("*.py") if path.stem != "__init__"})


def _dotted_pattern(old: str) -> re.Pattern[str]:
    # Do not touch a name that already is the new one (``audit`` -> ``audit.log``): idempotence.
    children = _new_submodules(old)
    names = "|".join(sorted(children))
    guard = rf"(?!\.(?:{names})\b)(?! import (?:{names})\b)" if children else ""
    return re.compile(rf"(?<![\w.]){PKG}\.{re.escape(old)}(?![\w]){guard}")


DOTTED = sorted(((_dotted_pattern(old), f"{PKG}.{new}") for old, new in MOVES.items()),
                key=lambda pair: -len(pair[0].pattern))
PATHS = [(f"{PKG}/{old.replace('.', '/')}.py", f"{PKG}/{new.replace('.', '/')}.py") for old, new in MOVES.items()]
PATHS.append((f"{PKG}/cli_commands/", f"{PKG}/cli/commands/"))
FROM_IMPORT = re.compile(rf"^(?P<indent>\s*)from (?P<base>{PKG}(?:\.[\w.]+)?) import (?P<names>[^()\n#]+?)"
                         rf"(?P<comment>\s*#.*)?$", re.MULTILINE)


def _split_from_import(match: re.Match[str]) -> str:
    indent, base, comment = match["indent"], match["base"], match["comment"] or ""
    prefix = base[len(PKG):].lstrip(".")
    kept: list[str] = []
    lines: list[str] = []
    for item in (part.strip() for part in match["names"].split(",")):
        name, _, alias = item.partition(" as ")
        old = f"{prefix}.{name.strip()}" if prefix else name.strip()
        if old not in MOVES:
            kept.append(item)
            continue
        parent, _, module = f"{PKG}.{MOVES[old]}".rpartition(".")
        local = alias.strip() or name.strip()
        lines.append(f"{indent}from {parent} import {module}" + (f" as {local}" if local != module else ""))
    if not lines:
        return match[0]
    if kept:
        lines.insert(0, f"{indent}from {base} import {', '.join(kept)}")
    return "\n".join(line + comment for line in lines)


def _moved_names(match: re.Match[str]) -> str:
    indent, base, comment = match["indent"], match["base"], match["comment"] or ""
    module = base[len(PKG):].lstrip(".")
    by_module: dict[str, list[str]] = {}
    for item in (part.strip() for part in match["names"].split(",")):
        name = item.partition(" as ")[0].strip()
        by_module.setdefault(NAMES.get((module, name), module), []).append(item)
    if list(by_module) == [module]:
        return match[0]
    return "\n".join(f"{indent}from {PKG}.{where} import {', '.join(items)}{comment}"
                     for where, items in by_module.items())


def rewrite(text: str) -> str:
    text = FROM_IMPORT.sub(_split_from_import, text)
    for pattern, new in DOTTED:
        text = pattern.sub(new, text)
    for old, new in PATHS:
        text = text.replace(old, new)
    return FROM_IMPORT.sub(_moved_names, text)


def main(argv: list[str]) -> int:
    files = [Path(a) for a in argv] or [Path(p) for p in subprocess.run(
        ["git", "ls-files"], capture_output=True, text=True, check=True).stdout.splitlines()]
    changed = 0
    for path in files:
        if path.suffix not in TEXT_SUFFIXES or not path.is_file() or path.name == "rewrite_imports.py":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = rewrite(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed += 1
    print(f"{changed} files rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
