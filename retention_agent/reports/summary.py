"""What happened in a report period, as the report states it: pure, from the gathered period facts.

Events (receipts, openings, refusals, holds, ceremonies, staff changes, clock jumps, integrity failures) come
from the audit log, which keeps them after a purge deleted the rows they touched: each counted from the entry
that records the change itself (outcome ``ok``), never from the request for it, which may have been refused or
only a check (``dry_run``). Purges come from the ``purges`` records, read with the same functions as their
proofs (trigger, lateness: ``status.facts.PurgeRecord``), so a report and a proof never disagree. Free texts
appear as their SHA-256 only. The facts are read once by :func:`retention_agent.status.facts.gather_period`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from retention_agent.clock import local_date, parse_utc
from retention_agent.rules import retention
from retention_agent.status.facts import PeriodFacts

MAX_ITEMS = 500
REQUEST_OUTCOMES = ("granted", "denied")  # what the entry of a request records (api/handlers.py)
Entries = Sequence[Mapping[str, Any]]


def _of(events: Entries, action: str) -> list[Mapping[str, Any]]:
    """The entries that record ``action`` itself: not the requests for it (outcome "granted" or "denied"), which
    may carry the same name."""
    return [e for e in events if e.get("action") == action and e.get("outcome") not in REQUEST_OUTCOMES]


def _details(entry: Mapping[str, Any]) -> dict[str, Any]:
    details = entry.get("details")
    return details if isinstance(details, dict) else {}


def received(events: Entries) -> dict[str, Any]:
    rows = _of(events, "delivery.received")
    channels = Counter(str(_details(e).get("channel", "?")) for e in rows)
    return {"count": len(rows), "by_channel": dict(sorted(channels.items())),
            "quarantined": sum(1 for e in rows if _details(e).get("quarantined")),
            "duplicates_refused": len(_of(events, "delivery.duplicate")),
            "bytes": sum(int(_details(e).get("size", 0) or 0) for e in rows)}


def openings(opened: Entries) -> dict[str, Any]:
    by_purpose = Counter((str(e["actor"]), str(_details(e).get("purpose", "?"))) for e in opened)
    modes = Counter(str(_details(e).get("mode", "?")) for e in opened)
    return {"count": len(opened), "by_mode": dict(sorted(modes.items())),
            "by_account_purpose": [{"account": a, "purpose": p, "count": n}
                                   for (a, p), n in sorted(by_purpose.items())]}


def refusals(denied: Entries) -> dict[str, Any]:
    counts: Counter[tuple[str, str]] = Counter()
    for e in denied:  # a folded follow-up entry stands for the refusals it counted (api/refusals.py)
        repeated = _details(e).get("repeated", 1)
        counts[(str(e["actor"]), str(e["action"]))] += repeated if isinstance(repeated, int) else 1
    return {"count": sum(counts.values()), "by_account_action": [{"account": a, "action": act, "count": n}
                                                        for (a, act), n in sorted(counts.items())]}


def holds(events: Entries) -> dict[str, Any]:
    placed = [{"delivery": _subject(e), "at": e["time"], "until": _details(e).get("until"),
               "reason_sha256": _details(e).get("reason_sha256", ""), "by": e["actor"]}
              for e in _of(events, "hold.set")]
    released = [{"delivery": _subject(e), "at": e["time"], "by": e["actor"]} for e in _of(events, "hold.released")]
    return {"placed": placed[:MAX_ITEMS], "released": released[:MAX_ITEMS]}


def ceremonies(events: Entries) -> dict[str, Any]:
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


def quarantine(events: Entries) -> dict[str, Any]:
    released = [{"delivery": _subject(e), "at": e["time"], "by": e["actor"],
                 "reason_sha256": _details(e).get("reason_sha256", "")} for e in _of(events, "quarantine.released")]
    return {"released": released[:MAX_ITEMS]}


def staff_changes(events: Entries) -> list[dict[str, Any]]:
    return [{"account": _subject(e), "at": e["time"], "by": e["actor"],
             "before": _details(e).get("before", []), "after": _details(e).get("after", [])}
            for e in _of(events, "staff.changed")][:MAX_ITEMS]


def _subject(entry: Mapping[str, Any]) -> str:
    subject = entry.get("subject") or [""]
    return str(subject[0])


# ---- purges and proofs ------------------------------------------------------------------------------------


def purges(happened: PeriodFacts) -> list[dict[str, Any]]:
    """Purges finished in the period, with their lateness against the deadline day (nr. 41)."""
    return [record.to_json() for record in happened.purges]


def purge_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    triggers = Counter(str(r["trigger"]) for r in rows)
    return {"count": len(rows), "on_time": sum(1 for r in rows if not r["late"]),
            "late": sum(1 for r in rows if r["late"]),
            "max_lateness_seconds": max((r["lateness_seconds"] for r in rows), default=0),
            "by_trigger": dict(sorted(triggers.items())), "items": rows[:MAX_ITEMS]}


def copies(happened: PeriodFacts) -> dict[str, Any]:
    """Copies on workstations of the period's purges, summed as their proofs state them (``copies``), and what
    remains now of every purged delivery's copies, with what sessions erased after the proofs were written."""
    totals = {match: Counter[str]() for match in ("exact", "derived")}
    swept = 0
    for record in happened.purges:
        counts = record.copies_counts
        swept += 1 if counts.get("accounts_swept") else 0
        for match, total in totals.items():
            total.update({k: int(v) for k, v in (counts.get(match) or {}).items()
                          if k in ("found", "erased", "gone", "remaining")})
    later = happened.copy_totals
    keys = ("found", "erased", "gone", "remaining")
    return {"purges": len(happened.purges), "purges_swept": swept,
            **{match: {k: int(total[k]) for k in keys} for match, total in totals.items()},
            "remaining_now": int(later.get("remaining") or 0), "erased_after_proof": int(later.get("erased") or 0),
            "gone_after_proof": int(later.get("gone") or 0)}


# ---- incidents ---------------------------------------------------------------------------------------------


def incidents(happened: PeriodFacts, purge_rows: list[dict[str, Any]], legal_basis: str) -> list[dict[str, Any]]:
    """Integrity failures, late or failed purges, clock jumps, deliveries on a lapsed channel, missing proofs."""
    found: list[dict[str, Any]] = []
    events = happened.events
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
    for attached in happened.proofs:
        if attached["missing"]:
            found.append(_incident("proof-file-missing", None, attached["delivery_id"]))
    found += _failed_purges(happened)
    found += _lapsed_receipts(events, legal_basis)
    return sorted(found, key=lambda i: (i["at"] or "", i["kind"], i["delivery"] or ""))[:MAX_ITEMS]


def _incident(kind: str, at: str | None, delivery: str | None, **details: Any) -> dict[str, Any]:
    return {"kind": kind, "at": at, "delivery": delivery, "details": details}


def _failed_purges(happened: PeriodFacts) -> list[dict[str, Any]]:
    return [_incident("purge-failed", row["created_at"], str(row["params"].get("delivery", "")) or None,
                      error=str(row["params"].get("error", ""))) for row in happened.failed_purges]


def _lapsed_receipts(events: Entries, basis_id: str) -> list[dict[str, Any]]:
    """Deliveries received by a channel whose legal basis had lapsed on the day they arrived (nr. 43)."""
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

