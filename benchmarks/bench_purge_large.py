"""The purge of one delivery in a home whose database is large, and how long API calls wait meanwhile.

Run: ``.venv/bin/python benchmarks/bench_purge_large.py [--entries N] [--entry-bytes B] [--keep]``. Prints JSON.
Defaults: 1,000,000 audit entries of about 1 KB each, a database of about 1 GB. Not part of the test suite.

- ``purge_s``: from the early purge's request (``purge.one``, as ``retention-agent purge ID --reason … --yes``
  sends it) until its signed proof is on disk. (A ceremony date cannot make a delivery received today due: the
  agent refuses a ceremony before the receipt. The purge is the same one the schedule runs, in the same lock.);
- ``api_wait_s``: what an officer's requests (``whoami`` and a page of ``deliveries``, each on a new connection
  as the command line makes them, from two threads without pause) waited while the purge ran: the longest,
  the 99th percentile and the median; goal: none longer than 1 s;
- ``scrub``: the purge's scrub step as its proof records it, the database's size and free pages after;
- ``full_vacuum_s`` and ``full_vacuum_peak_bytes``: for comparison, what every purge did before (a full
  ``VACUUM`` of the database, holding the store's lock): its duration on the same database afterwards, and
  the disk space it took at its peak beside the database.

The home is filled directly through the store: real canonical, hash-chained entries with the Merkle frontier
saved as ``AuditLog.append`` saves it, so the agent and ``audit verify`` accept them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.bench_status_report import _start_agent, _wait_idle
from retention_agent.api.client import Client
from retention_agent.audit.log import AuditLog, Record
from retention_agent.clock import SystemClock
from retention_agent.runtime.context import log_origin
from retention_agent.store.database import Store
from retention_agent.system.accounts import current_account
from retention_agent.system.home import Home
from retention_agent.system.init_home import init_home, load_signing_key
from retention_agent.vault.keys import FileKeyStore


def build_home(root: Path, entries: int, entry_bytes: int) -> Home:
    home = Home(root)
    init_home(home, municipality="Benchmarkgemeente", officer=current_account(), officer_name="Officer",
              key_store="file", inboxes=[], clock=SystemClock())
    config = home.config.read_text() + '\n[reports]\nschedule = "off"\n'  # a report over the log is not the point
    home.config.write_text(config)
    store = Store.open(home.database)
    try:
        audit = AuditLog(store, SystemClock(), load_signing_key(FileKeyStore(home.keys)),
                         log_origin("benchmarkgemeente", store.get_meta("installation_id") or ""))
        padding = "p" * max(0, entry_bytes - 460)  # an entry of 1000 takes 1033 bytes of database (4 a page)
        start = datetime.now(UTC) - timedelta(days=700)

        def records() -> Iterator[Record]:
            for n in range(entries):
                yield (start + timedelta(seconds=n * 60), f"medewerker{n % 8}", "deliveries", "granted",
                       [f"01K{n:023d}"], {"uid": 1000, "n": n, "padding": padding})

        audit.append_many(records())
        audit.checkpoint()
    finally:
        store.close()
    return home


class Probe:
    """Officer requests without pause, each on a new connection, timed."""

    def __init__(self, home: Home, threads: int = 2) -> None:
        self.home = home
        self.waits: list[float] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> Probe:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _run(self, n: int) -> None:
        calls = [("whoami", {}), ("deliveries", {"limit": 100})]
        while not self.stop.is_set():
            op, args = calls[n % len(calls)]
            started = time.perf_counter()
            try:
                with Client(self.home.socket) as client:
                    client.call(op, args)
            except Exception as exc:
                self.errors.append(type(exc).__name__)
            self.waits.append(time.perf_counter() - started)


def peak_size(folder: Path, names: tuple[str, ...], stop: threading.Event, found: list[int]) -> None:
    """The largest total size of the files beside the database while a VACUUM runs (its WAL, temporary files)."""
    while not stop.is_set():
        total = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith(names) and p.is_file())
        found[0] = max(found[0], total)
        time.sleep(0.05)


def full_vacuum(home: Home) -> dict[str, Any]:
    """What each purge did before: checkpoint, VACUUM, checkpoint; with the agent stopped."""
    store = Store.open(home.database)
    stop, peak = threading.Event(), [0]
    watcher = threading.Thread(target=peak_size, args=(home.root, ("agent.db-",), stop, peak))
    watcher.start()
    try:
        started = time.perf_counter()
        with store.lock:
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            store.conn.execute("VACUUM")
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        seconds = time.perf_counter() - started
    finally:
        stop.set()
        watcher.join()
        store.close()
    return {"full_vacuum_s": round(seconds, 2), "full_vacuum_peak_bytes": peak[0]}


def stats(waits: list[float]) -> dict[str, Any]:
    ordered = sorted(waits)
    return {"max": round(ordered[-1], 4), "p99": round(ordered[int(0.99 * (len(ordered) - 1))], 4),
            "median": round(statistics.median(ordered), 4), "calls": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--entry-bytes", type=int, default=1000, help="database bytes per entry, about")
    parser.add_argument("--keep", action="store_true", help="Keep the home (its path goes to stderr).")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-purge-", dir=os.environ.get("BENCH_DIR") or "/var/tmp"))
    began = time.perf_counter()
    home = build_home(root / "home", options.entries, options.entry_bytes)
    build_s = time.perf_counter() - began
    database_bytes = home.database.stat().st_size
    agent = _start_agent(home)
    try:
        with Client(home.socket) as client:
            _wait_idle(client)  # its first tick is done
            client.call("staff.add", {"account": current_account(), "name": "Officer",
                                      "roles": ["officer", "import", "modify", "destroy"]})
            # a zip's magic number: a file AgII sends, not one quarantined for the officer (which a date cannot purge)
            received = client.upload("ingest", {}, [b"PK\x03\x04 a delivery among a million entries "
                                                    + os.urandom(40_000)])
        delivery = received["delivery"]
        proof = home.proofs / f"{delivery}.json.sig"
        with Probe(home) as probe:
            time.sleep(1)  # the probes' own first calls, before the purge
            started = time.perf_counter()
            with Client(home.socket) as client:
                client.call("purge.one", {"delivery": delivery, "reason": "benchmark"})
            while not proof.exists():
                time.sleep(0.005)
            purge_s = time.perf_counter() - started
            time.sleep(1)
        doc = json.loads((home.proofs / f"{delivery}.json").read_bytes())
        with Client(home.socket) as client:
            size = client.call("status")["audit"]["size"]
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=120)
    store = Store.open(home.database)
    try:
        facts = store.size_facts()
    finally:
        store.close()
    compared = full_vacuum(home)
    if options.keep:
        print(f"home kept at {home.root}", file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({
        "purge_s": round(purge_s, 3),
        "api_wait_s": {**stats(probe.waits), "goal": "< 1", "errors": sorted(set(probe.errors))},
        "scrub": {"step": next(s["result"] for s in doc["steps"] if s["step"] == "scrub"),
                  "verification": doc["verification"], "free_pages_after": facts["free_pages"]},
        "database_bytes": database_bytes,
        "audit_entries": size,
        "home_build_s": round(build_s, 1),
        **compared,
        "cpu_count": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
