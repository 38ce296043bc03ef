"""The package tree keeps its layers: a module imports only its own layer or lower ones, ``rules/`` stays pure,
no modules import each other in a circle (nor packages), and no module grows past 600 lines.

A small walk over the source with :mod:`ast` (no import-linter: the four checks fit in one file, need no
configuration language, and the same code is tested on a synthetic tree below). Every import counts, wherever
it stands: at the top of a module, inside a function, under ``if TYPE_CHECKING:`` — a type named in a signature
is a dependency too. The layers and the rule are written out in docs/architecture.md.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = next(d for d in Path(__file__).resolve().parents if (d / "pyproject.toml").is_file())  # wherever tests/ nests
PACKAGE = "retention_agent"
# installer/ sits at the top of the repository but ships as retention_agent.installer (pyproject.toml)
SOURCES: Mapping[str, Path] = {PACKAGE: REPO / PACKAGE, f"{PACKAGE}.installer": REPO / "installer"}

# Bottom to top. A name is a package or module under retention_agent; a module takes the layer of the longest
# name that holds it. A module may import its own layer and the layers below, never one above.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("clock", "ids", "canonical", "backoff", "chunks", "crypto", "errors", "i18n", "config",
                    "testing_hooks", "__init__")),
    ("rules", ("rules",)),  # pure decisions: see PURE_* below
    ("platform", ("system", "installer")),  # the OS: home folder, accounts, secure wiping, service files
    ("formats", ("evidence", "pdf")),  # signed formats and documents, no database
    ("records", ("store", "audit")),  # the database and the audit log
    ("vault", ("vault",)),
    # The record of the running agent's parts (store, vault, audit, keys, clock, config) that the domain's
    # services receive. Its file is in runtime/, where the composition root builds it; its imports put it here.
    ("parts", ("runtime.context",)),
    ("intake and copies", ("intake", "copies")),
    ("lifecycle", ("lifecycle",)),
    ("read side", ("status", "reports")),
    ("agent", ("runtime", "api", "system.init_home")),  # the agent process: composition root and local API
    ("clients", ("cli", "app", "session", "demo", "__main__", "system.service")),
)

# What rules/ may import besides itself: no I/O, no clock reads (times are parameters).
PURE_STDLIB = frozenset({
    "__future__", "abc", "bisect", "calendar", "collections", "collections.abc", "dataclasses", "datetime",
    "decimal", "enum", "fractions", "functools", "hashlib", "hmac", "itertools", "json", "math", "operator",
    "re", "string", "textwrap", "types", "typing", "unicodedata",
})
PURE_PACKAGE = frozenset({f"{PACKAGE}.{name}" for name in ("canonical", "clock", "errors", "i18n.msgids",
                                                            "i18n.actions")})
CLOCK_READS = frozenset({"now", "today", "utcnow", "monotonic", "SystemClock", "open"})  # the time module: not allowed
MAX_LINES = 600

# ---- known exceptions: none today. An entry says why its import is still there; one that no longer happens fails
# (importing module, imported module) -> why it is still there and what removes it.
KNOWN_UPWARD: Mapping[tuple[str, str], str] = {}
# module cycles (never excepted but these)
KNOWN_CYCLES: frozenset[frozenset[str]] = frozenset()
# packages of one layer that import each other (packages in different layers are held by the layer rule)
KNOWN_PACKAGE_CYCLES: frozenset[frozenset[str]] = frozenset()
KNOWN_LONG: frozenset[str] = frozenset()


# ---- the checker --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (``from a import b``: ``a.b`` if that is a module, else ``a``)
    path: Path
    line: int
    typing_only: bool  # under ``if TYPE_CHECKING:``

    def where(self, root: Path) -> str:
        return f"{_shown(self.path, root)}:{self.line}"


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def modules(sources: Mapping[str, Path]) -> dict[str, Path]:
    """Every module under the source folders, by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for package, folder in sources.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, typing_only: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node under ``node``, with whether it stands under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        yield child, typing_only
        if isinstance(child, ast.If) and _is_type_checking(child):
            for part in child.body:
                yield part, True
                yield from _walk(part, True)
            for part in child.orelse:
                yield part, typing_only
                yield from _walk(part, typing_only)
        else:
            yield from _walk(child, typing_only)


def imports(name: str, path: Path, known: Mapping[str, Path]) -> Iterator[Import]:
    """The imports in one module, of any module (``known`` resolves ``from a import b`` to ``a.b``)."""
    is_package = path.name == "__init__.py"
    for node, typing_only in _walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, path, node.lineno, typing_only)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield Import(name, full if full in known else base, path, node.lineno, typing_only)


def layer_of(module: str, layers: Iterable[tuple[str, tuple[str, ...]]], package: str = PACKAGE) -> int | None:
    """The index of ``module``'s layer (the longest listed name that holds it), or None if it has none."""
    best: tuple[int, int] | None = None  # (length of the name, layer)
    for index, (_, names) in enumerate(layers):
        for short in names:
            full = f"{package}.{short}" if short != "__init__" else package
            holds = module == full or (short != "__init__" and module.startswith(full + "."))
            if holds and (best is None or len(full) > best[0]):
                best = (len(full), index)
    return None if best is None else best[1]


@dataclass
class Tree:
    """A source tree read once: its modules and their imports of each other (and of anything else)."""

    root: Path
    modules: dict[str, Path]
    imports: list[Import]
    package: str = PACKAGE

    @classmethod
    def read(cls, sources: Mapping[str, Path], root: Path, package: str = PACKAGE) -> Tree:
        found = modules(sources)
        return cls(root, found, [i for name, path in found.items() for i in imports(name, path, found)], package)

    def internal(self) -> list[Import]:
        """Imports of the tree's own modules, once per (importer, imported, line)."""
        seen: dict[tuple[str, str, int], Import] = {}
        for i in self.imports:
            if i.target in self.modules and i.target != i.source:
                seen.setdefault((i.source, i.target, i.line), i)
        return list(seen.values())


def upward_imports(tree: Tree, layers: tuple[tuple[str, tuple[str, ...]], ...],
                   known: Mapping[tuple[str, str], str]) -> list[str]:
    problems: list[str] = []
    for module in tree.modules:
        if layer_of(module, layers, tree.package) is None:
            problems.append(f"{_shown(tree.modules[module], tree.root)}: {module} is in no layer: add its package "
                            "to LAYERS in tests/unit/test_architecture.py and to docs/architecture.md")
    for imp in tree.internal():
        own, theirs = layer_of(imp.source, layers, tree.package), layer_of(imp.target, layers, tree.package)
        if own is None or theirs is None or theirs <= own or (imp.source, imp.target) in known:
            continue
        problems.append(f"{imp.where(tree.root)}: {imp.source} (layer '{layers[own][0]}') imports {imp.target} "
                        f"(layer '{layers[theirs][0]}', higher): a module imports only its own layer or lower ones; "
                        "move what it needs down, or pass it in")
    return problems


def impure_rules(tree: Tree, pure_package: frozenset[str], pure_stdlib: frozenset[str]) -> list[str]:
    """What makes rules/ not pure: an import that may do I/O, or a read of the clock or a file."""
    rules = f"{tree.package}.rules"
    problems: list[str] = []
    for imp in tree.imports:
        if not (imp.source == rules or imp.source.startswith(rules + ".")) or imp.typing_only:
            continue
        target = imp.target
        if target == rules or target.startswith(rules + ".") or target in pure_package:
            continue
        if target.split(".")[0] == tree.package:
            problems.append(f"{imp.where(tree.root)}: {imp.source} imports {target}: rules/ is pure and may "
                            f"import only {', '.join(sorted(pure_package))} (a type alone: under TYPE_CHECKING)")
        elif target not in pure_stdlib and target.split(".")[0] not in pure_stdlib:
            problems.append(f"{imp.where(tree.root)}: {imp.source} imports {target}: rules/ does no I/O; "
                            "do the I/O in the caller and pass the result in")
    for name, path in tree.modules.items():
        if not (name == rules or name.startswith(rules + ".")):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            called = node.func
            word = (called.attr if isinstance(called, ast.Attribute) else called.id if isinstance(called, ast.Name)
                    else None)
            if word in CLOCK_READS:
                problems.append(f"{_shown(path, tree.root)}:{node.lineno}: {name} calls {word}(): rules/ reads no "
                                "clock and no file; take the moment or the content as a parameter")
    return problems


def _cycles(graph: Mapping[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one node (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def module_cycles(tree: Tree, known: frozenset[frozenset[str]]) -> list[str]:
    graph: dict[str, set[str]] = {name: set() for name in tree.modules}
    lines: dict[tuple[str, str], Import] = {}
    for imp in tree.internal():
        graph[imp.source].add(imp.target)
        lines.setdefault((imp.source, imp.target), imp)
    return _cycle_problems(tree, graph, lines, known, "import cycle between {}",
                           "move what both need into a module below them")


def _cycle_problems(tree: Tree, graph: dict[str, set[str]], lines: dict[tuple[str, str], Import],
                    known: frozenset[frozenset[str]], what: str, fix: str) -> list[str]:
    """One line per cycle not in ``known``: what circles, through which imports (file:line), and the fix."""
    problems = []
    for cycle in _cycles(graph):
        if cycle in known:
            continue
        edges = sorted(f"{imp.where(tree.root)} ({imp.source} -> {imp.target})"
                       for (a, b), imp in lines.items() if a in cycle and b in cycle)
        problems.append(f"{what.format(', '.join(sorted(cycle)))}: " + "; ".join(edges) + f": {fix}")
    return problems


def _package(module: str, package: str, layers: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """The unit of the package graph: the name in LAYERS that places the module (``store``, ``system.home``),
    else its top package."""
    best = ""
    for _, names in layers:
        for short in names:
            full = f"{package}.{short}"
            if (module == full or module.startswith(full + ".")) and len(full) > len(best):
                best = full
    return best or (".".join(module.split(".")[:2]) if module.startswith(package + ".") else module)


def _package_graph(tree: Tree, layers: tuple[tuple[str, tuple[str, ...]], ...],
                   ) -> tuple[dict[str, set[str]], dict[tuple[str, str], Import]]:
    """Which packages of one layer import which (an import of a higher layer is the layer rule's business)."""
    graph: dict[str, set[str]] = {}
    lines: dict[tuple[str, str], Import] = {}
    for imp in tree.internal():
        if layer_of(imp.source, layers, tree.package) != layer_of(imp.target, layers, tree.package):
            continue
        a, b = _package(imp.source, tree.package, layers), _package(imp.target, tree.package, layers)
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
            lines.setdefault((a, b), imp)
    return graph, lines


def package_cycles(tree: Tree, known: frozenset[frozenset[str]],
                   layers: tuple[tuple[str, tuple[str, ...]], ...]) -> list[str]:
    """Packages (and root modules) of one layer that import each other, directly or around a circle."""
    graph, lines = _package_graph(tree, layers)
    return _cycle_problems(tree, graph, lines, known, "packages {} (one layer) import each other",
                           "move what both need into the lower of the two, or into a layer below")


def long_modules(tree: Tree, known: frozenset[str], limit: int = MAX_LINES) -> list[str]:
    problems = []
    for path in tree.modules.values():
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > limit and _shown(path, tree.root) not in known:
            problems.append(f"{_shown(path, tree.root)}: {count} lines, more than {limit}: split it along its ideas")
    return problems


def stale_exceptions(tree: Tree) -> list[str]:
    """Known exceptions that no longer happen: the list only shrinks."""
    edges = {(i.source, i.target) for i in tree.internal()}
    stale = [f"KNOWN_UPWARD lists {a} -> {b}, which no longer happens: remove it" for a, b in KNOWN_UPWARD
             if (a, b) not in edges]
    lengths = {_shown(p, tree.root): len(p.read_text(encoding="utf-8").splitlines()) for p in tree.modules.values()}
    stale += [f"KNOWN_LONG lists {p}, which is no longer over {MAX_LINES} lines: remove it" for p in KNOWN_LONG
              if lengths.get(p, 0) <= MAX_LINES]
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    found = set(_cycles(graph))
    stale += [f"KNOWN_CYCLES lists {sorted(c)}, which is no longer a cycle: remove it" for c in KNOWN_CYCLES
              if c not in found]
    found_packages = set(_cycles(_package_graph(tree, LAYERS)[0]))
    stale += [f"KNOWN_PACKAGE_CYCLES lists {sorted(c)}, which no longer import each other: remove it"
              for c in KNOWN_PACKAGE_CYCLES if c not in found_packages]
    return stale


# ---- the checks on this repository --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree() -> Tree:
    return Tree.read(SOURCES, REPO)


def _report(problems: list[str]) -> str:
    return f"{len(problems)} problem(s):\n" + "\n".join(problems)


def test_no_module_imports_a_higher_layer(tree: Tree) -> None:
    problems = upward_imports(tree, LAYERS, KNOWN_UPWARD)
    assert not problems, _report(problems)


def test_rules_are_pure(tree: Tree) -> None:
    problems = impure_rules(tree, PURE_PACKAGE, PURE_STDLIB)
    assert not problems, _report(problems)


def test_no_import_cycle(tree: Tree) -> None:
    problems = module_cycles(tree, KNOWN_CYCLES) + package_cycles(tree, KNOWN_PACKAGE_CYCLES, LAYERS)
    assert not problems, _report(problems)


def test_no_module_over_600_lines(tree: Tree) -> None:
    problems = long_modules(tree, KNOWN_LONG)
    assert not problems, _report(problems)


def test_known_exceptions_still_happen(tree: Tree) -> None:
    problems = stale_exceptions(tree)
    assert not problems, _report(problems)


def test_every_layer_name_exists(tree: Tree) -> None:
    """A name in LAYERS that matches no module is a typo (or a package that moved): it would place nothing."""
    missing = [name for _, names in LAYERS for name in names if name != "__init__" and not any(
        m == f"{PACKAGE}.{name}" or m.startswith(f"{PACKAGE}.{name}.") for m in tree.modules)]
    assert not missing, f"LAYERS names modules that do not exist: {missing}"


# ---- the checker, on a synthetic tree -----------------------------------------------------------------------

SYNTHETIC_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("clock", "__init__")),
    ("rules", ("rules",)),
    ("records", ("store", "audit")),
    ("agent", ("runtime",)),
)


def _synthetic(tmp_path: Path, files: Mapping[str, str]) -> Tree:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", "clock.py": "", "rules/__init__.py": "", "store/__init__.py": "",
                       "audit/__init__.py": "", "runtime/__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Tree.read({"pkg": root}, tmp_path, package="pkg")


def test_checker_passes_a_tree_that_keeps_the_rule(tmp_path: Path) -> None:
    tree = _synthetic(tmp_path, {
        "rules/deadline.py": "import re\nfrom datetime import date\nfrom pkg.clock import local_date\n",
        "store/db.py": "from pkg.rules import deadline\nfrom . import helpers\n",
        "store/helpers.py": "import sqlite3\n",
        "runtime/agent.py": "from pkg.store.db import x\nfrom pkg import clock\n",
    })
    assert upward_imports(tree, SYNTHETIC_LAYERS, {}) == []
    assert impure_rules(tree, frozenset({"pkg.clock"}), PURE_STDLIB) == []
    assert module_cycles(tree, frozenset()) == [] and package_cycles(tree, frozenset(), SYNTHETIC_LAYERS) == []
    assert long_modules(tree, frozenset(), limit=5) == []


def test_checker_names_the_file_line_and_rule_of_an_upward_import(tmp_path: Path) -> None:
    tree = _synthetic(tmp_path, {
        "store/db.py": "import json\n\n\ndef later():\n    from pkg.runtime import agent\n",
        "runtime/agent.py": "",
        "rules/cheap.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.store import db\n",
    })
    problems = upward_imports(tree, SYNTHETIC_LAYERS, {})
    assert sorted(problems) == [
        "pkg/rules/cheap.py:3: pkg.rules.cheap (layer 'rules') imports pkg.store.db (layer 'records', higher): "
        "a module imports only its own layer or lower ones; move what it needs down, or pass it in",
        "pkg/store/db.py:5: pkg.store.db (layer 'records') imports pkg.runtime.agent (layer 'agent', higher): "
        "a module imports only its own layer or lower ones; move what it needs down, or pass it in",
    ]
    # a known exception silences exactly its own edge
    assert len(upward_imports(tree, SYNTHETIC_LAYERS, {("pkg.store.db", "pkg.runtime.agent"): "why"})) == 1


def test_checker_finds_a_module_outside_every_layer(tmp_path: Path) -> None:
    tree = _synthetic(tmp_path, {"stray.py": ""})
    assert upward_imports(tree, SYNTHETIC_LAYERS, {}) == [
        "pkg/stray.py: pkg.stray is in no layer: add its package to LAYERS in tests/unit/test_architecture.py and to "
        "docs/architecture.md"]


@pytest.mark.parametrize(("source", "word"), [
    ("import os\n", "os"),
    ("from pathlib import Path\n", "pathlib"),
    ("import sqlite3\n", "sqlite3"),
    ("from pkg.store import db\n", "pkg.store.db"),
    ("from datetime import datetime\nNOW = datetime.now()\n", "now()"),
    ("from datetime import date\n\n\ndef f():\n    return date.today()\n", "today()"),
    ("def f(p):\n    return open(p).read()\n", "open()"),
])
def test_checker_finds_io_in_rules(tmp_path: Path, source: str, word: str) -> None:
    tree = _synthetic(tmp_path, {"rules/bad.py": source, "store/db.py": ""})
    problems = impure_rules(tree, frozenset({"pkg.clock"}), PURE_STDLIB)
    assert len(problems) == 1 and problems[0].startswith("pkg/rules/bad.py:") and word in problems[0], problems


def test_checker_finds_module_and_package_cycles(tmp_path: Path) -> None:
    tree = _synthetic(tmp_path, {
        "store/a.py": "from pkg.store import b\n",
        "store/b.py": "import pkg.runtime.c\n",
        "runtime/c.py": "from pkg.store.a import thing\n",
    })
    problems = module_cycles(tree, frozenset())
    assert len(problems) == 1
    assert problems[0].startswith("import cycle between pkg.runtime.c, pkg.store.a, pkg.store.b: ")
    assert "pkg/store/b.py:1 (pkg.store.b -> pkg.runtime.c)" in problems[0]
    assert module_cycles(tree, frozenset({frozenset({"pkg.store.a", "pkg.store.b", "pkg.runtime.c"})})) == []
    assert package_cycles(tree, frozenset(), SYNTHETIC_LAYERS) == []  # store and runtime: the layer rule's


def test_checker_finds_packages_of_one_layer_that_import_each_other(tmp_path: Path) -> None:
    tree = _synthetic(tmp_path, {
        "store/a.py": "from pkg.audit import c\n",
        "audit/c.py": "",
        "audit/d.py": "from pkg.store import b\n",
        "store/b.py": "",
    })
    assert module_cycles(tree, frozenset()) == []
    problems = package_cycles(tree, frozenset(), SYNTHETIC_LAYERS)
    assert len(problems) == 1
    assert problems[0].startswith("packages pkg.audit, pkg.store (one layer) import each other: ")
    assert "pkg/audit/d.py:1 (pkg.audit.d -> pkg.store.b)" in problems[0]
    assert package_cycles(tree, frozenset({frozenset({"pkg.audit", "pkg.store"})}), SYNTHETIC_LAYERS) == []


def test_checker_finds_a_long_module(tmp_path: Path) -> None:
    tree = _synthetic(tmp_path, {"store/big.py": "x = 1\n" * 7})
    assert long_modules(tree, frozenset(), limit=6) == ["pkg/store/big.py: 7 lines, more than 6: split it along "
                                                       "its ideas"]
    assert long_modules(tree, frozenset({"pkg/store/big.py"}), limit=6) == []


def test_relative_imports_resolve_like_absolute_ones(tmp_path: Path) -> None:
    tree = _synthetic(tmp_path, {
        "store/__init__.py": "from .db import x\n",
        "store/db.py": "from ..runtime import agent\nfrom . import helpers\n",
        "store/helpers.py": "",
        "runtime/agent.py": "",
    })
    targets = {(i.source, i.target) for i in tree.internal()}
    assert {("pkg.store", "pkg.store.db"), ("pkg.store.db", "pkg.runtime.agent"),
            ("pkg.store.db", "pkg.store.helpers")} <= targets


if __name__ == "__main__":  # a quick look without pytest: python tests/unit/test_architecture.py
    here = Tree.read(SOURCES, REPO)
    found = (upward_imports(here, LAYERS, KNOWN_UPWARD) + impure_rules(here, PURE_PACKAGE, PURE_STDLIB)
             + module_cycles(here, KNOWN_CYCLES) + package_cycles(here, KNOWN_PACKAGE_CYCLES, LAYERS)
             + long_modules(here, KNOWN_LONG) + stale_exceptions(here))
    print("\n".join(found) or "the tree keeps its layers")
    sys.exit(1 if found else 0)
