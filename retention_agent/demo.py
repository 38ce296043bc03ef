"""``retention-agent demo``: the whole job on a throw-away home with synthetic data, no set-up needed.

A synthetic AgII delivery arrives in a drop folder, is vaulted, opened for a purpose, given a ceremony date
(its purge is then scheduled a month later), destroyed early as a cancelled ceremony would have it, and the
signed proof is verified with ``ssh-keygen`` when it is there. A ceremony in the past cannot be shown: a date
before the delivery arrived is refused. Everything runs against the real agent (in this process) through
the real local API; what it prints is for people, in words (no JSON).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

from retention_agent.api.client import Client
from retention_agent.clock import SystemClock, local_date
from retention_agent.errors import AppUnavailableError
from retention_agent.i18n.catalogue import format_moment, t, translate
from retention_agent.runtime.agent import Agent
from retention_agent.status import checklist
from retention_agent.system.accounts import current_account
from retention_agent.system.home import Home
from retention_agent.system.init_home import init_home

SYNTHETIC_ROWS = [
    "rijksregisternummer;naam;adres;email;telefoon;attestdatum",
    "00.00.00-000.00;Demo Persoon A;Voorbeeldstraat 1, 8660 De Panne;a@example.invalid;000000000;2026-10-01",
    "00.00.00-000.00;Demo Persoon B;Voorbeeldstraat 2, 8660 De Panne;b@example.invalid;000000000;2026-10-02",
]


def synthetic_delivery(variant: int = 0) -> bytes:
    """A small zip with obviously fake rows, shaped like what AgII sends (the real files are encrypted); each
    ``variant`` is another file (another SHA-256), with a fixed time inside so the bytes never change."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        name = "inburgeraars-demo.csv" if not variant else f"inburgeraars-demo-{variant}.csv"
        info = zipfile.ZipInfo(name, date_time=(2026, 10, 1, 9, 0, 0))
        archive.writestr(info, "\n".join(SYNTHETIC_ROWS) + "\n", zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def step(text: str) -> None:
    click.secho("\n== " + text, bold=True)


def run_demo(*, keep: bool, root: Path | None = None, app: bool = False) -> None:
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
            if app:
                _open_app(client, home)
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
    step(t("4. The ceremony is in two weeks: the agent will purge the delivery by itself one month after it"))
    ceremony = local_date(SystemClock().now()) + timedelta(days=14)
    changed = client.call("ceremony.set", {"deliveries": [delivery_id], "date": ceremony.isoformat(),
                                           "label": "demo", "reason": ""})
    click.echo(t("Ceremony {ceremony_date}, deadline {deadline}.", **changed[0]))
    step(t("5. The ceremony is cancelled: the delivery is destroyed now, with the reason, and a signed proof"))
    client.call("purge.one", {"delivery": delivery_id, "reason": "demo: ceremonie geannuleerd"})
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
    from retention_agent.session.status_table import echo_status

    step(t("7. The privacy officer records the conditions of the deliberation, then looks at the status"))
    today = local_date(SystemClock().now())
    for item in checklist.IDS:
        client.call("checklist.set", {"item": item, "done": today.isoformat(), "evidence": "demo"})
    status = client.call("status")
    echo_status(status)
    if not status["compliant"]:  # what a new installation still lacks is said as such, not as a failure
        click.echo(t("In this demo that is expected: a new installation still misses what is listed above."))
    step(t("8. A signed report for the DPO (this month so far: an interim report)"))
    report = client.call("report", {"period": containing(SystemClock().now(), "month").label})
    folder = Path(report["folder"])
    for kind in ("json", "sig", "html", "pdf"):
        click.echo(t("Report written: {path}", path=folder / report["files"][kind]))
    click.echo(t("The DPO checks a folder of reports with: retention-agent dpo verify FOLDER"))
    click.echo(t("Run 'retention-agent demo --keep' to keep the demo home and open the report."))


def seed_app_demo(client: Client, today: date) -> dict[str, Any]:
    """Deliveries in each state a desktop user meets — waiting for a ceremony date, scheduled, on hold, destroyed
    early with a proof — plus an opening, conditions of the deliberation and a report. For ``demo --app`` and
    the app's screenshots; the caller needs the roles officer, import, read, modify and destroy."""
    ids = [str(client.upload("ingest", {}, [synthetic_delivery(n)])["delivery"]) for n in range(1, 7)]
    client.call("ceremony.set", {"deliveries": ids[2:4], "date": (today + timedelta(days=21)).isoformat(),
                                 "label": "najaarsceremonie", "reason": ""})
    client.call("hold", {"delivery": ids[4], "reason": "klacht 2026/17",
                         "until": (today + timedelta(days=90)).isoformat()})
    client.download("open", {"delivery": ids[2], "purpose": "invite", "note": "", "mode": "stdout"}, io.BytesIO())
    client.call("purge.one", {"delivery": ids[5], "reason": "dubbel ontvangen"})
    for item, evidence in (("commitment", "brief 2026/33"), ("website", "www.demogemeente.be/privacy"),
                           ("dpo", "besluit college 2025/112")):
        client.call("checklist.set", {"item": item, "done": (today - timedelta(days=30)).isoformat(),
                                      "evidence": evidence})
    report = client.call("report", {"period": ""})
    return {"needs_date": ids[:2], "scheduled": ids[2:4], "held": ids[4], "destroyed": ids[5],
            "report": report["name"]}


def _open_app(client: Client, home: Home) -> None:
    """More demo data, then the desktop app on the demo home until it is quit."""
    step(t("9. The desktop app on the demo home (quit it with File > Quit to end the demo)"))
    seed_app_demo(client, local_date(SystemClock().now()))
    try:
        from retention_agent.app.main import run
    except ImportError as exc:
        raise AppUnavailableError(problem=str(exc)[:200]) from exc
    run(home)


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
    proof = json.loads(proof_file.read_text(encoding="utf-8"))
    click.echo(t("Proof of deletion {file}: delivery {delivery}, destroyed at {at}, signed by {identity}.",
                 file=proof_file, delivery=delivery_id, at=format_moment(proof.get("purged_at")),
                 identity=keys["identity"]))
    command = ["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", keys["identity"], "-n", "deletion-proof",
               "-s", f"{proof_file}.sig"]
    click.echo(t("Verify it yourself: {cmd} < {file}", cmd=" ".join(command), file=proof_file))
    if shutil.which("ssh-keygen"):
        with open(proof_file, "rb") as data:
            done = subprocess.run(command, stdin=data, capture_output=True, text=True, check=False)
        click.echo(t("ssh-keygen: the signature verifies.") if done.returncode == 0 else
                   t("ssh-keygen: the signature does NOT verify."))


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise TimeoutError
