"""The officer's status as one page (Qt rich text, a subset of HTML): compliant yes or no first, then every
reason with its fix, the conditions of the deliberation with dates and evidence, and the problems by area.

Pure: it renders the JSON of the ``status`` operation and reads nothing else. Every value is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from retention_agent.i18n.catalogue import count_of, format_day, format_moment, people_params, translate
from retention_agent.i18n.msgids import N_
from retention_agent.session.words import CONDITIONS, STATES, word

RED, ORANGE, GREEN, GREY = "#b00020", "#8a5300", "#1b6e20", "#555555"
WATCHER_STATES = {"ok": N_("works"), "retrying": N_("retrying"), "failing": N_("failing"), "stopped": N_("stopped"),
                  "unknown": N_("unknown")}
SOURCE_KINDS = {"folder": N_("drop folder"), "mailbox": N_("mailbox")}
PURGE_REASONS = {"deadline": N_("one month after the ceremony"),
                 "no-ceremony-maximum": N_("maximum without a ceremony date")}


def _finding(finding: dict[str, Any], lang: str) -> str:
    params = dict(finding.get("params") or {})
    if finding.get("code") == "checklist-open" and isinstance(params.get("items"), str):
        params["items"] = ", ".join(word(CONDITIONS, item.strip(), lang) for item in params["items"].split(","))
    try:
        return translate(finding["message"], lang, count_of(params)).format(**people_params(params, lang))
    except (KeyError, IndexError, ValueError):
        return str(finding.get("message", ""))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], lang: str, empty: str = N_("none")) -> str:
    if not rows:
        return f"<p style='color:{GREY}'>{escape(translate(empty, lang))}</p>"
    head = "".join(f"<th align='left'>{escape(translate(h, lang))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape('-' if c is None else str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table cellspacing='0' cellpadding='4' border='0'><tr>{head}</tr>{body}</table>"


def _h(text: str, lang: str) -> str:
    return f"<h3>{escape(translate(text, lang))}</h3>"


def render(status: dict[str, Any], lang: str) -> str:
    parts = [_verdict(status, lang), _conditions(status, lang), _areas(status, lang), _deliveries(status, lang),
             _integrity(status, lang)]
    return "<html><body>" + "".join(parts) + "</body></html>"


def _verdict(status: dict[str, Any], lang: str) -> str:
    compliant = bool(status.get("compliant"))
    answer = translate("yes", lang) if compliant else translate("NO", lang)
    head = translate("Compliant: {answer}", lang).format(answer=answer)
    where = translate("{municipality}, situation at {at}", lang).format(
        municipality=status.get("municipality", ""), at=format_moment(status.get("generated_at"), lang))
    html = [f"<h2 style='color:{GREEN if compliant else RED}'>{escape(head)}</h2>",
            f"<p style='color:{GREY}'>{escape(where)}</p>"]
    problems, warnings = status.get("problems", []), status.get("warnings", [])
    if problems:
        html.append(_h(N_("Why not, and what to do"), lang) + "<ul>" + "".join(
            f"<li style='color:{RED}'>{escape(_finding(f, lang))}</li>" for f in problems) + "</ul>")
    if warnings:
        html.append(_h(N_("Warnings"), lang) + "<ul>" + "".join(
            f"<li style='color:{ORANGE}'>{escape(_finding(f, lang))}</li>" for f in warnings) + "</ul>")
    return "".join(html)


def _conditions(status: dict[str, Any], lang: str) -> str:
    items = status.get("checklist", {}).get("items", [])
    rows = [(translate(i["description"], lang), format_day(i["done_on"], lang) if i.get("done")
             else translate("OPEN", lang), i.get("evidence") or "-") for i in items]
    return _h(N_("Conditions of the deliberation"), lang) + _table(
        [N_("condition"), N_("done on"), N_("evidence")], rows, lang)


def _areas(status: dict[str, Any], lang: str) -> str:
    health = status.get("health", {})
    intake = [(_source(str(w["name"]), lang), word(WATCHER_STATES, w.get("state"), lang),
               format_moment(w.get("last_success"), lang), w.get("last_error_id") or "-")
              for w in health.get("intake", [])]
    key_store = health.get("key_store", {})
    store_text = (translate("file in the home", lang) if key_store.get("file_store")
                  else str(key_store.get("backend", "-")))
    agent = [(translate("running since", lang), format_moment(health.get("running_since"), lang)),
             (translate("last delivery received", lang), format_moment(health.get("last_intake"), lang)),
             (translate("last schedule run", lang), format_moment(health.get("last_tick"), lang)),
             (translate("key store", lang), store_text)]
    return (_h(N_("Intake: mailboxes and drop folders"), lang)
            + _table([N_("source"), N_("state"), N_("last success"), N_("last error")], intake, lang,
                     empty=N_("no drop folders or mailboxes are watched"))
            + _h(N_("Agent, clock and key store"), lang) + _table([N_("what"), N_("value")], agent, lang))


def _source(name: str, lang: str) -> str:
    """A watcher's name (``folder:inbox``, ``mailbox:agii``) with its kind in words."""
    kind, _, rest = name.partition(":")
    return f"{word(SOURCE_KINDS, kind, lang)}: {rest}" if rest and kind in SOURCE_KINDS else name


def _deliveries(status: dict[str, Any], lang: str) -> str:
    deliveries = status.get("deliveries", {})
    by_state = [(word(STATES, s, lang), n) for s, n in deliveries.get("by_state", {}).items()]
    purges = [(p["delivery"], format_day(p.get("deadline"), lang), p.get("days_left"),
               word(PURGE_REASONS, p.get("reason"), lang)) for p in status.get("next_purges", [])]
    overdue = status.get("overdue_purges", {"count": 0, "items": []})
    late = [(o["delivery"], format_moment(o.get("due_at"), lang), word(STATES, o.get("state"), lang))
            for o in overdue.get("items", [])]
    holds = [(h["delivery"], format_day(h.get("hold_until"), lang)) for h in status.get("holds", {}).get("items", [])]
    return (_h(N_("Deliveries"), lang) + _table([N_("state"), N_("number")], by_state, lang)
            + _h(N_("Next purges"), lang)
            + _table([N_("delivery"), N_("deadline"), N_("days left"), N_("reason")], purges, lang)
            + _h(translate("Overdue purges ({count})", lang).format(count=overdue.get("count", 0)), lang)
            + _table([N_("delivery"), N_("due since"), N_("state")], late, lang, empty=N_("none (as it should be)"))
            + _h(N_("Legal holds"), lang) + _table([N_("delivery"), N_("until")], holds, lang))


def _integrity(status: dict[str, Any], lang: str) -> str:
    def verified(value: dict[str, Any] | None) -> str:
        if not value:
            return translate("not since the agent started", lang)
        result = translate("ok", lang) if value.get("ok") else translate("PROBLEMS", lang)
        return translate("{result} at {at}", lang).format(result=result, at=format_moment(value.get("at"), lang))

    audit, vault = status.get("audit", {}), status.get("vault", {})
    rows = [(translate("audit log entries", lang), audit.get("size")),
            (translate("last audit verification", lang), verified(audit.get("last_verification"))),
            (translate("last vault verification", lang), verified(vault.get("last_verification"))),
            (translate("integrity failures", lang), vault.get("integrity_failures", {}).get("count", 0))]
    return _h(N_("Audit log and vault"), lang) + _table([N_("what"), N_("value")], rows, lang)

