"""Helpers for the status, report and DPO tests: a populated home built through the real parts, in process.

Deliveries go through the real ingest path, ceremonies and holds through ``ceremonies``, purges through the
real schedule and purger (``Rig``), openings and refused requests through the real request dispatcher
(authorised and audited exactly as the API server does it, with a session object standing in for the socket).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from retention_agent.api import handlers
from retention_agent.api.peer import Peer
from retention_agent.clock import ManualClock, local_date
from retention_agent.errors import RetentionAgentError
from retention_agent.evidence import merkle, sshsig
from retention_agent.lifecycle import decisions as ceremonies
from retention_agent.runtime import capabilities
from retention_agent.runtime.agent import build_context
from retention_agent.runtime.context import AgentContext
from retention_agent.status import checklist
from retention_agent.system.home import Home
from tests.support.agent import ME, make_home
from tests.support.retention import Rig
from tests.support.smtp import make_certificate

CANARY = "CANARY-Zq7x-Vermeulen"
CANARY_NOTE = "CANARY-note-Peeters"
PERSONAL_DATA = f"{CANARY};85.07.30-033.28;Kerkstraat 1, 8660 De Panne;an.vermeulen@example.be;0470123456\n"
START = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)  # 10:00 in Brussels
PRELUDE = datetime(2026, 7, 31, 8, 0, tzinfo=UTC)  # a populated home was installed then
END = START + timedelta(days=1, hours=1)  # where populate() leaves the clock
SSH_KEYGEN = shutil.which("ssh-keygen")


@dataclass
class FakeSession:
    """The API session as an operation sees it, without the socket: replies and streams are collected."""

    account: str
    replies: list[Any] = field(default_factory=list)
    errors: list[RetentionAgentError] = field(default_factory=list)
    streamed: bytes = b""

    @property
    def peer(self) -> Peer:
        return Peer(self.account, 4242, None)

    def reply(self, result: Any = None) -> None:
        self.replies.append(result)

    def fail(self, error: RetentionAgentError) -> None:
        self.errors.append(error)

    def send_stream(self, header: Any, produce: Any) -> None:
        sink = io.BytesIO()
        trailer = produce(sink)
        self.streamed = sink.getvalue()
        self.replies.append({"header": header, "trailer": trailer})


def request(ctx: AgentContext, account: str, op: str, args: dict[str, Any] | None = None) -> FakeSession:
    """One request through the real dispatcher: authorised by the staff list and audited."""
    session = FakeSession(account)
    handlers.dispatch(ctx, session, op, dict(args or {}))  # type: ignore[arg-type]
    return session


def write_config(home: Home, text: str) -> None:
    """Append TOML tables to the home's config.toml (before the context is built)."""
    config = home.config
    config.write_text(config.read_text(encoding="utf-8") + "\n" + text + "\n", encoding="utf-8")


def open_context(home: Home, clock: ManualClock) -> AgentContext:
    ctx = build_context(home, clock)
    capabilities.register_operations()
    return ctx


def receive(ctx: AgentContext, channel: str, *, quarantine: bool = False, extra: str = "") -> str:
    data = (PERSONAL_DATA + extra + hashlib.sha256(extra.encode() + channel.encode()).hexdigest()).encode()
    received = ctx.ingest.receive(io.BytesIO(data), channel=channel, source=f"agii-{channel}",
                                  quarantine=quarantine, actor="agent")
    assert not received.duplicate
    return received.delivery_id


def ceremony(ctx: AgentContext, delivery: str, day: date, reason: str = "") -> None:
    plain = ceremonies.action_for(ctx, [delivery], day) == ceremonies.SET
    ceremonies.set_ceremony(ctx, ME, [delivery], day,
                            purger=ctx.services.purger, reason=reason or ("" if plain else CANARY_NOTE))


@dataclass
class Office:
    """A municipality's home after a busy first day in October 2026 (see :func:`populate`)."""

    home: Home
    ctx: AgentContext
    clock: ManualClock
    rig: Rig
    ids: dict[str, str]

    def reopen(self) -> Office:
        """A new context on the same home, as a restarted agent (after a configuration change)."""
        self.ctx.store.close()
        self.ctx = open_context(self.home, self.clock)
        self.rig = Rig.on(self.ctx)
        return self

    def close(self) -> None:
        self.ctx.store.close()


def new_office(root: Path, *, municipality: str = "De Panne", config: str = "",
               start: datetime = START) -> Office:
    clock = ManualClock(start)
    home = make_home(root, municipality=municipality, clock=clock)
    if config:
        write_config(home, config)
    ctx = open_context(home, clock)
    return Office(home, ctx, clock, Rig.on(ctx), {})


def populate(office: Office) -> Office:
    """Deliveries in every state, openings, refused requests, a hold, purges (one late), an overdue one.

    Three deliveries arrive at installation (:data:`PRELUDE`) and get their ceremony dates then; the agent is
    off from then until :data:`START` (no tick), so one of them is purged late, one on its deadline day, and
    one falls due after the last tick: overdue when populate() is done, at :data:`END`. The other five arrive
    at START. (A ceremony date never lies before its delivery's receipt, and one that makes a delivery due
    at once destroys it on purpose: a late purge needs a deadline that passed while the agent was off.)
    """
    ctx, ids = office.ctx, office.ids
    assert office.clock.now() == PRELUDE, "populate() starts on a home installed at PRELUDE"
    ctx.staff.put(ME, "Officer", ["officer", "import", "read", "modify", "destroy"])
    ctx.staff.put("tjerry", "Tom & Jerry <Zorg>", ["read"])
    ids["purged"] = receive(ctx, "zivver", extra="a")
    ids["late"] = receive(ctx, "zivver", extra="b")
    ids["overdue"] = receive(ctx, "zivver", extra="h")
    ceremony(ctx, ids["purged"], date(2026, 9, 1))  # deadline 2026-10-01: purged on the day, on time
    ceremony(ctx, ids["late"], date(2026, 8, 20))  # deadline 2026-09-20: purged late
    ceremony(ctx, ids["overdue"], date(2026, 9, 2))  # deadline 2026-10-02: due after the last tick
    office.rig.advance_to(START)
    ids["scheduled"] = receive(ctx, "zivver", extra="c")
    ids["held"] = receive(ctx, "zivver", extra="d")
    ids["quarantined"] = receive(ctx, "folder", quarantine=True, extra="e")
    ids["vaulted"] = receive(ctx, "folder", extra="f")
    ids["email"] = receive(ctx, "email", extra="g")
    ceremony(ctx, ids["scheduled"], date(2026, 11, 20))
    ceremony(ctx, ids["held"], date(2026, 10, 5))
    ceremonies.hold(ctx, ME, ids["held"], f"klacht {CANARY_NOTE}", date(2027, 1, 31))
    for purpose, mode, delivery in (("invite", "workspace", "vaulted"), ("phone", "stdout", "vaulted"),
                                    ("invite", "stdout", "purged")):
        session = request(ctx, ME, "open", {"delivery": ids[delivery], "purpose": purpose,
                                             "note": CANARY_NOTE, "mode": mode})
        assert not session.errors, session.errors
    assert request(ctx, "intruder", "status").errors  # not on the staff list
    assert request(ctx, "tjerry", "purge.due").errors  # read only
    office.rig.tick()  # purges 'purged' and 'late'
    checklist.set_item(ctx, ME, "commitment", date(2026, 9, 15), "brief <i>2026/33</i> & aangetekend")
    checklist.set_item(ctx, ME, "dpo", date(2025, 3, 1))
    office.clock.advance(END - START)  # 'overdue' falls due at midnight; no tick since: overdue
    return office


_TEMPLATES: dict[str, Path] = {}


def populated_template(factory: pytest.TempPathFactory) -> Path:
    """One populated home per test session; each test works on its own copy (:func:`office_copy`)."""
    if "populated" not in _TEMPLATES:
        root = factory.mktemp("populated") / "home"
        office = populate(new_office(root, start=PRELUDE))
        (root.parent / "ids.json").write_text(json.dumps(office.ids))
        office.close()
        _TEMPLATES["populated"] = root
    return _TEMPLATES["populated"]


def office_copy(template: Path, root: Path) -> Office:
    """A copy of the populated home, opened at the moment populate() left it. (Workspace copy paths in the
    database still name the template's files: tests on a copy must not wipe them.)"""
    shutil.copytree(template, root, symlinks=True)
    clock = ManualClock(END)
    home = Home(root)
    ctx = open_context(home, clock)
    return Office(home, ctx, clock, Rig.on(ctx), json.loads((template.parent / "ids.json").read_text()))



@pytest.fixture(name="office")
def office_fixture(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Office]:
    """A copy of one populated home (built once per session), a month of activity in it."""
    built = office_copy(populated_template(tmp_path_factory), tmp_path / "home")
    yield built
    built.close()


@pytest.fixture(name="certificate", scope="module")
def certificate_fixture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and its key for the SMTP server on loopback."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


def month_of_activity(office: Office, month_start: datetime, n: int = 2) -> list[str]:
    """A day of a month's work at ``month_start``: the schedule purges what is due — the deliveries an earlier
    call received a month before, on their deadline day, each with its proof — then ``n`` deliveries arrive and
    get a ceremony that day (due a month later), and an intruder is refused. Returns the new deliveries."""
    office.rig.advance_to(month_start)
    office.rig.tick()
    ids = [receive(office.ctx, "zivver", extra=f"{month_start.isoformat()}-{i}") for i in range(n)]
    for delivery in ids:
        ceremony(office.ctx, delivery, local_date(month_start))
    request(office.ctx, "intruder", "status")
    return ids


# ---- signatures and reports -----------------------------------------------------------------------------


def allowed_signers(ctx: AgentContext) -> str:
    line = sshsig.allowed_signers_line(ctx.identity, ("deletion-proof", "dpo-report"),
                                       ctx.signing_key.public_bytes())
    return line + "\n"


def keygen_verify(folder: Path, identity: str, namespace: str, data_file: Path) -> subprocess.CompletedProcess[str]:
    assert SSH_KEYGEN, "ssh-keygen is needed"
    with open(data_file, "rb") as data:
        return subprocess.run([SSH_KEYGEN, "-Y", "verify", "-f", str(folder / "allowed_signers"), "-I", identity,
                               "-n", namespace, "-s", f"{data_file}.sig"], stdin=data, capture_output=True,
                              text=True, check=False)


def copy_reports(office: Office, dest: Path, names: list[str] | None = None) -> list[Path]:
    """What the DPO receives: each report's JSON and signature, plus the allowed-signers file."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "allowed_signers").write_text(allowed_signers(office.ctx))
    copied = []
    for path in sorted(office.home.reports.glob("report-*.json")):
        if names is None or path.stem.removeprefix("report-") in names:
            for source in (path, path.with_name(path.name + ".sig")):
                shutil.copy(source, dest / source.name)
            copied.append(dest / path.name)
    return copied


def report_doc(office: Office, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((office.home.reports / f"report-{name}.json").read_bytes())
    return doc


def truncate_and_reseal(ctx: AgentContext, keep: int) -> None:
    """What an intruder with the agent's account could do: cut the log back to ``keep`` entries, rebuild the
    frontier from what is left and let the agent sign new checkpoints on the same host."""
    with ctx.store.transaction():
        ctx.store.conn.execute("DELETE FROM audit WHERE seq > ?", (keep,))
        ctx.store.conn.execute("DELETE FROM checkpoints WHERE size > ?", (keep,))
        frontier, head = merkle.CompactRange(), ""
        for (entry,) in ctx.store.conn.execute("SELECT entry FROM audit ORDER BY seq").fetchall():
            frontier.append(merkle.leaf_hash(entry))
            head = hashlib.sha256(entry).hexdigest()
        ctx.audit._save_frontier(frontier, head)
    assert ctx.audit.size == keep
    assert ctx.audit.verify().ok  # on its own, the rewritten log looks fine
