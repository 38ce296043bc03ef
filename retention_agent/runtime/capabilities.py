"""Which capabilities the running agent has: each registers its API operations and periodic duties here.

Kept apart from ``agent.py`` so that the composition root stays short as capabilities are added; it does not
import ``agent.py`` (the ticker has its own module).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from apscheduler.schedulers.background import BackgroundScheduler

from retention_agent.api.services import Services, WiredContext
from retention_agent.intake.base import TOO_MANY_FILES
from retention_agent.lifecycle.purge import Purger, resume_unfinished
from retention_agent.lifecycle.purge_schedule import Schedule
from retention_agent.lifecycle.workspace_wipe import wipe_expired_copies
from retention_agent.runtime.context import AgentContext
from retention_agent.runtime.ticker import Ticker
from retention_agent.runtime.upkeep import DatabaseUpkeep
from retention_agent.status.document import note_test_hooks
from retention_agent.store.notifications import Notifier

if TYPE_CHECKING:  # the sweeper (and what it reads files with) is loaded only in per-user mode
    from retention_agent.copies.session import Sweeper

log = logging.getLogger(__name__)


class Service(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


class WakeTimer:
    """An in-memory APScheduler timer that wakes the ticker at the next due moment.

    Only ever a hint: the database stays the truth and the periodic tick runs regardless, so a timer lost
    to a crash or a clock change costs at most one tick interval (FIELD-NOTES: APScheduler 3.x).
    """

    def __init__(self, wake: object) -> None:
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.wake = wake
        self.pending: datetime | None = None  # asked for before start (the first tick runs before it)

    def start(self) -> None:
        self.scheduler.start()
        if self.pending is not None:
            self.at(self.pending)

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)

    def at(self, moment: datetime) -> None:
        if not self.scheduler.running:
            self.pending = moment
            return
        self.scheduler.add_job(self.wake, "date", run_date=moment, id="next-due", replace_existing=True,
                               misfire_grace_time=None)


def wire(ctx: WiredContext, ticker: Ticker) -> list[Service]:
    """Register operations and duties; return the background services to start and stop."""
    register_operations()
    note_test_hooks(ctx)  # at start, so even an agent killed before its first tick is on record
    ctx.ingest.recover()
    notifier = Notifier(ctx.store, ctx.clock)
    sweeper, account = own_sweeper(ctx)
    purger = Purger(ctx, copies=sweeper, copies_account=account)
    timer = WakeTimer(ticker.wake.set)
    schedule = Schedule(ctx, purger, notifier, wake_at=timer.at)
    ctx.wire(Services(notifier=notifier, purger=purger, schedule=schedule, wake=ticker.wake.set,
                      copies_account=account))
    resume_unfinished(ctx, purger)
    watchers = intake_watchers(ctx, notifier)
    ctx.health.intake = watchers
    ticker.duties.append(("schedule", schedule.tick))
    ticker.duties.append(("audit-checkpoint", lambda: _checkpoint_if_due(ctx)))
    ticker.duties.append(("workspace-wipe", lambda: _discard(wipe_expired_copies(ctx))))
    from retention_agent.reports.schedule import ReportDuty

    ticker.duties.append(("dpo-reports", ReportDuty(ctx)))
    upkeep = DatabaseUpkeep(ctx)
    ticker.duties.append(("database-upkeep", lambda: _discard(upkeep())))
    if sweeper is not None:
        ticker.duties.append(("copies-sweep", CopiesDuty(ctx, sweeper).tick))
    return [timer, RefusalFlusher(ctx), *watchers.values()]


class RefusalFlusher:
    """Writes the follow-up entries of folded refusals every few seconds, whether or not requests come
    (api/refusals.py); the agent writes what is left when it stops."""

    INTERVAL_S = 5.0

    def __init__(self, ctx: WiredContext) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="refusals", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        from retention_agent.api.handlers import flush_refusals

        while not self._stop.wait(self.INTERVAL_S):
            try:
                flush_refusals(self.ctx)
            except Exception as exc:  # a full or locked database: the counts stay and are written later
                if self.ctx.log_limits.allow(f"refusals:{type(exc).__name__}") is not None:
                    log.warning("refused requests could not be audited yet: %s", type(exc).__name__)


class CopiesDuty:
    """Per-user mode: the agent is the staff member, so it sweeps that account's folders itself, in a thread of
    its own every ``[copies] interval_minutes`` (the first at start-up), and erases them in the purge's step."""

    def __init__(self, ctx: AgentContext, sweeper: Sweeper) -> None:
        self.ctx, self.sweeper = ctx, sweeper
        self.thread: threading.Thread | None = None
        self.last: float | None = None

    def tick(self) -> None:
        now = self.ctx.clock.monotonic()
        if self.thread is not None and self.thread.is_alive():
            return
        if self.last is not None and now - self.last < self.ctx.config.copies.interval_minutes * 60:
            return
        self.last = now
        self.thread = threading.Thread(target=self._run, name="copies-sweep", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.sweeper.run()
        except Exception:
            log.exception("the sweep for copies failed; retried at the next interval")


def own_sweeper(ctx: AgentContext) -> tuple[Sweeper | None, str | None]:
    """The per-user agent's own sweeper and account (shared mode: the staff's sessions sweep, not the service
    account)."""
    if ctx.config.deployment != "user" or not ctx.config.copies.sweep:
        return None, None
    from retention_agent.copies.records import LocalLink
    from retention_agent.copies.session import Sweeper, cache_path
    from retention_agent.system.accounts import current_account

    account = current_account()
    return Sweeper(LocalLink(ctx, account), cache_path(ctx.home.socket), exclude=[ctx.home.root]), account


def intake_watchers(ctx: AgentContext, notifier: Notifier) -> dict[str, Service]:
    """Drop folders, Downloads folders and mailboxes, all delivering through the one crash-safe ingest path."""
    from retention_agent.intake.downloads import NoticeBoard
    from retention_agent.intake.router import Router
    from retention_agent.intake.setup import downloads_watchers, folder_watchers, mailbox_watchers
    from retention_agent.store.mail_copies import StoredLedger
    from retention_agent.vault.keys import key_store_folders

    def announce(new: Sequence[tuple[str, bool, str]]) -> None:
        """One notification per file or message and audience, never one per attachment."""
        for quarantined, audience in ((False, "staff"), (True, "officer")):
            mine = [(delivery, reason) for delivery, q, reason in new if q == quarantined]
            if not mine:
                continue
            first, reason = mine[0]
            if reason == TOO_MANY_FILES:
                notifier.notify(audience, "message-too-many-files", delivery=first,
                                limit=ctx.config.intake.max_files_per_message)
            elif len(mine) > 1:
                kind = "message-quarantined" if quarantined else "message-received"
                notifier.notify(audience, kind, delivery=first, count=len(mine))
            else:
                notifier.notify(audience, "delivery-quarantined" if quarantined else "delivery-received",
                                delivery=first)

    def refused(source: str, code: str, item: str) -> None:
        """Each refusal once (the watchers report an item once per episode, not per scan)."""
        details = {"why": code, **({"item": item} if item else {})}
        try:
            ctx.audit.append("agent", "intake.refused", "refused", [source], details)
        except Exception as exc:  # the audit log refused (a full disk): status still shows the refusal
            log.error("intake %s: could not audit refusal %s (%s)", source, code, type(exc).__name__)

    def source_kept(delivery_ids: Sequence[str], why: str) -> None:
        ctx.ingest.source_not_overwritten(delivery_ids, why)

    router = Router(ctx.ingest, announce, max_files_per_message=ctx.config.intake.max_files_per_message)
    protected = [ctx.home.root, *key_store_folders(ctx.config.key_store, ctx.home.keys)]
    watchers: dict[str, Service] = {}
    watchers.update(folder_watchers(ctx.config, router, ctx.clock, protected=protected, report=refused,
                                    source_kept=source_kept))
    board = NoticeBoard()  # Zivver notifications seen by a mailbox open the window of a Downloads folder
    watchers.update(downloads_watchers(ctx.config, router, ctx.clock, board, protected=protected, report=refused,
                                       source_kept=source_kept))
    watchers.update(mailbox_watchers(ctx.config, router, ctx.clock, ctx.keys, deliver_message=router.deliver_message,
                                     report=refused, copies=StoredLedger(ctx.store, ctx.clock), board=board))
    return watchers


def register_operations() -> None:
    """Import the operation modules; each registers its operations with the API dispatcher."""
    from retention_agent.api import (  # noqa: F401
        ops_admin,
        ops_copies,
        ops_mailbox,
        ops_reports,
        ops_retention,
        ops_secrets,
        ops_service,
        ops_vault,
    )


def _discard(_result: object) -> None:
    return None


def _checkpoint_if_due(ctx: AgentContext) -> None:
    latest = ctx.audit.latest_checkpoint()
    if latest is None or latest[0] < ctx.audit.size:
        last = ctx.health.checkpoint_at
        interval = ctx.config.audit.checkpoint_interval_minutes * 60
        now = ctx.clock.monotonic()
        if last is None or now - last >= interval:
            ctx.audit.checkpoint()
            ctx.health.checkpoint_at = now
