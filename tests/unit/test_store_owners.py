"""Each table's SQL lives in one place, so a schema change touches one module; the API holds none.

Read from the source (string literals, f-strings joined as Python joins them), like the lifecycle's test of the one
writer of a delivery's state.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from retention_agent.store.database import MIGRATIONS
from tests.support.source_strings import folded_strings

PACKAGE = Path(__file__).resolve().parents[2] / "retention_agent"
TABLES = frozenset(re.findall(r"create table (?:if not exists )?(\w+)", " ".join(MIGRATIONS.values()).lower()))
_SQL = re.compile(r"\b(select\b.*\bfrom|insert\s+(or\s+\w+\s+)?into|update\s+\w+\s+set|delete\s+from)\b")
_TABLE = re.compile(r"\b(?:from|into|update|join)\s+(\w+)")

# The module that owns each table's queries. Other modules of the store may join a table in their own queries.
OWNERS = {
    "deliveries": "store/deliveries.py", "purges": "store/purges.py", "openings": "store/openings.py",
    "ceremonies": "store/ceremonies.py", "reminders": "store/reminders.py", "notifications": "store/notifications.py",
    "staff": "store/staff.py", "copy_findings": "store/copies.py", "copy_sweeps": "store/copies.py",
    "copy_tallies": "store/copies.py", "delivery_contents": "store/copies.py",
    "mailbox_copy_checks": "store/mail_copies.py", "mailbox_copy_deliveries": "store/mail_copies.py",
    "mailbox_copy_folders": "store/mail_copies.py", "pending_objects": "vault/ingest.py",
    "audit": "audit/", "checkpoints": "audit/", "meta": "audit/", "checklist": "store/checklist.py",
    "reports": "store/reports.py",
}
# Besides the owner, with the reason.
ALSO = {
    ("meta", "system/service.py"),  # read as the home's owner on a connection of its own, without an agent
    ("checkpoints", "system/service.py"),
}


def sql_in(source: str) -> list[str]:
    """Every SQL statement written in a module's source, lower case, whitespace folded."""
    return [sql for _line, sql in folded_strings(source) if _SQL.search(sql)]


def tables_in(sql: str) -> set[str]:
    return {name for name in _TABLE.findall(sql) if name in TABLES}


def modules() -> dict[str, str]:
    return {str(path.relative_to(PACKAGE)): path.read_text(encoding="utf-8") for path in sorted(PACKAGE.rglob("*.py"))}


def test_the_api_holds_no_sql() -> None:
    found = {name: sql_in(source) for name, source in modules().items() if name.startswith("api/")}
    assert {name: sql for name, sql in found.items() if sql} == {}


def test_each_tables_queries_are_in_one_module() -> None:
    assert set(OWNERS) == TABLES, "a new table needs an owner"
    strays = set()
    for name, source in modules().items():
        if name == "store/database.py":
            continue
        for table in set().union(*map(tables_in, sql_in(source))):
            owner = OWNERS[table]
            if name.startswith(owner) or name.startswith("store/") or (table, name) in ALSO:
                continue
            strays.add((table, name))
    assert sorted(strays) == []


@pytest.mark.parametrize(("source", "tables"), [
    ('store.query("SELECT id FROM deliveries WHERE id = ?")', {"deliveries"}),
    ('conn.execute(f"UPDATE purges SET steps = ? WHERE delivery_id = {x}")', {"purges"}),
    ('conn.execute("INSERT OR REPLACE INTO copy_tallies(delivery_id) "\n    "VALUES (?)")', {"copy_tallies"}),
    ('q("SELECT COUNT(*) FROM copy_findings f JOIN deliveries d ON d.id = f.delivery_id")',
     {"copy_findings", "deliveries"}),
    ('conn.execute("DELETE FROM reminders WHERE delivery_id = ?")', {"reminders"}),
])
def test_the_check_finds_a_query(source: str, tables: set[str]) -> None:
    assert set().union(*map(tables_in, sql_in(source))) == tables


@pytest.mark.parametrize("source", [
    '"""Insert the delivery into the vault; its copies are deleted from the workspace."""',
    'log.info("purge of %s failed; retried from the next tick")',
])
def test_the_check_leaves_prose_alone(source: str) -> None:
    assert sql_in(source) == []
