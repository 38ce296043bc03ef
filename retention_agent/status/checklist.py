"""The organisational conditions of deliberation VCMP 05/2024 that software cannot meet by itself.

The municipality must send a signed commitment, mention the data sharing in its privacy statement, publish
the deliberation on its website, bind processors by contract, have a DPO, inform its staff and keep the
art. 30 register entry (decision of the deliberation; nrs. 18, 51, 55, 64). The privacy officer records
when each was done (``checklist set ITEM --done DATE [--evidence TEXT]``); ``status`` and every DPO report
show them and what is still open. Ids are stable: scripts and reports rely on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from retention_agent.audit.log import note_digest
from retention_agent.clock import local_date, utc_iso
from retention_agent.errors import UsageError
from retention_agent.i18n.catalogue import translate
from retention_agent.i18n.msgids import N_
from retention_agent.runtime.context import AgentContext
from retention_agent.store import checklist as stored

MAX_EVIDENCE = 500


@dataclass(frozen=True)
class Condition:
    id: str
    deliberation: str  # where the deliberation asks for it
    description: str  # English; Dutch in locale/nl.po


CONDITIONS: tuple[Condition, ...] = (
    Condition("commitment", N_("VCMP 05/2024, decision"),
              N_("A written and signed commitment was sent to the Flemish data-sharing committee (VCMP).")),
    Condition("privacy-statement", "VCMP 05/2024, nr. 51",
              N_("The municipality's privacy statement mentions this data sharing.")),
    Condition("website", "VCMP 05/2024, nr. 51",
              N_("The deliberation is published on the municipality's website.")),
    Condition("processors", "VCMP 05/2024, nr. 55",
              N_("Every processor involved is bound by a contract under art. 28 GDPR (or none is involved).")),
    Condition("dpo", "VCMP 05/2024, nr. 64", N_("A data protection officer is appointed.")),
    Condition("staff-informed", "VCMP 05/2024, nr. 64",
              N_("The staff who handle the data were informed of their confidentiality and security duties.")),
    Condition("register", "VCMP 05/2024, nr. 18",
              N_("The art. 30 GDPR register of processing activities contains this processing.")),
)
IDS = tuple(c.id for c in CONDITIONS)


def describe(condition_id: str, lang: str | None = None) -> str:
    """The description of a condition in ``lang`` (Dutch by default)."""
    for condition in CONDITIONS:
        if condition.id == condition_id:
            return translate(condition.description, lang)
    return condition_id


def items(rows: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every condition in a fixed order, with when it was done (``done_on`` None while open), from the recorded
    rows by id (:func:`retention_agent.store.checklist.rows`)."""
    result = []
    for condition in CONDITIONS:
        row = rows.get(condition.id) or {}
        result.append({
            "id": condition.id,
            "deliberation": condition.deliberation,
            "description": condition.description,
            "done": bool(row.get("done_on")),
            "done_on": row.get("done_on"),
            "evidence": row.get("evidence") or "",
            "updated_at": row.get("updated_at"),
            "updated_by": row.get("updated_by"),
        })
    return result


def open_ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows if not row["done"]]


def set_item(ctx: AgentContext, actor: str, item: str, done_on: date, evidence: str = "") -> dict[str, Any]:
    """Record that condition ``item`` was met on ``done_on``; audited (the evidence text only as its hash)."""
    if item not in IDS:
        raise UsageError(problem=N_("unknown checklist item {item}; choose one of {choices}"), item=repr(item[:40]),
                         choices=", ".join(IDS), command="checklist set")
    evidence = evidence.strip()
    if len(evidence) > MAX_EVIDENCE or not evidence.isprintable():
        raise UsageError(problem=N_("--evidence must be one line of at most {limit} characters"),
                         limit=MAX_EVIDENCE, command="checklist set")
    local_today = local_date(ctx.clock.now())
    if (done_on - local_today).days > 1:
        raise UsageError(problem=N_("--done must be a date on which it was done, not in the future"),
                         command="checklist set")
    now = utc_iso(ctx.clock.now())
    with ctx.store.transaction():
        stored.record(ctx.store, item, done_on.isoformat(), evidence, now, actor)
        ctx.audit.append(actor, "checklist.set", "ok", [item],
                         {"done_on": done_on.isoformat(), "evidence_sha256": note_digest(evidence)})
    return next(row for row in items(stored.rows(ctx.store)) if row["id"] == item)
