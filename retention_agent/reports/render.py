"""The DPO report for people: its sections, rendered as HTML here and as a PDF by :mod:`retention_agent.pdf.report`.

Both are rendered from the report document alone (:func:`sections`), so what people read is what was signed,
Dutch by default, in the words of :class:`~retention_agent.pdf.words.Words`. In HTML every value is escaped
(``html.escape``): municipality names, staff names, register texts and evidence come from configuration and input.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any, Final

from retention_agent.clock import parse_utc
from retention_agent.evidence import checkpoint as notes
from retention_agent.i18n.msgids import N_
from retention_agent.pdf import report as report_pdf
from retention_agent.pdf.report import Section
from retention_agent.pdf.words import Words
from retention_agent.reports.format import NAMESPACE, stem
from retention_agent.status.checklist import describe


def title(doc: Mapping[str, Any], words: Words) -> str:
    return words("Report to the data protection officer") + f" — {doc['municipality']} — {doc['period']['label']}"


def sections(doc: Mapping[str, Any], words: Words) -> list[Section]:
    return [_about(doc, words), _received(doc, words), _purges(doc, words), _incidents(doc, words),
            _after_the_fact(doc, words), _openings(doc, words), _refusals(doc, words), _holds(doc, words),
            _quarantine(doc, words), _current(doc, words),
            _staff(doc, words), _register(doc, words), _checklist(doc, words), _audit(doc, words),
            _verify(doc, words)]


# ---- sections ----------------------------------------------------------------------------------------------


def _about(doc: Mapping[str, Any], words: Words) -> Section:
    period = doc["period"]
    kind = words("complete report no. {n}", n=doc["sequence"]) if period["complete"] else words(
        "interim report: the period is still running")
    return Section(words("About this report"), words(
        "The retention agent of {municipality} reports on the civic-integration data it received from AgII "
        "under deliberation {basis}. The signed JSON file is the report itself; this document repeats it for "
        "people. It holds no personal data of the people concerned.", municipality=doc["municipality"],
        basis=doc["legal_basis"]), [
        (words("Municipality"), doc["municipality"]),
        (words("Period"), f"{period['label']}: {words.day(period['first_day'])} – {words.day(period['last_day'])}"),
        (words("Kind"), kind),
        (words("Made on"), words.moment(doc["generated_at"])),
        (words("Installation"), doc["installation_id"]),
        (words("Signed by"), doc["signer"]),
    ])


def _received(doc: Mapping[str, Any], words: Words) -> Section:
    received = doc["summary"]["deliveries_received"]
    ceremonies = doc["summary"]["ceremonies"]
    fields = [(words("Deliveries received"), words.number(received["count"]))]
    fields += [(words("… by {channel}", channel=words.channel(c)), words.number(n))
               for c, n in received["by_channel"].items()]
    fields += [(words("Quarantined on arrival"), words.number(received["quarantined"])),
               (words("Duplicates recognised"), words.number(received["duplicates_refused"])),
               (words("Ceremony dates recorded"), words.number(ceremonies["dates_recorded"])),
               (words("… of which moved"), words.number(ceremonies.get("moved", 0))),
               (words("Retention extended by the officer"), words.number(ceremonies["extensions"])),
               (words("Destroyed at once by a ceremony date"), words.number(ceremonies.get("early_destructions", 0))),
               (words("Ceremony dates recorded after their deadline"),
                words.number(len(ceremonies.get("recorded_after_the_fact", []))))]
    return Section(words("Deliveries in the period"), fields=fields)


def _purges(doc: Mapping[str, Any], words: Words) -> Section:
    purges = doc["summary"]["purges"]
    intro = words("{count} deliveries were destroyed: {on_time} on time, {late} late. The signed proofs of "
                  "deletion are attached to the JSON report.", count=purges["count"], on_time=purges["on_time"],
                  late=purges["late"])
    rows = [(p["delivery"], trigger_name(p["trigger"], words, p.get("reason")), words.short_day(p["deadline"]),
             words.short_moment(p["purged_at"]),
             words("late") if p["late"] else words("on time"), (p["proof_sha256"] or "-")[:12])
            for p in purges["items"]]
    return Section(words("Destroyed deliveries"), intro, headers=(
        words("Delivery"), words("Trigger"), words("Deadline"), words("Destroyed"), words("On time"),
        words("Proof (SHA-256)")), rows=rows, empty=words("None."), widths=(3.3, 2.4, 1.5, 2.0, 1.0, 1.5))


def _incidents(doc: Mapping[str, Any], words: Words) -> Section:
    rows = [(words.short_moment(i["at"]), incident_name(i["kind"], words), i["delivery"] or "-",
             ", ".join(f"{k}={v}" for k, v in sorted(i["details"].items())))
            for i in doc["incidents"]]
    headers = (words("When"), words("What"), words("Delivery"), words("Details"))
    return Section(words("Incidents"), headers=headers, rows=rows, empty=words("No incidents."),
                   widths=(1.9, 3.4, 3.5, 2.4))


def _after_the_fact(doc: Mapping[str, Any], words: Words) -> Section:
    items = doc["summary"]["ceremonies"].get("recorded_after_the_fact", [])
    rows = [(i["delivery"], words.short_day(i["ceremony_date"]), words.short_day(i["deadline"]),
             words.short_moment(i["at"]), i["by"]) for i in items]
    return Section(words("Ceremonies recorded after the fact"), words(
        "These ceremony dates were recorded when their deadline had already passed: the data was kept longer than "
        "the deliberation allows because the date was not known, and was destroyed when it was recorded. This is "
        "not a late purge: the deadline did not exist before."),
        headers=(words("Delivery"), words("Ceremony"), words("Deadline"), words("Recorded"), words("By")),
        rows=rows, empty=words("None."), widths=(3.4, 1.5, 1.5, 2.3, 1.2))


def _quarantine(doc: Mapping[str, Any], words: Words) -> Section:
    released = doc["summary"].get("quarantine", {}).get("released", [])
    rows = [(q["delivery"], words.short_moment(q["at"]), q["by"]) for q in released]
    return Section(words("Released from quarantine"), words(
        "Files first not recognised as AgII deliveries that the privacy officer released as ordinary deliveries "
        "(the reason is in the JSON report as its SHA-256)."),
        headers=(words("Delivery"), words("When"), words("By")), rows=rows, empty=words("None."))


def _openings(doc: Mapping[str, Any], words: Words) -> Section:
    openings = doc["summary"]["openings"]
    rows = [(o["account"], purpose_name(o["purpose"], words), words.number(o["count"]))
            for o in openings["by_account_purpose"]]
    outside = openings["by_mode"].get("to-dir", 0)
    return Section(words("Access to the data"), words(
        "Every opening is logged with who, when, why and which delivery. {count} openings; {outside} copies "
        "were saved outside the agent.", count=openings["count"], outside=outside),
        headers=(words("Account"), words("Purpose"), words("Openings")), rows=rows, empty=words("No openings."))


def _refusals(doc: Mapping[str, Any], words: Words) -> Section:
    refused = doc["summary"]["refused_requests"]
    rows = [(r["account"], action_name(r["action"], words), words.number(r["count"]))
            for r in refused["by_account_action"]]
    return Section(words("Refused requests"), headers=(words("Account"), words("Request"), words("Count")),
                   rows=rows, empty=words("No refused requests."))


def _holds(doc: Mapping[str, Any], words: Words) -> Section:
    holds = doc["summary"]["holds"]
    rows = [(h["delivery"], words("placed"), words.short_moment(h["at"]), words.short_day(h["until"]), h["by"])
            for h in holds["placed"]]
    rows += [(h["delivery"], words("released"), words.short_moment(h["at"]), "-", h["by"])
             for h in holds["released"]]
    return Section(words("Legal holds"), headers=(words("Delivery"), words("Change"), words("When"),
                                                   words("Until"), words("By")), rows=rows,
                   empty=words("No holds placed or released."), widths=(3.4, 1.0, 2.3, 1.8, 1.2))


def _current(doc: Mapping[str, Any], words: Words) -> Section:
    current = doc["current"]
    by_state = current["deliveries_by_state"]
    fields = [(words("Compliant when the report was made"), words.yes(current["compliant"]))]
    fields += [(words("Deliveries {state}", state=state_name(s, words)), words.number(n))
               for s, n in by_state.items() if n]
    fields += [(words("Without ceremony date"), words.number(current["without_ceremony"])),
               (words("Overdue purges"), words.number(current["overdue_purges"]["count"])),
               (words("Working copies not yet wiped"), words.number(current["workspace_copies"])),
               (words("Key store"), current["key_store"])]
    fields += [(words("Problem"), p["code"]) for p in current["problems"]]
    return Section(words("Situation when the report was made"), fields=fields)


def _staff(doc: Mapping[str, Any], words: Words) -> Section:
    rows = [(m["account"], m["name"], ", ".join(access_name(a, words) for a in m["access_levels"]))
            for m in doc["staff"]]
    changes = doc["summary"]["staff_changes"]
    intro = words("The authorised persons and their access level (deliberation nr. 64); {n} changes in the "
                  "period.", n=len(changes))
    return Section(words("Authorised persons"), intro, headers=(words("Account"), words("Name"),
                                                                words("Access level")), rows=rows, wrap=True)


def _register(doc: Mapping[str, Any], words: Words) -> Section:
    entry = doc["register"]
    labels = [("controller", N_("Controller")), ("purposes", N_("Purposes")), ("data_subjects", N_("Data subjects")),
              ("data_categories", N_("Categories of data")), ("recipients", N_("Recipients")),
              ("retention", N_("Retention")), ("security_measures", N_("Security measures")),
              ("legal_basis", N_("Legal basis"))]
    return Section(words("Register of processing activities (art. 30 GDPR)"),
                   fields=[(words(label), str(entry.get(key, ""))) for key, label in labels])


def _checklist(doc: Mapping[str, Any], words: Words) -> Section:
    rows = [(item["id"], describe(item["id"], words.lang), words(item["deliberation"]),
             words.day(item["done_on"]) if item["done"] else words("OPEN"), item["evidence"] or "-")
            for item in doc["checklist"]]
    still_open = [item["id"] for item in doc["checklist"] if not item["done"]]
    intro = words("Still open: {items}.", items=", ".join(still_open)) if still_open else words(
        "All conditions are met.")
    headers = (words("Condition"), words("Description"), words("Source"), words("Done on"),
               words("Evidence"))
    return Section(words("Conditions of the deliberation"), intro, headers=headers, rows=rows,
                   widths=(1.7, 3.6, 1.7, 1.5, 2.0), wrap=True)


def _audit(doc: Mapping[str, Any], words: Words) -> Section:
    audit = doc["audit"]
    found, _ = notes.parse(audit["checkpoint"])
    consistent = audit["consistent_with_previous"]
    previous = doc["previous"]
    fields = [(words("Log"), found.origin), (words("Entries"), words.number(audit["size"]))]
    if previous:
        fields.append((words("Previous report"), words("no. {n} ({period}), {size} entries", n=previous["sequence"],
                                                       period=previous["period"], size=previous["size"])))
        fields.append((words("The log extends the previous report's log"),
                       words.yes(bool(consistent))))
    return Section(words("Audit log"), words(
        "The signed checkpoint below fixes the whole log at the moment of the report. Keep it: a later report "
        "must prove that its log extends this one."), fields=fields, block=audit["checkpoint"].rstrip("\n"))


def _verify(doc: Mapping[str, Any], words: Words) -> Section:
    name = stem(doc)
    command = (f"ssh-keygen -Y verify -f allowed_signers -I {doc['signer']} -n {NAMESPACE} "
               f"-s {name}.json.sig < {name}.json")
    return Section(words("Checking the signature"), words(
        "With the allowed-signers line of the installation in a file named allowed_signers (on Windows run the "
        "command through cmd /c), or check a whole folder of reports with 'retention-agent dpo verify FOLDER':"),
        block=command)


# ---- names for codes ---------------------------------------------------------------------------------------


def trigger_name(code: str, words: Words, reason: str | None = None) -> str:
    """A trigger of ``proof.TRIGGERS`` in words; an early destruction says why when a ceremony date caused it."""
    if reason in ("ceremony-recorded-after-the-fact", "ceremony-due-within-24h"):
        return words("early, by a ceremony date")
    return {"schedule": words("at the deadline"), "due-command": words("by the officer, when due"),
            "early": words("early, on request"), "quarantine": words("quarantined file")}.get(code, code)


def action_name(code: str, words: Words) -> str:
    from retention_agent.rules.access import ACTION_WORDS

    return words(ACTION_WORDS[code]) if code in ACTION_WORDS else code


def purpose_name(code: str, words: Words) -> str:
    return {"invite": words("invite"), "phone": words("phone"), "attendance": words("attendance"),
            "correction": words("correction"), "other": words("other")}.get(code, code)


def access_name(code: str, words: Words) -> str:
    return {"create": words("create"), "consult": words("consult"), "modify": words("modify"),
            "destroy": words("destroy"), "manage": words("manage (privacy officer)")}.get(code, code)


def state_name(code: str, words: Words) -> str:
    return {"vaulted": words("in the vault"), "scheduled": words("scheduled"), "held": words("on hold"),
            "quarantined": words("quarantined"), "purging": words("being destroyed"),
            "purged": words("destroyed")}.get(code, code)


def incident_name(code: str, words: Words) -> str:
    return {"integrity-failure": words("vault object failed its integrity check"),
            "clock-jump": words("the system clock jumped"),
            "purge-awaiting-clock-confirmation": words("purges wait for clock confirmation"),
            "late-purge": words("purge after the deadline day"), "purge-failed": words("a purge failed"),
            "proof-file-missing": words("proof file missing"),
            "received-after-legal-basis-lapsed": words("received by a channel whose legal basis lapsed"),
            "audit-log-inconsistent": words("the audit log does not extend the previous report's log"),
            }.get(code, code)


# ---- HTML --------------------------------------------------------------------------------------------------

_CSS: Final = ("body{font-family:'DejaVu Sans',Arial,sans-serif;max-width:60em;margin:2em auto;color:#222}"
               "table{border-collapse:collapse;width:100%;margin:.5em 0 1em}th,td{border-bottom:1px solid #ccc;"
               "padding:.3em .5em;text-align:left;vertical-align:top}th{background:#eee}"
               "pre{background:#eee;padding:.6em;white-space:pre-wrap;word-break:break-all}")


def render_html(doc: Mapping[str, Any], lang: str = "nl") -> str:
    words = Words(lang)
    e = _escape
    parts = ["<!DOCTYPE html>", f'<html lang="{e(words.lang)}">', "<head>", '<meta charset="utf-8">',
             f"<title>{e(title(doc, words))}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
             f"<h1>{e(title(doc, words))}</h1>"]
    for section in sections(doc, words):
        parts.append(f"<h2>{e(section.title)}</h2>")
        if section.intro:
            parts.append(f"<p>{e(section.intro)}</p>")
        if section.fields:
            parts.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in section.fields)
                         + "</table>")
        if section.headers:
            parts.append(_html_table(section))
        if section.block:
            parts.append(f"<pre>{e(section.block)}</pre>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def _html_table(section: Section) -> str:
    if not section.rows:
        return f"<p>{_escape(section.empty)}</p>"
    head = "".join(f"<th>{_escape(h)}</th>" for h in section.headers)
    body = "".join("<tr>" + "".join(f"<td>{_escape(c)}</td>" for c in row) + "</tr>" for row in section.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ---- PDF ---------------------------------------------------------------------------------------------------


def render_pdf(doc: Mapping[str, Any], lang: str = "nl") -> bytes:
    """The PDF of the report (laid out by :mod:`retention_agent.pdf.report`), dated by the report."""
    words = Words(lang)
    return report_pdf.render(title(doc, words), sections(doc, words), created=parse_utc(doc["generated_at"]),
                             words=words)
