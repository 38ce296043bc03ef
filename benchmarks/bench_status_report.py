"""``status --json`` latency and a monthly report's generation time on a large home: 10,000 deliveries and
1,000,000 audit entries spread over two years, against a real agent process.

Run: ``.venv/bin/python benchmarks/bench_status_report.py [--deliveries N] [--audit N] [--runs N]``.
Prints JSON. Not part of the test suite: timings depend on the machine and its load.

- ``status_latency_s``: the real command line, ``retention-agent status --json`` in a new process each time
  (Python start-up and imports included), median and 95th percentile;
- ``status_api_latency_s``: the same request over the agent's socket from a warm client (what the agent
  itself spends);
- ``cli_startup_s``: ``retention-agent --help``, for comparison;
- ``report_generation_s``: the ``report`` request for last month, with its consistency proof from the month
  before (built, signed, rendered to HTML and PDF, written).

The home is filled directly through the store: the audit entries are real canonical, hash-chained entries
with the Merkle frontier saved as ``AuditLog.append`` saves it, so the agent and ``audit verify`` accept them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from retention_agent.api.client import Client
from retention_agent.audit.log import AuditLog, Record
from retention_agent.clock import SystemClock, utc_iso
from retention_agent.reports.period import containing
from retention_agent.runtime.context import log_origin
from retention_agent.store.database import Store
from retention_agent.system.accounts import current_account
from retention_agent.system.home import Home
from retention_agent.system.init_home import init_home, load_signing_key
from retention_agent.vault.keys import FileKeyStore

STATES = [("purged", 0.6), ("scheduled", 0.25), ("vaulted", 0.1), ("quarantined", 0.03), ("held", 0.02)]
STAFF = [f"medewerker{i}" for i in range(8)]
ACTIONS = [("deliveries", "granted", 0.55), ("delivery.opened", "ok", 0.05), ("open", "granted", 0.05),
           ("ceremony.set", "ok", 0.04), ("delivery.received", "ok", 0.03), ("status", "denied", 0.01),
           ("purge.started", "ok", 0.02), ("delivery.purged", "ok", 0.02), ("notifications", "granted", 0.23)]
SPAN = timedelta(days=730)


def build_home(root: Path, deliveries: int, audit_entries: int, now: datetime) -> tuple[Home, int]:
    home = Home(root)
    init_home(home, municipality="Benchmarkgemeente", officer=current_account(), officer_name="Officer",
              key_store="file", inboxes=[], clock=SystemClock())
    store = Store.open(home.database)
    try:
        proofs = _deliveries(home, store, deliveries, now)
        _audit(store, home, audit_entries, now)
    finally:
        store.close()
    return home, proofs


def _deliveries(home: Home, store: Store, count: int, now: datetime) -> int:
    rng = random.Random(7)
    last_month = containing(now, "month").previous()
    rows, purges = [], []
    for i in range(count):
        received = now - SPAN + SPAN * (i / count)
        state = rng.choices([s for s, _ in STATES], [w for _, w in STATES])[0]
        delivery_id = f"D{i:025d}"
        due = received + timedelta(days=rng.randint(20, 90))
        rows.append((delivery_id, utc_iso(received), rng.choice(["zivver", "folder", "email"]), "agii",
                     hashlib.sha256(delivery_id.encode()).hexdigest(), 40_000, f"k{i}", state, None,
                     "VCMP-05-2024", due.date().isoformat(), utc_iso(due), "deadline",
                     "2027-06-30" if state == "held" else None, utc_iso(due) if state == "purged" else None))
        if state == "purged":
            purges.append((delivery_id, utc_iso(due), utc_iso(due + timedelta(minutes=1)),
                           hashlib.sha256(b"proof" + delivery_id.encode()).hexdigest()))
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO deliveries(id, received_at, channel, source, sha256, size, key_id, state, ceremony_id, "
            "legal_basis, deadline, due_at, due_reason, hold_until, purged_at) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        store.conn.executemany(
            "INSERT INTO purges(delivery_id, trigger, reason, requested_by, due_at, started_at, steps, finished_at, "
            "proof_sha256) VALUES (?, 'schedule', 'deadline', 'agent', ?, ?, '{}', ?, ?)",
            [(d, due, due, done, sha) for d, due, done, sha in purges])
    written = 0
    proof = ("{\n" + "".join(f'  "field{i}": "{"x" * 60}",\n' for i in range(60)) + '  "end": 1\n}\n').encode()
    for delivery_id, _due, done, _sha in purges:  # the proofs of last month's purges, embedded in its report
        if last_month.start_utc <= datetime.strptime(done, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) < \
                last_month.end_utc:
            (home.proofs / f"{delivery_id}.json").write_bytes(proof)
            (home.proofs / f"{delivery_id}.json.sig").write_text("-----BEGIN SSH SIGNATURE-----\n-----END SSH "
                                                                  "SIGNATURE-----\n")
            written += 1
    return written


def _audit(store: Store, home: Home, count: int, now: datetime) -> None:
    """Real entries, chained and in a Merkle frontier, appended after the ones ``init`` wrote."""
    installation = store.get_meta("installation_id") or ""
    audit = AuditLog(store, SystemClock(), load_signing_key(FileKeyStore(home.keys)),
                     log_origin("benchmarkgemeente", installation))
    rng = random.Random(11)
    names = [a for a, _, _ in ACTIONS]
    weights = [w for _, _, w in ACTIONS]
    outcomes = {a: o for a, o, _ in ACTIONS}

    def records() -> Iterator[Record]:
        for n in range(count):
            action = rng.choices(names, weights)[0]
            details: dict[str, Any] = {"uid": 1000}
            if action == "delivery.opened":
                details = {"purpose": rng.choice(["invite", "phone", "attendance"]), "mode": "workspace",
                           "note_sha256": "", "opening": n}
            elif action == "delivery.received":
                details = {"channel": "zivver", "source": "agii", "size": 40000, "sha256": "0" * 64,
                           "quarantined": False}
            actor = "intruder" if outcomes[action] == "denied" else rng.choice(STAFF)
            yield (now - SPAN + SPAN * (n / count), actor, action, outcomes[action],
                   [f"D{rng.randrange(10**6):025d}"], details)

    audit.append_many(records())
    audit.checkpoint()


def _start_agent(home: Home) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "retention_agent", "--home", str(home.root), "run"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with Client(home.socket) as client:
                client.call("whoami")
            return process
        except Exception:
            if process.poll() is not None:
                raise SystemExit("the agent did not start") from None
            time.sleep(0.2)
    raise SystemExit("the agent did not answer")


def _wait_idle(client: Client) -> None:
    """Let the agent finish its start-up work (the first schedule tick plans every live delivery)."""
    deadline = time.monotonic() + 300
    while client.call("status")["health"]["last_tick"] is None and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": round(statistics.median(ordered), 4), "p95": round(p95, 4), "runs": len(ordered)}


def _timed_cli(home: Home, *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "retention_agent", "--home", str(home.root), *args],
                          capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode())
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--audit", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="Keep the home (its path goes to stderr).")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-status-"))
    now = datetime.now(UTC)
    began = time.perf_counter()
    home, proofs = build_home(root / "home", options.deliveries, options.audit, now)
    build_s = time.perf_counter() - began
    agent = _start_agent(home)
    try:
        with Client(home.socket) as client:
            _wait_idle(client)
            api = []
            for _ in range(options.runs):
                start = time.perf_counter()
                status = client.call("status")
                api.append(time.perf_counter() - start)
        cli = [_timed_cli(home, "status", "--json") for _ in range(options.runs)]
        startup = [_timed_cli(home, "--help") for _ in range(max(3, options.runs // 3))]
        last_month = containing(now, "month").previous()
        with Client(home.socket) as client:
            client.call("report", {"period": last_month.previous().label})  # the previous report: a checkpoint
            start = time.perf_counter()
            report = client.call("report", {"period": last_month.label})
            report_s = time.perf_counter() - start
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        if options.keep:
            print(f"home kept at {home.root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({
        "status_latency_s": _stats(cli),
        "status_api_latency_s": _stats(api),
        "cli_startup_s": _stats(startup),
        "report_generation_s": round(report_s, 3),
        "report": {"period": report["name"], "sequence": report["sequence"], "proofs_embedded": proofs},
        "deliveries": options.deliveries,
        "audit_entries": status["audit"]["size"],
        "home_build_s": round(build_s, 1),
        "cpu_count": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
