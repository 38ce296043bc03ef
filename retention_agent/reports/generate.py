"""Making a report: build, sign (SSHSIG, namespace ``dpo-report``), render, write privately in HOME/reports.

Files: ``report-<period>.json`` (the report), ``.json.sig`` (its signature), ``.html`` and ``.pdf``; an interim
report (a period still running) is ``report-<period>-interim.*`` and is made again on each request. Complete
reports are made once, in order, each continuing from the previous one: asking for a later period first makes
the missing months before it, so the sequence the DPO receives has no gaps. The agent only writes in its
home; the command line copies files elsewhere with the caller's own permissions.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from retention_agent.errors import ReportOrderError, ReportPeriodError
from retention_agent.evidence import sshsig
from retention_agent.reports import outbox
from retention_agent.reports.build import build_report
from retention_agent.reports.format import NAMESPACE, report_bytes
from retention_agent.reports.period import Kind, Period, last_complete, months_from
from retention_agent.runtime.context import AgentContext
from retention_agent.system.home import PRIVATE_DIR_MODE, write_private

FORMATS = ("json", "html", "pdf")
_lock = threading.Lock()  # one report at a time: each continues from the previous one


def schedule_kind(ctx: AgentContext) -> Kind:
    return "quarter" if ctx.config.reports.schedule == "quarterly" else "month"


def report_name(period: Period, *, complete: bool) -> str:
    return period.label if complete else f"{period.label}-interim"


def make_report(ctx: AgentContext, period: Period | None = None, *, actor: str = "agent") -> dict[str, Any]:
    """The report for ``period`` (default: the last complete period of the schedule); made if needed."""
    with _lock:
        now = ctx.clock.now()
        period = period or last_complete(now, schedule_kind(ctx))
        if not period.has_begun(now):
            raise ReportPeriodError(period=period.label, problem="it has not begun yet")
        if not period.has_ended(now):
            return _write(ctx, period, now, actor)
        existing = outbox.get(ctx, period.label)
        if existing is not None and existing["complete"]:
            return existing
        latest = outbox.latest_complete(ctx)
        if latest is not None:
            covered_until = _end_of(latest)
            if period.start < covered_until:
                raise ReportOrderError(period=period.label, problem=(
                    f"the reports made so far cover the time up to {covered_until.isoformat()}; "
                    "a complete report cannot cover that time again"))
            for missing in months_from(covered_until, period.start):
                _write(ctx, missing, now, actor)
        return _write(ctx, period, now, actor)


def _end_of(meta: dict[str, Any]) -> date:
    return date.fromisoformat(meta["last_day"]) + timedelta(days=1)


def _write(ctx: AgentContext, period: Period, now: datetime, actor: str) -> dict[str, Any]:
    doc = build_report(ctx, period, now=now)
    complete = bool(doc["period"]["complete"])
    name = report_name(period, complete=complete)
    data = report_bytes(doc)
    signature = sshsig.sign(ctx.signing_key, NAMESPACE, data)
    lang = ctx.config.language
    folder = ctx.home.reports
    folder.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
    files = {"json": f"report-{name}.json", "sig": f"report-{name}.json.sig", "html": f"report-{name}.html",
             "pdf": f"report-{name}.pdf"}
    write_private(folder / files["json"], data)
    write_private(folder / files["sig"], signature.encode("ascii"))
    from retention_agent.reports.render import render_html, render_pdf  # fpdf costs the idle agent 30 MB

    write_private(folder / files["html"], render_html(doc, lang).encode("utf-8"))
    write_private(folder / files["pdf"], render_pdf(doc, lang))
    digest = hashlib.sha256(data).hexdigest()
    meta = {"period": period.label, "last_day": period.last_day.isoformat(), "complete": complete,
            "sequence": doc["sequence"], "sha256": digest, "checkpoint": doc["audit"]["checkpoint"],
            "frontier": doc["audit"]["frontier"],
            "audit_size": doc["audit"]["size"], "files": files, "generated_at": doc["generated_at"],
            "send": complete}
    outbox.record(ctx, name, meta)
    ctx.audit.append(actor, "report.written", "ok", [name],
                     {"report_sha256": digest, "sequence": doc["sequence"], "complete": complete,
                      "incidents": len(doc["incidents"]), "proofs": len(doc["proofs"])})
    made = outbox.get(ctx, name)
    assert made is not None
    return made


def file_path(ctx: AgentContext, meta: dict[str, Any], fmt: str) -> Path:
    """The stored file of a report in one format (``json``, ``sig``, ``html``, ``pdf``)."""
    return ctx.home.reports / str(meta["files"][fmt])
