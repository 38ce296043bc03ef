"""Secure purge and its proof (issue 6), against the real agent process, the real vault and key store, the
real SQLite database and the real ``ssh-keygen``.

- SIGKILL at every step of a purge (the agent's own fault points), restart: the purge completes, with one
  proof whose verification results are all true, the key and object gone and the audit log intact.
- The proof verifies with ``ssh-keygen -Y verify`` and with ``proof.verify_proof``; a one-byte change, a wrong
  namespace or another key fails both.
- Triggers: early purge (role destroy, typed confirmation or ``--yes``, the reason kept only as its hash),
  holds, quarantined deliveries (the officer), and an opening in progress when the purge starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import select
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from retention_agent.clock import BRUSSELS, ManualClock, SystemClock, local_date
from retention_agent.crypto import SigningKey
from retention_agent.errors import (
    DocumentInvalidError,
    RetentionAgentError,
    SignatureInvalidError,
)
from retention_agent.evidence import sshsig
from retention_agent.evidence.proof_verify import verify_proof
from retention_agent.i18n import catalogue as i18n
from retention_agent.lifecycle import decisions as ceremonies
from retention_agent.lifecycle.purge import Purger
from retention_agent.runtime.agent import build_context
from retention_agent.system.home import Home
from retention_agent.system.init_home import load_signing_key
from retention_agent.testing_hooks import FAULTS_ENV
from retention_agent.vault.keys import FileKeyStore
from tests.support.agent import ME, make_home
from tests.support.retention import (
    AGII_HEAD,
    Agents,
    api,
    audit_entries,
    delivery_row,
    fast_ticks,
    grant_me,
    ingest,
    ingest_bytes,
    proofs_of,
    received_days_ago,
    set_ceremony,
    set_ceremony_api,
    started_at,
    wait_for,
    wait_ticks,
)

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.usefixtures("require_ssh_keygen")

PURGE_POINTS = ["purge.after-start", "purge.after-key", "purge.after-object", "purge.after-workspace",
                "purge.after-rows", "purge.after-scrub", "purge.after-proof"]


def today() -> date:
    return datetime.now(BRUSSELS).date()


def public_key(home: Path) -> tuple[bytes, str]:
    """The installation's public key and audit origin, as ``keys public`` gives them to the DPO."""
    shown = api(home, "keys.public")
    return sshsig.parse_public_key_openssh(shown["public_key"]), str(shown["origin"])


def read_proof(home: Path, delivery_id: str) -> tuple[bytes, str]:
    folder = home / "proofs"
    return (folder / f"{delivery_id}.json").read_bytes(), (folder / f"{delivery_id}.json.sig").read_text()


def data_key_files(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "keys").iterdir() if p.name != "signing-key.key")


def assert_completely_purged(home: Path, delivery_id: str, copies: list[Path]) -> dict[str, Any]:
    assert [p.name for p in proofs_of(home, delivery_id)] == [
        f"{delivery_id}.json", f"{delivery_id}.json.sig", f"{delivery_id}.pdf"]
    data, signature = read_proof(home, delivery_id)
    key, origin = public_key(home)
    doc = verify_proof(data, signature, key, origin=origin)
    assert doc["verification"] == {"key_absent": True, "object_absent": True, "no_workspace_copy": True,
                                   "no_rows_left": True, "database_scrubbed": True, "unlock_secrets_absent": True}
    assert [s["step"] for s in doc["steps"]] == ["key", "object", "workspace", "copies", "rows", "scrub"]
    assert data_key_files(home) == []
    assert not (home / "vault" / "objects" / f"{delivery_id}.rav").exists()
    assert [c for c in copies if c.exists()] == []
    assert list((home / "workspace").rglob(f"{delivery_id}*")) == []
    assert delivery_row(home, delivery_id)["state"] == "purged"
    for action in ("purge.started", "delivery.purged", "proof.written"):
        assert [e["subject"][0] for e in audit_entries(home, action)] == [delivery_id], action
    assert api(home, "audit.verify")["ok"] is True
    return doc


# ---- crash safety ---------------------------------------------------------------------------------------------


def test_sigkill_at_every_step_of_a_purge_then_restart_completes_it_with_one_proof(tmp_path: Path) -> None:
    """One home per fault point, all run side by side (they are independent processes): the agent dies at
    that point of a purge (here the early destruction a ceremony date recorded after the fact causes, begun in
    the transaction that records the date); restarted without faults, it finishes the purge before it answers
    again."""
    crashed: dict[str, Agents] = {}
    received: dict[str, str] = {}
    try:
        for point in PURGE_POINTS:
            home = make_home(tmp_path / point)
            fast_ticks(home.root)
            crashed[point] = Agents(home.root)
            received[point] = received_days_ago(home.root, 60, b"crash " + point.encode()
                                                + secrets.token_bytes(200_000))
        with ThreadPoolExecutor(len(crashed)) as pool:
            first = dict(zip(crashed, pool.map(lambda p: crashed[p].start({FAULTS_ENV: p}), crashed), strict=True))
        setup: dict[str, tuple[str, Path]] = {}
        for point, agent in first.items():
            grant_me(agent.home, "import", "read", "modify", "destroy")
            delivery = received[point]
            opened = api(agent.home, "open", {"delivery": delivery, "purpose": "invite", "mode": "workspace"})
            setup[point] = (delivery, Path(opened["path"]))
            assert setup[point][1].exists() and len(data_key_files(agent.home)) == 1
        for point, agent in first.items():
            with contextlib.suppress(RetentionAgentError):  # the agent may die before it answers
                api(agent.home, "ceremony.set", {"deliveries": [setup[point][0]], "reason": "recorded late",
                                                 "date": (today() - timedelta(days=40)).isoformat(),
                                                 "confirm_destroy": [setup[point][0]]})
        for point, agent in first.items():
            assert agent.wait_exit(timeout=30) == -9, f"{point}: the fault point was not reached"

        with ThreadPoolExecutor(len(crashed)) as pool:  # start-up finishes the purge before the API answers
            restarted = dict(zip(crashed, pool.map(lambda p: crashed[p].start(timeout=60), crashed), strict=True))
        verifying = {point: subprocess.Popen(
            [sys.executable, "-m", "retention_agent", "--home", str(agent.home), "audit", "verify"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE) for point, agent in restarted.items()}
        for point, agent in restarted.items():
            delivery, copy = setup[point]
            try:
                doc = assert_completely_purged(agent.home, delivery, [copy])
            except AssertionError as exc:
                raise AssertionError(f"after a SIGKILL at {point}: {exc}") from exc
            assert (doc["trigger"], doc["reason"], doc["openings_count"], doc["distinct_accounts_count"],
                    doc["lateness_seconds"]) == ("early", "ceremony-recorded-after-the-fact", 1, 1, 0), point
            assert delivery_row(agent.home, delivery)["ceremony_date"] == (today() - timedelta(days=40)).isoformat()
        for point, process in verifying.items():
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, f"{point}: audit verify: {out!r} {err!r}"
    finally:
        for agents in crashed.values():
            agents.close()


# ---- the proof and ssh-keygen ---------------------------------------------------------------------------------


def ssh_verify(folder: Path, data: bytes, signature: str, allowed_signers: str, identity: str,
               namespace: str = "deletion-proof") -> subprocess.CompletedProcess[bytes]:
    (folder / "allowed_signers").write_text(allowed_signers + "\n")
    (folder / "proof.json.sig").write_text(signature)
    assert SSH_KEYGEN is not None
    return subprocess.run([SSH_KEYGEN, "-Y", "verify", "-f", str(folder / "allowed_signers"), "-I", identity,
                           "-n", namespace, "-s", str(folder / "proof.json.sig")],
                          input=data, capture_output=True, timeout=30, check=False)


@needs_ssh_keygen
def test_the_proof_verifies_with_ssh_keygen_and_verify_proof_and_any_change_fails_both(
        agents: Agents, tmp_path: Path) -> None:
    agent = agents.start()
    grant_me(agent.home, "import", "destroy")
    delivery = ingest_bytes(agent.home, b"proof " + secrets.token_bytes(1000))
    api(agent.home, "purge.one", {"delivery": delivery, "reason": "test"})
    data, signature = read_proof(agent.home, delivery)
    shown = agent.cli("keys", "public")
    assert shown.returncode == 0, shown.stderr
    allowed = shown.stdout.decode().strip()
    identity = allowed.split()[0]
    assert identity == "retention-agent@de-panne" and 'namespaces="deletion-proof,dpo-report"' in allowed
    key, origin = public_key(agent.home)
    work = tmp_path / "dpo"
    work.mkdir()

    good = ssh_verify(work, data, signature, allowed, identity)
    assert good.returncode == 0, good.stderr
    assert b"Good" in good.stdout + good.stderr
    assert verify_proof(data, signature, key, origin=origin)["delivery_id"] == delivery

    # one byte changed
    at = data.index(b'"channel": "manual"') + len(b'"channel": "manua')
    changed = data[:at] + b"L" + data[at + 1:]
    assert len(changed) == len(data) and changed != data
    assert ssh_verify(work, changed, signature, allowed, identity).returncode != 0
    with pytest.raises(SignatureInvalidError):
        verify_proof(changed, signature, key, origin=origin)

    # the wrong namespace, both ways: verifying as a report; a signature made for reports
    assert ssh_verify(work, data, signature, allowed, identity, namespace="dpo-report").returncode != 0
    installation_key = load_signing_key(FileKeyStore(agent.home / "keys"))
    as_report = sshsig.sign(installation_key, "dpo-report", data)
    assert ssh_verify(work, data, as_report, allowed, identity).returncode != 0
    with pytest.raises(SignatureInvalidError):
        verify_proof(data, as_report, key, origin=origin)

    # another key, both ways: signed by it; checked against it
    other = SigningKey.generate()
    forged = sshsig.sign(other, "deletion-proof", data)
    assert ssh_verify(work, data, forged, allowed, identity).returncode != 0
    with pytest.raises(SignatureInvalidError):
        verify_proof(data, forged, key, origin=origin)
    other_allowed = sshsig.allowed_signers_line(identity, ("deletion-proof",), other.public_bytes())
    assert ssh_verify(work, data, signature, other_allowed, identity).returncode != 0
    with pytest.raises((SignatureInvalidError, DocumentInvalidError)):
        verify_proof(data, signature, other.public_bytes(), origin=origin)


# ---- triggers -------------------------------------------------------------------------------------------------


def test_early_purge_needs_destroy_and_confirmation_and_keeps_only_the_reasons_hash(agents: Agents) -> None:
    agent = agents.start()
    grant_me(agent.home, "import", "modify")
    delivery = ingest_bytes(agent.home, AGII_HEAD + b"early " + secrets.token_bytes(1000))
    set_ceremony_api(agent.home, delivery, today() + timedelta(days=30))
    reason = f"ceremony cancelled, asked by Mrs Example {secrets.token_hex(6)}"

    denied = agent.cli("purge", delivery, "--reason", reason, "--yes")
    assert denied.returncode == 3, denied.stderr
    assert [(e["outcome"], e["subject"], e["details"]["subjects"]) for e in
            audit_entries(agent.home, "purge.early")] == [("denied", [], 1)]  # the id only as a keyed hash
    unknown = agent.cli("purge", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "--reason", reason, "--yes")
    assert unknown.returncode == 3, unknown.stderr  # refused, without telling whether it exists
    # and counted: the same refusal within a minute goes into one follow-up entry
    # (tests/integration/test_hostile_api.py)
    assert [e["outcome"] for e in audit_entries(agent.home, "purge.early")] == ["denied"]

    grant_me(agent.home, "import", "modify", "destroy")
    unconfirmed = agent.cli("purge", delivery, "--reason", reason, input=b"")  # no TTY, no --yes
    assert unconfirmed.returncode == 2, unconfirmed.stderr
    assert delivery_row(agent.home, delivery)["state"] == "scheduled"
    assert audit_entries(agent.home, "purge.started") == []

    done = agent.cli("purge", delivery, "--reason", reason, "--yes")
    assert done.returncode == 0, done.stderr
    doc = assert_completely_purged(agent.home, delivery, [])
    assert (doc["trigger"], doc["reason"], doc["lateness_seconds"]) == ("early", "early", 0)
    assert doc["reason_sha256"] == hashlib.sha256(reason.encode()).hexdigest()
    for place in [*proofs_of(agent.home, delivery), *agent.home.glob("agent.db*")]:
        assert reason.encode() not in place.read_bytes(), place
    assert reason not in json.dumps(audit_entries(agent.home))


def test_a_held_delivery_is_not_purged_by_the_schedule_until_released(agents: Agents) -> None:
    """Received 60 days ago, its ceremony recorded in time (deadline 30 days ago), held since: the agent that
    runs now keeps it while the hold lasts, and purges it as soon as the hold is released."""
    clock = ManualClock(datetime.now(UTC) - timedelta(days=60))
    ctx = build_context(Home(agents.home), clock)
    try:
        delivery = ingest(ctx, b"held " + secrets.token_bytes(1000))
        clock.advance(timedelta(days=2))
        # the ceremony on the day of receipt in Brussels, whatever the hour (not today - 60: at 22:00 UTC in winter
        # that is the day before a receipt made in summer time)
        set_ceremony(ctx, [delivery], local_date(clock.now() - timedelta(days=2)), purger=Purger(ctx))
        ceremonies.hold(ctx, ME, delivery, "complaint 2026/17", today() + timedelta(days=90))
    finally:
        ctx.store.close()
    agent = agents.start()
    wait_ticks(agent.home, 2)
    assert delivery_row(agent.home, delivery)["state"] == "held"
    assert api(agent.home, "purge.due", {})["purged"] == []
    assert proofs_of(agent.home, delivery) == []
    assert audit_entries(agent.home, "purge.started") == []

    released = datetime.now(UTC).replace(microsecond=0)
    api(agent.home, "release", {"delivery": delivery})
    wait_for(lambda: (agent.home / "proofs" / f"{delivery}.pdf").exists(), 30, "the purge")
    assert (started_at(agent.home, delivery) - released).total_seconds() < 3  # the release wakes the schedule
    assert_completely_purged(agent.home, delivery, [])


def test_an_early_purge_does_not_overrule_a_legal_hold(agents: Agents) -> None:
    agent = agents.start()
    grant_me(agent.home, "import", "modify", "destroy")
    delivery = ingest_bytes(agent.home, AGII_HEAD + b"held, then early " + secrets.token_bytes(1000))
    until = (today() + timedelta(days=90)).isoformat()
    assert agent.cli("hold", delivery, "--reason", "complaint 2026/18", "--until", until).returncode == 0

    refused = agent.cli("purge", delivery, "--reason", "ceremony cancelled", "--yes")
    assert refused.returncode == 1, refused.stderr
    shown = i18n.format_day(until, "en")
    assert f"Delivery {delivery} is under a legal hold until {shown}" in refused.stderr.decode()
    assert "release the hold first" in refused.stderr.decode()
    assert delivery_row(agent.home, delivery)["state"] == "held"
    assert [(e["outcome"], e["subject"], e["details"]) for e in audit_entries(agent.home, "purge.refused")] == [
        ("denied", [delivery], {"why": "held"})]
    assert audit_entries(agent.home, "purge.started") == [] and proofs_of(agent.home, delivery) == []

    assert agent.cli("release", delivery).returncode == 0
    done = agent.cli("purge", delivery, "--reason", "ceremony cancelled", "--yes")
    assert done.returncode == 0, done.stderr
    assert_completely_purged(agent.home, delivery, [])


def test_a_quarantined_delivery_is_purged_by_the_officer_and_the_reason_stays_out_of_the_proof(
        agents: Agents) -> None:
    home = Home(agents.home)
    ctx = build_context(home, SystemClock())  # quarantined by intake: made here before the agent starts
    try:
        quarantined = ingest(ctx, b"not an AgII file " + secrets.token_bytes(500), quarantine=True)
    finally:
        ctx.store.close()
    agent = agents.start()
    reason = f"unknown sender {secrets.token_hex(3)}, not AgII"  # an e-mail address would be refused
    done = agent.cli("purge", quarantined, "--reason", reason, "--yes")  # the officer, without destroy
    assert done.returncode == 0, done.stderr
    # asked first (a dry run: may I, and is everything there?), then done
    assert [e["outcome"] for e in audit_entries(agent.home, "purge.quarantined")] == ["granted", "granted"]
    doc = assert_completely_purged(agent.home, quarantined, [])
    assert (doc["trigger"], doc["reason"]) == ("quarantine", "quarantine")
    assert doc["reason_sha256"] == hashlib.sha256(reason.encode()).hexdigest()
    for place in [*proofs_of(agent.home, quarantined), *agent.home.glob("agent.db*"), agent.home / "agent.log"]:
        assert reason.encode() not in place.read_bytes(), place
    assert reason not in json.dumps(audit_entries(agent.home))


def test_open_stdout_read_slowly_while_an_early_purge_runs_ends_with_the_purge_winning(
        agents: Agents) -> None:
    agent = agents.start()
    grant_me(agent.home, "import", "read", "destroy")
    size = 6 * 1024 * 1024
    delivery = ingest_bytes(agent.home, secrets.token_bytes(size))
    command = [sys.executable, "-m", "retention_agent", "--home", str(agent.home), "open", delivery,
               "--purpose", "phone", "--stdout"]
    reader = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ})
    try:
        assert reader.stdout is not None
        ready, _, _ = select.select([reader.stdout], [], [], 20)  # the stream has begun ...
        assert ready, "no data from open --stdout"
        time.sleep(0.5)  # ... and stalls: nobody reads the pipe, the socket fills, the agent waits mid-way
        assert reader.poll() is None
        started = time.monotonic()
        purged = agent.cli("purge", delivery, "--reason", "cancelled", "--yes")
        assert purged.returncode == 0, purged.stderr
        assert time.monotonic() - started < 10  # the opening did not hold the purge up
        got, err = reader.communicate(timeout=30)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode not in (0, None), "the opening went on after the purge"
    assert len(got) < size
    assert err  # a message, not a silent truncation
    assert_completely_purged(agent.home, delivery, [])
    assert api(agent.home, "whoami")["account"] == ME  # the agent serves on
