"""Helpers for the retention, purge and forensic tests: an in-process schedule rig on the ``ctx`` fixture's
ManualClock, and small wrappers around the real agent process (its socket, its proofs, its clock file).

Nothing here replaces a real component: the rig wires the real Purger, Notifier and Schedule exactly as
``capabilities.wire`` does, only without the ticker thread, so a test decides when a tick happens.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from retention_agent.api.client import Client
from retention_agent.api.services import Services, WiredContext
from retention_agent.clock import ManualClock, parse_utc, start_of_local_day
from retention_agent.lifecycle import decisions as ceremonies
from retention_agent.lifecycle.purge import Purger, resume_unfinished
from retention_agent.lifecycle.purge_schedule import Schedule
from retention_agent.rules import retention
from retention_agent.runtime.agent import build_context
from retention_agent.runtime.context import AgentContext
from retention_agent.store.deliveries import get_delivery, list_deliveries, public_view
from retention_agent.store.notifications import Notifier
from retention_agent.system.home import Home
from retention_agent.testing_hooks import CLOCK_ENV
from tests.support.agent import ME, AgentProcess, make_home

# ---- in process -------------------------------------------------------------------------------------------


@dataclass
class Rig:
    """The schedule as the running agent wires it (capabilities.wire), ticked by the test."""

    ctx: WiredContext
    clock: ManualClock
    purger: Purger
    notifier: Notifier
    schedule: Schedule

    @classmethod
    def on(cls, ctx: WiredContext) -> Rig:
        assert isinstance(ctx.clock, ManualClock)
        purger = Purger(ctx)
        notifier = Notifier(ctx.store, ctx.clock)
        schedule = Schedule(ctx, purger, notifier)
        ctx.wire(Services(notifier=notifier, purger=purger, schedule=schedule, wake=lambda: None))
        return cls(ctx, ctx.clock, purger, notifier, schedule)

    def restart(self) -> Rig:
        """What a new agent process does: fresh components (a fresh ClockGuard), finish interrupted purges."""
        again = Rig.on(self.ctx)
        resume_unfinished(self.ctx, again.purger)
        return again

    def tick(self, times: int = 1) -> None:
        for _ in range(times):
            self.schedule.tick()

    def advance_to(self, moment: datetime) -> None:
        """Let time pass normally (wall and monotonic clocks together) up to ``moment``."""
        delta = moment - self.clock.now()
        assert delta >= timedelta(0), "advance_to only goes forward; use clock.set for jumps"
        self.clock.advance(delta)


def ingest(ctx: AgentContext, data: bytes | None = None, *, quarantine: bool = False) -> str:
    payload = data if data is not None else b"AgII test delivery " + secrets.token_bytes(64)
    received = ctx.ingest.receive(io.BytesIO(payload), channel="manual", source="manual",
                                  quarantine=quarantine, actor=ME)
    assert not received.duplicate
    return received.delivery_id


def set_ceremony(ctx: WiredContext, ids: list[str], day: date, reason: str = "",
                 purger: Purger | None = None) -> list[dict[str, Any]]:
    """What the ``ceremony.set`` operation does once access is granted (as the officer)."""
    return ceremonies.set_ceremony(ctx, ME, ids, day, purger=purger or ctx.services.purger, reason=reason)


def view(ctx: AgentContext, delivery_id: str) -> dict[str, Any]:
    """The delivery as ``deliveries --json`` shows it."""
    rows = [public_view(r) for r in list_deliveries(ctx.store) if r["id"] == delivery_id]
    assert len(rows) == 1
    return rows[0]


def state_of(ctx: AgentContext, delivery_id: str) -> str:
    return str(get_delivery(ctx.store, delivery_id)["state"])


def entries(ctx: AgentContext, action: str, subject: str | None = None) -> list[dict[str, Any]]:
    return [e for e in ctx.audit.entries() if e["action"] == action
            and (subject is None or subject in e["subject"])]


def proofs_of(home: Path, delivery_id: str) -> list[Path]:
    return sorted((home / "proofs").glob(f"{delivery_id}*"))


def proof_doc(home: Path, delivery_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((home / "proofs" / f"{delivery_id}.json").read_bytes())
    return doc


def due_moment(ceremony: date) -> datetime:
    return start_of_local_day(retention.deadline(ceremony, retention.VCMP_05_2024))


def reminder_keys(ctx: AgentContext) -> list[str]:
    return sorted(r["key"] for r in ctx.store.query("SELECT key FROM reminders"))


def notifications(ctx: AgentContext, kind: str) -> list[dict[str, Any]]:
    rows = ctx.store.query("SELECT audience, kind, params FROM notifications WHERE kind = ? ORDER BY id", (kind,))
    return [{"audience": r["audience"], **json.loads(r["params"])} for r in rows]


# ---- the real agent process -------------------------------------------------------------------------------


def fast_ticks(home: Path, seconds: int = 1) -> None:
    """``[retention] tick_seconds`` in the home's config.toml; scheduled DPO reports off (they are not what
    these tests look at, and rendering one at every fresh start-up costs seconds)."""
    config = home / "config.toml"
    text = config.read_text()
    assert "[retention]\n" in text
    text = text.replace("[retention]\n", f"[retention]\ntick_seconds = {seconds}\n", 1)
    if "[reports]\n" in text:
        text = text.replace("[reports]\n", '[reports]\nschedule = "off"\n', 1)
    else:
        text += '\n[reports]\nschedule = "off"\n'
    config.write_text(text)


def api(home: Path, op: str, args: dict[str, Any] | None = None) -> Any:
    """One request to the real agent over its real socket (faster than spawning the CLI)."""
    with Client(Home(home).socket) as client:
        return client.call(op, args)


def grant_me(home: Path, *roles: str) -> None:
    """The officer keeps ``officer`` and gets ``roles`` too."""
    api(home, "staff.add", {"account": ME, "name": "Officer", "roles": ["officer", *roles]})


AGII_HEAD = b"PK\x03\x04"
"""The start of a file of a type AgII sends (a zip archive): anything else added by hand is quarantined."""


def ingest_bytes(home: Path, content: bytes) -> str:
    """Ingest through the real socket, as ``ingest`` does after reading the file (no CLI start-up)."""
    with Client(Home(home).socket) as client:
        chunks = [content[i:i + (1 << 20)] for i in range(0, len(content), 1 << 20)]
        result = client.upload("ingest", {}, chunks)
    assert not result["duplicate"], result
    return str(result["delivery"])


def received_days_ago(home: Path, days: float, content: bytes, *, quarantine: bool = False) -> str:
    """A delivery the agent took in ``days`` ago: made in process, on the agent's clock as it was then, before
    the real agent starts (a ceremony date can only lie after the receipt, so an old delivery is the only kind
    a date can make due now)."""
    ctx = build_context(Home(home), ManualClock(datetime.now(UTC) - timedelta(days=days)))
    try:
        return ingest(ctx, content, quarantine=quarantine)
    finally:
        ctx.store.close()


def set_ceremony_api(home: Path, delivery_id: str, day: date, reason: str = "") -> dict[str, Any]:
    [changed] = api(home, "ceremony.set", {"deliveries": [delivery_id], "date": day.isoformat(), "reason": reason})
    return dict(changed)


def ingest_file(agent: AgentProcess, path: Path, content: bytes) -> str:
    path.write_bytes(content)
    done = agent.cli("ingest", str(path))
    assert done.returncode == 0, done.stderr.decode()
    found = re.search(r"in the vault as (\w+)", done.stdout.decode())
    assert found, done.stdout.decode()
    return found.group(1)


def pages(home: Path, op: str, key: str) -> list[dict[str, Any]]:
    """Every row of a paged list from the real agent (deliveries, audit.show, proof.list)."""
    with Client(Home(home).socket) as client:
        return list(client.pages(op, key))


def all_deliveries(home: Path) -> list[dict[str, Any]]:
    return pages(home, "deliveries", "deliveries")


def audit_entries(home: Path, action: str | None = None) -> list[dict[str, Any]]:
    found = pages(home, "audit.show", "entries")
    return [e for e in found if action is None or e["action"] == action]


def delivery_row(home: Path, delivery_id: str) -> dict[str, Any]:
    rows = [r for r in pages(home, "deliveries", "deliveries") if r["id"] == delivery_id]
    assert len(rows) == 1
    row: dict[str, Any] = rows[0]
    return row


def wait_for(condition: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> float:
    """Poll until ``condition()`` is truthy; return the seconds it took.

    An exception raised by the condition counts as "not yet" (the agent may be between two states, a
    socket may refuse for a moment); the last one is named if the time runs out.
    """
    start = time.monotonic()
    last_error: BaseException | None = None
    while time.monotonic() - start < timeout:
        try:
            if condition():
                return time.monotonic() - start
        except Exception as exc:
            last_error = exc
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f" (last error: {last_error!r})" if last_error else ""))


def wait_ticks(home: Path, count: int = 2, timeout: float = 60) -> None:
    """Let the running agent's schedule tick at least ``count`` more times (``fast_ticks``: one a second), as
    its status shows them, so that "nothing happened meanwhile" means something on a busy machine too."""
    first: list[datetime] = []

    def ticked() -> bool:
        last = parse_utc(api(home, "status")["health"]["last_tick"])  # none yet: an error, "not yet"
        first[:] = first or [last]
        return last >= first[0] + timedelta(seconds=count)

    wait_for(ticked, timeout, f"{count} more ticks of the schedule")


class ClockFile:
    """The test-only clock of the real agent: system time plus the seconds written in a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.set(timedelta(0))

    @property
    def env(self) -> dict[str, str]:
        return {CLOCK_ENV: str(self.path)}

    def set(self, offset: timedelta) -> None:
        temp = self.path.with_suffix(".tmp")
        temp.write_text(f"{offset.total_seconds():.3f}\n")
        os.replace(temp, self.path)  # the agent re-reads it on every call: never let it see half a number


def started_at(home: Path, delivery_id: str) -> datetime:
    """When the purge of ``delivery_id`` started (its ``purge.started`` audit entry)."""
    found = [e for e in audit_entries(home, "purge.started") if delivery_id in e["subject"]]
    assert len(found) == 1, found
    return parse_utc(found[0]["time"])


def db_audit(home: Path, action: str | None = None) -> list[dict[str, Any]]:
    """The audit entries read straight from the database (for when the caller is no longer the officer)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{home / 'agent.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT entry FROM audit ORDER BY seq").fetchall()
    finally:
        conn.close()
    found = [json.loads(r[0]) for r in rows]
    return [e for e in found if action is None or e["action"] == action]


class Agents:
    """Starts real agent processes on one home and makes sure none outlives the test."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.started: list[AgentProcess] = []

    def start(self, env: dict[str, str] | None = None, timeout: float = 20) -> AgentProcess:
        process = AgentProcess(self.home, env=dict(env or {}))
        self.started.append(process)
        return process.start(timeout=timeout)

    def close(self) -> None:
        for process in self.started:
            process.kill()  # by its own Popen handle; a clean stop is tested where it matters


@pytest.fixture(name="agents")
def agents_fixture(tmp_path: Path) -> Iterator[Agents]:
    """Real agent processes on a fresh home that ticks every second (``[retention] tick_seconds = 1``)."""
    home = make_home(tmp_path / "home")
    fast_ticks(home.root)
    started = Agents(home.root)
    yield started
    started.close()
