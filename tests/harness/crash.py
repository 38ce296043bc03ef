"""Crash harness: the real agent process, a drop folder, manual ingests, ceremonies, and SIGKILL.

Each run starts the real agent (``python -m retention_agent run``) on one home that lives for the whole
harness, either with a named fault point armed (``RETENTION_AGENT_FAULTS``, see ``retention_agent.testing_hooks``)
or with a timer that SIGKILLs it at a random moment (start-up and recovery included). While it lives, a
seeded random loop drops files into its drop folder (zip files, sometimes an ``.eml`` with two attachments,
sometimes several MB so that a kill lands in the middle of a write), ingests files through the command
line's own code (``session.ingest.ingest_one``), records ceremony dates, opens deliveries into the
workspace (so purges have copies to wipe) and purges some early. Between runs the workstation is "off" for
:data:`DAYS_PER_RUN` days (the agent's test-only clock file moves ahead; downtime is not a clock jump), so what
one run scheduled falls due and is purged when the next run starts — where its fault point may be waiting —
and deliveries of earlier runs can be destroyed by a ceremony date recorded after the fact. It also drops
what intake must refuse — hard links and sparse files, which must stay in the drop folder untouched and never
become deliveries — and mail files with more attachments than ``intake.max_files_per_message``, each of which
must become exactly one (quarantined) delivery of the whole file and nothing of its parts.

After every kill the agent is restarted without faults and the invariants of DESIGN.md section 5 are
checked twice: at once (what recovery at start-up must already guarantee), and once the agent has had time
to finish its work (what it must then have done):

- no received file lost: every file fed is still in its source (any name in the drop folder, claim names
  included, or the manual source path) or is a delivery with its SHA-256;
- nothing refused is taken: a hard link or sparse file is still in the drop folder, unchanged, and no
  delivery has its content; once settled, nothing but refused files is left in the drop folder (no claim
  file, overwritten or not);
- none duplicated: at most one delivery (live or purged) per SHA-256;
- acknowledged work is durable: an ingest or ceremony the agent answered is there after the crash;
- ``vault verify`` and ``audit verify`` (against every checkpoint kept from earlier runs) exit 0;
- no stray file in ``vault/tmp``, no ``pending_objects`` row, no unfinished ``purges`` row;
- every due purge done exactly once: the delivery is ``purged``, one ``purge.started``, one
  ``delivery.purged`` and one ``proof.written`` audit entry, exactly one proof (JSON + signature) that
  verifies with :func:`retention_agent.evidence.proof_verify.verify_proof` and the key printed by
  ``keys public``, for this delivery and its SHA-256, no workspace copy left; and no proof for anything not
  purged.

Randomness comes from one seed; a failure names it (``CRASH_SEED=<seed>`` reproduces the choices, though not
the exact timing of a timer kill).
"""

from __future__ import annotations

import contextlib
import email.message
import hashlib
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from retention_agent.api.client import Client
from retention_agent.clock import BRUSSELS, local_date, parse_utc
from retention_agent.errors import RetentionAgentError
from retention_agent.evidence import sshsig
from retention_agent.evidence.proof_verify import verify_proof
from retention_agent.session.ingest import ingest_one
from retention_agent.session.state import State
from retention_agent.system.home import Home
from retention_agent.testing_hooks import FAULT_POINTS, FAULTS_ENV, TESTING_ENV
from tests.conftest import ME, make_home, socket_answers
from tests.retention_support import ClockFile

POINTS = tuple(p for p in FAULT_POINTS if not p.startswith("mailbox."))  # no IMAP server in this harness
ROLES = ("officer", "import", "read", "modify", "destroy")
DAYS_PER_RUN = 35  # more than a month: a ceremony recorded in one run is due in the next
MAX_OFFSET = timedelta(days=365 * 50)  # dates stay well inside what people may type (up to 2100)
FLOOD_FILES = 24  # more than intake.max_files_per_message (20 by default)


class HarnessFailure(AssertionError):  # noqa: N818 - a verdict, read as "the harness failed"
    """An invariant broke (the message names the seed, the run and every broken invariant)."""


@dataclass(frozen=True)
class Settings:
    runs: int = 8
    small: tuple[int, int] = (1, 200_000)  # bytes of a usual file
    large: tuple[int, int] = (2_000_000, 6_000_000)  # a file large enough to be killed mid-write
    large_share: float = 0.12
    timer: tuple[float, float] = (0.2, 3.5)  # seconds from a ready API to a timer SIGKILL
    fault_share: float = 0.6  # share of runs that arm a named fault point instead of a timer
    start_up_share: float = 0.25  # share of timer runs whose timer counts from spawn (kills start-up)
    fault_cap_s: float = 6.0  # a fault point not reached by then: SIGKILL anyway
    settle_timeout_s: float = 40.0

    @classmethod
    def long(cls, runs: int) -> Settings:
        return cls(runs=runs, large=(5_000_000, 40_000_000), timer=(0.2, 8.0), fault_cap_s=10.0,
                   settle_timeout_s=120.0)


@dataclass
class Fed:
    """Something handed to the agent: a drop-folder file, an .eml, or a manual ingest."""

    label: str
    kind: str  # "folder" | "eml" | "flood" | "manual" | "refused"
    file_sha: str  # SHA-256 of the file as written
    delivered: tuple[str, ...]  # SHA-256 of each delivery it must become
    path: Path


@dataclass
class Stats:
    runs: int = 0
    fault_kills: Counter[str] = field(default_factory=Counter)
    unreached_faults: int = 0
    startup_kills: int = 0
    timer_kills: int = 0
    fed: int = 0
    fed_by_kind: Counter[str] = field(default_factory=Counter)
    deliveries: int = 0
    purged: int = 0
    proofs_checked: int = 0
    acked_ingests: int = 0
    acked_ceremonies: int = 0

    def summary(self) -> dict[str, Any]:
        return {"runs": self.runs, "fault_kills": dict(self.fault_kills), "unreached_faults": self.unreached_faults,
                "killed_during_start_up": self.startup_kills, "timer_kills": self.timer_kills, "fed": self.fed,
                "fed_by_kind": dict(self.fed_by_kind),
                "deliveries": self.deliveries, "purged": self.purged, "proofs_checked": self.proofs_checked,
                "acked_ingests": self.acked_ingests, "acked_ceremonies": self.acked_ceremonies}


class _Agent:
    """The real agent process, spawned without waiting, so a timer can kill it during start-up too."""

    def __init__(self, home: Path, output: Path, clock: ClockFile, faults: str = "") -> None:
        env = {**os.environ, TESTING_ENV: "1", "RETENTION_AGENT_LANG": "en", **clock.env}
        env.pop(FAULTS_ENV, None)
        if faults:
            env[FAULTS_ENV] = faults
        self.home = home
        with open(output, "ab") as out:
            out.write(f"\n--- agent start, faults={faults or '-'} ---\n".encode())
            out.flush()
            self.proc = subprocess.Popen([sys.executable, "-m", "retention_agent", "--home", str(home), "run"],
                                         env=env, stdout=out, stderr=out)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = 30) -> bool:
        """True once the socket answers; False if the process died first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return False
            if socket_answers(self.home / "agent.sock"):
                return True
            time.sleep(0.03)
        raise HarnessFailure("the agent did not start in time")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.alive():
                self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


class CrashHarness:
    def __init__(self, root: Path, seed: int, settings: Settings | None = None,
                 log: Callable[[str], None] = print) -> None:
        self.root = root
        self.seed = seed
        self.settings = settings or Settings()
        self.rng = random.Random(seed)
        self.log = log
        self.inbox = root / "inbox"
        self.manual = root / "manual"
        self.staging = root / "staging"
        self.kept = root / "checkpoints"
        for folder in (self.inbox, self.manual, self.staging, self.kept):
            folder.mkdir(parents=True, exist_ok=True)
        home = make_home(root / "home", inboxes=[str(self.inbox)])
        config = home.config.read_text().replace("[retention]", "[retention]\ntick_seconds = 1")
        config = config.replace('path = "', 'settle_seconds = 0.2\nscan_interval_seconds = 1.0\npath = "')
        home.config.write_text(config)
        self.home = home
        self.clock = ClockFile(root / "clock-offset")
        self.offset = timedelta(0)
        self.output = root / "agent-output.txt"
        self.fed: list[Fed] = []
        self.flood_parts: set[str] = set()  # SHA-256 of attachments that must never be deliveries
        self.acked_ingests: dict[str, str] = {}  # delivery id -> sha256 the agent acknowledged
        self.acked_ceremonies: dict[str, str] = {}  # delivery id -> ceremony date acknowledged
        self.stats = Stats()
        self.counter = 0
        self.current = "setup"
        self.public_key = b""
        self.interrupted: set[str] = set()
        self.crash_pending: set[str] = set()  # pending_objects rows and vault/tmp files the last crash left
        self.crash_tmp: set[str] = set()
        self.timings: list[str] = []
        self._t0 = time.monotonic()
        self.origin = ""

    # ---- the loop -------------------------------------------------------------------------------------

    def run(self) -> Stats:
        agent = _Agent(self.home.root, self.output, self.clock)
        try:
            if not agent.wait_ready():
                raise HarnessFailure("the agent did not start: " + self._tail())
            self._setup_identity()
        finally:
            agent.stop()
        for index in range(self.settings.runs):
            self.one_run(index)
        return self.stats

    def _setup_identity(self) -> None:
        done = self._cli("staff", "add", ME, "--name", "Harness", *[a for r in ROLES for a in ("--role", r)])
        if done.returncode != 0:
            raise HarnessFailure(f"staff add failed: {done.stderr.decode()}")
        line = self._cli("keys", "public")
        signers = sshsig.parse_allowed_signers(line.stdout.decode())
        self.public_key = signers[0].public_key
        self.origin = self._call("keys.public")["origin"]

    def one_run(self, index: int) -> None:
        settings = self.settings
        use_fault = self.rng.random() < settings.fault_share
        point = self.rng.choice(POINTS)
        nth = self.rng.choice((1, 1, 1, 2, 3))
        faults = f"{point}@{nth}" if use_fault else ""
        timer = self.rng.uniform(*settings.timer)
        self.current = f"run {index}: " + (f"fault {faults}" if use_fault else f"timer {timer:.2f}s")
        in_start_up = not use_fault and self.rng.random() < settings.start_up_share
        if in_start_up:
            timer = self.rng.uniform(0.05, 1.5)
            self.current = f"run {index}: timer {timer:.2f}s after spawn"
        began = time.monotonic()
        self._days_pass()
        agent = _Agent(self.home.root, self.output, self.clock, faults)
        killer = _Killer(agent, settings.fault_cap_s if use_fault else timer) if use_fault or in_start_up else None
        try:
            started = agent.wait_ready()
            if started and killer is None:
                killer = _Killer(agent, timer)  # the timer counts from the moment the API answers
            if started:
                self._chaos(agent)
            agent.proc.wait(timeout=60)
        finally:
            if killer is not None:
                killer.cancel()
            agent.kill()
        if not use_fault:
            self.stats.timer_kills += 1
        elif killer is not None and killer.fired:
            self.stats.unreached_faults += 1
        else:
            self.stats.fault_kills[point] += 1
        if not started:
            self.stats.startup_kills += 1
        chaos_done = time.monotonic()
        self._recover_and_check()
        self.stats.runs += 1
        self.current += f" [chaos {chaos_done - began:.1f}s; restart {' '.join(self.timings)}]"
        phase = "started" if started else "killed in start-up"
        self.log(f"crash harness seed={self.seed} {self.current}: ok ({phase})")

    def _chaos(self, agent: _Agent) -> None:
        actions: list[tuple[float, Callable[[], None]]] = [
            (0.28, self._drop_file), (0.06, self._drop_eml), (0.22, self._manual_ingest),
            (0.20, self._set_ceremony), (0.10, self._open_copy), (0.04, self._purge_early),
            (0.04, self._set_future_ceremony), (0.06, self._destroy_by_ceremony), (0.02, self._drop_refused),
            (0.02, self._drop_flood),
        ]
        weights = [w for w, _ in actions]
        while agent.alive():
            _, action = self.rng.choices(actions, weights)[0]
            try:
                action()
            except (RetentionAgentError, OSError):
                if agent.alive():
                    continue
                return
            time.sleep(self.rng.uniform(0.0, 0.15))

    # ---- what the chaos loop does ------------------------------------------------------------------------

    def _next_label(self) -> str:
        self.counter += 1
        return f"f{self.counter:05d}"

    def _zip(self) -> bytes:
        low, high = self.settings.large if self.rng.random() < self.settings.large_share else self.settings.small
        size = self.rng.randint(low, high)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("lijst.csv", self.rng.randbytes(size))
        return buffer.getvalue()

    def _place(self, data: bytes, name: str) -> Path:
        """Write under a staging name and rename into the drop folder, as browsers and Outlook do."""
        staged = self.staging / name
        staged.write_bytes(data)
        target = self.inbox / name
        staged.rename(target)
        return target

    def _drop_file(self) -> None:
        data = self._zip()
        label = self._next_label()
        path = self._place(data, f"{label} lijst.zip")
        self._fed(Fed(label, "folder", _sha(data), (_sha(data),), path))

    def _drop_eml(self) -> None:
        parts = [self._zip(), self._zip()]
        message = email.message.EmailMessage()
        message["From"] = "agii@integratie-inburgering.be"
        message["Subject"] = "Inburgeraars"
        message.set_content("Zie bijlagen.")
        for n, part in enumerate(parts):
            message.add_attachment(part, maintype="application", subtype="zip", filename=f"deel{n}.zip")
        data = message.as_bytes()
        label = self._next_label()
        path = self._place(data, f"{label} bericht.eml")
        self._fed(Fed(label, "eml", _sha(data), tuple(_sha(p) for p in parts), path))

    def _drop_refused(self) -> None:
        """A hard link (its other name stays in staging) or a sparse file: both must stay where they are."""
        label = self._next_label()
        target = self.inbox / f"{label} geweigerd.zip"
        if self.rng.random() < 0.5:
            staged = self.staging / f"{label}.zip"
            staged.write_bytes(self._zip())
            os.link(staged, target)
        else:
            staged = self.staging / f"{label}.zip"
            with open(staged, "wb") as out:
                out.write(b"PK\x03\x04")
                out.truncate(self.rng.randint(2, 6) << 20)
            staged.rename(target)
        data = target.read_bytes()
        self._fed(Fed(label, "refused", _sha(data), (), target))

    def _drop_flood(self) -> None:
        """A mail file with more attachments than allowed: one quarantined delivery of the whole file."""
        message = email.message.EmailMessage()
        message["From"] = "agii@integratie-inburgering.be"
        message["Subject"] = "Inburgeraars"
        message.set_content("Zie bijlagen.")
        for n in range(FLOOD_FILES):
            message.add_attachment(b"%PDF-1.4\n" + self.rng.randbytes(24), maintype="application",
                                   subtype="pdf", filename=f"deel{n}.pdf")
        data = message.as_bytes()
        label = self._next_label()
        path = self._place(data, f"{label} vloed.eml")
        self._fed(Fed(label, "flood", _sha(data), (_sha(data),), path))
        self.flood_parts |= {_sha(part.get_payload(decode=True)) for part in message.iter_attachments()}

    def _manual_ingest(self) -> None:
        data = self._zip()
        label = self._next_label()
        path = self.manual / f"{label}.zip"
        path.write_bytes(data)
        self._fed(Fed(label, "manual", _sha(data), (_sha(data),), path))
        self._ingest(path, data)

    def _ingest(self, path: Path, data: bytes) -> None:
        result = ingest_one(State(self.home), path)
        self.acked_ingests[result["delivery"]] = _sha(data)
        self.stats.acked_ingests += 1
        if result["sha256"] != _sha(data):
            raise HarnessFailure(f"{self.current}: ingest answered another SHA-256 for {path.name}")

    def _live(self) -> list[dict[str, Any]]:
        return [r for r in self._deliveries() if r["state"] in ("vaulted", "scheduled", "quarantined")]

    def _set_ceremony(self, days_ahead: int = 0) -> None:
        """Today's ceremony (agent time): due in the next run, after the workstation was off."""
        live = [r for r in self._live() if r["ceremony_date"] is None]
        if not live:
            return
        chosen = self.rng.sample(live, k=min(len(live), self.rng.randint(1, 3)))
        day = (self._agent_today() + timedelta(days=days_ahead)).isoformat()
        ids = [r["id"] for r in chosen]
        self._call("ceremony.set", {"deliveries": ids, "date": day, "label": "", "reason": "harness"})
        for delivery in ids:
            self.acked_ceremonies[delivery] = day
            self.stats.acked_ceremonies += 1

    def _set_future_ceremony(self) -> None:
        self._set_ceremony(days_ahead=200)

    def _destroy_by_ceremony(self) -> None:
        """A ceremony recorded after the fact: on its receipt day, a run or more ago, so due at once — an early
        destruction, begun in the same transaction as the date."""
        month_ago = self._agent_now() - timedelta(days=33)
        old = [r for r in self._live() if r["ceremony_date"] is None and r["state"] == "vaulted"
               and parse_utc(r["received_at"]) < month_ago]
        if not old:
            return
        delivery = self.rng.choice(old)["id"]
        day = local_date(parse_utc(next(r for r in old if r["id"] == delivery)["received_at"])).isoformat()
        self._call("ceremony.set", {"deliveries": [delivery], "date": day, "label": "",
                                    "reason": "harness: recorded late", "confirm_destroy": [delivery]})
        self.acked_ceremonies[delivery] = day
        self.stats.acked_ceremonies += 1

    def _open_copy(self) -> None:
        live = self._live()
        if live:
            chosen = self.rng.choice(live)
            self._call("open", {"delivery": chosen["id"], "purpose": "invite", "note": "", "mode": "workspace"})

    def _purge_early(self) -> None:
        live = self._live()
        if live:
            chosen = self.rng.choice(live)
            self._call("purge.one", {"delivery": chosen["id"], "reason": "crash harness"})

    def _fed(self, item: Fed) -> None:
        self.fed.append(item)
        self.stats.fed += 1
        self.stats.fed_by_kind[item.kind] += 1

    # ---- after a crash ---------------------------------------------------------------------------------

    def _mark(self, what: str) -> None:
        self.timings.append(f"{what}@{time.monotonic() - self._t0:.1f}")

    def _recover_and_check(self) -> None:
        self._t0 = time.monotonic()
        self.timings = []
        with self._db() as db:  # the agent is dead: what did the crash interrupt?
            self.interrupted = {r[0] for r in db.execute("SELECT delivery_id FROM purges WHERE finished_at IS NULL")}
            self.crash_pending = {r[0] for r in db.execute("SELECT key_id FROM pending_objects")}
        self.crash_tmp = {p.name for p in self.home.vault_tmp.iterdir()}
        agent = _Agent(self.home.root, self.output, self.clock)
        try:
            if not agent.wait_ready():
                raise HarnessFailure(f"{self.current}: the agent did not restart after the kill: {self._tail()}")
            self._mark("ready")
            self.check(final=False)
            self._mark("checked")
            for item in self.fed:  # a staff member retries what the command line reported as failed
                if item.kind == "manual" and item.path.exists():
                    self._ingest(item.path, item.path.read_bytes())
            self._wait_settled()
            self._mark("settled")
            self.check(final=True)
            self._mark("final")
            self._keep_checkpoint()
        finally:
            code = agent.stop()
            self._mark("stopped")
        if code != 0:
            raise HarnessFailure(f"{self.current}: the agent stopped with exit code {code}: {self._tail()}")

    def _wait_settled(self) -> None:
        cutoff = self._agent_now()
        deadline = time.monotonic() + self.settings.settle_timeout_s
        waiting: list[str] = []
        while time.monotonic() < deadline:
            rows = self._deliveries()
            waiting = [p.name for p in self.inbox.iterdir() if p not in self._refused_paths()]
            waiting += [f"{r['id']} ({r['state']})" for r in rows
                        if r["state"] == "purging" or (r["state"] != "purged" and _due(r, cutoff))]
            with self._db() as db:
                waiting += [f"{r[0]} (proof)" for r in db.execute(
                    "SELECT delivery_id FROM purges WHERE finished_at IS NULL")]
            if not waiting:
                return
            time.sleep(0.2)
        self._fail([f"not finished {self.settings.settle_timeout_s:.0f} s after restart: {waiting[:10]}"])

    def _keep_checkpoint(self) -> None:
        note = self._call("audit.checkpoint")["checkpoint"]
        (self.kept / f"{len(list(self.kept.iterdir())):04d}.txt").write_text(note)

    # ---- the invariants ----------------------------------------------------------------------------------

    def check(self, *, final: bool) -> None:
        """Raise :class:`HarnessFailure` listing every invariant that does not hold."""
        problems: list[str] = []
        rows = self._deliveries()
        by_sha = Counter(r["sha256"] for r in rows)
        problems += [f"duplicate deliveries for sha256 {s[:12]}: {n}" for s, n in by_sha.items() if n > 1]
        problems += self._lost(rows)
        problems += self._refused_kept(rows, final=final)
        ids = {r["id"]: r for r in rows}
        for delivery, sha in self.acked_ingests.items():
            if delivery not in ids:
                problems.append(f"acknowledged ingest {delivery} is gone")
            elif ids[delivery]["sha256"] != sha:
                problems.append(f"acknowledged ingest {delivery} has another sha256")
        for delivery, day in self.acked_ceremonies.items():
            row = ids.get(delivery)
            if row is None:
                problems.append(f"delivery {delivery} with an acknowledged ceremony is gone")
            elif row["state"] != "purged" and row["ceremony_date"] != day:
                problems.append(f"acknowledged ceremony of {delivery} is lost ({row['ceremony_date']})")
        problems += self._leftovers(final=final)
        problems += self._purges(rows, final=final)
        if final:
            problems += self._verify_commands()
        else:
            vault = self._call("vault.verify")
            if not vault["ok"]:
                problems.append(f"vault verify failed after restart: {vault}")
            audit = self._call("audit.verify", {"checkpoints": self._checkpoints()})
            if not audit["ok"]:
                problems.append(f"audit verify failed after restart: {audit['findings']}")
        if problems:
            self._fail(problems)
        if final:
            self.stats.deliveries = len(rows)
            self.stats.purged = sum(r["state"] == "purged" for r in rows)

    def _refused_paths(self) -> set[Path]:
        return {item.path for item in self.fed if item.kind == "refused"}

    def _refused_kept(self, rows: list[dict[str, Any]], *, final: bool) -> list[str]:
        """Refused files stay, unchanged, and are no deliveries; flood parts are no deliveries; once settled
        nothing else is left in the drop folder."""
        delivered = {r["sha256"] for r in rows}
        problems = []
        for item in self.fed:
            if item.kind != "refused":
                continue
            if not item.path.exists() or _sha(item.path.read_bytes()) != item.file_sha:
                problems.append(f"refused file {item.label} was taken or changed")
            if item.file_sha in delivered:
                problems.append(f"refused file {item.label} became a delivery")
        problems += [f"an attachment of a flood message became a delivery ({s[:12]})"
                     for s in sorted(self.flood_parts & delivered)]
        if final:
            left = [p.name for p in self.inbox.iterdir() if p not in self._refused_paths()]
            problems += [f"left in the drop folder after settling: {name}" for name in left]
        return problems

    def _lost(self, rows: list[dict[str, Any]]) -> list[str]:
        delivered = {r["sha256"] for r in rows}
        in_folder = {_sha(p.read_bytes()) for p in self.inbox.iterdir() if p.is_file()}
        problems = []
        for item in self.fed:
            if item.kind == "manual":
                held = item.path.exists() and _sha(item.path.read_bytes()) == item.file_sha
            else:
                held = item.file_sha in in_folder
            missing = [s for s in item.delivered if s not in delivered]
            if missing and not held:
                problems.append(f"LOST: {item.kind} file {item.label} is neither in its source nor delivered "
                                f"({len(missing)} of {len(item.delivered)} missing)")
        return problems

    def _leftovers(self, *, final: bool) -> list[str]:
        """Right after a restart, what the crash left must be gone (recovery runs before the API answers);
        the restarted agent may meanwhile be taking new files. Once settled, nothing may be left at all."""
        with self._db() as db:
            pending = {r[0] for r in db.execute("SELECT key_id FROM pending_objects")}
            unfinished = {r[0] for r in db.execute("SELECT delivery_id FROM purges WHERE finished_at IS NULL")}
        strays = {p.name for p in self.home.vault_tmp.iterdir()}
        if not final:
            pending &= self.crash_pending
            strays &= self.crash_tmp
        problems = [f"stray file in vault/tmp: {name}" for name in sorted(strays)]
        if pending:
            problems.append(f"{len(pending)} pending_objects rows " + ("left" if final else "from the crash left"))
        # purges a crash interrupted are resumed before the API answers; new ones may be running now
        problems += [f"purge of {d} interrupted by the crash is unfinished after restart"
                     for d in sorted(unfinished & self.interrupted)]
        return problems

    def _purges(self, rows: list[dict[str, Any]], *, final: bool) -> list[str]:
        """Every finished purge: one proof that verifies, one of each audit entry, no copy left; no proof of
        anything else. Read from one database snapshot first, then the files (a purge writes its proof before
        it commits its end), so a purge the restarted agent is running meanwhile cannot look half done."""
        problems: list[str] = []
        with self._db() as db:
            db.execute("BEGIN")
            states = {r[0]: {"id": r[0], "state": r[1], "sha256": r[2]}
                      for r in db.execute("SELECT id, state, sha256 FROM deliveries")}
            finished = {r[0]: r[1] for r in db.execute("SELECT delivery_id, proof_sha256 FROM purges "
                                                       "WHERE finished_at IS NOT NULL")}
            actions = self._audit_actions(db)
            db.execute("COMMIT")
        proof_ids = {p.name.removesuffix(".json") for p in self.home.proofs.glob("*.json")}
        sig_ids = {p.name.removesuffix(".json.sig") for p in self.home.proofs.glob("*.json.sig")}
        purged = {d: row for d, row in states.items() if row["state"] == "purged"}
        if not final:  # a purge the restarted agent is running now is checked once it has finished
            purged = {d: row for d, row in purged.items() if d in finished}
            proof_ids &= set(finished)
            sig_ids &= set(finished)
        for delivery in sorted(proof_ids - set(purged)):
            problems.append(f"a proof exists for {delivery}, which is not purged")
        if sig_ids != proof_ids:
            problems.append(f"proof and signature files do not pair up: {sorted(sig_ids ^ proof_ids)}")
        for delivery, row in purged.items():
            for action in ("purge.started", "delivery.purged", "proof.written"):
                count = actions[(action, delivery)]
                if count != 1:
                    problems.append(f"{delivery}: {count} '{action}' audit entries, expected exactly one")
            if delivery not in finished:
                problems.append(f"{delivery} is purged but its purge is not finished")
            problems += self._proof(delivery, row, finished.get(delivery))
            copies = list(self.home.workspace.rglob(f"{delivery}-*"))
            if copies:
                problems.append(f"{delivery}: {len(copies)} workspace copies left after the purge")
        if final:
            cutoff = self._agent_now()
            for row in rows:
                if row["state"] != "purged" and _due(row, cutoff):
                    problems.append(f"{row['id']} is due ({row['due_at']}, ceremony {row['ceremony_date']}) but "
                                    f"{row['state']}")
        return problems

    def _proof(self, delivery: str, row: dict[str, Any], recorded_sha: str | None) -> list[str]:
        data_path = self.home.proofs / f"{delivery}.json"
        sig_path = self.home.proofs / f"{delivery}.json.sig"
        if not data_path.exists() or not sig_path.exists():
            return [f"{delivery}: purged without its proof files"]
        data = data_path.read_bytes()
        try:
            doc = verify_proof(data, sig_path.read_text(), self.public_key, origin=self.origin, file=data_path.name)
        except RetentionAgentError as exc:
            return [f"{delivery}: proof does not verify: {exc.error_id} {exc.params}"]
        self.stats.proofs_checked += 1
        problems = []
        if doc["delivery_id"] != delivery or doc["sha256"] != row["sha256"]:
            problems.append(f"{delivery}: the proof is about another delivery or content")
        if recorded_sha is not None and recorded_sha != _sha(data):
            problems.append(f"{delivery}: the proof on disk is not the one the purge recorded")
        return problems

    def _verify_commands(self) -> list[str]:
        """``vault verify`` and ``audit verify --checkpoint …`` through the real command line, side by side."""
        held = sorted(self.kept.iterdir())
        commands = {"vault verify": ["vault", "verify"],
                    "audit verify": ["audit", "verify", *[a for p in held for a in ("--checkpoint", str(p))]]}
        running = {name: self._cli_start(*args) for name, args in commands.items()}
        problems = []
        for name, proc in running.items():
            _out, err = proc.communicate(timeout=300)
            if proc.returncode != 0:
                problems.append(f"{name} exit {proc.returncode}: {err.decode()[-500:]}")
        return problems

    # ---- helpers ---------------------------------------------------------------------------------------

    def _fail(self, problems: list[str]) -> None:
        raise HarnessFailure(
            f"crash harness seed={self.seed} ({self.current}) broke an invariant; reproduce with "
            f"CRASH_SEED={self.seed}:\n  " + "\n  ".join(problems[:30]) + "\nagent log tail:\n" + self._tail())

    def _tail(self) -> str:
        text = ""
        for path in (self.output, self.home.log):
            with contextlib.suppress(OSError):
                text += f"[{path.name}]\n" + "\n".join(path.read_text(errors="replace").splitlines()[-25:]) + "\n"
        return text

    @property
    def agent_env(self) -> dict[str, str]:
        """What an agent on this home needs to see the harness's time (tests that start one themselves)."""
        return self.clock.env

    def _days_pass(self) -> None:
        if self.offset < MAX_OFFSET:
            self.offset += timedelta(days=DAYS_PER_RUN)
            self.clock.set(self.offset)

    def _agent_now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def _agent_today(self) -> date:
        return self._agent_now().astimezone(BRUSSELS).date()

    def _audit_actions(self, db: sqlite3.Connection) -> Counter[tuple[str, str]]:
        found: Counter[tuple[str, str]] = Counter()
        for (entry,) in db.execute("SELECT entry FROM audit"):
            fields = json.loads(entry)
            for subject in fields["subject"]:
                found[(fields["action"], subject)] += 1
        return found

    @contextlib.contextmanager
    def _db(self) -> Any:
        conn = sqlite3.connect(f"file:{self.home.database}?mode=ro", uri=True, timeout=30)
        try:
            yield conn
        finally:
            conn.close()

    def _checkpoints(self) -> list[str]:
        return [p.read_text() for p in sorted(self.kept.iterdir())]

    def _call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        with Client(self.home.socket) as client:
            return client.call(op, args)

    def _deliveries(self) -> list[dict[str, Any]]:
        with Client(self.home.socket) as client:
            return list(client.pages("deliveries", "deliveries"))

    def _cli_start(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "retention_agent", "--home", str(self.home.root), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, "RETENTION_AGENT_LANG": "en"})

    def _cli(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "retention_agent", "--home", str(self.home.root), *args],
                              capture_output=True, timeout=300, check=False,
                              env={**os.environ, "RETENTION_AGENT_LANG": "en"})


def _due(row: dict[str, Any], now: datetime) -> bool:
    """Due a while ago (a tick and a purge's time of margin) by the plan the agent stored."""
    return bool(row["due_at"]) and parse_utc(row["due_at"]) < now - timedelta(minutes=5)


class _Killer:
    """SIGKILLs the agent after ``seconds`` unless cancelled; remembers whether it did."""

    def __init__(self, agent: _Agent, seconds: float) -> None:
        self.fired = False
        self._agent = agent
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(seconds,), daemon=True)
        self._thread.start()

    def _run(self, seconds: float) -> None:
        if not self._cancelled.wait(seconds) and self._agent.alive():
            self.fired = True
            self._agent.kill()

    def cancel(self) -> None:
        self._cancelled.set()
        self._thread.join(timeout=60)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()



def default_seed() -> int:
    return int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(1, 2**31))


__all__ = ["CrashHarness", "HarnessFailure", "Home", "Settings", "default_seed"]
