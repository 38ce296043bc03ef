"""The agent's side of the sweep: what to look for, what was found, what the purge and the proof say about it.

- :func:`targets_for` — what a caller's session looks for: sizes and hashes of every delivery not yet purged;
  fingerprints and their key only to staff with the role ``read`` (who may open the deliveries anyway: with the
  key, every valid national register number can be tried against the fingerprints); which purges have begun.
- :func:`record_report` — a session's report, checked by :func:`wire.parse_report` before it gets here.
- :func:`settle_at_purge` — the purge's ``copies`` step: the per-user agent erases its own account's copies;
  what other accounts' sessions found and have not yet erased counts as remaining (``awaiting-session``), and is
  kept per account in counts only, so that a later report of those sessions can still settle it.
- :func:`proof_section`, :func:`status_section` — what the proof and the officer see. No path ever goes into the
  audit log, a proof or a report; paths are in ``copy_findings`` until the purge deletes them.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any, Protocol

from retention_agent.clock import utc_iso
from retention_agent.copies import wire
from retention_agent.lifecycle import states as lifecycle
from retention_agent.lifecycle.states import PURGED, PURGING, UNPURGED, sql_states
from retention_agent.runtime.context import AgentContext

MAX_FINDINGS_PER_ACCOUNT = 2000  # a report cannot make the agent store more than this for one account
LIST_LIMIT = 20
FINGERPRINT_KEY = "fingerprint-key/{}"
WORKBOOK_PASSWORD = "workbook-password/{}"
MATCHES = wire.MATCHES


def secret_names(key_id: str) -> list[str]:
    """The key-store entries an unlocked delivery has besides its data key, destroyed with it at the purge."""
    return [FINGERPRINT_KEY.format(key_id), WORKBOOK_PASSWORD.format(key_id)]


class Eraser(Protocol):
    def erase(self, delivery: str, sha256: str) -> list[wire.Settled]: ...


# ---- what sessions look for ---------------------------------------------------------------------------------


def settings(ctx: AgentContext) -> wire.Settings:
    chosen = ctx.config.copies
    return wire.Settings(max_document_bytes=chosen.max_document_bytes, document_seconds=chosen.document_seconds,
                         sweep_seconds=chosen.sweep_seconds, locations=chosen.locations, defaults=chosen.defaults,
                         enabled=chosen.sweep)


def targets_for(ctx: AgentContext, account: str, *, agent_sweeps: bool = False) -> wire.Targets:
    """``agent_sweeps``: the per-user agent sweeps this account itself (its own account)."""
    member = ctx.staff.members().get(account)
    may_read = member is not None and "read" in member.roles
    rows = ctx.store.query(f"SELECT id, state, size, sha256, key_id FROM deliveries WHERE state IN "
                           f"{sql_states(UNPURGED)} ORDER BY id")
    owed = ctx.store.query(
        "SELECT DISTINCT d.id, d.state, d.size, d.sha256, d.key_id FROM deliveries d WHERE d.state = ? AND ("
        "EXISTS (SELECT 1 FROM copy_tallies t WHERE t.delivery_id = d.id AND t.account = ? AND t.remaining > 0))",
        (PURGED.value, account))
    exact = tuple(wire.Exact(r["id"], int(r["size"]), r["sha256"]) for r in rows + owed)
    derived = []
    if may_read:
        for row in ctx.store.query(
                "SELECT c.delivery_id, c.fingerprints, d.key_id FROM delivery_contents c JOIN deliveries d "
                f"ON d.id = c.delivery_id WHERE d.state IN {sql_states(lifecycle.LIVE)} ORDER BY c.delivery_id"):
            key = ctx.keys.get(FINGERPRINT_KEY.format(row["key_id"]))
            if key is not None:
                from retention_agent.copies.workbook import split_fingerprints

                derived.append(wire.Derived(row["delivery_id"], key, split_fingerprints(bytes(row["fingerprints"]))))
    erase = tuple(r["id"] for r in rows if r["state"] == PURGING) + tuple(r["id"] for r in owed)
    # per-user mode: the agent sweeps this account itself, so the session's scheduled sweeps (the app in the tray,
    # the notifier) leave it to the agent; an explicit 'copies sweep' still sweeps
    chosen = dataclasses.replace(settings(ctx), agent_sweeps=agent_sweeps)
    return wire.Targets(exact, tuple(derived), erase, chosen)


def copies_due(ctx: AgentContext, account: str) -> int:
    """How many of this account's copies wait to be erased (a purge began): the notifier sweeps when it sees any."""
    pending = ctx.store.scalar(
        "SELECT COUNT(*) FROM copy_findings f JOIN deliveries d ON d.id = f.delivery_id WHERE f.account = ? AND "
        f"d.state = '{PURGING}' AND (f.outcome IS NULL OR f.outcome = 'remaining')", (account,))
    after = ctx.store.scalar("SELECT COALESCE(SUM(remaining), 0) FROM copy_tallies WHERE account = ?", (account,))
    return int(pending or 0) + int(after or 0)


# ---- a session's report -------------------------------------------------------------------------------------


def record_report(ctx: AgentContext, account: str, report: wire.Report) -> dict[str, Any]:
    now = utc_iso(ctx.clock.now())
    mentioned = sorted({f.delivery for f in report.found} | {s.delivery for s in report.settled})
    states = {r["id"]: r["state"] for r in ctx.store.query(
        f"SELECT id, state FROM deliveries WHERE id IN ({','.join('?' * len(mentioned))})", tuple(mentioned))} \
        if mentioned else {}
    swept = {r.kind for r in report.locations if r.state == "swept"}
    stored = 0
    with ctx.store.transaction():
        ctx.store.conn.execute(
            "INSERT OR REPLACE INTO copy_sweeps(account, swept_at, complete, locations, stats) VALUES (?, ?, ?, ?, ?)",
            (account, now, int(report.complete), json.dumps(sorted(swept)), json.dumps(dict(report.stats),
                                                                                     sort_keys=True)))
        live_found = [f for f in report.found if states.get(f.delivery) in lifecycle.LIVE]
        _mark_gone(ctx, account, live_found, swept, now)
        room = MAX_FINDINGS_PER_ACCOUNT - int(ctx.store.scalar(
            "SELECT COUNT(*) FROM copy_findings WHERE account = ?", (account,)) or 0)
        for found in live_found:
            cursor = ctx.store.conn.execute(
                "UPDATE copy_findings SET last_seen = ?, people = ?, outcome = NULL, why = NULL, settled_at = NULL "
                "WHERE delivery_id = ? AND account = ? AND match = ? AND kind = ? AND path = ?",
                (now, found.people, found.delivery, account, found.match, found.kind, found.path))
            if cursor.rowcount == 0 and room > 0:
                ctx.store.conn.execute(
                    "INSERT INTO copy_findings(delivery_id, account, match, kind, path, people, first_seen, last_seen) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (found.delivery, account, found.match, found.kind, found.path, found.people, now, now))
                room -= 1
            stored += 1
        for item in report.settled:
            _settle(ctx, account, item, states.get(item.delivery), now)
        outcomes = Counter(s.outcome for s in report.settled)
        ctx.audit.append(account, "copies.reported", "ok", mentioned[:100], {
            "complete": report.complete, "found": len(live_found), "erased": outcomes["erased"],
            "gone": outcomes["gone"], "remaining": outcomes["remaining"], "files": int(report.stats.get("files", 0)),
            "locations": sorted(swept)})
    return {"found": stored, "settled": len(report.settled)}


def _mark_gone(ctx: AgentContext, account: str, found: list[wire.Found], swept: set[str], now: str) -> None:
    """Copies found earlier in a location swept completely now, and not found there again: no longer there."""
    if not swept:
        return
    present = {(f.delivery, f.match, f.kind, f.path) for f in found}
    rows = ctx.store.query(
        "SELECT f.id, f.delivery_id, f.match, f.kind, f.path FROM copy_findings f JOIN deliveries d ON "
        f"d.id = f.delivery_id WHERE f.account = ? AND f.outcome IS NULL AND d.state IN {sql_states(lifecycle.LIVE)}",
        (account,))
    for row in rows:
        if row["kind"] in swept and (row["delivery_id"], row["match"], row["kind"], row["path"]) not in present:
            ctx.store.conn.execute("UPDATE copy_findings SET outcome = 'gone', settled_at = ? WHERE id = ?",
                                   (now, row["id"]))


def _settle(ctx: AgentContext, account: str, item: wire.Settled, state: str | None, now: str) -> None:
    if state in UNPURGED:
        cursor = ctx.store.conn.execute(
            "UPDATE copy_findings SET outcome = ?, why = ?, settled_at = ? WHERE delivery_id = ? AND account = ? "
            "AND match = ? AND kind = ? AND path = ?",
            (item.outcome, item.why or None, now, item.delivery, account, item.match, item.kind, item.path))
        if cursor.rowcount == 0:
            ctx.store.conn.execute(
                "INSERT INTO copy_findings(delivery_id, account, match, kind, path, first_seen, last_seen, outcome, "
                "why, settled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (item.delivery, account, item.match, item.kind, item.path, now, now, item.outcome, item.why or None,
                 now))
    elif state == PURGED and item.outcome in ("erased", "gone"):
        column = "erased_after" if item.outcome == "erased" else "gone_after"
        ctx.store.conn.execute(
            f"UPDATE copy_tallies SET remaining = remaining - 1, {column} = {column} + 1, updated_at = ? "
            "WHERE delivery_id = ? AND account = ? AND match = ? AND remaining > 0",
            (now, item.delivery, account, item.match))


# ---- the purge ------------------------------------------------------------------------------------------------


def settle_at_purge(ctx: AgentContext, delivery: dict[str, Any], eraser: Eraser | None,
                    own_account: str | None) -> dict[str, Any]:
    """The purge's ``copies`` step: erase the agent's own account's copies (per-user mode), then count, and keep
    what remains per account (counts only) for the sessions that will erase it later."""
    if eraser is not None and own_account is not None:
        settled = eraser.erase(delivery["id"], delivery["sha256"])
        now = utc_iso(ctx.clock.now())
        with ctx.store.transaction():
            for item in settled:
                _settle(ctx, own_account, item, PURGING.value, now)
    counts = count_copies(ctx, delivery)
    now = utc_iso(ctx.clock.now())
    with ctx.store.transaction():
        for (account, match), remaining in counts.pop("_remaining_by_account").items():
            ctx.store.conn.execute(
                "INSERT OR REPLACE INTO copy_tallies(delivery_id, account, match, remaining, updated_at) "
                "VALUES (?, ?, ?, ?, ?)", (delivery["id"], account, match, remaining, now))
    return counts


def count_copies(ctx: AgentContext, delivery: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.store.query("SELECT account, match, kind, people, outcome, why FROM copy_findings WHERE delivery_id = ?",
                           (delivery["id"],))
    totals = {match: {"found": 0, "erased": 0, "gone": 0, "remaining": 0} for match in MATCHES}
    by_kind: dict[str, Counter[str]] = {}
    reasons: Counter[str] = Counter()
    remaining_by_account: Counter[tuple[str, str]] = Counter()
    people_max = 0
    for row in rows:
        outcome = row["outcome"] or "remaining"
        totals[row["match"]]["found"] += 1
        totals[row["match"]][outcome] += 1
        by_kind.setdefault(row["kind"], Counter())["found"] += 1
        by_kind[row["kind"]][outcome] += 1
        if outcome == "remaining":
            reasons[row["why"] or wire.AWAITING_SESSION] += 1
            remaining_by_account[(row["account"], row["match"])] += 1
        if row["match"] == "derived":
            people_max = max(people_max, int(row["people"] or 0))
    sweeps = ctx.store.query("SELECT account, swept_at, locations FROM copy_sweeps WHERE swept_at >= ?",
                             (delivery["received_at"],))
    kinds = sorted({kind for s in sweeps for kind in json.loads(s["locations"])})
    return {
        "accounts_swept": len(sweeps), "last_swept_at": max((s["swept_at"] for s in sweeps), default=None),
        "locations": kinds,
        "derived_searched": ctx.store.one("SELECT 1 AS x FROM delivery_contents WHERE delivery_id = ?",
                                          (delivery["id"],)) is not None,
        "exact": totals["exact"], "derived": {**totals["derived"], "people_max": people_max},
        "by_location": [{"kind": kind, **{k: int(c[k]) for k in ("found", "erased", "gone", "remaining")}}
                        for kind, c in sorted(by_kind.items())],
        "remaining_reasons": dict(sorted(reasons.items())),
        "_remaining_by_account": remaining_by_account,
    }


def delete_rows(ctx: AgentContext, delivery_id: str) -> None:
    """In the purge's ``rows`` step (the caller's transaction): the paths and the fingerprints go."""
    ctx.store.conn.execute("DELETE FROM copy_findings WHERE delivery_id = ?", (delivery_id,))
    ctx.store.conn.execute("DELETE FROM delivery_contents WHERE delivery_id = ?", (delivery_id,))


def destroy_secrets(ctx: AgentContext, key_id: str) -> None:
    """In the purge's ``key`` step: the fingerprint key and the workbook's password go with the data key."""
    for name in secret_names(key_id):
        ctx.keys.delete(name)


def secrets_absent(ctx: AgentContext, key_id: str) -> bool:
    return all(ctx.keys.get(name) is None for name in secret_names(key_id))


# ---- what the proof and the officer see --------------------------------------------------------------------


def proof_section(counts: dict[str, Any]) -> dict[str, Any]:
    return {
        "sweeps": {"accounts": int(counts.get("accounts_swept", 0)), "last_swept_at": counts.get("last_swept_at"),
                   "locations": list(counts.get("locations", []))},
        "derived_searched": bool(counts.get("derived_searched")),
        "exact": dict(counts.get("exact") or {"found": 0, "erased": 0, "gone": 0, "remaining": 0}),
        "derived": dict(counts.get("derived") or {"found": 0, "erased": 0, "gone": 0, "remaining": 0,
                                                  "people_max": 0}),
        "by_location": list(counts.get("by_location", [])),
        "remaining_reasons": dict(counts.get("remaining_reasons", {})),
    }


def status_section(ctx: AgentContext) -> dict[str, Any]:
    sweeps = ctx.store.query("SELECT account, swept_at, complete, locations FROM copy_sweeps ORDER BY account")
    found = ctx.store.query(
        "SELECT f.delivery_id, f.account, f.match, f.kind, f.path, f.people, f.outcome, f.why FROM copy_findings f "
        f"JOIN deliveries d ON d.id = f.delivery_id WHERE d.state IN {sql_states(UNPURGED)} AND "
        "(f.outcome IS NULL OR f.outcome = 'remaining') ORDER BY f.delivery_id, f.account, f.kind, f.path")
    tallies = ctx.store.query("SELECT delivery_id, account, match, remaining FROM copy_tallies WHERE remaining > 0 "
                              "ORDER BY delivery_id, account, match")
    contents = ctx.store.query(
        "SELECT c.delivery_id, c.rows, c.people, c.invalid_numbers, c.missing_numbers, c.duplicates FROM "
        f"delivery_contents c JOIN deliveries d ON d.id = c.delivery_id WHERE d.state IN {sql_states(UNPURGED)} "
        "ORDER BY c.delivery_id")
    return {
        "sweeps": [{"account": r["account"], "swept_at": r["swept_at"], "complete": bool(r["complete"]),
                    "locations": json.loads(r["locations"])} for r in sweeps],
        "found": {"count": sum(1 for r in found if r["outcome"] is None),
                  "remaining": sum(1 for r in found if r["outcome"] == "remaining"), "items": [
            {"delivery": r["delivery_id"], "account": r["account"], "match": r["match"], "kind": r["kind"],
             "path": r["path"], "people": int(r["people"] or 0), "why": r["why"]} for r in found[:LIST_LIMIT]]},
        "remaining": {"count": sum(int(t["remaining"]) for t in tallies), "items": [
            {"delivery": t["delivery_id"], "account": t["account"], "match": t["match"],
             "count": int(t["remaining"])} for t in tallies[:LIST_LIMIT]]},
        "contents": [{"delivery": r["delivery_id"], "rows": int(r["rows"]), "people": int(r["people"]),
                      "invalid_numbers": int(r["invalid_numbers"]), "missing_numbers": int(r["missing_numbers"]),
                      "duplicates": int(r["duplicates"])} for r in contents],
    }


class LocalLink:
    """The per-user agent's own session: the same targets and reports, without a socket (the agent is the user)."""

    def __init__(self, ctx: AgentContext, account: str) -> None:
        self.ctx, self.account = ctx, account

    def targets(self) -> dict[str, Any]:
        return wire.targets_to_wire(targets_for(self.ctx, self.account, agent_sweeps=True))

    def report(self, report: dict[str, Any]) -> dict[str, Any]:
        return record_report(self.ctx, self.account, wire.parse_report(report))
