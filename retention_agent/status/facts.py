"""The privacy officer's status: "are we compliant right now?" as one stable JSON document.

Read-only over the store and the agent's in-memory health (the one write: the first time test hooks are
seen is remembered). Fast on large homes: counts are SQL aggregates over indexed columns, the audit log is
never read whole (``audit_query``: binary search by time plus partial indexes), lists are capped.
No personal data: delivery ids, dates, counts, account names of staff, configuration names and error ids.

Each problem makes ``compliant`` false; warnings do not. Both carry an English ``message`` template with
``params`` that the client translates (Dutch by default).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from retention_agent import testing_hooks as testing
from retention_agent.audit import query as audit_query
from retention_agent.clock import local_date, parse_utc, start_of_local_day, utc_iso
from retention_agent.i18n.msgids import N_
from retention_agent.lifecycle import states as lifecycle
from retention_agent.lifecycle.purge_schedule import AWAITING, plan_for
from retention_agent.lifecycle.states import HELD, LIVE, PLANNED, QUARANTINED, VAULTED, sql_states
from retention_agent.rules import retention
from retention_agent.runtime.context import AgentContext
from retention_agent.status import checklist
from retention_agent.store import mail_copies

STATUS_VERSION = 1
WINDOW_DAYS = 30
NEXT_PURGES = 10
LIST_LIMIT = 20
HOOKS_SEEN = "testing.hooks-seen"
REPEATED = "$.details.repeated"  # a folded follow-up entry counts the refusals it stands for (api/refusals.py)
Finding = dict[str, Any]


def build_status(ctx: AgentContext) -> dict[str, Any]:
    now = ctx.clock.now()
    note_test_hooks(ctx)
    status: dict[str, Any] = {
        "version": STATUS_VERSION,
        "generated_at": utc_iso(now),
        "municipality": ctx.config.municipality,
        "installation_id": ctx.installation_id,
        "health": health(ctx),
        "deliveries": deliveries(ctx),
        "next_purges": next_purges(ctx, now),
        "overdue_purges": overdue_purges(ctx, now),
        "unfinished_purges": unfinished_purges(ctx),
        "holds": holds(ctx, now),
        "quarantined": quarantined(ctx),
        "sources_not_overwritten": sources_not_overwritten(ctx),
        "mailbox_copies": mail_copies.summary(ctx.store),
        "workspace_copies": workspace_copies(ctx),
        "openings_30d": openings(ctx, now),
        "refused_30d": refusals(ctx, now),
        "ceremonies_after_the_fact_30d": ceremonies_after_the_fact(ctx, now),
        "audit": audit_summary(ctx),
        "vault": vault_summary(ctx),
        "legal_bases": legal_bases(ctx, now),
        "checklist": checklist_summary(ctx),
        "reports": reports_summary(ctx),
        "copies": copies_summary(ctx),
    }
    problems, warnings = assess(status)
    status["problems"], status["warnings"], status["compliant"] = problems, warnings, not problems
    return status


# ---- sections ---------------------------------------------------------------------------------------------


def note_test_hooks(ctx: AgentContext) -> None:
    """Remember the first time test-only hooks were seen on: status reports it for good."""
    if testing.hooks_requested() and ctx.store.get_meta(HOOKS_SEEN) is None:
        ctx.store.set_meta(HOOKS_SEEN, utc_iso(ctx.clock.now()))


def health(ctx: AgentContext) -> dict[str, Any]:
    backend = ctx.keys.backend_name
    return {
        "running_since": utc_iso(ctx.started_at),
        "last_intake": ctx.store.scalar("SELECT MAX(received_at) FROM deliveries"),
        "last_tick": ctx.health.last_tick,
        "intake": intake_watchers(ctx),
        "intake_limits": {"max_file_bytes": ctx.config.intake.max_file_bytes,
                          "max_files_per_message": ctx.config.intake.max_files_per_message},
        "mail_authentication": [{"mailbox": box.name, "authserv_id_configured": bool(box.authserv_id)}
                                for box in ctx.config.mailbox],
        "oauth": oauth_tokens(ctx),
        "key_store": {"backend": backend, "file_store": backend == "file"},
        "test_hooks": {"active": testing.hooks_requested(), "first_seen": ctx.store.get_meta(HOOKS_SEEN)},
        "disk": ctx.free_space.reading().to_wire(),
    }


def intake_watchers(ctx: AgentContext) -> list[dict[str, Any]]:
    """Each watcher's state; the component may be the status object itself or a watcher with ``.status``.

    ``refused``: what the watcher leaves where it is right now, by code (a drop folder that was swapped or is
    unsafe, hard links, sparse or too large files, messages too large), each with how many items.
    """
    found = []
    for name, item in sorted(ctx.health.intake.items()):
        status = item if hasattr(item, "state") else getattr(item, "status", item)
        shared = getattr(status, "intake", None)
        refused = _first_attr("refused", status, shared) or ()
        found.append({
            "name": str(name),
            "state": str(getattr(status, "state", "unknown")),
            "last_success": _moment(_first_attr("last_success", status, shared)),
            "last_error_id": _first_attr("last_error_id", status, shared),
            "refused": [{"code": str(code), "count": int(count)} for code, count in refused],
        })
    return found


def oauth_tokens(ctx: AgentContext) -> list[dict[str, Any]]:
    """Each OAuth2 mailbox's token: when it expires, when it was acquired, the last failure (an error id)."""
    found = []
    for name, item in sorted(ctx.health.intake.items()):
        token = getattr(item, "token_status", None)
        if token is None:
            continue
        found.append({"mailbox": str(name).partition(":")[2] or str(name), "flow": token.flow,
                      "credential": token.credential, "expires_at": _moment(token.expires_at),
                      "acquired_at": _moment(token.acquired_at), "last_failure": token.last_failure,
                      "last_failure_at": _moment(token.last_failure_at)})
    return found


def _first_attr(name: str, *objects: object) -> Any:
    for obj in objects:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _moment(value: Any) -> str | None:
    if isinstance(value, datetime):
        return utc_iso(value)
    return None if value is None else str(value)


def deliveries(ctx: AgentContext) -> dict[str, Any]:
    counts = {row["state"]: int(row["n"]) for row in ctx.store.query(
        "SELECT state, COUNT(*) AS n FROM deliveries GROUP BY state")}
    by_state = {state.value: counts.get(state, 0) for state in lifecycle.ALL_STATES}
    by_state.update({s: n for s, n in counts.items() if s not in by_state})
    without = ctx.store.one(
        "SELECT COUNT(*) AS n, MIN(received_at) AS oldest FROM deliveries "
        f"WHERE ceremony_id IS NULL AND state IN {sql_states((VAULTED, HELD))}") or {}
    return {
        "by_state": by_state,
        "total": sum(counts.values()),
        "live": sum(counts.get(s, 0) for s in LIVE),
        "without_ceremony": {"count": int(without.get("n") or 0), "oldest_received_at": without.get("oldest")},
    }


def next_purges(ctx: AgentContext, now: datetime) -> list[dict[str, Any]]:
    """The next purges the schedule will run (held and quarantined deliveries wait for the officer)."""
    rows = ctx.store.query(
        "SELECT id, state, due_at, deadline, due_reason FROM deliveries "
        f"WHERE state IN {sql_states(PLANNED)} AND due_at IS NOT NULL ORDER BY due_at, id LIMIT ?",
        (NEXT_PURGES,))
    rows += _unplanned(ctx, now)
    rows.sort(key=lambda r: (r["due_at"], r["id"]))
    today = local_date(now)
    return [{"delivery": r["id"], "state": r["state"], "due_at": r["due_at"], "deadline": r["deadline"],
             "reason": r["due_reason"], "days_left": _days(r["deadline"], today)} for r in rows[:NEXT_PURGES]]


def _unplanned(ctx: AgentContext, now: datetime) -> list[dict[str, Any]]:
    """Deliveries that arrived since the last tick have no stored plan yet: plan them here."""
    rows = ctx.store.query(
        "SELECT d.id, d.state, d.received_at, d.channel, d.legal_basis, d.hold_until, c.date AS ceremony_date "
        "FROM deliveries d LEFT JOIN ceremonies c ON c.id = d.ceremony_id "
        f"WHERE d.state IN {sql_states(PLANNED)} AND d.due_at IS NULL LIMIT 1000")
    planned = []
    for row in rows:
        try:
            plan = plan_for(ctx, row, now)
        except (KeyError, ValueError):
            continue
        if plan.due_at is not None:
            planned.append({"id": row["id"], "state": row["state"], "due_at": utc_iso(plan.due_at),
                            "deadline": plan.deadline.isoformat() if plan.deadline else None,
                            "due_reason": plan.reason})
    return planned


def _days(day: str | None, today: date) -> int | None:
    return None if not day else (date.fromisoformat(day) - today).days


def overdue_purges(ctx: AgentContext, now: datetime) -> dict[str, Any]:
    """Live deliveries past their due moment (plus a grace of two ticks): this should never happen."""
    grace = timedelta(seconds=2 * ctx.config.retention.tick_seconds + 60)
    limit, today = utc_iso(now - grace), local_date(now).isoformat()
    where = (f"(state IN {sql_states(PLANNED | {QUARANTINED})} AND due_at < :limit) OR "
             f"(state = '{HELD}' AND due_at < :limit AND hold_until IS NOT NULL AND hold_until <= :today)")
    counted = ctx.store.one(f"SELECT COUNT(*) AS n FROM deliveries WHERE {where}", {"limit": limit, "today": today})
    count = int((counted or {}).get("n") or 0)
    rows = ctx.store.query(f"SELECT id, state, due_at, deadline FROM deliveries WHERE {where} "
                           "ORDER BY due_at LIMIT :n", {"limit": limit, "today": today, "n": LIST_LIMIT})
    awaiting = set(_awaiting(ctx))
    return {"count": count, "items": [
        {"delivery": r["id"], "state": r["state"], "due_at": r["due_at"], "deadline": r["deadline"],
         "late_seconds": int((now - parse_utc(r["due_at"])).total_seconds()),
         "awaiting_clock_confirmation": r["id"] in awaiting} for r in rows]}


def _awaiting(ctx: AgentContext) -> list[str]:
    try:
        return [str(i) for i in json.loads(ctx.store.get_meta(AWAITING) or "[]")]
    except ValueError:
        return []


def unfinished_purges(ctx: AgentContext) -> int:
    """Purges that started and did not finish, not counting the one running right now."""
    running = ctx.health.purging
    rows = ctx.store.query("SELECT delivery_id FROM purges WHERE finished_at IS NULL")
    return sum(1 for row in rows if row["delivery_id"] not in running)


def holds(ctx: AgentContext, now: datetime) -> dict[str, Any]:
    count = int(ctx.store.scalar(f"SELECT COUNT(*) FROM deliveries WHERE state = '{HELD}'") or 0)
    rows = ctx.store.query(f"SELECT id, hold_until, deadline FROM deliveries WHERE state = '{HELD}' "
                           "ORDER BY hold_until IS NULL, hold_until, id LIMIT ?", (LIST_LIMIT,))
    today = local_date(now)
    return {"count": count, "items": [
        {"delivery": r["id"], "hold_until": r["hold_until"], "deadline": r["deadline"],
         "days_left": _days(r["hold_until"], today)} for r in rows]}


def quarantined(ctx: AgentContext) -> dict[str, Any]:
    """Quarantined deliveries; ``by_reason`` counts those quarantined at intake for a reason of their own."""
    count = int(ctx.store.scalar(f"SELECT COUNT(*) FROM deliveries WHERE state = '{QUARANTINED}'") or 0)
    rows = ctx.store.query("SELECT id, received_at, channel, source, due_at, quarantine_reason FROM deliveries "
                           f"WHERE state = '{QUARANTINED}' ORDER BY received_at, id LIMIT ?", (LIST_LIMIT,))
    reasons = ctx.store.query("SELECT quarantine_reason AS reason, COUNT(*) AS n, MIN(id) AS first "
                              f"FROM deliveries WHERE state = '{QUARANTINED}' AND quarantine_reason IS NOT NULL "
                              "GROUP BY quarantine_reason")
    return {"count": count, "items": [
        {"delivery": r["id"], "received_at": r["received_at"], "channel": r["channel"], "source": r["source"],
         "due_at": r["due_at"], "reason": r["quarantine_reason"]} for r in rows],
        "by_reason": {r["reason"]: {"count": int(r["n"]), "first": r["first"]} for r in reasons}}


def sources_not_overwritten(ctx: AgentContext) -> dict[str, Any]:
    """Live deliveries whose plaintext source was removed without being overwritten, by why (a wipe code)."""
    rows = ctx.store.query(f"SELECT source_not_overwritten AS why, COUNT(*) AS n FROM deliveries WHERE state IN "
                           f"{sql_states(LIVE)} AND source_not_overwritten IS NOT NULL GROUP BY source_not_overwritten")
    by_reason = {r["why"]: int(r["n"]) for r in rows}
    return {"count": sum(by_reason.values()), "by_reason": by_reason}


def workspace_copies(ctx: AgentContext) -> dict[str, Any]:
    rows = ctx.store.query(
        "SELECT account, COUNT(*) AS n, MIN(wipe_at) AS next_wipe FROM openings "
        "WHERE copy_path IS NOT NULL AND wiped_at IS NULL GROUP BY account ORDER BY account")
    return {"count": sum(int(r["n"]) for r in rows),
            "next_wipe_at": min((r["next_wipe"] for r in rows if r["next_wipe"]), default=None),
            "by_account": {r["account"]: int(r["n"]) for r in rows}}


def _window_start(ctx: AgentContext, now: datetime) -> int:
    return audit_query.first_seq_from(ctx.store, utc_iso(now - timedelta(days=WINDOW_DAYS)))


def openings(ctx: AgentContext, now: datetime) -> dict[str, Any]:
    """Openings in the last 30 days from the audit log (the openings table loses purged deliveries' rows)."""
    rows = audit_query.count_indexed(ctx.store, audit_query.OPENED, _window_start(ctx, now), 1 << 62,
                                     ("$.actor", "$.details.purpose"),
                                     {"$.action": "delivery.opened", "$.outcome": "ok"})
    return {"count": sum(n for *_, n in rows), "by_account_purpose": [
        {"account": str(a), "purpose": str(p), "count": int(n)} for a, p, n in rows]}


def refusals(ctx: AgentContext, now: datetime) -> dict[str, Any]:
    first = _window_start(ctx, now)
    rows = audit_query.count_indexed(ctx.store, audit_query.DENIED, first, 1 << 62, ("$.actor", "$.action"),
                                     {"$.outcome": "denied"}, weight=REPEATED)
    last = audit_query.last_indexed(ctx.store, audit_query.DENIED, first) if rows else None
    return {"count": sum(n for *_, n in rows), "last_at": last["time"] if last else None, "by_account_action": [
        {"account": str(a), "action": str(act), "count": int(n)} for a, act, n in rows]}


def ceremonies_after_the_fact(ctx: AgentContext, now: datetime) -> dict[str, Any]:
    """Deliveries destroyed in the last 30 days because their ceremony date was recorded when its deadline had
    already passed. The data was kept too long, but not by a late purge: the deadline did not exist before."""
    from retention_agent.lifecycle.purge import reason_facts

    rows = ctx.store.query("SELECT delivery_id, trigger, reason, started_at FROM purges WHERE started_at >= ? "
                           "AND trigger = 'early' ORDER BY started_at, delivery_id",
                           (utc_iso(now - timedelta(days=WINDOW_DAYS)),))
    found = [{"delivery": r["delivery_id"], "destroyed_at": r["started_at"]} for r in rows
             if reason_facts(r["trigger"], r["reason"])[0] == "ceremony-recorded-after-the-fact"]
    return {"count": len(found), "items": found[:LIST_LIMIT]}


def audit_summary(ctx: AgentContext) -> dict[str, Any]:
    last = ctx.store.one("SELECT size, created_at FROM checkpoints ORDER BY size DESC LIMIT 1")
    return {"size": ctx.audit.size,
            "last_checkpoint": None if last is None else {"size": int(last["size"]), "created_at": last["created_at"]},
            "last_verification": ctx.health.audit_verified}


def vault_summary(ctx: AgentContext) -> dict[str, Any]:
    failures = ctx.health.integrity_failures
    return {"last_verification": ctx.health.vault_verified,
            "integrity_failures": {"count": len(failures), "deliveries": sorted(set(failures))[:LIST_LIMIT]}}


def legal_bases(ctx: AgentContext, now: datetime) -> list[dict[str, Any]]:
    """Per legal basis and limited channel: has it lapsed (nr. 43), and which live deliveries does it touch.

    One pass over the live deliveries counts, per basis and channel, those received after the channel's last
    valid day (a channel the basis does not list was never authorised: all of them count)."""
    limits = [(basis.id, channel, utc_iso(start_of_local_day(until + timedelta(days=1))))
              for basis in retention.LEGAL_BASES.values()
              for channel, until in basis.channel_valid_until.items() if until is not None]
    whens = " ".join("WHEN legal_basis = ? AND channel = ? THEN received_at >= ?" for _ in limits) or "WHEN 0 THEN 0"
    groups = ctx.store.query(
        f"SELECT legal_basis, channel, COUNT(*) AS n, SUM(CASE {whens} ELSE 0 END) AS after FROM deliveries "
        f"WHERE state IN {sql_states(LIVE)} GROUP BY legal_basis, channel",
        tuple(value for limit in limits for value in limit))
    counted = {(g["legal_basis"], g["channel"]): (int(g["n"]), int(g["after"] or 0)) for g in groups}
    today = local_date(now)
    configured = {box.channel for box in ctx.config.mailbox} | {inbox.channel for inbox in ctx.config.inbox}
    result = []
    for basis_id in sorted({ctx.config.legal_basis, *(b for b, _ in counted)}):
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


def copies_summary(ctx: AgentContext) -> dict[str, Any]:
    """Copies on workstations: each account's last sweep, the copies found of deliveries not yet purged (with
    where: a location kind and the path inside it), what remains of purged ones, and unlocked workbooks' counts."""
    from retention_agent.copies.records import status_section

    return status_section(ctx)


def checklist_summary(ctx: AgentContext) -> dict[str, Any]:
    rows = checklist.items(ctx.store)
    return {"items": rows, "open": checklist.open_ids(rows)}


def reports_summary(ctx: AgentContext) -> dict[str, Any]:
    from retention_agent.reports import outbox

    rows = outbox.rows(ctx)
    return {"schedule": ctx.config.reports.schedule,
            "addresses_configured": outbox.addresses(ctx.config) != [],
            "last": rows[0] if rows else None,
            "waiting": [r for r in rows if r["delivery"] in ("queued", "failed")][:LIST_LIMIT],
            "recent": rows[:6]}


# ---- assessment ---------------------------------------------------------------------------------------------

# code -> English template (Dutch in locale/nl.po); the values are counts, ids, dates and configuration names
FINDINGS: dict[str, str] = {
    "overdue-purges": N_("{count} purges are overdue: run 'retention-agent purge --due' and find out why"),
    "unfinished-purges": N_("{count} purges did not finish; the agent retries them"),
    "no-ceremony": N_("{count} deliveries have no ceremony date yet"),
    "quarantined": N_("{count} quarantined files wait for the officer's decision"),
    "ceremony-after-the-fact": N_("{count} ceremony dates were recorded after their deadline had passed (last 30 "
                                  "days): those deliveries were kept too long, then destroyed when the date was "
                                  "recorded"),
    "integrity-failures": N_("{count} vault objects failed their integrity check"),
    "vault-verification-failed": N_("The last verification of the vault found problems"),
    "audit-verification-failed": N_("The last verification of the audit log found problems"),
    "vault-not-verified": N_("The vault was not verified since the agent started"),
    "audit-not-verified": N_("The audit log was not verified since the agent started"),
    "file-key-store": N_("Keys are kept in a file in the home, not in the OS key store: a backup of the home "
                         "carries the keys with the vault"),
    "test-hooks": N_("Test-only settings were switched on (first seen {at})"),
    "intake-failing": N_("Intake {name} is failing ({error})"),
    "intake-retrying": N_("Intake {name} is retrying ({error})"),
    "intake-stopped": N_("Intake {name} has stopped ({error})"),
    "folder-swapped": N_("Drop folder {name} was replaced after the agent opened it (renamed away, or a link put in "
                         "its place); no file is taken from it any more. Find out who changed it (audit log: "
                         "intake.refused), put the real folder back and restart the agent"),
    "folder-link-in-path": N_("Drop folder {name} is reached through a symbolic link, or is not a folder; it is not "
                              "watched. Configure the real path of the folder, without links"),
    "folder-inside-home": N_("Drop folder {name} lies inside the agent's home or its key store; it is not watched. "
                             "Choose a folder outside them"),
    "folder-unsafe-parent": N_("A folder above drop folder {name} may be changed by other accounts; the drop folder "
                               "is not watched. Take their write access away, or set the sticky bit on that folder "
                               "(chmod +t)"),
    "source-refused": N_("{count} items in {name} are links, folders or special files and stay where they are: put "
                         "the file itself in the folder"),
    "source-hard-link": N_("{count} files in {name} have more than one name (hard links) and stay where they are: "
                           "put a copy in the folder, not a link"),
    "source-sparse": N_("{count} files in {name} are sparse (mostly holes) and stay where they are: find out where "
                        "they came from and remove them"),
    "source-owned-by-agent": N_("{count} files in {name} belong to the agent's own account and stay where they are: "
                                "find out how they got there and remove them"),
    "source-too-large": N_("{count} files in {name} are larger than {limit} bytes and stay where they are: take them "
                           "in with 'retention-agent ingest', or raise intake.max_file_bytes"),
    "imap-message-too-large": N_("{count} messages in mailbox {name} are larger than the limit and stay on the "
                                 "server: save their attachments and take them in with 'retention-agent ingest'"),
    "mail-too-many-files": N_("{count} quarantined deliveries are whole messages with more than {limit} files (the "
                              "first is {delivery}): check them, then release or purge them"),
    "mail-not-authenticated": N_("Mailbox {name} takes mail on its sender address alone; a forged AgII sender would "
                                 "be trusted. Set authserv_id for it (see docs/administrator.md)"),
    "sources-not-overwritten": N_("{count} live deliveries came from a plaintext file that could not be overwritten "
                                  "before it was removed ({reasons}); its bytes may remain on that disk"),
    "oauth-credential-refused": N_("Mailbox {name}: the identity provider refuses the agent's credentials (client "
                                   "secret, certificate or application); messages stay on the server. Replace the "
                                   "credential in Entra ID and give it to the agent ('retention-agent secret set "
                                   "mailbox-{name}', or a new file at certificate_path)"),
    "oauth-signin-required": N_("Mailbox {name} needs someone to sign in again: run 'retention-agent mailbox signin "
                                "{name}' and sign in with the mailbox's account"),
    "oauth-certificate-unreadable": N_("The certificate of mailbox {name} cannot be used: certificate_path must be a "
                                       "PEM file with the private key and the certificate, readable by the agent's "
                                       "account only (chmod 600)"),
    "oauth-configuration": N_("The identity provider does not know the tenant of mailbox {name}: check tenant and "
                              "authority_host in the configuration"),
    "oauth-authority-unreachable": N_("Mailbox {name} cannot reach the identity provider (network, proxy or TLS); "
                                      "the agent retries with back-off"),
    "imap-oauth-refused": N_("The mail server refuses the agent's token for mailbox {name}: the application may not "
                             "open it. Check the Exchange service principal and Add-MailboxPermission "
                             "(docs/administrator.md)"),
    "graph-access-denied": N_("Microsoft Graph refuses the agent access to mailbox {name}: check that username is "
                              "the mailbox's address, the permission Mail.ReadWrite and the application access policy "
                              "(docs/administrator.md)"),
    "mailbox-copies-remaining": N_("{count} copies of AgII messages were left in mailbox {name} (copies = \"report\", "
                                   "or a removal failed): remove them by hand; their proofs of deletion say so"),
    "mailbox-copies-pending": N_("{count} searches for other copies of taken messages in mailbox {name} have not "
                                 "finished since {since}; see the agent's log"),
    "legal-basis-lapsed": N_("{count} live deliveries arrived by {channel} after its legal basis ({basis}) lapsed "
                             "on {date}"),
    "channel-lapsed": N_("The legal basis {basis} no longer covers deliveries by {channel} (valid until {date}), "
                         "but an intake still takes that channel: data may no longer arrive that way"),
    "checklist-open": N_("{count} conditions of the deliberation are still open: {items}"),
    "reports-not-sent": N_("{count} reports could not be sent yet ({error}); they are retried"),
    "copies-found": N_("{count} copies of deliveries were found on workstations (see 'Copies on workstations'); "
                       "they are erased when their delivery is purged"),
    "copies-remaining": N_("{count} copies of purged deliveries remain on workstations: the staff member's session "
                           "could not erase them, or has not run since the purge (see 'Copies on workstations')"),
    "workbook-invalid-numbers": N_("The workbook of delivery {delivery} has {count} national register numbers with "
                                   "wrong check digits: check the list with AgII"),
    "disk-space-low": N_("The disk of the agent's home has {free_mib} MiB free, below the floor of {floor_mib} "
                         "MiB: no new deliveries are taken in until space is freed"),
}


OAUTH_FINDINGS = ("oauth-credential-refused", "oauth-signin-required", "oauth-certificate-unreadable",
                  "oauth-configuration", "oauth-authority-unreachable", "imap-oauth-refused", "graph-access-denied")


def _finding(code: str, **params: Any) -> Finding:
    return {"code": code, "message": FINDINGS[code], "params": params}


def assess(status: dict[str, Any]) -> tuple[list[Finding], list[Finding]]:
    """Problems (not compliant) and warnings, each a code, an English template and its values."""
    problems: list[Finding] = []
    warnings: list[Finding] = []
    _assess_purges(status, problems, warnings)
    _assess_integrity(status, problems, warnings)
    _assess_intake(status, problems, warnings)
    _assess_legal_bases(status, problems, warnings)
    _assess_organisation(status, problems, warnings)
    _assess_copies(status, problems, warnings)
    disk = status["health"]["disk"]
    if disk["low"]:
        problems.append(_finding("disk-space-low", free_mib=disk["free_bytes"] >> 20,
                                 floor_mib=-(-disk["floor_bytes"] >> 20)))
    return problems, warnings


def _assess_purges(status: dict[str, Any], problems: list[Finding], warnings: list[Finding]) -> None:
    overdue = status["overdue_purges"]["count"]
    if overdue:
        problems.append(_finding("overdue-purges", count=overdue))
    if status["unfinished_purges"]:
        problems.append(_finding("unfinished-purges", count=status["unfinished_purges"]))
    without = status["deliveries"]["without_ceremony"]["count"]
    if without:
        warnings.append(_finding("no-ceremony", count=without))
    if status["quarantined"]["count"]:
        warnings.append(_finding("quarantined", count=status["quarantined"]["count"]))
    if status["ceremonies_after_the_fact_30d"]["count"]:
        warnings.append(_finding("ceremony-after-the-fact", count=status["ceremonies_after_the_fact_30d"]["count"]))


def _assess_integrity(status: dict[str, Any], problems: list[Finding], warnings: list[Finding]) -> None:
    failures = status["vault"]["integrity_failures"]["count"]
    if failures:
        problems.append(_finding("integrity-failures", count=failures))
    for part in ("vault", "audit"):
        verified = status[part]["last_verification"]
        if verified and not verified.get("ok"):
            problems.append(_finding(f"{part}-verification-failed"))
        elif not verified:
            warnings.append(_finding(f"{part}-not-verified"))
    if status["health"]["key_store"]["file_store"]:
        warnings.append(_finding("file-key-store"))
    hooks = status["health"]["test_hooks"]
    if hooks["active"] or hooks["first_seen"]:
        problems.append(_finding("test-hooks", at=hooks["first_seen"] or status["generated_at"]))


def _assess_intake(status: dict[str, Any], problems: list[Finding], warnings: list[Finding]) -> None:
    limits = status["health"]["intake_limits"]
    for watcher in status["health"]["intake"]:
        error = watcher["last_error_id"] or "-"
        name = watcher["name"].partition(":")[2] or watcher["name"]
        refused = {r["code"]: r["count"] for r in watcher.get("refused", [])}
        folder = [code for code in refused if code.startswith("folder-") and code in FINDINGS]
        for code in folder:
            problems.append(_finding(code, name=name))
        for code, count in sorted(refused.items()):
            if code not in folder and code in FINDINGS:
                problems.append(_finding(code, name=name, count=count, limit=limits["max_file_bytes"]))
        if folder:
            continue  # the refusal says what is wrong and what to do; "failing" would only repeat it
        if watcher["state"] in ("failing", "retrying") and error in OAUTH_FINDINGS:
            (problems if watcher["state"] == "failing" else warnings).append(_finding(error, name=name))
        elif watcher["state"] == "failing":
            problems.append(_finding("intake-failing", name=watcher["name"], error=error))
        elif watcher["state"] in ("retrying", "stopped"):
            warnings.append(_finding("intake-" + watcher["state"], name=watcher["name"], error=error))
    for box in status["health"]["mail_authentication"]:
        if not box["authserv_id_configured"]:
            warnings.append(_finding("mail-not-authenticated", name=box["mailbox"]))
    flood = status["quarantined"]["by_reason"].get("mail-too-many-files")
    if flood:
        problems.append(_finding("mail-too-many-files", count=flood["count"], delivery=flood["first"],
                                 limit=limits["max_files_per_message"]))
    for box in status["mailbox_copies"]["by_mailbox"]:
        if box["remaining"]:
            warnings.append(_finding("mailbox-copies-remaining", name=box["mailbox"], count=box["remaining"]))
        stale = box["oldest_pending"] and box["oldest_pending"] < utc_iso(parse_utc(status["generated_at"])
                                                                           - timedelta(hours=1))
        if stale:
            warnings.append(_finding("mailbox-copies-pending", name=box["mailbox"], count=box["pending"],
                                     since=box["oldest_pending"]))
    kept = status["sources_not_overwritten"]
    if kept["count"]:
        warnings.append(_finding("sources-not-overwritten", count=kept["count"],
                                 reasons=", ".join(sorted(kept["by_reason"]))))


def _assess_legal_bases(status: dict[str, Any], problems: list[Finding], warnings: list[Finding]) -> None:
    for row in status["legal_bases"]:
        values = {"channel": row["channel"], "basis": row["legal_basis"], "date": row["valid_until"] or "-"}
        if row["received_after_lapse"]:
            problems.append(_finding("legal-basis-lapsed", count=row["received_after_lapse"], **values))
        elif row["lapsed"] and row["intake_configured"]:  # a mailbox or folder still takes this channel
            warnings.append(_finding("channel-lapsed", **values))


def _assess_copies(status: dict[str, Any], problems: list[Finding], warnings: list[Finding]) -> None:
    copies = status["copies"]
    remaining = copies["remaining"]["count"] + copies["found"]["remaining"]
    if remaining:
        problems.append(_finding("copies-remaining", count=remaining))
    if copies["found"]["count"]:
        warnings.append(_finding("copies-found", count=copies["found"]["count"]))
    for item in copies["contents"]:
        if item["invalid_numbers"]:
            warnings.append(_finding("workbook-invalid-numbers", delivery=item["delivery"],
                                     count=item["invalid_numbers"]))


def _assess_organisation(status: dict[str, Any], problems: list[Finding], warnings: list[Finding]) -> None:
    still_open = status["checklist"]["open"]
    if still_open:
        problems.append(_finding("checklist-open", count=len(still_open), items=", ".join(still_open)))
    failed = [r for r in status["reports"]["waiting"] if r["delivery"] == "failed"]
    if failed:
        warnings.append(_finding("reports-not-sent", count=len(failed), error=failed[0]["last_error"] or "?"))
