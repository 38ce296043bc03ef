"""The privacy officer's status: "are we compliant right now?" as one stable JSON document.

:func:`build_status` remembers the first time test hooks were seen (the one write), gathers the facts
(:mod:`retention_agent.status.facts`) and shapes them here: :func:`status_document` reads nothing but the
facts and the configuration. Problems and warnings come from :mod:`retention_agent.status.findings`.
No personal data: delivery ids, dates, counts, account names of staff, configuration names and error ids.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from retention_agent import testing_hooks as testing
from retention_agent.clock import local_date, parse_utc, utc_iso
from retention_agent.config import Config
from retention_agent.rules import retention
from retention_agent.rules.delivery_states import ALL_STATES, LIVE
from retention_agent.runtime.context import AgentContext
from retention_agent.status import findings
from retention_agent.status.facts import HOOKS_SEEN, LIST_LIMIT, Facts, gather

STATUS_VERSION = 1


def build_status(ctx: AgentContext) -> dict[str, Any]:
    """The status now."""
    note_test_hooks(ctx)
    return status_document(gather(ctx, ctx.clock.now()), ctx.config, ctx.installation_id)


def note_test_hooks(ctx: AgentContext) -> None:
    """Remember the first time test-only hooks were seen on: status reports it for good."""
    if testing.hooks_requested() and ctx.store.get_meta(HOOKS_SEEN) is None:
        ctx.store.set_meta(HOOKS_SEEN, utc_iso(ctx.clock.now()))


def status_document(facts: Facts, config: Config, installation_id: str) -> dict[str, Any]:
    """The status document of ``facts``: sections, then the findings over them."""
    now = facts.now
    status: dict[str, Any] = {
        "version": STATUS_VERSION,
        "generated_at": utc_iso(now),
        "municipality": config.municipality,
        "installation_id": installation_id,
        "health": health(facts, config),
        "deliveries": deliveries(facts),
        "next_purges": next_purges(facts),
        "overdue_purges": overdue_purges(facts),
        "unfinished_purges": sum(1 for d in facts.unfinished_purges if d not in facts.running.purging),
        "holds": holds(facts),
        "quarantined": quarantined(facts),
        "sources_not_overwritten": {"count": sum(facts.sources_not_overwritten.values()),
                                    "by_reason": dict(facts.sources_not_overwritten)},
        "mailbox_copies": facts.mailbox_copies,
        "workspace_copies": workspace_copies(facts),
        "openings_30d": {"count": sum(n for *_, n in facts.openings), "by_account_purpose": [
            {"account": a, "purpose": p, "count": n} for a, p, n in facts.openings]},
        "refused_30d": {"count": sum(n for *_, n in facts.refusals), "last_at": facts.last_refusal_at,
                        "by_account_action": [{"account": a, "action": act, "count": n}
                                              for a, act, n in facts.refusals]},
        "ceremonies_after_the_fact_30d": {"count": len(facts.after_the_fact),
                                          "items": list(facts.after_the_fact[:LIST_LIMIT])},
        "audit": {"size": facts.audit_size, "last_checkpoint": facts.last_checkpoint,
                  "last_verification": facts.running.audit_verified},
        "vault": {"last_verification": facts.running.vault_verified, "integrity_failures": {
            "count": len(facts.running.integrity_failures),
            "deliveries": sorted(set(facts.running.integrity_failures))[:LIST_LIMIT]}},
        "legal_bases": legal_bases(facts, config),
        "checklist": {"items": list(facts.checklist), "open": [r["id"] for r in facts.checklist if not r["done"]]},
        "reports": reports(facts, config),
        "copies": copies(facts),
    }
    problems, warnings = findings.assess(status)
    status["problems"], status["warnings"], status["compliant"] = problems, warnings, not problems
    return status


# ---- sections ---------------------------------------------------------------------------------------------


def health(facts: Facts, config: Config) -> dict[str, Any]:
    agent = facts.running
    return {
        "running_since": utc_iso(agent.started_at),
        "last_intake": facts.last_received,
        "last_tick": agent.last_tick,
        "intake": [{"name": w.name, "state": w.state, "last_success": w.last_success,
                    "last_error_id": w.last_error_id, "refused": [{"code": c, "count": n} for c, n in w.refused]}
                   for w in agent.watchers],
        "intake_limits": {"max_file_bytes": config.intake.max_file_bytes,
                          "max_files_per_message": config.intake.max_files_per_message},
        "mail_authentication": [{"mailbox": box.name, "authserv_id_configured": bool(box.authserv_id)}
                                for box in config.mailbox],
        "oauth": [dict(token) for token in agent.tokens],
        "key_store": {"backend": facts.key_store, "file_store": facts.key_store == "file"},
        "test_hooks": {"active": facts.hooks_active, "first_seen": facts.hooks_first_seen},
        "disk": facts.disk,
    }


def deliveries(facts: Facts) -> dict[str, Any]:
    counts = facts.by_state
    by_state = {state.value: counts.get(state, 0) for state in ALL_STATES}
    by_state.update({s: n for s, n in counts.items() if s not in by_state})
    count, oldest = facts.without_ceremony
    return {
        "by_state": by_state,
        "total": sum(counts.values()),
        "live": sum(counts.get(s, 0) for s in LIVE),
        "without_ceremony": {"count": count, "oldest_received_at": oldest},
    }


def next_purges(facts: Facts) -> list[dict[str, Any]]:
    today = local_date(facts.now)
    return [{"delivery": p.delivery, "state": p.state, "due_at": p.due_at, "deadline": p.deadline, "reason": p.reason,
             "days_left": days_left(p.deadline, today)} for p in facts.next_purges]


def days_left(day: str | None, today: date) -> int | None:
    return None if not day else (date.fromisoformat(day) - today).days


def overdue_purges(facts: Facts) -> dict[str, Any]:
    """Live deliveries past their due moment (plus a grace of two ticks): this should never happen."""
    return {"count": facts.overdue.count, "items": [
        {"delivery": p.delivery, "state": p.state, "due_at": p.due_at, "deadline": p.deadline,
         "late_seconds": int((facts.now - parse_utc(p.due_at)).total_seconds()),
         "awaiting_clock_confirmation": p.delivery in facts.awaiting_clock} for p in facts.overdue.items]}


def holds(facts: Facts) -> dict[str, Any]:
    today = local_date(facts.now)
    return {"count": facts.holds.count, "items": [
        {"delivery": h.delivery, "hold_until": h.hold_until, "deadline": h.deadline,
         "days_left": days_left(h.hold_until, today)} for h in facts.holds.items]}


def quarantined(facts: Facts) -> dict[str, Any]:
    """Quarantined deliveries; ``by_reason`` counts those quarantined at intake for a reason of their own."""
    return {"count": facts.quarantined.count, "items": [
        {"delivery": q.delivery, "received_at": q.received_at, "channel": q.channel, "source": q.source,
         "due_at": q.due_at, "reason": q.reason} for q in facts.quarantined.items],
        "by_reason": {r["reason"]: {"count": int(r["n"]), "first": r["first"]} for r in facts.quarantine_reasons}}


def workspace_copies(facts: Facts) -> dict[str, Any]:
    rows = facts.workspace_copies
    return {"count": sum(int(r["n"]) for r in rows),
            "next_wipe_at": min((r["next_wipe"] for r in rows if r["next_wipe"]), default=None),
            "by_account": {r["account"]: int(r["n"]) for r in rows}}


def legal_bases(facts: Facts, config: Config) -> list[dict[str, Any]]:
    """Per legal basis and limited channel: has it lapsed (nr. 43), and which live deliveries does it touch (a
    channel the basis does not list was never authorised: all of them count)."""
    counted = facts.live_by_basis
    today = local_date(facts.now)
    configured = {box.channel for box in config.mailbox} | {inbox.channel for inbox in config.inbox}
    result = []
    for basis_id in sorted({config.legal_basis, *(b for b, _ in counted)}):
        try:
            basis = retention.legal_basis(basis_id)
        except KeyError:
            continue
        channels = {c for c, until in basis.channel_valid_until.items() if until is not None}
        channels |= {c for b, c in counted if b == basis_id and c not in basis.channel_valid_until}
        for channel in sorted(channels):
            live, after = counted.get((basis_id, channel), (0, 0))
            listed = channel in basis.channel_valid_until
            until = basis.channel_valid_until.get(channel)
            result.append({"legal_basis": basis.id, "channel": channel,
                           "valid_until": until.isoformat() if until else None,
                           "lapsed": retention.channel_lapsed(basis, channel, today),
                           "live_deliveries": live, "received_after_lapse": after if listed else live,
                           "intake_configured": channel in configured})
    return result


def reports(facts: Facts, config: Config) -> dict[str, Any]:
    hidden = ("checkpoint", "files", "frontier")
    rows = [{k: v for k, v in row.items() if k not in hidden} for row in facts.reports]
    return {"schedule": config.reports.schedule,
            "addresses_configured": facts.reports_addressed,
            "last": rows[0] if rows else None,
            "waiting": [r for r in rows if r["delivery"] in ("queued", "failed")][:LIST_LIMIT],
            "recent": rows[:6]}


def copies(facts: Facts) -> dict[str, Any]:
    """Copies on workstations: each account's last sweep, the copies found of deliveries not yet purged (with
    where: a location kind and the path inside it), what remains of purged ones, and unlocked workbooks' counts."""
    found, tallies = facts.copy_findings, facts.copy_tallies
    return {
        "sweeps": [{"account": r["account"], "swept_at": r["swept_at"], "complete": bool(r["complete"]),
                    "locations": list(r["locations"])} for r in facts.copy_sweeps],
        "found": {"count": sum(1 for r in found if r["outcome"] is None),
                  "remaining": sum(1 for r in found if r["outcome"] == "remaining"), "items": [
            {"delivery": r["delivery_id"], "account": r["account"], "match": r["match"], "kind": r["kind"],
             "path": r["path"], "people": int(r["people"] or 0), "why": r["why"]} for r in found[:LIST_LIMIT]]},
        "remaining": {"count": sum(int(t["remaining"]) for t in tallies), "items": [
            {"delivery": t["delivery_id"], "account": t["account"], "match": t["match"],
             "count": int(t["remaining"])} for t in tallies[:LIST_LIMIT]]},
        "contents": [{"delivery": r["delivery_id"], "rows": int(r["rows"]), "people": int(r["people"]),
                      "invalid_numbers": int(r["invalid_numbers"]), "missing_numbers": int(r["missing_numbers"]),
                      "duplicates": int(r["duplicates"])} for r in facts.copy_contents],
    }
