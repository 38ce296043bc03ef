"""What happened in a report period, gathered from the audit log and the store. No personal data.

Events (receipts, openings, refusals, holds, ceremonies, staff changes, clock jumps, integrity failures) come
from the audit log, which keeps them after a purge deleted the rows they touched: each counted from the entry
that records the change itself (outcome ``ok``), never from the request for it, which may have been refused or
only a check (``dry_run``). Purges come from the ``purges`` records, read with the same functions as their
proofs (trigger, lateness), so a report and a proof never disagree. Free texts appear as their SHA-256 only.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime
from typing import Any

from retention_agent.audit import query as audit_query
from retention_agent.clock import local_date, parse_utc, utc_iso
from retention_agent.evidence import proof
from retention_agent.reports.period import Period
from retention_agent.rules import retention
from retention_agent.runtime.context import AgentContext

EVENT_ACTIONS = ("delivery.received", "delivery.duplicate", "hold.set", "hold.released", "ceremony.set",
                 "quarantine.released", "staff.changed", "clock.jump", "delivery.integrity-failure",
                 "checklist.set", "purge.awaiting-clock-confirmation")
MAX_ITEMS = 500
REQUEST_OUTCOMES = ("granted", "denied")  # what the entry of a request records (api/handlers.py)


def period_events(ctx: AgentContext, period: Period, until: datetime) -> dict[str, list[dict[str, Any]]]:
    """The period's audit entries of interest, by kind: ``events`` (by action), ``opened``, ``denied``."""
    first, stop = audit_query.seq_range(ctx.store, utc_iso(period.start_utc), utc_iso(min(period.end_utc, until)))
    events = audit_query.with_actions(ctx.store, EVENT_ACTIONS, first, stop)
    return {
        "events": events,
        "opened": [e for e in audit_query.indexed(ctx.store, audit_query.OPENED, first, stop)
                   if e.get("action") == "delivery.opened"],
        "denied": [e for e in audit_query.indexed(ctx.store, audit_query.DENIED, first, stop)
                   if e.get("outcome") == "denied"],
    }


def _of(events: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """The entries that record ``action`` itself: not the requests for it (outcome "granted" or "denied"), which
    may carry the same name."""
    return [e for e in events if e.get("action") == action and e.get("outcome") not in REQUEST_OUTCOMES]


def _details(entry: dict[str, Any]) -> dict[str, Any]:
    details = entry.get("details")
    return details if isinstance(details, dict) else {}


def received(events: list[dict[str, Any]]) -> dict[str, Any]:
    rows = _of(events, "delivery.received")
    channels = Counter(str(_details(e).get("channel", "?")) for e in rows)
    return {"count": len(rows), "by_channel": dict(sorted(channels.items())),
            "quarantined": sum(1 for e in rows if _details(e).get("quarantined")),
            "duplicates_refused": len(_of(events, "delivery.duplicate")),
            "bytes": sum(int(_details(e).get("size", 0) or 0) for e in rows)}


def openings(opened: list[dict[str, Any]]) -> dict[str, Any]:
    by_purpose = Counter((str(e["actor"]), str(_details(e).get("purpose", "?"))) for e in opened)
    modes = Counter(str(_details(e).get("mode", "?")) for e in opened)
    return {"count": len(opened), "by_mode": dict(sorted(modes.items())),
            "by_account_purpose": [{"account": a, "purpose": p, "count": n}
                                   for (a, p), n in sorted(by_purpose.items())]}


def refusals(denied: list[dict[str, Any]]) -> dict[str, Any]:
    counts: Counter[tuple[str, str]] = Counter()
    for e in denied:  # a folded follow-up entry stands for the refusals it counted (api/refusals.py)
        repeated = _details(e).get("repeated", 1)
        counts[(str(e["actor"]), str(e["action"]))] += repeated if isinstance(repeated, int) else 1
    return {"count": sum(counts.values()), "by_account_action": [{"account": a, "action": act, "count": n}
                                                        for (a, act), n in sorted(counts.items())]}


def holds(events: list[dict[str, Any]]) -> dict[str, Any]:
    placed = [{"delivery": _subject(e), "at": e["time"], "until": _details(e).get("until"),
               "reason_sha256": _details(e).get("reason_sha256", ""), "by": e["actor"]}
              for e in _of(events, "hold.set")]
    released = [{"delivery": _subject(e), "at": e["time"], "by": e["actor"]} for e in _of(events, "hold.released")]
    return {"placed": placed[:MAX_ITEMS], "released": released[:MAX_ITEMS]}


def ceremonies(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Ceremony dates recorded, one per delivery: first dates, moved ones, extensions the officer approved, early
    destructions, and dates recorded when their deadline had already passed (not a late purge: that deadline did
    not exist before)."""
    rows = _of(events, "ceremony.set")
    after = [e for e in rows if _details(e).get("after_the_fact")]
    return {"dates_recorded": len(rows), "moved": sum(1 for e in rows if _details(e).get("old_date")),
            "extensions": sum(1 for e in rows if _details(e).get("extends")),
            "early_destructions": sum(1 for e in rows if _details(e).get("early")),
            "recorded_after_the_fact": [{"delivery": _subject(e), "at": e["time"], "by": e["actor"],
                                         "ceremony_date": _details(e).get("new_date"),
                                         "deadline": _details(e).get("new_deadline")} for e in after][:MAX_ITEMS]}


def quarantine(events: list[dict[str, Any]]) -> dict[str, Any]:
    released = [{"delivery": _subject(e), "at": e["time"], "by": e["actor"],
                 "reason_sha256": _details(e).get("reason_sha256", "")} for e in _of(events, "quarantine.released")]
    return {"released": released[:MAX_ITEMS]}


def staff_changes(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"account": _subject(e), "at": e["time"], "by": e["actor"],
             "before": _details(e).get("before", []), "after": _details(e).get("after", [])}
            for e in _of(events, "staff.changed")][:MAX_ITEMS]


def _subject(entry: dict[str, Any]) -> str:
    subject = entry.get("subject") or [""]
    return str(subject[0])


# ---- purges and proofs ------------------------------------------------------------------------------------


def purges(ctx: AgentContext, period: Period) -> list[dict[str, Any]]:
    """Purges finished in the period, with their lateness against the deadline day (nr. 41)."""
    rows = ctx.store.query(
        "SELECT p.delivery_id, p.trigger, p.reason, p.due_at, p.finished_at, p.proof_sha256, d.deadline, d.channel "
        "FROM purges p JOIN deliveries d ON d.id = p.delivery_id "
        "WHERE p.finished_at >= ? AND p.finished_at < ? ORDER BY p.finished_at, p.delivery_id",
        (utc_iso(period.start_utc), utc_iso(period.end_utc)))
    return [_purge_row(row) for row in rows]


def _purge_row(row: dict[str, Any]) -> dict[str, Any]:
    """A purge as its proof states it: ``finished_at`` is the proof's ``purged_at``, and trigger, reason and
    lateness come from the same record through the same functions."""
    from retention_agent.lifecycle.purge import reason_facts

    purged_at = parse_utc(row["finished_at"])
    due = parse_utc(row["due_at"]) if row["due_at"] else None
    return {"delivery": row["delivery_id"], "trigger": proof.trigger_of(row["trigger"]),
            "reason": reason_facts(row["trigger"], row["reason"])[0], "due_at": row["due_at"],
            "deadline": row["deadline"], "purged_at": row["finished_at"],
            "lateness_seconds": retention.lateness_seconds(due, purged_at),
            "late": retention.purged_late(due, purged_at), "proof_sha256": row["proof_sha256"]}


def purge_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    triggers = Counter(str(r["trigger"]) for r in rows)
    return {"count": len(rows), "on_time": sum(1 for r in rows if not r["late"]),
            "late": sum(1 for r in rows if r["late"]),
            "max_lateness_seconds": max((r["lateness_seconds"] for r in rows), default=0),
            "by_trigger": dict(sorted(triggers.items())), "items": rows[:MAX_ITEMS]}


def proofs(ctx: AgentContext, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The signed proofs of deletion of the period, embedded so the DPO holds them (JSON text + signature)."""
    found = []
    for row in rows:
        delivery = row["delivery"]
        json_path, sig_path = ctx.home.proofs / f"{delivery}.json", ctx.home.proofs / f"{delivery}.json.sig"
        try:
            data, signature = json_path.read_bytes(), sig_path.read_text(encoding="ascii")
        except (OSError, UnicodeError):
            found.append({"delivery_id": delivery, "sha256": row["proof_sha256"], "missing": True})
            continue
        found.append({"delivery_id": delivery, "sha256": hashlib.sha256(data).hexdigest(),
                      "json": data.decode("ascii"), "signature": signature, "missing": False})
    return found


def copies(ctx: AgentContext, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Copies on workstations of the period's purges, summed as their proofs state them (``copies``), and what
    remains now of every purged delivery's copies, with what sessions erased after the proofs were written."""
    totals = {match: Counter[str]() for match in ("exact", "derived")}
    swept = 0
    for row in rows:
        raw = ctx.store.scalar("SELECT steps FROM purges WHERE delivery_id = ?", (row["delivery"],))
        counts = json.loads(raw or "{}").get("copies_counts") or {}
        swept += 1 if counts.get("accounts_swept") else 0
        for match, total in totals.items():
            total.update({k: int(v) for k, v in (counts.get(match) or {}).items()
                          if k in ("found", "erased", "gone", "remaining")})
    later = ctx.store.one("SELECT COALESCE(SUM(remaining), 0) AS remaining, COALESCE(SUM(erased_after), 0) AS erased, "
                          "COALESCE(SUM(gone_after), 0) AS gone FROM copy_tallies") or {}
    keys = ("found", "erased", "gone", "remaining")
    return {"purges": len(rows), "purges_swept": swept,
            **{match: {k: int(total[k]) for k in keys} for match, total in totals.items()},
            "remaining_now": int(later.get("remaining") or 0), "erased_after_proof": int(later.get("erased") or 0),
            "gone_after_proof": int(later.get("gone") or 0)}


# ---- incidents ---------------------------------------------------------------------------------------------


def incidents(ctx: AgentContext, period: Period, events: list[dict[str, Any]],
              purge_rows: list[dict[str, Any]], proof_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Integrity failures, late or failed purges, clock jumps, deliveries on a lapsed channel, missing proofs."""
    found: list[dict[str, Any]] = []
    for entry in _of(events, "delivery.integrity-failure"):
        found.append(_incident("integrity-failure", entry["time"], _subject(entry)))
    for entry in _of(events, "clock.jump"):
        details = _details(entry)
        found.append(_incident("clock-jump", entry["time"], None, direction=details.get("direction"),
                               hours=details.get("hours")))
    for entry in _of(events, "purge.awaiting-clock-confirmation"):
        found.append(_incident("purge-awaiting-clock-confirmation", entry["time"], None,
                               deliveries=len(entry.get("subject") or [])))
    for row in purge_rows:
        if row["late"]:
            found.append(_incident("late-purge", row["purged_at"], row["delivery"],
                                   lateness_seconds=row["lateness_seconds"]))
    for row in proof_rows:
        if row["missing"]:
            found.append(_incident("proof-file-missing", None, row["delivery_id"]))
    found += _failed_purges(ctx, period)
    found += _lapsed_receipts(ctx, events)
    return sorted(found, key=lambda i: (i["at"] or "", i["kind"], i["delivery"] or ""))[:MAX_ITEMS]


def _incident(kind: str, at: str | None, delivery: str | None, **details: Any) -> dict[str, Any]:
    return {"kind": kind, "at": at, "delivery": delivery, "details": details}


def _failed_purges(ctx: AgentContext, period: Period) -> list[dict[str, Any]]:
    rows = ctx.store.query("SELECT params, created_at FROM notifications WHERE kind = 'purge-failed' "
                           "AND created_at >= ? AND created_at < ?",
                           (utc_iso(period.start_utc), utc_iso(period.end_utc)))
    found = []
    for row in rows:
        params = json.loads(row["params"] or "{}")
        found.append(_incident("purge-failed", row["created_at"], str(params.get("delivery", "")) or None,
                               error=str(params.get("error", ""))))
    return found


def _lapsed_receipts(ctx: AgentContext, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deliveries received by a channel whose legal basis had lapsed on the day they arrived (nr. 43)."""
    basis_id = ctx.config.legal_basis
    try:
        basis = retention.legal_basis(basis_id)
    except KeyError:
        return []
    found = []
    for entry in _of(events, "delivery.received"):
        channel = str(_details(entry).get("channel", ""))
        if retention.channel_lapsed(basis, channel, local_date(parse_utc(entry["time"]))):
            found.append(_incident("received-after-legal-basis-lapsed", entry["time"], _subject(entry),
                                   channel=channel, legal_basis=basis_id))
    return found

