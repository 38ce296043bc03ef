"""``retention-agent demo``: the whole job on a throw-away home with synthetic data, no set-up needed.

A synthetic AgII delivery arrives in a drop folder, is vaulted, opened for a purpose, given a ceremony date
in the past, purged by the agent, and the signed proof is verified with ``ssh-keygen`` when it is there.
Everything runs against the real agent (in this process) through the real local API.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from retention_agent.agent import Agent
from retention_agent.api.client import Client
from retention_agent.clock import SystemClock, local_date
from retention_agent.home import Home
from retention_agent.i18n import t, translate
from retention_agent.installation import init_home
from retention_agent.platform_accounts import current_account

SYNTHETIC_ROWS = [
    "rijksregisternummer;naam;adres;email;telefoon;attestdatum",
    "00.00.00-000.00;Demo Persoon A;Voorbeeldstraat 1, 8660 De Panne;a@example.invalid;000000000;2026-10-01",
    "00.00.00-000.00;Demo Persoon B;Voorbeeldstraat 2, 8660 De Panne;b@example.invalid;000000000;2026-10-02",
]


def synthetic_delivery() -> bytes:
    """A small zip with obviously fake rows, shaped like what AgII sends (the real files are encrypted)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inburgeraars-demo.csv", "\n".join(SYNTHETIC_ROWS) + "\n")
    return buffer.getvalue()


def step(text: str) -> None:
    click.secho("\n== " + text, bold=True)


def run_demo(*, keep: bool, root: Path | None = None) -> None:
    # the real path: a drop folder reached through a link is refused (macOS: /var is a link to /private/var)
    base = (root or Path(tempfile.mkdtemp(prefix="retention-agent-demo-"))).resolve()
    home, inbox = Home(base / "home"), base / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    step(t("1. A new home with the file key store and you as privacy officer"))
    me = current_account()
    init_home(home, municipality="Demogemeente", officer=me, officer_name=me, key_store="file",
              inboxes=[str(inbox)], clock=SystemClock())
    # synthetic deliveries have no copies in your folders: the demo does not sweep them
    text = home.config.read_text()
    home.config.write_text(text.replace("[retention]\n", "[copies]\nsweep = false\n\n[retention]\n", 1))
    click.echo(t("Home: {home}", home=home.root))
    agent = Agent(home)
    thread = threading.Thread(target=agent.run, kwargs={"ready": None}, daemon=True)
    thread.start()
    try:
        _wait_for(lambda: home.socket.exists(), 15)
        with Client(home.socket) as client:
            _walk_through(client, home, inbox, me)
    finally:
        agent.stopping.set()
        thread.join(timeout=30)
        if keep:
            click.echo(t("The demo home was kept at {home}.", home=base))
        else:
            shutil.rmtree(base, ignore_errors=True)
    step(t("Done: the whole job ran end to end."))


def _walk_through(client: Client, home: Home, inbox: Path, me: str) -> None:
    client.call("staff.add", {"account": me, "name": me, "roles": ["officer", "import", "read", "modify",
                                                                 "destroy"]})
    step(t("2. A synthetic AgII delivery arrives"))
    delivery_id = _deliver(client, inbox)
    rows = list(client.pages("deliveries", "deliveries"))
    click.echo(t("In the vault: {id} ({size} bytes, state {state}).", id=delivery_id, size=rows[0]["size"],
                 state=translate(rows[0]["state"])))
    step(t("3. Opened for a purpose (invite); the opening is logged"))
    sink = io.BytesIO()
    client.download("open", {"delivery": delivery_id, "purpose": "invite", "note": "", "mode": "stdout"}, sink)
    click.echo(t("Opened {n} bytes for the purpose 'invite'.", n=len(sink.getvalue())))
    step(t("4. The ceremony took place 40 days ago: the deadline has passed"))
    ceremony = local_date(SystemClock().now()) - timedelta(days=40)
    changed = client.call("ceremony.set", {"deliveries": [delivery_id], "date": ceremony.isoformat(),
                                           "label": "demo", "reason": ""})
    click.echo(t("Ceremony {ceremony_date}, deadline {deadline}.", **changed[0]))
    step(t("5. The agent purges it by itself and signs a proof of deletion"))
    _wait_for(lambda: (home.proofs / f"{delivery_id}.json.sig").exists(), 30)
    _show_proof(client, home, delivery_id)
    step(t("6. The audit log verifies"))
    verified = client.call("audit.verify", {"checkpoints": []})
    click.echo(t("Audit log verified: {size} entries, {n} checkpoints checked.", size=verified["size"],
                 n=verified["checkpoints_checked"]))
    _extra_steps(client)


def _extra_steps(client: Client) -> None:
    """Capabilities that extend the demo register here (status, report)."""
    from retention_agent.reports.period import containing
    from retention_agent.status_view import echo_status

    step(t("7. The privacy officer's status"))
    echo_status(client.call("status"))
    step(t("8. A signed report for the DPO (this month so far: an interim report)"))
    report = client.call("report", {"period": containing(SystemClock().now(), "month").label})
    folder = Path(report["folder"])
    for kind in ("json", "sig", "html", "pdf"):
        click.echo(t("Report written: {path}", path=folder / report["files"][kind]))
    click.echo(t("The DPO checks a folder of reports with: retention-agent dpo verify FOLDER"))
    click.echo(t("Run 'retention-agent demo --keep' to keep the demo home and open the report."))


def _deliver(client: Client, inbox: Path) -> str:
    """Drop the file in the watched folder and wait for the agent to take it (or ingest it directly)."""
    (inbox / "agii-demo.zip").write_bytes(synthetic_delivery())
    try:
        _wait_for(lambda: bool(list(client.pages("deliveries", "deliveries"))), 20)
        _wait_for(lambda: not (inbox / "agii-demo.zip").exists(), 10)
        click.echo(t("The agent took the file out of the drop folder and removed it there."))
    except TimeoutError:
        data = (inbox / "agii-demo.zip").read_bytes()
        client.upload("ingest", {}, [data])
        (inbox / "agii-demo.zip").unlink()
    return str(next(iter(client.pages("deliveries", "deliveries")))["id"])


def _state(client: Client, delivery_id: str) -> str:
    rows = [r for r in list(client.pages("deliveries", "deliveries")) if r["id"] == delivery_id]
    return str(rows[0]["state"]) if rows else ""


def _show_proof(client: Client, home: Home, delivery_id: str) -> None:
    proof_file = home.proofs / f"{delivery_id}.json"
    signers = home.root.parent / "allowed_signers"
    keys: dict[str, Any] = client.call("keys.public")
    signers.write_text(keys["allowed_signers"] + "\n")
    click.echo(proof_file.read_text())
    command = ["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", keys["identity"], "-n", "deletion-proof",
               "-s", f"{proof_file}.sig"]
    click.echo(t("Verify it yourself: {cmd} < {file}", cmd=" ".join(command), file=proof_file))
    if shutil.which("ssh-keygen"):
        with open(proof_file, "rb") as data:
            done = subprocess.run(command, stdin=data, capture_output=True, text=True, check=False)
        click.echo((done.stdout + done.stderr).strip())


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise TimeoutError
