"""The local API under attack, as real OS accounts against the real agent process (DESIGN.md invariant 8).

- A minute-long denial flood by an account outside the staff list grows the home by less than 1 MB, and the
  officer is served meanwhile; four such accounts holding every connection they can get do not lock the
  officer out.
- A due purge completes and signs its proof while another account keeps the home's file system (a small tmpfs)
  near full and floods the agent with requests.
- No national number that anyone typed — as an id, a note, a label, a reason, an account name, a period, in a
  malformed frame — reaches any file of the home.
- ``audit show`` prints no control character, whatever was typed or is already in an older log.

The hostile clients are forked children of this process that became other accounts (tests/accounts.py);
they speak the wire protocol directly, as an attacker would. The figures are in docs/threat-model.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

import retention_agent.cli.main  # noqa: F401 - imported before any fork: the children cannot read /root
from retention_agent.api import protocol
from retention_agent.api.client import Client
from retention_agent.audit.log import AuditLog
from retention_agent.clock import SystemClock
from retention_agent.errors import RetentionAgentError
from retention_agent.evidence.checkpoint import log_origin
from retention_agent.evidence.proof_verify import verify_proof
from retention_agent.evidence.sshsig import parse_public_key_openssh
from retention_agent.i18n.safe_text import has_unsafe
from retention_agent.store.database import Store
from retention_agent.system.home import Home
from retention_agent.system.init_home import load_signing_key
from retention_agent.vault.keys import FileKeyStore
from tests.accounts import create_account, fork_as, needs_root, remove_account
from tests.conftest import ME, AgentProcess, make_home
from tests.retention_support import AGII_HEAD, ClockFile, fast_ticks, ingest_bytes, wait_for
from tests.test_forensic import search

pytestmark = [pytest.mark.root, needs_root]

FLOOD_SECONDS = 60
NATIONAL_NUMBER = "88031412365"  # valid check digits (97 - 880314123 mod 97 = 65)
WRITTEN = ["88031412365", "88.03.14-123.65", "880314 123 65"]
CANARY = "Zzqxcanary Holdout"
FORGED = "\r\x1b[2K9999  2026-11-02T09:00:00Z  red_officer  whoami  granted"


# ---- hostile accounts ----------------------------------------------------------------------------------------


@dataclass
class Account:
    name: str
    uid: int
    gid: int


@contextlib.contextmanager
def accounts(count: int, prefix: str = "rah") -> Iterator[list[Account]]:
    made: list[Account] = []
    try:
        for n in range(count):
            name = f"{prefix}{os.getpid() % 10000:04d}{n}"
            entry = create_account(name)
            made.append(Account(name, entry.pw_uid, entry.pw_gid))
        yield made
    finally:
        for account in made:
            remove_account(account.name)


@dataclass
class Spawned:
    """A forked child acting as another account; :meth:`result` waits for what it returned (JSON)."""

    pid: int
    fd: int
    done: bool = False

    def result(self, timeout: float = 300) -> Any:
        with os.fdopen(self.fd, "rb") as incoming:
            data = incoming.read()  # until the child exits (or closes its end)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.done = True
                assert os.waitstatus_to_exitcode(status) == 0, data.decode(errors="replace")
                return json.loads(data)
            time.sleep(0.05)
        self.reap()
        raise AssertionError("the hostile child did not finish")

    def reap(self) -> None:
        """End the child if a failed test left it running (by its own pid), and collect it."""
        if not self.done:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 9)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.done = True


def spawn_as(account: Account, work: Callable[[], Any]) -> Spawned:
    """Fork a child that becomes ``account`` and runs ``work``; return at once (``result`` waits for it)."""
    return Spawned(*fork_as(account.uid, account.gid, lambda: json.dumps(work(), default=str).encode()))


def frame(payload: bytes) -> bytes:
    return b"J" + struct.pack(">I", len(payload)) + payload


def request(op: str, args: dict[str, Any]) -> bytes:
    return frame(json.dumps({"v": 1, "op": op, "args": args}).encode())


def attack_requests(subject: str) -> list[bytes]:
    """What a hostile client sends over and over; the last ones break the protocol (the agent hangs up)."""
    long_subjects = [(subject + "-" * 64)[:64] for _ in range(100)]  # 100 subjects of 64 characters
    return [
        request("ceremony.set", {"deliveries": long_subjects, "date": "2026-01-01", "reason": subject}),
        request("open", {"delivery": subject, "purpose": "invite", "mode": "stdout", "note": subject}),
        request("staff.add", {"account": subject, "name": subject, "roles": ["officer"]}),
        request("report", {"period": subject}),
        request(subject[:40], {"x": subject}),
        request("whoami", {}),
        frame(b'{"v": 1, "op": "whoami", "args": {"x": "\\ud800 ' + subject.encode() + b'"}}'),
        frame(b'{"v": 1, "op": "whoami", "args": {"x": "' + subject.encode()),
    ]


def flood(socket_path: Path, seconds: float, subject: str, connections: int = 8) -> dict[str, int]:
    """Send the attack from ``connections`` connections as fast as the agent answers, for ``seconds``."""
    deadline = time.monotonic() + seconds
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    frames = attack_requests(subject)

    def count(what: str) -> None:
        with lock:
            counts[what] += 1

    def worker(offset: int) -> None:
        n = offset
        while time.monotonic() < deadline:
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(15)
                sock.connect(str(socket_path))
            except OSError:
                count("connect-failed")
                time.sleep(0.01)
                continue
            try:
                while time.monotonic() < deadline:
                    data = frames[n % len(frames)]
                    n += 1
                    count("sent")
                    sock.sendall(data)
                    answer = protocol.read_json(sock)
                    count("ok" if answer.get("ok") else str(answer.get("error", {}).get("id")))
            except (protocol.ConnectionClosed, protocol.ProtocolViolation, OSError):
                count("closed")
            finally:
                sock.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(counts)


def stopped(agent: AgentProcess) -> int:
    """Stop the agent; kill it if it does not stop, so that no agent outlives a failed test."""
    try:
        return agent.stop()
    finally:
        agent.kill()


def home_size(home: Path) -> int:
    return sum(p.stat().st_size for p in home.rglob("*") if p.is_file() and not p.is_symlink())


@contextlib.contextmanager
def traversable_home() -> Iterator[Home]:
    folder = Path(tempfile.mkdtemp(prefix="ra-hostile-"))
    folder.chmod(0o711)
    try:
        yield make_home(folder / "home")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def officer_latency(home: Path) -> float:
    started = time.monotonic()
    with Client(home / "agent.sock") as client:
        assert client.call("whoami")["account"] == ME
    return time.monotonic() - started


# ---- a flood of refusals ------------------------------------------------------------------------------------


def test_a_minute_of_denial_flood_grows_the_home_by_less_than_a_megabyte_and_the_officer_is_served() -> None:
    """It used to cost about 6.5 KB of audit log per refusal, 1,000 a second: 1.17 GB in 140 s."""
    with accounts(1) as (mallory,), traversable_home() as home:
        fast_ticks(home.root)  # no scheduled DPO reports: they are not the flood's
        agent = AgentProcess(home.root).start()
        assert stopped(agent) == 0  # the home at rest, after one start and stop
        before = home_size(home.root)
        agent = AgentProcess(home.root).start()
        child = spawn_as(mallory, lambda: flood(home.socket, FLOOD_SECONDS, f"{NATIONAL_NUMBER} {CANARY}"))
        try:
            waits = []
            deadline = time.monotonic() + FLOOD_SECONDS
            while time.monotonic() < deadline:
                waits.append(officer_latency(home.root))
                time.sleep(1)
            counts = child.result()
            peak_wal = (home.root / "agent.db-wal").stat().st_size
        finally:
            child.reap()
            assert stopped(agent) == 0  # writes the last follow-up entries
        grown = home_size(home.root) - before
        entries = [json.loads(e) for e in _entries(home.root)]
        theirs = [e for e in entries if e["actor"] == mallory.name]
        refused = sum(n for what, n in counts.items() if what not in ("sent", "closed", "connect-failed", "ok"))
        # every refusal is in the log: audited at once, or counted in a follow-up entry
        audited = sum(e["details"].get("repeated", 1) for e in theirs if e["action"] != "connect")
        summary = (f"{counts}; home grew {grown} bytes (WAL at {peak_wal} meanwhile); officer's longest wait "
                   f"{max(waits):.3f} s over {len(waits)} requests; {len(theirs)} entries of theirs, counting "
                   f"{audited} refusals")
        print(f"\n[flood] {summary}")
        assert counts.get("ok", 0) == 0 and refused > 100, summary
        assert grown < 1_000_000, summary
        assert max(waits) < 5, summary  # the goal is 1 s (docs/threat-model.md); a loaded CI machine gets slack
        assert all(e["outcome"] == "denied" and e["subject"] == [] for e in theirs), summary
        assert audited >= refused, summary
        follow_ups = [e for e in theirs if "repeated" in e["details"]]
        assert follow_ups and all({"from", "until", "reason"} <= set(e["details"]) for e in follow_ups), summary
        assert len(theirs) < 200, summary
        for text in [*WRITTEN, CANARY]:
            assert text not in json.dumps(theirs)


def _entries(home: Path) -> list[bytes]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{home / 'agent.db'}?mode=ro", uri=True)) as db:
        return [bytes(row[0]) if isinstance(row[0], bytes) else str(row[0]).encode()
                for row in db.execute("SELECT entry FROM audit ORDER BY seq")]


def hold_connections(socket_path: Path, count: int, release_fd: int, other_end: int) -> dict[str, int]:
    """Open ``count`` connections, each sending one request, and keep them open until released (the test
    closes its end of the pipe; this child's copy of that end is closed first)."""
    os.close(other_end)
    held: list[socket.socket] = []
    answered = 0
    for _ in range(count):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        try:
            sock.connect(str(socket_path))
            sock.sendall(request("whoami", {}))
            protocol.read_json(sock)
            answered += 1
        except (protocol.ConnectionClosed, protocol.ProtocolViolation, OSError):
            pass
        held.append(sock)
    with os.fdopen(release_fd, "rb") as release:
        release.read()  # until the test closes its end
    for sock in held:
        sock.close()
    return {"answered": answered}


def test_four_hostile_accounts_holding_every_connection_they_can_do_not_lock_the_officer_out() -> None:
    """Four accounts of eight connections each took all 32 slots: the officer could not even ask for status."""
    with accounts(4) as hostile, traversable_home() as home:
        agent = AgentProcess(home.root).start()
        read_end, write_end = os.pipe()
        children = [spawn_as(account, lambda: hold_connections(home.socket, 9, read_end, write_end))
                    for account in hostile]
        os.close(read_end)
        officer: list[Client] = []
        try:
            wait_for(lambda: _connections_held(agent) >= 20, 60, "the hostile connections")
            for _ in range(4):
                client = Client(home.socket)
                assert client.call("whoami")["account"] == ME  # each on its own connection, all at once
                officer.append(client)
            status = officer[0].call("status")
            assert status["municipality"] == "De Panne"
        finally:
            os.close(write_end)
            try:
                answered = [child.result()["answered"] for child in children]
            finally:
                for child in children:
                    child.reap()
                for client in officer:
                    client.close()
                assert stopped(agent) == 0
        assert sum(answered) == 20 and max(answered) <= 8, answered  # 32 minus the slots kept back


def _connections_held(agent: AgentProcess) -> int:
    """How many API connections the agent's process holds open (its socket descriptors beyond the listener)."""
    assert agent.proc is not None
    folder = Path(f"/proc/{agent.proc.pid}/fd")
    return sum(1 for fd in folder.iterdir() if os.readlink(fd).startswith("socket:")) - 1


# ---- a full disk ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def small_file_system(size_mb: int) -> Iterator[Path]:
    """A tmpfs that every account may write in (its ``junk`` folder, as /tmp is on a real machine)."""
    where = Path(tempfile.mkdtemp(prefix="ra-tmpfs-"))
    where.chmod(0o711)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0711", "tmpfs", str(where)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (the test runs as root, as in CI): {done.stderr.decode().strip()}")
    try:
        junk = where / "junk"
        junk.mkdir()
        junk.chmod(0o1777)
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        shutil.rmtree(where, ignore_errors=True)


def keep_full(folder: Path, stop: Path, low: int, high: int) -> dict[str, int]:
    """Fill the file system of ``folder`` and keep it there: whenever more than ``high`` bytes are free, write
    until only ``low`` are; until ``stop`` appears."""
    written = 0
    n = 0
    while not stop.exists():
        free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
        if free > high:
            n += 1
            with contextlib.suppress(OSError), open(folder / f"fill-{n}", "wb") as out:
                out.write(b"\0" * (free - low))
                written += free - low
        time.sleep(0.02)
    return {"written": written}


def filled_audit_log(home: Home, entries: int) -> None:
    """A long-lived home's audit log, written before the agent starts (about 500 bytes an entry)."""
    store = Store.open(home.database)
    try:
        key = load_signing_key(FileKeyStore(home.keys))
        audit = AuditLog(store, SystemClock(), key, log_origin("de-panne", store.get_meta("installation_id") or ""))
        audit.append_many((SystemClock().now(), "medewerker", "deliveries", "granted", ["01K" + "0" * 23],
                           {"uid": 1000, "n": n, "padding": "p" * 400}) for n in range(entries))
    finally:
        store.close()


def test_a_due_purge_completes_with_its_proof_while_another_account_keeps_the_disk_near_full() -> None:
    """With little room left, the purge's VACUUM (a copy of the database) failed: the delivery stayed 'purging'
    without a proof until 1 GB was free. Now the purge scrubs what it touched and needs little room."""
    with accounts(1) as (mallory,), small_file_system(64) as mount:
        home = make_home(mount / "home")
        fast_ticks(home.root)
        filled_audit_log(home, 40_000)
        database = home.database.stat().st_size
        clock = ClockFile(mount / "clock-offset")
        agent = AgentProcess(home.root, env=clock.env).start()
        stop = mount / "junk" / "stop"
        children: list[Spawned] = []
        try:
            with Client(home.socket) as client:
                client.call("staff.add", {"account": ME, "name": "Officer", "roles": ["officer", "import"]})
            delivery = ingest_bytes(home.root, AGII_HEAD + b"due while the disk is full " + os.urandom(2000))
            with Client(home.socket) as client:  # a ceremony in three days: the deadline a month later
                client.call("ceremony.set", {"deliveries": [delivery],
                                             "date": (date.today() + timedelta(days=3)).isoformat()})
            assert stopped(agent) == 0
            filler = spawn_as(mallory, lambda: keep_full(mount / "junk", stop, low=1 << 20, high=3 << 19))
            children.append(filler)
            wait_for(lambda: _free(mount) < 2 << 20, 60, "the file system near full")
            assert _free(mount) < database, "a VACUUM would not have room"

            # the workstation was off past the deadline (downtime, not a clock jump): the agent purges at start
            clock.set(timedelta(days=40))
            agent = AgentProcess(home.root, env=clock.env).start()
            flooder = spawn_as(mallory, lambda: flood(home.socket, 20, f"{NATIONAL_NUMBER} {CANARY}"))
            children.append(flooder)
            proof = home.proofs / f"{delivery}.json.sig"
            wait_for(proof.exists, 90, "the proof of the due purge")
            wait_for(lambda: _agent_sees_low_disk(home), 10, "the agent to see the disk below its floor")

            with Client(home.socket) as client:
                shown = client.call("keys.public")
                status = client.call("status")
                rows = list(client.pages("deliveries", "deliveries"))
            doc = verify_proof((home.proofs / f"{delivery}.json").read_bytes(), proof.read_text(),
                               parse_public_key_openssh(shown["public_key"]), origin=shown["origin"])
            assert all(doc["verification"].values()), doc["verification"]
            assert [r["state"] for r in rows if r["id"] == delivery] == ["purged"]
            assert "disk-space-low" in [p["code"] for p in status["problems"]], status["health"]["disk"]
            with pytest.raises(RetentionAgentError) as refused:  # no new delivery below the floor
                ingest_bytes(home.root, b"not now")
            assert refused.value.error_id == "disk-space-low"
            counts = flooder.result()
            assert counts.get("disk-space-low", 0) > 0, counts  # the hostile account is turned away
        finally:
            stop.touch()  # the filler stops filling; either child is ended if a failure left it running
            for child in children:
                child.reap()
            assert stopped(agent) == 0


def _agent_sees_low_disk(home: Home) -> bool:
    with Client(home.socket) as client:
        return bool(client.call("status")["health"]["disk"]["low"])


def _free(folder: Path) -> int:
    info = os.statvfs(folder)
    return info.f_bavail * info.f_frsize


# ---- personal data typed into the API ----------------------------------------------------------------------


def _search(roots: list[Path], texts: list[str]) -> dict[str, list[str]]:
    """Every file under ``roots`` holding one of ``texts`` (raw, UTF-16, base64: test_forensic.search)."""
    return search(roots, [text.encode() for text in texts])


def _try(call: Callable[[], Any]) -> str:
    try:
        call()
    except RetentionAgentError as exc:
        return exc.error_id
    return "ok"


def test_no_national_number_typed_into_the_api_reaches_any_file_of_the_home() -> None:
    """``open "88031412365 Zzqxcanary Holdout"`` by an account with no role stored that text as the subject of
    an audit entry, in a log that is never purged."""
    with accounts(2) as (mallory, clerk), traversable_home() as home:
        fast_ticks(home.root)
        agent = AgentProcess(home.root).start()
        try:
            with Client(home.socket) as client:
                client.call("staff.add", {"account": ME, "name": "Officer", "roles": ["officer", "import"]})
                client.call("staff.add", {"account": clerk.name, "name": "Clerk", "roles": ["read", "modify"]})
            delivery = ingest_bytes(home.root, AGII_HEAD + b"a real delivery " + os.urandom(100))
            number, dotted = NATIONAL_NUMBER, WRITTEN[1]
            typed = f"{number} {CANARY}"
            soon = (date.today() + timedelta(days=10)).isoformat()  # no later than planned: role modify may

            hostile = spawn_as(mallory, lambda: flood(home.socket, 3, typed, connections=2)).result()
            assert hostile.get("access-denied", 0) > 0, hostile

            def as_clerk() -> list[str]:
                with Client(home.socket) as c:
                    return [
                        _try(lambda: c.call("open", {"delivery": typed, "purpose": "invite", "mode": "workspace"})),
                        _try(lambda: c.call("open", {"delivery": number, "purpose": "invite", "mode": "workspace"})),
                        _try(lambda: c.call("open", {"delivery": delivery, "purpose": "other", "mode": "workspace",
                                                     "note": f"belde {dotted} terug"})),
                        _try(lambda: c.call("open", {"delivery": delivery, "purpose": "other", "mode": "workspace",
                                                     "note": "mail jan.peeters@example.be"})),
                        _try(lambda: c.call("ceremony.set", {"deliveries": [delivery], "date": soon,
                                                             "label": f"{number}"})),
                        _try(lambda: c.call("ceremony.set", {"deliveries": [typed], "date": soon})),
                        _try(lambda: c.call("whoami", {"account": typed})),
                    ]

            clerk_saw = spawn_as(clerk, as_clerk).result()
            assert clerk_saw == ["delivery-unknown", "delivery-unknown", "personal-data-in-text",
                                 "personal-data-in-text", "personal-data-in-text", "delivery-unknown", "usage"]
            with Client(home.socket) as c:
                officer_saw = [
                    _try(lambda: c.call("hold", {"delivery": delivery, "reason": f"klacht {dotted}",
                                                 "until": "2099-01-01"})),
                    _try(lambda: c.call("checklist.set", {"item": "website", "done": "2026-01-01",
                                                          "evidence": f"zie {number}"})),
                    _try(lambda: c.call("staff.add", {"account": "daemon", "name": f"Jan {number}",
                                                      "roles": ["read"]})),
                    _try(lambda: c.call("proof.show", {"delivery": typed})),
                    _try(lambda: c.call("report", {"period": typed})),
                ]
            assert officer_saw == ["personal-data-in-text", "personal-data-in-text", "personal-data-in-text",
                                   "proof-unknown", "usage"]
            present = _search([home.root], [delivery])  # the search does look into the database (and its WAL)
            assert any("agent.db" in path for path in present), present
        finally:
            assert stopped(agent) == 0
        assert _search([home.root, agent.output], [*WRITTEN, CANARY, "Zzqxcanary"]) == {}
        invalid = [e for e in map(json.loads, _entries(home.root)) if "invalid-subject" in e["subject"]]
        assert invalid and all(d["length"] > 0 and len(d["hmac"]) == 32
                               for e in invalid for d in e["details"]["invalid_subjects"])


# ---- the terminal -------------------------------------------------------------------------------------------------


def test_audit_show_prints_no_control_character_whatever_was_typed_or_is_in_an_older_log() -> None:
    """A refused request with an escape sequence as its subject showed the officer a forged "granted" line."""
    with accounts(2) as (mallory, clerk), traversable_home() as home:
        agent = AgentProcess(home.root, env={"RETENTION_AGENT_LANG": "en"}).start()
        try:
            with Client(home.socket) as client:
                client.call("staff.add", {"account": clerk.name, "name": "Clerk", "roles": ["read"]})
            for account in (mallory, clerk):
                spawn_as(account, lambda: _try(lambda: Client(home.socket).call(
                    "open", {"delivery": FORGED, "purpose": "invite", "mode": "stdout"}))).result()
            # an entry as a version before this one wrote it: the forged text as the subject itself
            store = Store.open(home.database)
            try:
                key = load_signing_key(FileKeyStore(home.keys))
                AuditLog(store, SystemClock(), key, log_origin("de-panne", store.get_meta("installation_id") or "")
                         ).append(mallory.name, "whoami", "denied", [FORGED, "\u202eevil"], {"uid": mallory.uid})
            finally:
                store.close()
            shown = agent.cli("audit", "show")
            as_json = agent.cli("audit", "show", "--json")
            verified = agent.cli("audit", "verify")
        finally:
            assert stopped(agent) == 0
        text = shown.stdout.decode()
        assert shown.returncode == 0, shown.stderr
        assert not has_unsafe(text, allow_newlines=True), repr(text)
        assert "\\x0d\\x1b[2K9999" in text and "\\u202eevil" in text  # shown for what it is
        forged_lines = [line for line in text.splitlines() if "red_officer" in line]
        assert len(forged_lines) == 1 and "refused" in forged_lines[0]  # the outcome "denied", in words
        assert not has_unsafe(as_json.stdout.decode(), allow_newlines=True)
        entries = json.loads(as_json.stdout)["entries"]
        assert [FORGED, "\u202eevil"] in [e["subject"] for e in entries]  # the JSON value is the stored one
        assert verified.returncode == 0, verified.stderr
