"""The agent's side of the sweep: what to look for, what was found, what the purge and the proof say about it.

- :func:`targets_for` — what a caller's session looks for: sizes and hashes of every delivery not yet purged;
  fingerprints and their key only to staff with the role ``read`` (who may open the deliveries anyway: with the
  key, every valid national register number can be tried against the fingerprints); which purges have begun.
- :func:`record_report` — a session's report, checked by :func:`wire.parse_report` before it gets here.
- :func:`settle_at_purge` — the purge's ``copies`` step: the per-user agent erases its own account's copies;
  what other accounts' sessions found and have not yet erased counts as remaining (``awaiting-session``), and is
  kept per account in counts only, so that a later report of those sessions can still settle it.
- :func:`proof_section` — what the proof says (what the officer sees is read by ``status.facts``). No path ever
  goes into the audit log, a proof or a report; paths are in ``copy_findings`` until the purge deletes them.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from typing import Any, Protocol

from retention_agent.clock import utc_iso
from retention_agent.copies import wire
from retention_agent.rules.delivery_states import LIVE, PURGED, PURGING, UNPURGED
from retention_agent.runtime.context import AgentContext
from retention_agent.store import copies as tables
from retention_agent.store import deliveries

MAX_FINDINGS_PER_ACCOUNT = 2000  # a report cannot make the agent store more than this for one account
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
    rows = deliveries.unpurged_objects(ctx.store)
    owed = tables.owed_objects(ctx.store, account)
    exact = tuple(wire.Exact(r["id"], int(r["size"]), r["sha256"]) for r in rows + owed)
    derived = []
    if may_read:
        for row in tables.live_fingerprints(ctx.store):
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
    return tables.copies_due(ctx.store, account)


# ---- a session's report -------------------------------------------------------------------------------------


def record_report(ctx: AgentContext, account: str, report: wire.Report) -> dict[str, Any]:
    now = utc_iso(ctx.clock.now())
    mentioned = sorted({f.delivery for f in report.found} | {s.delivery for s in report.settled})
    states = deliveries.states_of(ctx.store, mentioned)
    swept = {r.kind for r in report.locations if r.state == "swept"}
    stored = 0
    with ctx.store.transaction():
        tables.record_sweep(ctx.store, account, swept_at=now, complete=report.complete, locations=sorted(swept),
                            stats=dict(report.stats))
        live_found = [f for f in report.found if states.get(f.delivery) in LIVE]
        _mark_gone(ctx, account, live_found, swept, now)
        room = MAX_FINDINGS_PER_ACCOUNT - tables.finding_count(ctx.store, account)
        for found in live_found:
            where = {"delivery": found.delivery, "match": found.match, "kind": found.kind, "path": found.path}
            if not tables.seen_again(ctx.store, account, **where, people=found.people, now=now) and room > 0:
                tables.add_finding(ctx.store, account, **where, people=found.people, now=now)
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
    for row in tables.open_live_findings(ctx.store, account):
        if row["kind"] in swept and (row["delivery_id"], row["match"], row["kind"], row["path"]) not in present:
            tables.mark_gone(ctx.store, row["id"], now)


def _settle(ctx: AgentContext, account: str, item: wire.Settled, state: str | None, now: str) -> None:
    if state in UNPURGED:
        tables.settle_finding(ctx.store, account, delivery=item.delivery, match=item.match, kind=item.kind,
                              path=item.path, outcome=item.outcome, why=item.why or None, now=now)
    elif state == PURGED and item.outcome in ("erased", "gone"):
        tables.settle_tally(ctx.store, account, delivery=item.delivery, match=item.match, outcome=item.outcome,
                            now=now)


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
            tables.keep_tally(ctx.store, delivery["id"], account, match, remaining, now)
    return counts


def count_copies(ctx: AgentContext, delivery: dict[str, Any]) -> dict[str, Any]:
    rows = tables.findings_of(ctx.store, delivery["id"])
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
    sweeps = tables.sweeps_since(ctx.store, delivery["received_at"])
    kinds = sorted({kind for s in sweeps for kind in json.loads(s["locations"])})
    return {
        "accounts_swept": len(sweeps), "last_swept_at": max((s["swept_at"] for s in sweeps), default=None),
        "locations": kinds,
        "derived_searched": tables.unlocked(ctx.store, delivery["id"]),
        "exact": totals["exact"], "derived": {**totals["derived"], "people_max": people_max},
        "by_location": [{"kind": kind, **{k: int(c[k]) for k in ("found", "erased", "gone", "remaining")}}
                        for kind, c in sorted(by_kind.items())],
        "remaining_reasons": dict(sorted(reasons.items())),
        "_remaining_by_account": remaining_by_account,
    }


def delete_rows(ctx: AgentContext, delivery_id: str) -> None:
    """In the purge's ``rows`` step (the caller's transaction): the paths and the fingerprints go."""
    tables.delete_of_delivery(ctx.store, delivery_id)


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


class LocalLink:
    """The per-user agent's own session: the same targets and reports, without a socket (the agent is the user)."""

    def __init__(self, ctx: AgentContext, account: str) -> None:
        self.ctx, self.account = ctx, account

    def targets(self) -> dict[str, Any]:
        return wire.targets_to_wire(targets_for(self.ctx, self.account, agent_sweeps=True))

    def report(self, report: dict[str, Any]) -> dict[str, Any]:
        return record_report(self.ctx, self.account, wire.parse_report(report))
