"""DPO reports from a populated home: fields, signatures (real ssh-keygen), HTML escaping, the Dutch PDF read
back, the order of reports, the schedule, and delivery through a real SMTP server on loopback."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from retention_agent.clock import BRUSSELS, ManualClock
from retention_agent.evidence import sshsig
from retention_agent.i18n import catalogue as i18n
from retention_agent.vault.keys import FileKeyStore
from tests.support.agent import ME, AgentProcess, cli, make_home
from tests.support.reports import (
    SSH_KEYGEN,
    Office,
    allowed_signers,
    certificate_fixture,  # noqa: F401 - the fixture `certificate`
    keygen_verify,
    office_fixture,  # noqa: F401 - the fixture `office`
    request,
    write_config,
)
from tests.support.smtp import PASSWORD, SmtpServer, smtp_config

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
