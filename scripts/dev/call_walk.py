"""Follow a function through the package by its static calls: which modules it visits, and where it climbs back.

    python scripts/dev/call_walk.py retention_agent.reports.generate:make_report

A call is resolved when it names a function of the same module, an imported function or module attribute
(``from x import f``, ``import x as m; m.f``, also inside function bodies), or a method of one of the
context's parts (``ctx.store.query`` is ``Store.query``). The walk is depth first; each function is followed
once. A *climb back* is a call into a package that is already on the way down to the caller (``reports ->
status -> reports``): the work goes back up instead of being handed down. Also counted: the modules whose
visited functions spell SQL themselves, and imports inside function bodies (mostly there to dodge a circle).
A rough measure (no type inference), for comparing designs, not an exact call graph.
"""

from __future__ import annotations

import ast
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

PACKAGE = "retention_agent"
ROOT = Path(__file__).resolve().parents[2]
# the context's parts whose methods are followed: ctx.<attribute>.<method>
PARTS = {"store": ("retention_agent.store.database", "Store"), "audit": ("retention_agent.audit.log", "AuditLog"),
         "staff": ("retention_agent.store.staff", "StaffList"), "keys": ("retention_agent.vault.keys", "KeyStore"),
         "free_space": ("retention_agent.store.diskspace", "FreeSpace"), "clock": ("retention_agent.clock", "Clock")}

Fn = tuple[str, str]  # (module, qualified function name)


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found[name] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def functions(tree: ast.Module) -> dict[str, ast.AST]:
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    found[f"{node.name}.{item.name}"] = item
    return found


def imports(nodes: Sequence[ast.AST], known: set[str]) -> dict[str, tuple[str, str | None]]:
    """local name -> (module, attribute or None for a module)"""
    names: dict[str, tuple[str, str | None]] = {}
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names[alias.asname or alias.name] = (full, None) if full in known else (node.module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE) and alias.asname:
                    names[alias.asname] = (alias.name, None)
    return names


def calls(module: str, fn: ast.AST, table: dict[str, dict[str, ast.AST]],
          names: dict[str, tuple[str, str | None]]) -> list[Fn]:
    local = {**names, **imports(list(ast.walk(fn)), set(table))}
    found: list[Fn] = []
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        target = node.func
        if isinstance(target, ast.Name):
            if target.id in table[module]:
                found.append((module, target.id))
            elif target.id in local and local[target.id][1]:
                where, attr = local[target.id]
                if attr in table.get(where, {}):
                    found.append((where, attr))
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            base = local.get(target.value.id)
            if base and base[1] is None and target.attr in table.get(base[0], {}):
                found.append((base[0], target.attr))
        elif (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Attribute)
              and isinstance(target.value.value, ast.Name) and target.value.attr in PARTS):
            where, cls = PARTS[target.value.attr]
            if f"{cls}.{target.attr}" in table.get(where, {}):
                found.append((where, f"{cls}.{target.attr}"))
    return list(dict.fromkeys(found))


def package(module: str) -> str:
    """``retention_agent.reports.build`` -> ``retention_agent.reports``; a root module is its own package."""
    parts = module.split(".")
    return ".".join(parts[:2])


SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE)\b|\bFROM (deliveries|purges|audit|reports|checklist|openings)\b")


def holds_sql(fn: ast.AST) -> bool:
    """The function spells SQL itself (a string that starts a statement or names a table after FROM)."""
    return any(isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value)
               for node in ast.walk(fn))


def late_imports(fn: ast.AST) -> int:
    """Imports of the package inside the function body: mostly there to dodge an import circle."""
    return sum(1 for node in ast.walk(fn) if isinstance(node, ast.ImportFrom) and node.module
               and node.module.startswith(PACKAGE) and node is not fn)


def walk(start: Fn) -> tuple[list[str], Counter[str], set[str], int]:
    trees = modules()
    table = {name: functions(tree) for name, tree in trees.items()}
    names = {name: imports(tree.body, set(table)) for name, tree in trees.items()}
    seen: set[Fn] = set()
    visited: list[str] = []
    climbs: Counter[str] = Counter()
    with_sql: set[str] = set()
    late = 0

    def follow(fn: Fn, path: list[str]) -> None:
        nonlocal late
        seen.add(fn)
        module = fn[0]
        if module not in visited:
            visited.append(module)
        if holds_sql(table[module][fn[1]]):
            with_sql.add(module)
        late += late_imports(table[module][fn[1]])
        here = path if path and path[-1] == package(module) else [*path, package(module)]
        for callee in calls(module, table[module][fn[1]], table, names[module]):
            if package(callee[0]) != package(module) and package(callee[0]) in here:
                climbs[callee[0]] += 1
            if callee not in seen:
                follow(callee, here)

    follow(start, [])
    return visited, climbs, with_sql, late


def main() -> None:
    module, _, name = (sys.argv[1] if len(sys.argv) > 1 else f"{PACKAGE}.reports.generate:make_report").partition(":")
    visited, climbs, with_sql, late = walk((module, name))
    print(f"{len(visited)} modules visited, {sum(climbs.values())} climbs back up, {len(with_sql)} of them spell "
          f"SQL, {late} imports inside functions")
    for item in visited:
        print(f"  {item}" + (" [SQL]" if item in with_sql else "")
              + (f"  (climbed back into {climbs[item]} times)" if climbs[item] else ""))


if __name__ == "__main__":
    main()
