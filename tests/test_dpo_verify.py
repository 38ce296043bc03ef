"""``dpo verify``: the DPO's offline check of a folder of reports. An honest series passes; an altered, missing
or replaced report, a forged attached proof and an audit log truncated and re-signed between two reports are
each found, with a clear finding and exit code 4. Signatures are also checked with the real ssh-keygen."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from retention_agent.clock import ManualClock
from retention_agent.evidence import sshsig
from retention_agent.reports.dpo import Summary, verify_folder
from retention_agent.reports.format import report_bytes
from retention_agent.reports.generate import make_report
from retention_agent.reports.period import parse_period
from retention_agent.system.home import Home
from tests.conftest import cli
from tests.report_support import (
    SSH_KEYGEN,
    Office,
    allowed_signers,
    copy_reports,
    keygen_verify,
    month_of_activity,
    new_office,
    open_context,
    report_doc,
    truncate_and_reseal,
)
from tests.retention_support import Rig

OCT, NOV, DEC = (datetime(2026, m, 3, 9, 0, tzinfo=UTC) for m in (10, 11, 12))
AFTER = {"2026-10": datetime(2026, 11, 2, 9, 0, tzinfo=UTC), "2026-11": datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
         "2026-12": datetime(2027, 1, 2, 9, 0, tzinfo=UTC)}


def report_month(office: Office, label: str) -> None:
    office.rig.advance_to(AFTER[label])
    make_report(office.ctx, parse_period(label))


@pytest.fixture(scope="module")
def two_reports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home with activity in October and November and the reports of both months; December's activity."""
    root = tmp_path_factory.mktemp("series") / "home"
    office = new_office(root, start=datetime(2026, 9, 1, 8, 0, tzinfo=UTC))
    month_of_activity(office, datetime(2026, 9, 3, 9, 0, tzinfo=UTC))  # received: purged on 3 October
    month_of_activity(office, OCT)
    report_month(office, "2026-10")
    month_of_activity(office, NOV)
    report_month(office, "2026-11")
    month_of_activity(office, DEC)
    office.close()
    return root


@pytest.fixture
def office(two_reports: Path, tmp_path: Path) -> Iterator[Office]:
    root = tmp_path / "home"
    shutil.copytree(two_reports, root, symlinks=True)
    clock = ManualClock(DEC)
    ctx = open_context(Home(root), clock)
    built = Office(Home(root), ctx, clock, Rig.on(ctx), {})
    yield built
    built.close()


def dpo_folder(office: Office, tmp_path: Path, names: list[str] | None = None) -> Path:
    folder = tmp_path / "dpo"
    copy_reports(office, folder, names)
    return folder


def messages(summary: Summary) -> list[str]:
    return [f"{f.file}: " + f.message.format(**f.params) for f in summary.findings]


def test_an_honest_series_passes(office: Office, tmp_path: Path) -> None:
    report_month(office, "2026-12")
    make_report(office.ctx, parse_period("2027-01"))  # an interim report for the running month
    folder = dpo_folder(office, tmp_path)
    summary = verify_folder(folder, (folder / "allowed_signers").read_text())
    assert messages(summary) == []
    assert summary.ok
    rows = {r.file: r for r in summary.reports}
    assert [rows[f"report-{m}.json"].sequence for m in ("2026-10", "2026-11", "2026-12")] == [1, 2, 3]
    assert rows["report-2027-01-interim.json"].sequence is None
    assert all(r.signature_ok and r.log_ok for r in summary.reports)
    assert [rows[f"report-{m}.json"].proofs_ok for m in ("2026-10", "2026-11", "2026-12")] == [2, 2, 2]
    done = cli(tmp_path / "no-home", "dpo", "verify", str(folder))  # offline: no agent, no home
    assert done.returncode == 0, done.stderr.decode()
    assert "report-2026-12.json" in done.stdout.decode()
    if SSH_KEYGEN:
        for path in sorted(folder.glob("report-*.json")):
            checked = keygen_verify(folder, "retention-agent@de-panne", "dpo-report", path)
            assert checked.returncode == 0, (path, checked.stderr)


def test_an_altered_report_is_found(office: Office, tmp_path: Path) -> None:
    report_month(office, "2026-12")
    folder = dpo_folder(office, tmp_path)
    path = folder / "report-2026-11.json"
    path.write_bytes(path.read_bytes().replace(b'"count": 2', b'"count": 1', 1))
    summary = verify_folder(folder, (folder / "allowed_signers").read_text())
    assert messages(summary) == [
        "report-2026-11.json: the signature does not verify: the report was changed or signed by another key",
        "report-2026-12.json: reports no. 2 to 2 are missing (between report-2026-10.json and report-2026-12.json)"]
    if SSH_KEYGEN:
        assert keygen_verify(folder, "retention-agent@de-panne", "dpo-report", path).returncode != 0
    done = cli(tmp_path / "no-home", "dpo", "verify", str(folder))
    assert done.returncode == 4
    assert b"the signature does not verify" in done.stderr


@pytest.mark.parametrize("fraction", [0.0, 0.11, 0.23, 0.37, 0.5, 0.61, 0.74, 0.88, 0.999])
def test_every_changed_byte_is_found(office: Office, tmp_path: Path, fraction: float) -> None:
    folder = dpo_folder(office, tmp_path, ["2026-10"])
    path = folder / "report-2026-10.json"
    data = bytearray(path.read_bytes())
    data[int(fraction * (len(data) - 1))] ^= 0x04
    path.write_bytes(bytes(data))
    summary = verify_folder(folder, (folder / "allowed_signers").read_text())
    assert not summary.ok
    assert summary.reports[0].signature_ok is False or not summary.reports[0].doc


def test_a_missing_report_is_found(office: Office, tmp_path: Path) -> None:
    report_month(office, "2026-12")
    folder = dpo_folder(office, tmp_path, ["2026-10", "2026-12"])
    summary = verify_folder(folder, (folder / "allowed_signers").read_text())
    assert messages(summary) == [
        "report-2026-12.json: reports no. 2 to 2 are missing (between report-2026-10.json and report-2026-12.json)"]
    folder = dpo_folder(office, tmp_path / "later", ["2026-11", "2026-12"])
    assert messages(verify_folder(folder, (folder / "allowed_signers").read_text())) == [
        "report-2026-11.json: reports no. 1 to 1 of installation "
        f"{office.ctx.installation_id} are missing"]


def test_a_log_truncated_between_two_reports_is_found(office: Office, tmp_path: Path) -> None:
    first = report_doc(office, "2026-10")
    truncate_and_reseal(office.ctx, first["audit"]["size"] - 5)  # back to before October's report
    while office.ctx.audit.size <= report_doc(office, "2026-11")["audit"]["size"] + 3:
        office.ctx.audit.append("agent", "agent.started", "ok")  # the log grows past its old size again
    report_month(office, "2026-12")
    third = report_doc(office, "2026-12")
    assert third["audit"]["consistent_with_previous"] is False
    assert "audit-log-inconsistent" in {i["kind"] for i in third["incidents"]}
    folder = dpo_folder(office, tmp_path)
    summary = verify_folder(folder, (folder / "allowed_signers").read_text())
    assert "report-2026-12.json: the audit log does not extend the log of report no. 2 (2026-11): it was " \
           "truncated or rewritten in between" in messages(summary)
    assert {r.file: r.log_ok for r in summary.reports} == {"report-2026-10.json": True, "report-2026-11.json": True,
                                                            "report-2026-12.json": False}


def test_a_report_replaced_on_the_host_is_found(office: Office, tmp_path: Path) -> None:
    """Someone with the agent's key rewrites November's report and re-signs it: December names the original."""
    report_month(office, "2026-12")
    folder = dpo_folder(office, tmp_path)
    doc = json.loads((folder / "report-2026-11.json").read_bytes())
    doc["summary"]["refused_requests"]["count"] = 0
    _sign_into(office, folder / "report-2026-11.json", doc)
    summary = verify_folder(folder, (folder / "allowed_signers").read_text())
    assert messages(summary) == ["report-2026-12.json: it does not continue from report-2026-11.json: that report "
                                 "was replaced, or the agent's records were rewritten"]


def test_a_forged_attached_proof_is_found(office: Office, tmp_path: Path) -> None:
    folder = dpo_folder(office, tmp_path)
    doc = json.loads((folder / "report-2026-10.json").read_bytes())
    item = doc["proofs"][0]
    item["json"] = item["json"].replace('"trigger": "schedule"', '"trigger": "early"')
    _sign_into(office, folder / "report-2026-10.json", doc)
    summary = verify_folder(folder, (folder / "allowed_signers").read_text())
    assert f"report-2026-10.json: the proof of deletion of {item['delivery_id']} does not verify" in messages(summary)
    assert any("does not continue from report-2026-10.json" in m for m in messages(summary))


def test_several_municipalities_and_unknown_signers(office: Office, tmp_path: Path) -> None:
    folder = dpo_folder(office, tmp_path)
    other = new_office(tmp_path / "other", municipality="Koksijde", start=datetime(2026, 10, 1, 8, 0, tzinfo=UTC))
    try:
        month_of_activity(other, OCT)
        report_month(other, "2026-10")
        copy_reports(other, folder / "koksijde")
        signers = allowed_signers(office.ctx)
        (folder / "allowed_signers").write_text(signers)
        summary = verify_folder(folder, signers)
        assert messages(summary) == ["koksijde/report-2026-10.json: the signer retention-agent@koksijde is not in the "
                                     "allowed-signers file for namespace dpo-report"]
        both = signers + allowed_signers(other.ctx)
        summary = verify_folder(folder, both)
        assert summary.ok, messages(summary)
        assert {r.to_json()["municipality"] for r in summary.reports} == {"De Panne", "Koksijde"}
        proof_only = sshsig.allowed_signers_line(other.ctx.identity, ("deletion-proof",),
                                                 other.ctx.signing_key.public_bytes())
        assert not verify_folder(folder, signers + proof_only + "\n").ok  # not allowed for dpo-report
    finally:
        other.close()


def test_an_empty_folder_or_a_bad_signers_file(tmp_path: Path) -> None:
    assert not verify_folder(tmp_path, "").ok
    with pytest.raises(ValueError, match="allowed signers line 1"):
        verify_folder(tmp_path, "someone ssh-ed25519 not-base64")
    done = cli(tmp_path / "no-home", "dpo", "verify", str(tmp_path))
    assert done.returncode == 2  # no allowed_signers file: a usage error that says what to give


def _sign_into(office: Office, path: Path, doc: dict[str, object]) -> None:
    data = report_bytes(doc)
    path.write_bytes(data)
    path.with_name(path.name + ".sig").write_text(sshsig.sign(office.ctx.signing_key, "dpo-report", data))
