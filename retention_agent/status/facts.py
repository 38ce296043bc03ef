"""The read model of status and reports: everything they state, read once into one frozen object.

:func:`gather` reads the database (through the store layer and the audit log's indexed queries), the agent's
in-memory state (:func:`running`, the one place that knows how the running agent keeps it) and the
configuration, at one moment ``now``. The officer's status document (:mod:`retention_agent.status.document`)
and the DPO report (:mod:`retention_agent.reports.build`) are built from the :class:`Facts` alone; neither
reads anything else, so a report's "situation" section and ``status`` at the same moment cannot disagree.
:func:`gather_period` adds what a report period needs (its audit entries, purges and proofs).

Fast on large homes: counts are SQL aggregates over indexed columns, the audit log is never read whole
(binary search by time plus partial indexes), lists are capped. No personal data: delivery ids, dates,
counts, account names of staff, configuration names and error ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from retention_agent import testing_hooks as testing
from retention_agent.audit import query as audit_query
from retention_agent.clock import local_date, parse_utc, start_of_local_day, utc_iso
from retention_agent.evidence import proof
from retention_agent.lifecycle.purge import reason_facts
from retention_agent.lifecycle.purge_schedule import AWAITING, facts_of
from retention_agent.rules import retention
from retention_agent.rules.access import StaffMember
from retention_agent.runtime.context import AgentContext
from retention_agent.status import checklist
from retention_agent.store import checklist as stored_checklist
from retention_agent.store import deliveries, mail_copies, reads
from retention_agent.store import reports as stored_reports

WINDOW_DAYS = 30
NEXT_PURGES = 10
LIST_LIMIT = 20
HOOKS_SEEN = "testing.hooks-seen"
REPEATED = "$.details.repeated"  # a folded follow-up entry counts the refusals it stands for (api/refusals.py)
EVENT_ACTIONS = ("delivery.received", "delivery.duplicate", "hold.set", "hold.released", "ceremony.set",
                 "quarantine.released", "staff.changed", "clock.jump", "delivery.integrity-failure",
                 "checklist.set", "purge.awaiting-clock-confirmation")
Row = Mapping[str, Any]
Rows = tuple[Row, ...]
T = TypeVar("T")


@dataclass(frozen=True)
class Watcher:
    """An intake watcher as it is now. ``refused``: what it leaves where it is, by code, with how many items."""

    name: str
    state: str
    last_success: str | None
    last_error_id: str | None
    refused: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Running:
    """What the running agent knows about itself (in memory: a restart starts afresh)."""

    started_at: datetime
    last_tick: str | None
    audit_verified: Row | None
    vault_verified: Row | None
    integrity_failures: tuple[str, ...]
    purging: frozenset[str]  # the purges running right now
    watchers: tuple[Watcher, ...]
    tokens: Rows  # each OAuth2 mailbox's token: expiry, acquisition, the last failure (an error id)


@dataclass(frozen=True)
class Counted(Generic[T]):
    """How many there are, and the first of them (a capped list)."""

    count: int
    items: tuple[T, ...]


@dataclass(frozen=True)
class Due:
    """A live delivery's purge as the schedule plans it."""

    delivery: str
    state: str
    due_at: str
    deadline: str | None
    reason: str | None = None  # why it is due then (a plan's reason code)

    @classmethod
    def of(cls, row: Row) -> Due:
        return cls(row["id"], row["state"], row["due_at"], row["deadline"], row.get("due_reason"))


@dataclass(frozen=True)
class Hold:
    delivery: str
    hold_until: str | None  # None: until released
    deadline: str | None


@dataclass(frozen=True)
class Quarantined:
    delivery: str
    received_at: str
    channel: str
    source: str
    due_at: str | None
    reason: str | None  # a reason of its own from intake (a code), else None


@dataclass(frozen=True)
class Facts:
    now: datetime
    running: Running
    key_store: str  # the key store backend
    hooks_active: bool
    hooks_first_seen: str | None
    disk: Row  # the free-space reading of the home's disk
    last_received: str | None
    by_state: Mapping[str, int]
    without_ceremony: tuple[int, str | None]  # count, oldest received_at
    next_purges: tuple[Due, ...]  # planned (a stored plan, or planned now), by due moment
    overdue: Counted[Due]
    awaiting_clock: frozenset[str]  # purges waiting for the officer's clock confirmation
    unfinished_purges: tuple[str, ...]  # started and not finished (the running ones included)
    holds: Counted[Hold]
    quarantined: Counted[Quarantined]
    quarantine_reasons: Rows  # reason, n, first
    sources_not_overwritten: Mapping[str, int]
    mailbox_copies: Row
    workspace_copies: Rows  # account, n, next_wipe
    openings: tuple[tuple[str, str, int], ...]  # account, purpose, count in the window
    refusals: tuple[tuple[str, str, int], ...]  # account, action, count in the window
    last_refusal_at: str | None
    after_the_fact: Rows  # early purges in the window whose reason is a ceremony recorded after the fact
    audit_size: int
    last_checkpoint: Row | None
    live_by_basis: Mapping[tuple[str, str], tuple[int, int]]  # live, received after the channel lapsed
    checklist: tuple[Row, ...]
    reports: Rows  # newest first
    reports_addressed: bool
    copy_sweeps: Rows
    copy_findings: Rows
    copy_tallies: Rows
    copy_contents: Rows
    staff: tuple[StaffMember, ...]  # the authorised persons
    created_at: str | None  # when the installation was created


def gather(ctx: AgentContext, now: datetime) -> Facts:
    """Read everything status and the report's situation section state, as of ``now``."""
    store = ctx.store
    running_now = running(ctx)
    grace = timedelta(seconds=2 * ctx.config.retention.tick_seconds + 60)
    overdue = deliveries.overdue(store, utc_iso(now - grace), local_date(now).isoformat(), LIST_LIMIT)
    held = deliveries.held(store, LIST_LIMIT)
    quarantined, quarantined_rows, reasons = deliveries.quarantined(store, LIST_LIMIT)
    first = audit_query.first_seq_from(store, utc_iso(now - timedelta(days=WINDOW_DAYS)))
    refused = audit_query.count_indexed(store, audit_query.DENIED, first, 1 << 62, ("$.actor", "$.action"),
                                        {"$.outcome": "denied"}, weight=REPEATED)
    last_refusal = audit_query.last_indexed(store, audit_query.DENIED, first) if refused else None
    return Facts(
        now=now, running=running_now, key_store=ctx.keys.backend_name, hooks_active=testing.hooks_requested(),
        hooks_first_seen=store.get_meta(HOOKS_SEEN), disk=ctx.free_space.reading().to_wire(),
        last_received=deliveries.last_received(store), by_state=deliveries.count_by_state(store),
        without_ceremony=deliveries.without_ceremony(store), next_purges=_next_purges(ctx, now),
        overdue=Counted(overdue[0], tuple(Due.of(r) for r in overdue[1])), awaiting_clock=frozenset(_awaiting(ctx)),
        unfinished_purges=tuple(reads.unfinished_purges(store)),
        holds=Counted(held[0], tuple(Hold(r["id"], r["hold_until"], r["deadline"]) for r in held[1])),
        quarantined=Counted(quarantined, tuple(Quarantined(r["id"], r["received_at"], r["channel"], r["source"],
                                                           r["due_at"], r["quarantine_reason"])
                                               for r in quarantined_rows)),
        quarantine_reasons=tuple(reasons),
        sources_not_overwritten=deliveries.sources_not_overwritten(store),
        mailbox_copies=mail_copies.summary(store), workspace_copies=tuple(reads.workspace_copies(store)),
        openings=tuple((str(a), str(p), int(n)) for a, p, n in audit_query.count_indexed(
            store, audit_query.OPENED, first, 1 << 62, ("$.actor", "$.details.purpose"),
            {"$.action": "delivery.opened", "$.outcome": "ok"})),
        refusals=tuple((str(a), str(act), int(n)) for a, act, n in refused),
        last_refusal_at=last_refusal["time"] if last_refusal else None,
        after_the_fact=_after_the_fact(ctx, now), audit_size=ctx.audit.size,
        last_checkpoint=reads.last_checkpoint(store),
        live_by_basis=deliveries.live_by_basis_and_channel(store, _lapse_limits()),
        checklist=tuple(checklist.items(stored_checklist.rows(store))),
        reports=tuple(stored_reports.rows(store, addressed=bool(ctx.config.reports.recipients))),
        reports_addressed=bool(ctx.config.reports.recipients),
        copy_sweeps=tuple(reads.copy_sweeps(store)), copy_findings=tuple(reads.open_copy_findings(store)),
        copy_tallies=tuple(reads.copy_tallies_remaining(store)), copy_contents=tuple(reads.unpurged_contents(store)),
        staff=tuple(ctx.staff.members().values()), created_at=store.get_meta("created_at"))


def running(ctx: AgentContext) -> Running:
    """The agent's in-memory state, read here and nowhere else in status and reports."""
    intake = sorted(ctx.health.intake.items())
    health = ctx.health
    return Running(
        started_at=ctx.started_at, last_tick=health.last_tick,
        audit_verified=health.audit_verified, vault_verified=health.vault_verified,
        integrity_failures=tuple(health.integrity_failures), purging=frozenset(health.purging),
        watchers=tuple(_watcher(str(name), item) for name, item in intake),
        tokens=tuple(_token(str(name), token) for name, item in intake
                     if (token := getattr(item, "token_status", None)) is not None))


def _watcher(name: str, item: object) -> Watcher:
    """The component may be the status object itself or a watcher with ``.status``."""
    status = item if hasattr(item, "state") else getattr(item, "status", item)
    shared = getattr(status, "intake", None)
    refused = _first_attr("refused", status, shared) or ()
    return Watcher(name, str(getattr(status, "state", "unknown")), _moment(_first_attr("last_success", status, shared)),
                   _first_attr("last_error_id", status, shared),
                   tuple((str(code), int(count)) for code, count in refused))


def _token(name: str, token: Any) -> Row:
    return {"mailbox": name.partition(":")[2] or name, "flow": token.flow, "credential": token.credential,
            "expires_at": _moment(token.expires_at), "acquired_at": _moment(token.acquired_at),
            "last_failure": token.last_failure, "last_failure_at": _moment(token.last_failure_at)}


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


def _next_purges(ctx: AgentContext, now: datetime) -> tuple[Due, ...]:
    """The next purges the schedule will run (held and quarantined deliveries wait for the officer); deliveries
    that arrived since the last tick have no stored plan yet: they are planned here."""
    rows = deliveries.next_planned(ctx.store, NEXT_PURGES)
    for row in deliveries.not_yet_planned(ctx.store):
        try:
            basis = retention.legal_basis(row["legal_basis"])
            plan = retention.purge_plan(facts_of(row), now, basis, ctx.config.retention.max_without_ceremony_months)
        except (KeyError, ValueError):
            continue
        if plan.due_at is not None:
            rows.append({"id": row["id"], "state": row["state"], "due_at": utc_iso(plan.due_at),
                         "deadline": plan.deadline.isoformat() if plan.deadline else None,
                         "due_reason": plan.reason})
    rows.sort(key=lambda r: (r["due_at"], r["id"]))
    return tuple(Due.of(r) for r in rows[:NEXT_PURGES])


def _awaiting(ctx: AgentContext) -> list[str]:
    try:
        return [str(i) for i in json.loads(ctx.store.get_meta(AWAITING) or "[]")]
    except ValueError:
        return []


def _after_the_fact(ctx: AgentContext, now: datetime) -> Rows:
    """Deliveries destroyed in the window because their ceremony date was recorded when its deadline had
    already passed. The data was kept too long, but not by a late purge: the deadline did not exist before."""
    rows = reads.early_purges_since(ctx.store, utc_iso(now - timedelta(days=WINDOW_DAYS)))
    return tuple({"delivery": r["delivery_id"], "destroyed_at": r["started_at"]} for r in rows
                 if reason_facts(r["trigger"], r["reason"])[0] == "ceremony-recorded-after-the-fact")


def _lapse_limits() -> list[tuple[str, str, str]]:
    """Per legal basis and limited channel: the first moment the channel is no longer covered."""
    return [(basis.id, channel, utc_iso(start_of_local_day(until + timedelta(days=1))))
            for basis in retention.LEGAL_BASES.values()
            for channel, until in basis.channel_valid_until.items() if until is not None]


# ---- a report period ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeRecord:
    """A finished purge as its proof states it: ``purged_at`` is the proof's, and trigger, reason and lateness
    (against the deadline day, nr. 41) come from the same record through the same functions."""

    delivery: str
    trigger: str  # the proof's trigger word
    reason: str  # a reason code
    due_at: str | None
    deadline: str | None
    purged_at: str
    lateness_seconds: int
    late: bool
    proof_sha256: str | None
    copies_counts: Row  # what the purge's copies step counted, as its proof states it

    @classmethod
    def of(cls, row: Row) -> PurgeRecord:
        purged_at = parse_utc(row["finished_at"])
        due = parse_utc(row["due_at"]) if row["due_at"] else None
        return cls(row["delivery_id"], proof.trigger_of(row["trigger"]), reason_facts(row["trigger"], row["reason"])[0],
                   row["due_at"], row["deadline"], row["finished_at"], retention.lateness_seconds(due, purged_at),
                   retention.purged_late(due, purged_at), row["proof_sha256"],
                   json.loads(row["steps"] or "{}").get("copies_counts") or {})

    def to_json(self) -> dict[str, Any]:
        return {"delivery": self.delivery, "trigger": self.trigger, "reason": self.reason, "due_at": self.due_at,
                "deadline": self.deadline, "purged_at": self.purged_at, "lateness_seconds": self.lateness_seconds,
                "late": self.late, "proof_sha256": self.proof_sha256}


@dataclass(frozen=True)
class PeriodFacts:
    """What happened in a report period: its audit entries of interest, the purges that finished in it (with
    their stored steps) and their proof files, the failed purges, and the copy tallies now."""

    events: Rows  # entries of EVENT_ACTIONS
    opened: Rows  # delivery.opened entries
    denied: Rows  # refused requests
    purges: tuple[PurgeRecord, ...]  # in the order they finished
    proofs: Rows  # per purge: the proof file as stored, or missing
    failed_purges: Rows  # created_at, params
    copy_totals: Mapping[str, int]  # remaining, erased, gone (after the proofs)


def gather_period(ctx: AgentContext, start: datetime, end: datetime, until: datetime) -> PeriodFacts:
    """The facts of the period ``[start, end)`` as of ``until`` (audit entries up to then)."""
    store = ctx.store
    first, stop = audit_query.seq_range(store, utc_iso(start), utc_iso(min(end, until)))
    purges = deliveries.purges_finished(store, utc_iso(start), utc_iso(end))
    return PeriodFacts(
        events=tuple(audit_query.with_actions(store, EVENT_ACTIONS, first, stop)),
        opened=tuple(e for e in audit_query.indexed(store, audit_query.OPENED, first, stop)
                     if e.get("action") == "delivery.opened"),
        denied=tuple(e for e in audit_query.indexed(store, audit_query.DENIED, first, stop)
                     if e.get("outcome") == "denied"),
        purges=tuple(PurgeRecord.of(row) for row in purges), proofs=tuple(_proof_file(ctx, row) for row in purges),
        failed_purges=tuple(reads.failed_purge_notices(store, utc_iso(start), utc_iso(end))),
        copy_totals=reads.copy_tallies_totals(store))


def _proof_file(ctx: AgentContext, row: Row) -> Row:
    """A purge's signed proof of deletion as the home holds it (JSON text + signature), or that it is missing."""
    delivery = row["delivery_id"]
    json_path, sig_path = ctx.home.proofs / f"{delivery}.json", ctx.home.proofs / f"{delivery}.json.sig"
    try:
        data, signature = json_path.read_bytes(), sig_path.read_text(encoding="ascii")
    except (OSError, UnicodeError):
        return {"delivery_id": delivery, "sha256": row["proof_sha256"], "missing": True}
    return {"delivery_id": delivery, "sha256": hashlib.sha256(data).hexdigest(), "json": data.decode("ascii"),
            "signature": signature, "missing": False}

