"""Reading parts of a large audit log quickly, for ``status``, the DPO reports and ``audit show``.

The log is a table of canonical JSON entries numbered by ``seq``, appended in time order. Instead of reading
it all, these helpers find where a moment falls by binary search on ``seq`` (about twenty lookups for a
million entries) and pick the entries of interest with SQL. Refused requests and openings have partial
indexes (store migration 2) whose ``WHERE`` terms are :data:`DENIED` and :data:`OPENED`, repeated verbatim
here so that SQLite uses them.

Entry times come from the agent's clock: after a clock jump they may step back, and then a boundary found by
binary search may be off by the entries written around the jump. Counts near such a boundary are
approximate; the entries themselves are never altered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from retention_agent.clock import start_of_local_day, utc_iso
from retention_agent.store.database import Store

DENIED = "instr(entry, '\"outcome\":\"denied\"') > 0"
OPENED = "instr(entry, '\"action\":\"delivery.opened\"') > 0"


def entry_time(store: Store, seq: int) -> str:
    raw = store.scalar("SELECT entry FROM audit WHERE seq = ?", (seq,))
    if raw is None:
        return ""
    try:
        return str(json.loads(raw).get("time", ""))
    except ValueError:
        return ""


def last_seq(store: Store) -> int:
    return int(store.scalar("SELECT COALESCE(MAX(seq), 0) FROM audit") or 0)


def first_seq_from(store: Store, moment: str, *, upper: int | None = None) -> int:
    """The first ``seq`` whose time is at or after ``moment`` (UTC ``…Z`` text); one past the end if none."""
    low, high = 1, (last_seq(store) if upper is None else upper) + 1
    while low < high:
        middle = (low + high) // 2
        if entry_time(store, middle) < moment:
            low = middle + 1
        else:
            high = middle
    return low


def seq_range(store: Store, start: str, end: str) -> tuple[int, int]:
    """``[first, stop)``: the entries written from ``start`` (inclusive) until ``end`` (exclusive)."""
    upper = last_seq(store)
    return first_seq_from(store, start, upper=upper), first_seq_from(store, end, upper=upper)


def indexed(store: Store, where: str, first: int, stop: int) -> list[dict[str, Any]]:
    """Entries in ``[first, stop)`` matching one of the indexed conditions :data:`DENIED` / :data:`OPENED`."""
    if where not in (DENIED, OPENED):
        raise ValueError("only the indexed conditions may be used here")
    rows = store.query(f"SELECT entry FROM audit WHERE {where} AND seq >= ? AND seq < ? ORDER BY seq",
                       (first, stop))
    return [json.loads(row["entry"]) for row in rows]


# The action of an entry without parsing it: canonical JSON sorts its keys, and "action" sorts first, so every
# entry starts with {"action":"<action>", (an entry changed by hand breaks the chain: audit verify says so).
_ACTION = "CAST(substr(entry, 12, instr(substr(entry, 12, 80), '\"') - 1) AS TEXT)"
_JSON_PATH = re.compile(r"\$(\.[a-z_]+)+")


def with_actions(store: Store, actions: Iterable[str], first: int, stop: int) -> list[dict[str, Any]]:
    """Entries in ``[first, stop)`` whose action is one of ``actions``."""
    wanted = sorted(set(actions))
    if not wanted:
        return []
    marks = ",".join("?" * len(wanted))
    rows = store.query(f"SELECT entry FROM audit WHERE seq >= ? AND seq < ? AND {_ACTION} IN ({marks}) ORDER BY seq",
                       (first, stop, *wanted))
    entries = [json.loads(row["entry"]) for row in rows]
    return [e for e in entries if e.get("action") in wanted]


def count_indexed(store: Store, where: str, first: int, stop: int, paths: Sequence[str],
                  match: Mapping[str, str], weight: str | None = None) -> list[tuple[Any, ...]]:
    """``(value at each path…, count)`` over the entries of an indexed condition, grouped, counted by SQLite
    (``json_extract``), for entries in ``[first, stop)`` whose ``match`` paths hold the given values. With
    ``weight`` an entry counts as the number at that path (1 where there is none)."""
    if where not in (DENIED, OPENED):
        raise ValueError("only the indexed conditions may be used here")
    for path in [*paths, *match, *([weight] if weight else [])]:
        if not _JSON_PATH.fullmatch(path):
            raise ValueError(f"not a simple JSON path: {path!r}")
    columns = ", ".join(f"json_extract(CAST(entry AS TEXT), '{p}')" for p in paths)
    conditions = "".join(f" AND json_extract(CAST(entry AS TEXT), '{p}') = ?" for p in match)
    groups = ", ".join(str(i + 1) for i in range(len(paths)))
    count = f"SUM(COALESCE(json_extract(CAST(entry AS TEXT), '{weight}'), 1))" if weight else "COUNT(*)"
    with store.lock:
        rows = store.conn.execute(
            f"SELECT {columns}, {count} FROM audit WHERE {where} AND seq >= ? AND seq < ?{conditions} "
            f"GROUP BY {groups} ORDER BY {groups}", (first, stop, *match.values())).fetchall()
    return [tuple(row) for row in rows]


def last_indexed(store: Store, where: str, first: int) -> dict[str, Any] | None:
    """The newest entry of an indexed condition from ``first`` on."""
    if where not in (DENIED, OPENED):
        raise ValueError("only the indexed conditions may be used here")
    raw = store.scalar(f"SELECT entry FROM audit WHERE {where} AND seq >= ? ORDER BY seq DESC LIMIT 1", (first,))
    return None if raw is None else dict(json.loads(raw))


# ---- the officer's view of the log: newest first, filtered in the agent, a page at a time --------------------


# An entry as JSON for SQLite's functions; one that is not JSON (damaged by hand: audit verify says so) is read as
# an empty object, so it matches no filter instead of failing the search.
_PARSED = "(CASE WHEN json_valid(CAST(entry AS TEXT)) THEN CAST(entry AS TEXT) ELSE '{}' END)"


@dataclass(frozen=True)
class AuditFilter:
    """Which entries ``audit show`` lists. Days are Brussels calendar days (``until`` included); ``after``
    keeps only entries after that sequence number. An empty or absent criterion matches everything."""

    delivery: str = ""
    account: str = ""
    purpose: str = ""
    denied: bool = False
    since: date | None = None
    until: date | None = None
    after: int = 0

    def conditions(self, store: Store) -> tuple[list[str], list[Any]]:
        """SQL terms over the ``audit`` table and their parameters."""
        terms: list[str] = ["seq > ?"]
        params: list[Any] = [self.after]
        if self.since is not None or self.until is not None:  # a moment's place in the log, by binary search
            upper = last_seq(store)
            if self.since is not None:
                terms.append("seq >= ?")
                params.append(first_seq_from(store, utc_iso(start_of_local_day(self.since)), upper=upper))
            if self.until is not None:
                terms.append("seq < ?")
                next_day = start_of_local_day(self.until + timedelta(days=1))
                params.append(first_seq_from(store, utc_iso(next_day), upper=upper))
        if self.denied:
            terms.append(DENIED)  # verbatim: SQLite uses the partial index
        if self.account:
            terms.append(f"json_extract({_PARSED}, '$.actor') = ?")
            params.append(self.account)
        if self.purpose:
            terms.append(f"json_extract({_PARSED}, '$.details.purpose') = ?")
            params.append(self.purpose)
        if self.delivery:
            terms.append(f"EXISTS (SELECT 1 FROM json_each({_PARSED}, '$.subject') WHERE value = ?)")
            params.append(self.delivery)
        return terms, params


def audit_rows(store: Store, selection: AuditFilter, *, cursor: int | None, limit: int,
               newest_first: bool) -> list[tuple[int, bytes]]:
    """``(seq, entry bytes)`` of up to ``limit`` entries matching ``selection``, oldest or newest first,
    continuing after (before, newest first) the sequence number ``cursor``."""
    terms, params = selection.conditions(store)
    if cursor is not None:
        terms.append("seq < ?" if newest_first else "seq > ?")
        params.append(cursor)
    order = "DESC" if newest_first else "ASC"
    with store.lock:
        found = store.conn.execute(
            f"SELECT seq, entry FROM audit WHERE {' AND '.join(terms)} ORDER BY seq {order} LIMIT ?",
            (*params, limit)).fetchall()
    return [(int(seq), entry if isinstance(entry, bytes) else str(entry).encode()) for seq, entry in found]


def entries_after(store: Store, seq: int) -> list[bytes]:
    """The raw entries after ``seq``, in order (read in the caller's transaction, if there is one)."""
    return [bytes(entry) for (entry,) in store.conn.execute("SELECT entry FROM audit WHERE seq > ? ORDER BY seq",
                                                            (seq,)).fetchall()]
