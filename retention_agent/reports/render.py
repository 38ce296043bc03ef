"""The DPO report for people: HTML and a PDF, Dutch by default, with the same sections as the signed JSON.

Both are rendered from the report document alone (:func:`sections`), so what people read is what was signed.
In HTML every value is escaped (``html.escape``): municipality names, staff names, register texts and
evidence come from configuration and input. The PDF uses the bundled DejaVu fonts through ``pdf.py`` and is
deterministic: its creation date is the report's own date.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from fpdf import FPDF
from fpdf.fonts import FontFace

from retention_agent.clock import BRUSSELS, parse_utc
from retention_agent.evidence import checkpoint as notes
from retention_agent.i18n.catalogue import count_of, translate
from retention_agent.i18n.msgids import N_
from retention_agent.pdf import document as layout
from retention_agent.reports.format import NAMESPACE, stem
from retention_agent.status.checklist import describe

LOCALES: Final = {"nl": "nl_BE", "en": "en_BE"}
_TIME_PATTERN: Final = "d MMMM y, HH:mm"


class Words:
    """Translations and nl-BE (or English) formatting of dates, times and numbers."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LOCALES else "nl"
        self.locale = LOCALES[self.lang]

    def t(self, text: str, **params: Any) -> str:
        translated = translate(text, self.lang, count_of(params))
        return translated.format(**params) if params else translated

    def day(self, text: str | None) -> str:
        return "-" if not text else format_date(date.fromisoformat(text), "long", locale=self.locale)

    def moment(self, text: str | None) -> str:
        if not text:
            return "-"
        return format_datetime(parse_utc(text), _TIME_PATTERN, tzinfo=BRUSSELS, locale=self.locale)

    def short_day(self, text: str | None) -> str:
        """For table cells: ``01/10/2026``."""
        return "-" if not text else format_date(date.fromisoformat(text), "dd/MM/y", locale=self.locale)

    def short_moment(self, text: str | None) -> str:
        """For table cells: ``01/10/2026 10:00``, Brussels time."""
        if not text:
            return "-"
        return format_datetime(parse_utc(text), "dd/MM/y HH:mm", tzinfo=BRUSSELS, locale=self.locale)

    def number(self, value: Any) -> str:
        return format_decimal(value, locale=self.locale) if isinstance(value, int | float) else str(value)

    def yes(self, value: object) -> str:
        return self.t("yes") if value else self.t("no")


@dataclass
class Section:
    title: str
    intro: str = ""
    fields: Sequence[tuple[str, str]] = ()
    headers: tuple[str, ...] = ()
    rows: Sequence[Sequence[Any]] = ()
    empty: str = ""
    block: str = ""
    widths: tuple[float, ...] = ()  # relative column widths in the PDF (delivery ids stay on one line)
    wrap: bool = False  # PDF: wrap long cells (small tables); otherwise one line per row, cut to fit (fast)


def title(doc: Mapping[str, Any], words: Words) -> str:
    return words.t("Report to the data protection officer") + f" — {doc['municipality']} — {doc['period']['label']}"


def sections(doc: Mapping[str, Any], words: Words) -> list[Section]:
    return [_about(doc, words), _received(doc, words), _purges(doc, words), _incidents(doc, words),
            _after_the_fact(doc, words), _openings(doc, words), _refusals(doc, words), _holds(doc, words),
            _quarantine(doc, words), _current(doc, words),
            _staff(doc, words), _register(doc, words), _checklist(doc, words), _audit(doc, words),
            _verify(doc, words)]


# ---- sections ----------------------------------------------------------------------------------------------


def _about(doc: Mapping[str, Any], words: Words) -> Section:
    period = doc["period"]
    kind = words.t("complete report no. {n}", n=doc["sequence"]) if period["complete"] else words.t(
        "interim report: the period is still running")
    return Section(words.t("About this report"), words.t(
        "The retention agent of {municipality} reports on the civic-integration data it received from AgII "
        "under deliberation {basis}. The signed JSON file is the report itself; this document repeats it for "
        "people. It holds no personal data of the people concerned.", municipality=doc["municipality"],
        basis=doc["legal_basis"]), [
        (words.t("Municipality"), doc["municipality"]),
        (words.t("Period"), f"{period['label']}: {words.day(period['first_day'])} – {words.day(period['last_day'])}"),
        (words.t("Kind"), kind),
        (words.t("Made on"), words.moment(doc["generated_at"])),
        (words.t("Installation"), doc["installation_id"]),
        (words.t("Signed by"), doc["signer"]),
    ])


def _received(doc: Mapping[str, Any], words: Words) -> Section:
    received = doc["summary"]["deliveries_received"]
    ceremonies = doc["summary"]["ceremonies"]
    fields = [(words.t("Deliveries received"), words.number(received["count"]))]
    fields += [(words.t("… by {channel}", channel=channel_name(c, words)), words.number(n))
               for c, n in received["by_channel"].items()]
    fields += [(words.t("Quarantined on arrival"), words.number(received["quarantined"])),
               (words.t("Duplicates recognised"), words.number(received["duplicates_refused"])),
               (words.t("Ceremony dates recorded"), words.number(ceremonies["dates_recorded"])),
               (words.t("… of which moved"), words.number(ceremonies.get("moved", 0))),
               (words.t("Retention extended by the officer"), words.number(ceremonies["extensions"])),
               (words.t("Destroyed at once by a ceremony date"), words.number(ceremonies.get("early_destructions", 0))),
               (words.t("Ceremony dates recorded after their deadline"),
                words.number(len(ceremonies.get("recorded_after_the_fact", []))))]
    return Section(words.t("Deliveries in the period"), fields=fields)


def _purges(doc: Mapping[str, Any], words: Words) -> Section:
    purges = doc["summary"]["purges"]
    intro = words.t("{count} deliveries were destroyed: {on_time} on time, {late} late. The signed proofs of "
                  "deletion are attached to the JSON report.", count=purges["count"], on_time=purges["on_time"],
                  late=purges["late"])
    rows = [(p["delivery"], trigger_name(p["trigger"], words, p.get("reason")), words.short_day(p["deadline"]),
             words.short_moment(p["purged_at"]),
             words.t("late") if p["late"] else words.t("on time"), (p["proof_sha256"] or "-")[:12])
            for p in purges["items"]]
    return Section(words.t("Destroyed deliveries"), intro, headers=(
        words.t("Delivery"), words.t("Trigger"), words.t("Deadline"), words.t("Destroyed"), words.t("On time"),
        words.t("Proof (SHA-256)")), rows=rows, empty=words.t("None."), widths=(3.3, 2.4, 1.5, 2.0, 1.0, 1.5))


def _incidents(doc: Mapping[str, Any], words: Words) -> Section:
    rows = [(words.short_moment(i["at"]), incident_name(i["kind"], words), i["delivery"] or "-",
             ", ".join(f"{k}={v}" for k, v in sorted(i["details"].items())))
            for i in doc["incidents"]]
    headers = (words.t("When"), words.t("What"), words.t("Delivery"), words.t("Details"))
    return Section(words.t("Incidents"), headers=headers, rows=rows, empty=words.t("No incidents."),
                   widths=(1.9, 3.4, 3.5, 2.4))


def _after_the_fact(doc: Mapping[str, Any], words: Words) -> Section:
    items = doc["summary"]["ceremonies"].get("recorded_after_the_fact", [])
    rows = [(i["delivery"], words.short_day(i["ceremony_date"]), words.short_day(i["deadline"]),
             words.short_moment(i["at"]), i["by"]) for i in items]
    return Section(words.t("Ceremonies recorded after the fact"), words.t(
        "These ceremony dates were recorded when their deadline had already passed: the data was kept longer than "
        "the deliberation allows because the date was not known, and was destroyed when it was recorded. This is "
        "not a late purge: the deadline did not exist before."),
        headers=(words.t("Delivery"), words.t("Ceremony"), words.t("Deadline"), words.t("Recorded"), words.t("By")),
        rows=rows, empty=words.t("None."), widths=(3.4, 1.5, 1.5, 2.3, 1.2))


def _quarantine(doc: Mapping[str, Any], words: Words) -> Section:
    released = doc["summary"].get("quarantine", {}).get("released", [])
    rows = [(q["delivery"], words.short_moment(q["at"]), q["by"]) for q in released]
    return Section(words.t("Released from quarantine"), words.t(
        "Files first not recognised as AgII deliveries that the privacy officer released as ordinary deliveries "
        "(the reason is in the JSON report as its SHA-256)."),
        headers=(words.t("Delivery"), words.t("When"), words.t("By")), rows=rows, empty=words.t("None."))


def _openings(doc: Mapping[str, Any], words: Words) -> Section:
    openings = doc["summary"]["openings"]
    rows = [(o["account"], purpose_name(o["purpose"], words), words.number(o["count"]))
            for o in openings["by_account_purpose"]]
    outside = openings["by_mode"].get("to-dir", 0)
    return Section(words.t("Access to the data"), words.t(
        "Every opening is logged with who, when, why and which delivery. {count} openings; {outside} copies "
        "were saved outside the agent.", count=openings["count"], outside=outside),
        headers=(words.t("Account"), words.t("Purpose"), words.t("Openings")), rows=rows, empty=words.t("No openings."))


def _refusals(doc: Mapping[str, Any], words: Words) -> Section:
    refused = doc["summary"]["refused_requests"]
    rows = [(r["account"], action_name(r["action"], words), words.number(r["count"]))
            for r in refused["by_account_action"]]
    return Section(words.t("Refused requests"), headers=(words.t("Account"), words.t("Request"), words.t("Count")),
                   rows=rows, empty=words.t("No refused requests."))


def _holds(doc: Mapping[str, Any], words: Words) -> Section:
    holds = doc["summary"]["holds"]
    rows = [(h["delivery"], words.t("placed"), words.short_moment(h["at"]), words.short_day(h["until"]), h["by"])
            for h in holds["placed"]]
    rows += [(h["delivery"], words.t("released"), words.short_moment(h["at"]), "-", h["by"])
             for h in holds["released"]]
    return Section(words.t("Legal holds"), headers=(words.t("Delivery"), words.t("Change"), words.t("When"),
                                                   words.t("Until"), words.t("By")), rows=rows,
                   empty=words.t("No holds placed or released."), widths=(3.4, 1.0, 2.3, 1.8, 1.2))


def _current(doc: Mapping[str, Any], words: Words) -> Section:
    current = doc["current"]
    by_state = current["deliveries_by_state"]
    fields = [(words.t("Compliant when the report was made"), words.yes(current["compliant"]))]
    fields += [(words.t("Deliveries {state}", state=state_name(s, words)), words.number(n))
               for s, n in by_state.items() if n]
    fields += [(words.t("Without ceremony date"), words.number(current["without_ceremony"])),
               (words.t("Overdue purges"), words.number(current["overdue_purges"]["count"])),
               (words.t("Working copies not yet wiped"), words.number(current["workspace_copies"])),
               (words.t("Key store"), current["key_store"])]
    fields += [(words.t("Problem"), p["code"]) for p in current["problems"]]
    return Section(words.t("Situation when the report was made"), fields=fields)


def _staff(doc: Mapping[str, Any], words: Words) -> Section:
    rows = [(m["account"], m["name"], ", ".join(access_name(a, words) for a in m["access_levels"]))
            for m in doc["staff"]]
    changes = doc["summary"]["staff_changes"]
    intro = words.t("The authorised persons and their access level (deliberation nr. 64); {n} changes in the "
                  "period.", n=len(changes))
    return Section(words.t("Authorised persons"), intro, headers=(words.t("Account"), words.t("Name"),
                                                                words.t("Access level")), rows=rows, wrap=True)


def _register(doc: Mapping[str, Any], words: Words) -> Section:
    entry = doc["register"]
    labels = [("controller", N_("Controller")), ("purposes", N_("Purposes")), ("data_subjects", N_("Data subjects")),
              ("data_categories", N_("Categories of data")), ("recipients", N_("Recipients")),
              ("retention", N_("Retention")), ("security_measures", N_("Security measures")),
              ("legal_basis", N_("Legal basis"))]
    return Section(words.t("Register of processing activities (art. 30 GDPR)"),
                   fields=[(words.t(label), str(entry.get(key, ""))) for key, label in labels])


def _checklist(doc: Mapping[str, Any], words: Words) -> Section:
    rows = [(item["id"], describe(item["id"], words.lang), words.t(item["deliberation"]),
             words.day(item["done_on"]) if item["done"] else words.t("OPEN"), item["evidence"] or "-")
            for item in doc["checklist"]]
    still_open = [item["id"] for item in doc["checklist"] if not item["done"]]
    intro = words.t("Still open: {items}.", items=", ".join(still_open)) if still_open else words.t(
        "All conditions are met.")
    headers = (words.t("Condition"), words.t("Description"), words.t("Source"), words.t("Done on"),
               words.t("Evidence"))
    return Section(words.t("Conditions of the deliberation"), intro, headers=headers, rows=rows,
                   widths=(1.7, 3.6, 1.7, 1.5, 2.0), wrap=True)


def _audit(doc: Mapping[str, Any], words: Words) -> Section:
    audit = doc["audit"]
    found, _ = notes.parse(audit["checkpoint"])
    consistent = audit["consistent_with_previous"]
    previous = doc["previous"]
    fields = [(words.t("Log"), found.origin), (words.t("Entries"), words.number(audit["size"]))]
    if previous:
        fields.append((words.t("Previous report"), words.t("no. {n} ({period}), {size} entries", n=previous["sequence"],
                                                       period=previous["period"], size=previous["size"])))
        fields.append((words.t("The log extends the previous report's log"),
                       words.yes(bool(consistent))))
    return Section(words.t("Audit log"), words.t(
        "The signed checkpoint below fixes the whole log at the moment of the report. Keep it: a later report "
        "must prove that its log extends this one."), fields=fields, block=audit["checkpoint"].rstrip("\n"))


def _verify(doc: Mapping[str, Any], words: Words) -> Section:
    name = stem(doc)
    command = (f"ssh-keygen -Y verify -f allowed_signers -I {doc['signer']} -n {NAMESPACE} "
               f"-s {name}.json.sig < {name}.json")
    return Section(words.t("Checking the signature"), words.t(
        "With the allowed-signers line of the installation in a file named allowed_signers (on Windows run the "
        "command through cmd /c), or check a whole folder of reports with 'retention-agent dpo verify FOLDER':"),
        block=command)


# ---- names for codes ---------------------------------------------------------------------------------------


def channel_name(code: str, words: Words) -> str:
    return {"email": words.t("encrypted e-mail"), "zivver": "Zivver", "folder": words.t("drop folder"),
            "manual": words.t("manual import")}.get(code, code)


def trigger_name(code: str, words: Words, reason: str | None = None) -> str:
    """A trigger of ``proof.TRIGGERS`` in words; an early destruction says why when a ceremony date caused it."""
    if reason in ("ceremony-recorded-after-the-fact", "ceremony-due-within-24h"):
        return words.t("early, by a ceremony date")
    return {"schedule": words.t("at the deadline"), "due-command": words.t("by the officer, when due"),
            "early": words.t("early, on request"), "quarantine": words.t("quarantined file")}.get(code, code)


def action_name(code: str, words: Words) -> str:
    from retention_agent.rules.access import ACTION_WORDS

    return words.t(ACTION_WORDS[code]) if code in ACTION_WORDS else code


def purpose_name(code: str, words: Words) -> str:
    return {"invite": words.t("invite"), "phone": words.t("phone"), "attendance": words.t("attendance"),
            "correction": words.t("correction"), "other": words.t("other")}.get(code, code)


def access_name(code: str, words: Words) -> str:
    return {"create": words.t("create"), "consult": words.t("consult"), "modify": words.t("modify"),
            "destroy": words.t("destroy"), "manage": words.t("manage (privacy officer)")}.get(code, code)


def state_name(code: str, words: Words) -> str:
    return {"vaulted": words.t("in the vault"), "scheduled": words.t("scheduled"), "held": words.t("on hold"),
            "quarantined": words.t("quarantined"), "purging": words.t("being destroyed"),
            "purged": words.t("destroyed")}.get(code, code)


def incident_name(code: str, words: Words) -> str:
    return {"integrity-failure": words.t("vault object failed its integrity check"),
            "clock-jump": words.t("the system clock jumped"),
            "purge-awaiting-clock-confirmation": words.t("purges wait for clock confirmation"),
            "late-purge": words.t("purge after the deadline day"), "purge-failed": words.t("a purge failed"),
            "proof-file-missing": words.t("proof file missing"),
            "received-after-legal-basis-lapsed": words.t("received by a channel whose legal basis lapsed"),
            "audit-log-inconsistent": words.t("the audit log does not extend the previous report's log"),
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
    words = Words(lang)
    pdf = layout.new_document(title(doc, words), created=parse_utc(doc["generated_at"]),
                              language="nl-BE" if words.lang == "nl" else "en")
    layout.heading(pdf, title(doc, words))
    for section in sections(doc, words):
        layout.heading(pdf, section.title, level=2)
        if section.intro:
            layout.paragraph(pdf, section.intro)
        if section.fields:
            layout.field_table(pdf, section.fields)
        if section.headers:
            _pdf_table(pdf, section, words)
        if section.block:
            layout.monospace_block(pdf, section.block)
    return layout.output_bytes(pdf)


PDF_ROWS: Final = 300  # longer lists are in the JSON report and the HTML; the PDF says how many it left out
_ROW_HEIGHT: Final = 4.6
_TABLE_FONT: Final = 8.0
_MIN_FONT: Final = 5.0


def _pdf_table(pdf: FPDF, section: Section, words: Words) -> None:
    if not section.rows:
        layout.paragraph(pdf, section.empty)
        return
    if section.wrap:
        _wrapping_table(pdf, section)
    else:
        _line_table(pdf, section, words)
    pdf.set_font(layout.FONT_FAMILY, size=layout.BODY_SIZE)
    pdf.ln(2)


def _wrapping_table(pdf: FPDF, section: Section) -> None:
    pdf.set_font(layout.FONT_FAMILY, size=8.5)
    with pdf.table(borders_layout="HORIZONTAL_LINES", text_align="LEFT", v_align="TOP", line_height=4.2,
                   headings_style=FontFace(emphasis="BOLD", fill_color=(238, 238, 238)),
                   col_widths=section.widths or None, padding=(1.0, 1.2)) as table:
        table.row(list(section.headers))
        for row in section.rows:
            table.row([str(cell) for cell in row])


def _line_table(pdf: FPDF, section: Section, words: Words) -> None:
    """One line per row, each cell cut to its column: fast enough for hundreds of purges."""
    relative = section.widths or tuple(1.0 for _ in section.headers)
    widths = [pdf.epw * w / sum(relative) for w in relative]
    pdf.set_fill_color(238, 238, 238)
    pdf.set_font(layout.FONT_FAMILY, style="B", size=_TABLE_FONT)
    for text, width in zip(section.headers, widths, strict=True):
        _cell(pdf, str(text), width, heading=True)
    pdf.ln()
    pdf.set_font(layout.FONT_FAMILY, size=_TABLE_FONT)
    for row in section.rows[:PDF_ROWS]:
        if pdf.will_page_break(_ROW_HEIGHT):
            pdf.add_page()
        for cell, width in zip(row, widths, strict=True):
            _cell(pdf, str(cell), width)
        pdf.ln()
    pdf.set_fill_color(255, 255, 255)
    left_out = len(section.rows) - PDF_ROWS
    if left_out > 0:
        pdf.ln(1)
        layout.paragraph(pdf, words.t("… and {n} more rows: see the JSON report or the HTML version.", n=left_out))


def _cell(pdf: FPDF, text: str, width: float, *, heading: bool = False) -> None:
    """One table cell. An id or hash (one word) and a heading are set smaller until they fit; other text is cut."""
    size = base = pdf.font_size_pt
    if heading or (text and " " not in text):
        widths = _char_widths(pdf)
        needed = sum(widths(ch) for ch in text)
        room = width - 2 * pdf.c_margin
        if needed > room:
            size = max(_MIN_FONT, base * room / needed * 0.97)
            pdf.set_font_size(size)
    pdf.cell(width, _ROW_HEIGHT + (1 if heading else 0), _fit(pdf, text, width), border="B", fill=heading)
    if size != base:
        pdf.set_font_size(base)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    room = width - 2 * pdf.c_margin
    if len(text) * pdf.font_size * 1.05 <= room:  # no glyph is wider than an em: no need to measure
        return text
    widths = _char_widths(pdf)
    if sum(widths(ch) for ch in text) <= room:
        return text
    room -= widths("…")
    used, cut = 0.0, 0
    for cut, ch in enumerate(text):  # noqa: B007 - cut is used after the loop
        used += widths(ch)
        if used > room:
            break
    return text[:cut] + "…"


_WIDTHS: dict[tuple[str, str, float, str], float] = {}


def _char_widths(pdf: FPDF) -> Callable[[str], float]:
    """Character widths in the current font, measured once each (no kerning is applied in these tables)."""
    font = (pdf.font_family, pdf.font_style, pdf.font_size_pt)

    def width(ch: str) -> float:
        key = (*font, ch)
        if key not in _WIDTHS:
            _WIDTHS[key] = pdf.get_string_width(ch)
        return _WIDTHS[key]

    return width
