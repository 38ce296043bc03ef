"""DPO reports from a populated home: fields, signatures (real ssh-keygen), HTML escaping, the Dutch PDF read
back, the order of reports, the schedule, and delivery through a real SMTP server on loopback."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from typing import Any

import pypdf
import pytest

from retention_agent.clock import BRUSSELS, ManualClock
from retention_agent.crypto import SigningKey
from retention_agent.errors import ReportOrderError, ReportPeriodError, ReportPersonalDataError
from retention_agent.evidence import checkpoint as notes
from retention_agent.evidence import merkle, proof_verify, sshsig
from retention_agent.i18n import catalogue as i18n
from retention_agent.i18n.catalogue import translate
from retention_agent.reports import outbox, smtp
from retention_agent.reports.build import current_state, register_entry, report_document
from retention_agent.reports.generate import make_report
from retention_agent.reports.period import containing, last_complete, months_from, parse_period
from retention_agent.reports.render import render_html, render_pdf
from retention_agent.reports.schedule import ReportDuty
from retention_agent.status.document import build_status, status_document
from retention_agent.status.facts import gather, gather_period
from retention_agent.vault.keys import FileKeyStore
from tests.conftest import ME, AgentProcess, cli, make_home
from tests.report_support import (
    CANARY,
    CANARY_NOTE,
    PRELUDE,
    SSH_KEYGEN,
    Office,
    allowed_signers,
    keygen_verify,
    month_of_activity,
    new_office,
    office_copy,
    populate,
    populated_template,
    report_doc,
    request,
    write_config,
)
from tests.smtp_support import PASSWORD, SmtpServer, free_port, make_certificate, smtp_config

NOVEMBER = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PERSONAL = (CANARY, CANARY_NOTE, "85.07.30-033.28", "85073003328", "Kerkstraat", "an.vermeulen", "0470123456")


@pytest.fixture
def office(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Office]:
    built = office_copy(populated_template(tmp_path_factory), tmp_path / "home")
    yield built
    built.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def october(office: Office) -> dict[str, Any]:
    office.rig.advance_to(NOVEMBER)
    return make_report(office.ctx, parse_period("2026-10"))


# ---- the document --------------------------------------------------------------------------------------


def test_report_fields(office: Office) -> None:
    ids, ctx = office.ids, office.ctx
    meta = october(office)
    doc = report_doc(office, "2026-10")
    assert (doc["format"], doc["version"], doc["sequence"], doc["previous"]) == ("retention-agent/dpo-report", 1, 1,
                                                                                  None)
    assert doc["signer"] == "retention-agent@de-panne" and doc["installation_id"] == ctx.installation_id
    assert doc["period"] == {"label": "2026-10", "kind": "month", "first_day": "2026-10-01",
                             "last_day": "2026-10-31", "start": "2026-09-30T22:00:00Z", "end": "2026-10-31T23:00:00Z",
                             "timezone": "Europe/Brussels", "complete": True}
    summary = doc["summary"]
    received = summary["deliveries_received"]
    assert (received["count"], received["by_channel"], received["quarantined"]) == (  # three came in July
        5, {"email": 1, "folder": 2, "zivver": 2}, 1)
    purges = summary["purges"]
    assert (purges["count"], purges["on_time"], purges["late"]) == (2, 1, 1)
    by_delivery = {p["delivery"]: p for p in purges["items"]}
    assert set(by_delivery) == {ids["purged"], ids["late"]}
    assert by_delivery[ids["late"]]["late"] and by_delivery[ids["late"]]["lateness_seconds"] == 11 * 86400 + 36000
    assert not by_delivery[ids["purged"]]["late"]
    assert summary["openings"]["by_account_purpose"] == [{"account": ME, "purpose": "invite", "count": 2},
                                                         {"account": ME, "purpose": "phone", "count": 1}]
    assert summary["openings"]["by_mode"] == {"stdout": 2, "workspace": 1}
    assert summary["refused_requests"]["count"] == 2
    [hold] = summary["holds"]["placed"]
    assert (hold["delivery"], hold["until"]) == (ids["held"], "2027-01-31")
    assert hold["reason_sha256"] == hashlib.sha256(f"klacht {CANARY_NOTE}".encode()).hexdigest()
    assert {i["kind"] for i in doc["incidents"]} == {"late-purge", "received-after-legal-basis-lapsed"}
    assert {m["name"] for m in doc["staff"]} == {"Officer", "Tom & Jerry <Zorg>"}
    tom = next(m for m in doc["staff"] if m["account"] == "tjerry")
    assert (tom["roles"], tom["access_levels"]) == (["read"], ["consult"])
    assert doc["register"]["controller"] == "De Panne" and doc["register"]["legal_basis"] == "VCMP-05-2024"
    assert "sleutels in een afgeschermd sleutelbestand in de map van de agent" in doc["register"]["security_measures"]
    assert [c["id"] for c in doc["checklist"] if c["done"]] == ["commitment", "dpo"]
    current = doc["current"]
    assert current["compliant"] is False and current["overdue_purges"]["count"] == 1
    assert {p["code"] for p in current["problems"]} >= {"overdue-purges", "checklist-open"}
    public = ctx.signing_key.public_bytes()
    for item in doc["proofs"]:
        verified = proof_verify.verify_proof(item["json"].encode(), item["signature"], public, origin=ctx.origin)
        assert verified["delivery_id"] == item["delivery_id"]
        assert item["sha256"] == by_delivery[item["delivery_id"]]["proof_sha256"]
        assert (office.home.proofs / f"{item['delivery_id']}.json").read_text() == item["json"]
    cp = notes.verify(doc["audit"]["checkpoint"], ctx.origin, public)
    assert cp.size == doc["audit"]["size"] and doc["audit"]["consistency_proof"] == []
    data = (office.home.reports / "report-2026-10.json").read_bytes()
    assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    signature = (office.home.reports / "report-2026-10.json.sig").read_text()
    sshsig.verify(signature, "dpo-report", data, public)
    with pytest.raises(sshsig.SignatureMismatch):
        sshsig.verify(signature, "deletion-proof", data, public)
    written = [e for e in ctx.audit.entries(after=cp.size) if e["action"] == "report.written"]
    assert written[0]["details"]["report_sha256"] == meta["sha256"]
    for name in meta["files"].values():
        assert stat.S_IMODE((office.home.reports / name).stat().st_mode) == 0o600


def test_status_and_report_are_built_from_one_reading_of_the_facts(office: Office) -> None:
    """The facts are read once; the status document and the report are shaped from them without touching the
    database again (it is closed), and the report's situation section is that status."""
    ctx, period = office.ctx, parse_period("2026-10")
    now = ctx.clock.now()
    facts = gather(ctx, now)
    happened = gather_period(ctx, period.start_utc, period.end_utc, now)
    ctx.store.close()  # from here on, a builder that reads the database fails
    status = status_document(facts, ctx.config, ctx.installation_id)
    doc = report_document(ctx, facts, happened, period)
    office.reopen()

    assert doc["current"] == current_state(status)
    assert doc["current"]["overdue_purges"]["count"] == 1 and not status["compliant"]
    assert doc["generated_at"] == status["generated_at"]
    assert [row["id"] for row in doc["checklist"]] == [row["id"] for row in status["checklist"]["items"]]
    assert {p["delivery"] for p in doc["summary"]["purges"]["items"]} == {office.ids["purged"], office.ids["late"]}
    assert [p["delivery_id"] for p in doc["proofs"]] == [p["delivery"] for p in doc["summary"]["purges"]["items"]]
    again = build_status(office.ctx)  # the same database, read again: the same document
    for reading in (again, status):
        reading["health"]["disk"]["free_bytes"] = 0  # the real disk's figure moves
        reading["health"]["running_since"] = None  # the reopened agent started anew
    assert json.dumps(again, sort_keys=True) == json.dumps(status, sort_keys=True)


@pytest.mark.usefixtures("require_ssh_keygen")
def test_the_register_entry_names_the_key_store_in_use(office: Office) -> None:
    file_store = register_entry(office.ctx.config)["security_measures"]
    assert office.ctx.config.key_store == "file"
    assert "sleutelbestand in de map van de agent (niet in de sleutelopslag" in file_store
    assert "{key_store}" not in file_store
    keyring_config = dataclasses.replace(office.ctx.config, key_store="keyring")
    os_store = register_entry(keyring_config)["security_measures"]
    assert "sleutels in de sleutelopslag van het besturingssysteem," in os_store and "sleutelbestand" not in os_store
    own_words = dataclasses.replace(keyring_config, register=dataclasses.replace(
        keyring_config.register, security_measures="Eigen tekst van de gemeente."))
    assert register_entry(own_words)["security_measures"] == \
        "Eigen tekst van de gemeente."


def test_ssh_keygen_verifies_the_report(office: Office, tmp_path: Path) -> None:
    october(office)
    folder = tmp_path / "dpo"
    folder.mkdir()
    (folder / "allowed_signers").write_text(allowed_signers(office.ctx))
    for name in ("report-2026-10.json", "report-2026-10.json.sig"):
        (folder / name).write_bytes((office.home.reports / name).read_bytes())
    good = keygen_verify(folder, "retention-agent@de-panne", "dpo-report", folder / "report-2026-10.json")
    assert good.returncode == 0, good.stderr
    assert 'Good "dpo-report" signature for retention-agent@de-panne' in good.stdout
    assert keygen_verify(folder, "retention-agent@de-panne", "deletion-proof",
                         folder / "report-2026-10.json").returncode != 0
    data = bytearray((folder / "report-2026-10.json").read_bytes())
    data[data.index(b'"count": 5') + 9] = ord("9")
    (folder / "report-2026-10.json").write_bytes(bytes(data))
    assert keygen_verify(folder, "retention-agent@de-panne", "dpo-report",
                         folder / "report-2026-10.json").returncode != 0


def test_no_personal_data_in_any_form(office: Office) -> None:
    meta = october(office)
    texts = [(office.home.reports / meta["files"][f]).read_text(encoding="utf-8") for f in ("json", "html")]
    pdf = pypdf.PdfReader(office.home.reports / meta["files"]["pdf"])
    texts.append("\n".join(page.extract_text() for page in pdf.pages))
    texts.append(json.dumps(report_doc(office, "2026-10")))  # \u-escapes decoded
    for text in texts:
        for value in PERSONAL:
            assert value not in text


def test_the_tripwire_refuses_to_sign(office: Office) -> None:
    office.ctx.ingest.receive(BytesIO(b"x"), channel="an.vermeulen@example.be", source="s", quarantine=False,
                              actor="agent")
    office.rig.advance_to(NOVEMBER)
    with pytest.raises(ReportPersonalDataError) as raised:
        make_report(office.ctx, parse_period("2026-10"))
    assert "summary.deliveries_received.by_channel" in raised.value.params["where"]
    assert not list(office.home.reports.glob("report-*")) and outbox.all_rows(office.ctx) == []


# ---- HTML and PDF --------------------------------------------------------------------------------------


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


HOSTILE_MUNICIPALITY = "<script>alert('x')</script> & Co"
HOSTILE_CONTROLLER = '"><img src=x onerror=alert(1)>'


def test_every_value_is_escaped_in_html(tmp_path: Path) -> None:
    office = populate(new_office(tmp_path / "home", municipality=HOSTILE_MUNICIPALITY, start=PRELUDE,
                                 config=f"[register]\ncontroller = '{HOSTILE_CONTROLLER}'\n"))
    try:
        office.rig.advance_to(NOVEMBER)
        meta = make_report(office.ctx, parse_period("2026-10"))
        page = (office.home.reports / meta["files"]["html"]).read_text(encoding="utf-8")
    finally:
        office.close()
    parser = Tags()
    parser.feed(page)
    assert parser.tags <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table", "thead",
                           "tbody", "tr", "th", "td", "pre"}
    assert "<script>" not in page and "<img" not in page and "<i>" not in page and "<Zorg>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; Co" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "Tom &amp; Jerry &lt;Zorg&gt;" in page
    assert "brief &lt;i&gt;2026/33&lt;/i&gt; &amp; aangetekend" in page
    text = "".join(parser.text)
    assert HOSTILE_MUNICIPALITY in text and HOSTILE_CONTROLLER in text and "Tom & Jerry <Zorg>" in text


def test_html_escapes_a_hostile_document() -> None:
    hostile = "<b onclick=x>&amp;</b>"
    page = render_html(_minimal_doc(hostile))
    assert "<b " not in page and "</b>" not in page and hostile not in page
    assert page.count("&lt;b onclick=x&gt;&amp;amp;&lt;/b&gt;") >= 8


def _minimal_doc(value: str) -> dict[str, Any]:
    period = {"label": "2026-10", "kind": "month", "first_day": "2026-10-01", "last_day": "2026-10-31",
              "complete": True}
    note = notes.sign(notes.Checkpoint("retention-agent/x/y", 1, bytes(32)), "retention-agent/x/y",
                      SigningKey.generate())
    return {
        "municipality": value, "legal_basis": value, "period": period, "sequence": 1, "generated_at":
        "2026-11-02T09:00:00Z", "installation_id": value, "signer": value, "previous": None,
        "summary": {"deliveries_received": {"count": 1, "by_channel": {value: 1}, "quarantined": 0,
                                            "duplicates_refused": 0},
                    "ceremonies": {"dates_recorded": 0, "extensions": 0},
                    "purges": {"count": 1, "on_time": 1, "late": 0, "items": [
                        {"delivery": value, "trigger": value, "deadline": None, "purged_at": None, "late": False,
                         "proof_sha256": value}]},
                    "openings": {"count": 1, "by_mode": {}, "by_account_purpose": [
                        {"account": value, "purpose": value, "count": 1}]},
                    "refused_requests": {"by_account_action": [{"account": value, "action": value, "count": 1}]},
                    "holds": {"placed": [], "released": []}, "staff_changes": []},
        "incidents": [{"at": None, "kind": value, "delivery": value, "details": {"x": value}}],
        "current": {"compliant": True, "deliveries_by_state": {}, "without_ceremony": 0, "holds": {"count": 0},
                    "quarantined": {"count": 0}, "overdue_purges": {"count": 0}, "workspace_copies": 0,
                    "key_store": value, "problems": []},
        "staff": [{"account": value, "name": value, "access_levels": [value]}],
        "register": {"controller": value, "purposes": value},
        "checklist": [{"id": "dpo", "deliberation": value, "done": True, "done_on": "2026-01-01", "evidence": value}],
        "audit": {"checkpoint": note, "size": 1, "consistent_with_previous": None},
    }


def test_the_pdf_is_dutch_and_complete(office: Office) -> None:
    meta = october(office)
    reader = pypdf.PdfReader(office.home.reports / meta["files"]["pdf"])
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert reader.metadata is not None and "2026-10" in str(reader.metadata.title)
    assert " ".join(translate("Report to the data protection officer", "nl").split()) in text
    assert "1 oktober 2026 – 31 oktober 2026" in text  # nl-BE dates
    assert "2 november 2026, 10:00" in text  # made on, Brussels time
    assert "Tom & Jerry <Zorg>" in text and "De Panne" in text
    for delivery in (office.ids["purged"], office.ids["late"]):
        assert delivery in text.replace(" ", "")
    for item in ("commitment", "privacy-statement", "staff-informed", "register"):
        assert item in text
    assert "ssh-keygen -Y verify -f allowed_signers -I retention-agent@de-panne -n dpo-report" in text


def test_ids_in_pdf_tables_are_never_cut() -> None:
    widest = "W" * 26  # as long as a delivery id, in the widest letter
    doc = _minimal_doc("x")
    doc["summary"]["purges"]["items"][0]["delivery"] = widest  # only here, in a one-line table cell
    reader = pypdf.PdfReader(BytesIO(render_pdf(doc)))
    text = "".join(page.extract_text() for page in reader.pages).replace(" ", "").replace("\n", "")
    assert widest in text


# ---- order and schedule ------------------------------------------------------------------------------------


def test_reports_are_made_once_in_order(office: Office) -> None:
    # the overdue one purged (late, in October); two deliveries received, due on 3 November
    month_of_activity(office, datetime(2026, 10, 3, 9, 0, tzinfo=UTC))
    first = october(office)
    again = make_report(office.ctx, parse_period("2026-10"))
    assert again["sha256"] == first["sha256"] and again["sequence"] == 1
    month_of_activity(office, datetime(2026, 11, 3, 9, 0, tzinfo=UTC))
    office.rig.advance_to(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    second = make_report(office.ctx)  # default: the last complete month
    doc = report_doc(office, "2026-11")
    assert (second["name"], doc["sequence"]) == ("2026-11", 2)
    assert doc["previous"]["report_sha256"] == first["sha256"] and doc["previous"]["sequence"] == 1
    old = notes.parse(doc["previous"]["checkpoint"])[0]
    new = notes.parse(doc["audit"]["checkpoint"])[0]
    path = [bytes.fromhex(h) for h in doc["audit"]["consistency_proof"]]
    assert doc["audit"]["consistent_with_previous"] is True
    assert merkle.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, path)
    purges = doc["summary"]["purges"]  # the two received on 3 October, on their deadline day
    assert (purges["count"], purges["late"], len(doc["proofs"])) == (2, 0, 2)
    assert [i["kind"] for i in doc["incidents"] if i["kind"] == "late-purge"] == []
    late = report_doc(office, "2026-10")["summary"]["purges"]["items"]
    assert [p["delivery"] for p in late if p["late"]] == [office.ids["late"], office.ids["overdue"]]
    with pytest.raises(ReportOrderError):
        make_report(office.ctx, parse_period("2026-09"))
    with pytest.raises(ReportOrderError):
        make_report(office.ctx, parse_period("2026-Q3"))
    for bad in ("2027-01", "2026-13", "oktober", "2026-Q5"):
        with pytest.raises(ReportPeriodError):
            make_report(office.ctx, parse_period(bad))
    interim = make_report(office.ctx, parse_period("2026-12"))
    interim_doc = report_doc(office, "2026-12-interim")
    assert (interim["name"], interim["complete"], interim_doc["sequence"]) == ("2026-12-interim", False, None)
    assert interim_doc["previous"]["sequence"] == 2 and interim_doc["period"]["complete"] is False
    office.rig.advance_to(datetime(2027, 3, 2, 9, 0, tzinfo=UTC))
    make_report(office.ctx, parse_period("2027-02"))  # makes December and January first: no gaps
    made = {r["name"]: r["sequence"] for r in outbox.all_rows(office.ctx) if r["complete"]}
    assert made == {"2026-10": 1, "2026-11": 2, "2026-12": 3, "2027-01": 4, "2027-02": 5}


def test_the_schedule_makes_each_report_once(tmp_path: Path) -> None:
    office = new_office(tmp_path / "home")
    try:
        duty = ReportDuty(office.ctx)
        duty()
        assert outbox.all_rows(office.ctx) == []  # October has not ended yet
        office.rig.advance_to(datetime(2026, 10, 31, 23, 30, tzinfo=UTC))  # 00:30 on 1 November in Brussels
        duty()
        duty()
        assert [(r["name"], r["sequence"]) for r in outbox.all_rows(office.ctx)] == [("2026-10", 1)]
        office.rig.advance_to(datetime(2027, 1, 2, 9, 0, tzinfo=UTC))
        duty()
        rows = {r["name"]: r["sequence"] for r in outbox.all_rows(office.ctx)}
        assert rows == {"2026-10": 1, "2026-11": 2, "2026-12": 3}
        assert all(r["delivery"] == "no-address" for r in outbox.all_rows(office.ctx))
    finally:
        office.close()


@pytest.mark.parametrize(("schedule", "expected"), [("quarterly", ["2026-Q4"]), ("off", [])])
def test_quarterly_and_off(tmp_path: Path, schedule: str, expected: list[str]) -> None:
    office = new_office(tmp_path / "home", config=f'[reports]\nschedule = "{schedule}"\n')
    try:
        office.rig.advance_to(datetime(2027, 1, 2, 9, 0, tzinfo=UTC))
        ReportDuty(office.ctx)()
        assert [r["name"] for r in outbox.all_rows(office.ctx)] == expected
    finally:
        office.close()


# ---- e-mail ------------------------------------------------------------------------------------------------


def _mail_office(office: Office, port: int, security: str = "starttls") -> Office:
    write_config(office.home, smtp_config(port, security))
    office.reopen()
    office.ctx.keys.put("secret/smtp", PASSWORD.encode())
    return office


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # implicit TLS: aiosmtpd cannot tell
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_sent_through_a_real_smtp_server(office: Office, certificate: tuple[Path, Path], security: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    with SmtpServer(*certificate, security=security) as server:
        _mail_office(office, server.port, security)
        meta = october(office)
        assert meta["delivery"] == "queued"
        ReportDuty(office.ctx)()
        [mail] = server.received
    assert mail.authenticated
    assert sorted(mail.rcpt_tos) == ["dpo@regio.example", "privacy@de-panne.example"]
    assert mail.mail_from == "privacy@de-panne.example"
    assert "2026-10" in str(mail.message["Subject"]) and "De Panne" in str(mail.message["Subject"])
    attached = mail.attachments()
    assert set(attached) == {f"report-2026-10.{ext}" for ext in ("json", "json.sig", "pdf", "html")}
    assert attached["report-2026-10.json"] == (office.home.reports / "report-2026-10.json").read_bytes()
    for value in PERSONAL:
        assert value.encode() not in mail.data
    row = outbox.get(office.ctx, "2026-10")
    assert row is not None and row["delivery"] == "sent" and row["attempts"] == 1
    assert build_status(office.ctx)["reports"]["last"]["delivery"] == "sent"
    assert [e["subject"] for e in office.ctx.audit.entries() if e["action"] == "report.sent"] == [["2026-10"]]


def test_a_refusing_or_vanished_server_leaves_the_report_queued(office: Office, certificate: tuple[Path, Path],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    port = free_port()
    _mail_office(office, port)
    october(office)
    duty = ReportDuty(office.ctx)
    with SmtpServer(*certificate, port=port) as server:
        server.handler.refuse = True
        duty()
        assert server.received == []
    row = outbox.get(office.ctx, "2026-10")
    assert row is not None
    assert (row["delivery"], row["attempts"], row["last_error"]) == ("failed", 1, "SMTPRecipientsRefused (550)")
    status = build_status(office.ctx)
    assert status["reports"]["waiting"][0]["name"] == "2026-10"
    assert "reports-not-sent" in {w["code"] for w in status["warnings"]}
    assert "@" not in json.dumps(status["reports"])
    duty()  # the server is gone, but the back-off holds the next attempt back
    assert outbox.get(office.ctx, "2026-10")["attempts"] == 1  # type: ignore[index]
    office.clock.advance(timedelta(minutes=6))
    duty()
    row = outbox.get(office.ctx, "2026-10")
    assert row is not None and row["attempts"] == 2 and row["last_error"].startswith("ConnectionRefusedError")
    assert (office.home.reports / "report-2026-10.json").exists()
    office.clock.advance(timedelta(minutes=11))
    with SmtpServer(*certificate, port=port) as server:
        duty()
        assert len(server.received) == 1
    assert outbox.get(office.ctx, "2026-10")["delivery"] == "sent"  # type: ignore[index]


def test_an_untrusted_certificate_or_a_wrong_password_is_a_failure(office: Office, certificate: tuple[Path, Path],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with SmtpServer(*certificate) as server:
        _mail_office(office, server.port)
        meta = october(office)
        row = smtp.deliver(office.ctx, meta["name"])
        assert row["last_error"] == "SSLCertVerificationError (the server's certificate is not trusted)"
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
        office.ctx.keys.delete("secret/smtp")
        office.ctx.keys.put("secret/smtp", b"wrong")
        row = smtp.deliver(office.ctx, meta["name"])
        assert row["last_error"] == "SMTPAuthenticationError (535)"
        office.ctx.keys.delete("secret/smtp")
        row = smtp.deliver(office.ctx, meta["name"])
        assert "secret/smtp" in row["last_error"]
        assert server.received == [] and row["attempts"] == 3


# ---- through the agent and the command line ----------------------------------------------------------------


def test_report_command_with_out_and_send(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    home = make_home(tmp_path / "home", clock=ManualClock(datetime.now(UTC)))  # no report is due yet
    with SmtpServer(*certificate) as server:
        write_config(home, smtp_config(server.port))
        FileKeyStore(home.keys).put("secret/smtp", PASSWORD.encode())
        agent = AgentProcess(home.root, env={"SSL_CERT_FILE": str(certificate[0])}).start()
        try:
            server.handler.refuse = True
            refused = agent.cli("report", "--send", "--format", "pdf")
            assert refused.returncode == 1
            assert refused.stdout.startswith(b"%PDF-")
            assert b"SMTPRecipientsRefused (550)" in refused.stderr
            status = json.loads(agent.cli("status", "--json").stdout)
            [waiting] = status["reports"]["waiting"]
            assert waiting["delivery"] == "failed"
            server.handler.refuse = False
            out = tmp_path / "out"
            out.mkdir()
            sent = agent.cli("report", "--send", "--out", str(out))
            assert sent.returncode == 0, sent.stderr.decode()
            assert len(server.received) == 1
            keys = agent.cli("keys", "public").stdout.decode()
            bad = agent.cli("report", "--period", "2099-01")
            assert bad.returncode == 2
        finally:
            agent.stop()
    [copied] = sorted(out.glob("report-*.json"))
    assert copied.with_name(copied.name + ".sig").exists()
    assert stat.S_IMODE(copied.stat().st_mode) == 0o666 & ~_umask()
    assert copied.read_bytes() == server.received[0].attachments()[copied.name]
    if SSH_KEYGEN:
        (out / "allowed_signers").write_text(keys)
        checked = keygen_verify(out, "retention-agent@de-panne", "dpo-report", copied)
        assert checked.returncode == 0, checked.stderr


def test_report_without_options_summarises_the_current_period_in_a_few_lines(agent: AgentProcess) -> None:
    ran = agent.cli("--lang", "nl", "report")
    assert ran.returncode == 0, ran.stderr.decode()
    text = ran.stdout.decode()
    lines = text.splitlines()
    today = datetime.now(BRUSSELS).date()
    first = i18n.format_day(today.replace(day=1), "nl")
    assert lines[0].startswith(f"Rapport voor de DPO — De Panne, {first} tot en met "), lines
    assert lines[0].endswith("(tot nu toe)"), lines
    assert "  Ontvangen leveringen: 0 (in quarantaine: 0)" in lines
    assert f"--period {today:%Y-%m} --format pdf" in text and "{" not in text and len(lines) <= 10, text

    whole = agent.cli("report", "--json")  # the signed JSON stays one option away
    assert whole.returncode == 0, whole.stderr.decode()
    assert json.loads(whole.stdout)["format"] == "retention-agent/dpo-report"
    both = agent.cli("report", "--json", "--format", "pdf")
    assert both.returncode == 2


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---- proofs of deletion ------------------------------------------------------------------------------------


def test_proof_list_show_and_offline_verify(office: Office, tmp_path: Path) -> None:
    purged = office.ids["purged"]
    [page] = request(office.ctx, ME, "proof.list").replies
    listed = page["proofs"]
    assert {r["delivery"] for r in listed} == {purged, office.ids["late"]} and page["next"] is None
    row = next(r for r in listed if r["delivery"] == purged)
    [shown] = request(office.ctx, ME, "proof.show", {"delivery": purged}).replies
    assert hashlib.sha256(shown["json"].encode()).hexdigest() == row["proof_sha256"] == shown["sha256"]
    [unknown] = request(office.ctx, ME, "proof.show", {"delivery": office.ids["vaulted"]}).errors
    assert unknown.error_id == "proof-unknown"
    [denied] = request(office.ctx, "tjerry", "proof.list").errors
    assert denied.error_id == "access-denied"
    folder = tmp_path / "received"
    folder.mkdir()
    document = folder / f"{purged}.json"
    document.write_text(shown["json"])
    (folder / f"{purged}.json.sig").write_text(shown["signature"])
    (folder / "allowed_signers").write_text(allowed_signers(office.ctx))
    offline = tmp_path / "no-home"
    good = cli(offline, "proof", "verify", str(document))
    assert good.returncode == 0, good.stderr.decode()
    assert purged in good.stdout.decode()
    key = sshsig.public_key_openssh(office.ctx.signing_key.public_bytes())
    assert cli(offline, "proof", "verify", str(document), "--public-key", key).returncode == 0
    document.write_text(shown["json"].replace('"trigger": "schedule"', '"trigger": "early"'))
    tampered = cli(offline, "proof", "verify", str(document))
    assert tampered.returncode == 4
    assert b"does not verify" in tampered.stderr


# ---- periods -------------------------------------------------------------------------------------------------


def test_periods_are_brussels_months_and_quarters() -> None:
    march, october = parse_period("2026-03"), parse_period("2026-10")
    assert (march.start_utc, march.end_utc) == (datetime(2026, 2, 28, 23, tzinfo=UTC), datetime(2026, 3, 31, 22,
                                                                                                 tzinfo=UTC))
    assert (october.start_utc, october.end_utc) == (datetime(2026, 9, 30, 22, tzinfo=UTC),
                                                    datetime(2026, 10, 31, 23, tzinfo=UTC))
    q4 = parse_period("2026-q4")
    assert (q4.label, str(q4.start), str(q4.last_day)) == ("2026-Q4", "2026-10-01", "2026-12-31")
    assert parse_period("2026-01").previous().label == "2025-12" and q4.next().label == "2027-Q1"
    assert parse_period("2026-Q1").previous().label == "2025-Q4"
    half_past_midnight = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)  # 1 November, 00:30 in Brussels
    assert containing(half_past_midnight, "month").label == "2026-11"
    assert last_complete(half_past_midnight, "month").label == "2026-10"
    assert last_complete(half_past_midnight, "quarter").label == "2026-Q3"
    assert not october.has_ended(datetime(2026, 10, 31, 22, 59, tzinfo=UTC))
    assert october.has_ended(datetime(2026, 10, 31, 23, 0, tzinfo=UTC))
    assert [p.label for p in months_from(parse_period("2026-11").start, parse_period("2027-02").start)] == [
        "2026-11", "2026-12", "2027-01"]
