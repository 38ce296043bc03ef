"""The report duty, run on every tick: make the scheduled report once its period has ended, then send what
waits to be sent when addresses are configured, with back-off after a failure.

``[reports] schedule`` is ``monthly`` (default), ``quarterly`` or ``off``. The first report covers the period
in which the installation was created; each later one continues from the previous one (missing months are
made on the way, see ``generate.make_report``). The back-off lives in memory: after a restart the agent
tries at once, which is what a person would do too.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from retention_agent.backoff import Backoff
from retention_agent.clock import parse_utc
from retention_agent.errors import RetentionAgentError
from retention_agent.reports import outbox, smtp
from retention_agent.reports.generate import make_report, schedule_kind
from retention_agent.reports.period import Period, containing, last_complete
from retention_agent.runtime.context import AgentContext
from retention_agent.status.document import note_test_hooks

log = logging.getLogger(__name__)
SEND_BACKOFF = Backoff(base_s=300.0, factor=2.0, max_s=6 * 3600.0)
MAKE_RETRY = timedelta(hours=1)


class ReportDuty:
    def __init__(self, ctx: AgentContext, backoff: Backoff = SEND_BACKOFF) -> None:
        self.ctx = ctx
        self.backoff = backoff
        self.next_send: dict[str, datetime] = {}
        self.next_make: datetime | None = None

    def __call__(self) -> None:
        note_test_hooks(self.ctx)
        if self.ctx.config.reports.schedule != "off":
            self.make_due()
        if outbox.addresses(self.ctx.config):
            self.send_waiting()

    def due_period(self, now: datetime) -> Period | None:
        """The period to report on now, or None when the reports made so far are up to date."""
        kind = schedule_kind(self.ctx)
        latest = outbox.latest_complete(self.ctx)
        if latest is None:
            created = self.ctx.store.get_meta("created_at")
            first = containing(parse_utc(created), kind) if created else last_complete(now, kind)
            return first if first.has_ended(now) else None
        last = last_complete(now, kind)
        covered_until = datetime.fromisoformat(str(latest["last_day"])).date() + timedelta(days=1)
        return last if last.start >= covered_until else None

    def make_due(self) -> None:
        now = self.ctx.clock.now()
        if self.next_make is not None and now < self.next_make:
            return
        period = self.due_period(now)
        if period is None:
            return
        try:
            made = make_report(self.ctx, period)
        except RetentionAgentError as exc:
            log.warning("scheduled report %s not made: %s", period.label, exc.error_id)
            self.next_make = now + MAKE_RETRY
            return
        self.next_make = None
        log.info("scheduled report %s made (no. %s)", made["name"], made["sequence"])

    def send_waiting(self) -> None:
        for meta in outbox.waiting(self.ctx):
            now = self.ctx.clock.now()
            name = meta["name"]
            if name in self.next_send and now < self.next_send[name]:
                continue
            result = smtp.deliver(self.ctx, name)
            if result["sent_at"]:
                self.next_send.pop(name, None)
                log.info("report %s sent", name)
            else:
                delay = self.backoff.delay(int(result["attempts"]))
                self.next_send[name] = now + timedelta(seconds=delay)
                log.warning("report %s not sent (attempt %d); next try in %d s", name, result["attempts"], delay)
