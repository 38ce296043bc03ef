"""Invariant 4: after a purge no byte of the delivery is recoverable from the agent's files.

The real agent process (with ``TMPDIR`` pointed at a folder of the test, so its temporary files can be
searched too) ingests files full of unique canary strings, staff open them (workspace copies and
``--stdout``) with a note holding a canary, one is put on hold with a canary in the reason, one is purged early
with a canary in the reason; then everything is purged. Every byte of every file under the home (database,
-wal, -shm, -journal, vault, workspace, keys, logs, proofs and their PDF text) and of the agent's temporary
folder is searched for each canary — raw, UTF-16 (both byte orders) and base64 at every alignment: zero hits.
The same search is run before the purge, where it must find them (so it can fail).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from pypdf import PdfReader

from retention_agent.clock import BRUSSELS
from tests.support.retention import (
    AGII_HEAD,
    Agents,
    ClockFile,
    api,
    audit_entries,
    delivery_row,
    grant_me,
    set_ceremony_api,
    wait_for,
)


def variants(canary: bytes) -> list[bytes]:
    """The canary as raw bytes, UTF-16 LE/BE, and the part of its base64 that does not depend on what
    surrounds it, at each of the three byte alignments."""
    text = canary.decode()
    found = [canary, text.encode("utf-16-le"), text.encode("utf-16-be")]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + canary)
        found.append(encoded[4 if shift else 0:-4])
    return found


def search(roots: list[Path], canaries: list[bytes]) -> dict[str, list[str]]:
    """{file: [canary (variant), ...]} for every regular file under ``roots`` holding one of them."""
    needles = {v: c.decode() for c in canaries for v in variants(c)}
    hits: dict[str, list[str]] = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in paths:
            if path.is_symlink() or not path.is_file():
                continue  # the socket; symlinks would lead out of the home
            data = path.read_bytes()
            found = [f"{name} ({needle[:12]!r})" for needle, name in needles.items() if needle in data]
            if path.suffix == ".pdf" and data.startswith(b"%PDF"):
                text = "".join(page.extract_text() or "" for page in PdfReader(path).pages)
                found += [f"{c.decode()} (pdf text)" for c in canaries if c.decode() in text]
            if found:
                hits[str(path)] = found
    return hits


def test_no_byte_of_a_purged_delivery_is_left_in_any_file_of_the_agent(agents: Agents, tmp_path: Path) -> None:
    agent_tmp = tmp_path / "agent-tmp"
    agent_tmp.mkdir(mode=0o700)
    clock = ClockFile(tmp_path / "clock-offset")
    env = {"TMPDIR": str(agent_tmp), **clock.env}
    agent = agents.start(env)
    grant_me(agent.home, "import", "read", "modify", "destroy")
    tag = secrets.token_hex(6)
    canary = {name: f"CANARY{name.upper()}{tag}".encode() for name in
              ("alpha", "beta", "gamma", "note", "hold", "early", "filename")}
    contents = {
        "alpha": AGII_HEAD + b"rijksregisternummer;naam\n" + (canary["alpha"] + b";Jan\n") * 3000,  # several chunks
        "beta": AGII_HEAD + b"naam;adres\n" + canary["beta"] + b";Kerkstraat 1\n" + secrets.token_bytes(70_000)
                + canary["beta"],
        "gamma": AGII_HEAD + canary["gamma"] * 50,
    }
    paths = []
    for name, content in contents.items():
        path = tmp_path / f"{canary['filename'].decode()}-{name}.csv"
        path.write_bytes(content)
        paths.append(path)
    ingested = agent.cli("ingest", *map(str, paths), env=env)
    assert ingested.returncode == 0, ingested.stderr
    ids = dict(zip(contents, re.findall(r"in the vault as (\w+)", ingested.stdout.decode()), strict=True))

    # openings: two workspace copies with a note, and --stdout
    note = "called back " + canary["note"].decode()
    copies = [Path(api(agent.home, "open", {"delivery": ids["alpha"], "purpose": "other", "note": note,
                                            "mode": "workspace"})["path"]) for _ in range(2)]
    copies.append(Path(api(agent.home, "open", {"delivery": ids["beta"], "purpose": "invite",
                                                "mode": "workspace"})["path"]))
    for name in ("alpha", "gamma"):
        shown = agent.cli("open", ids[name], "--purpose", "phone", "--stdout", env=env)
        assert shown.returncode == 0 and shown.stdout == contents[name], shown.stderr
    # a hold whose reason names someone, released again
    until = (datetime.now(BRUSSELS).date() + timedelta(days=60)).isoformat()
    api(agent.home, "hold", {"delivery": ids["beta"], "reason": "complaint by " + canary["hold"].decode(),
                             "until": until})

    # the search finds what is there before the purge: it can fail
    everything = [agent.home, agent_tmp, agent.output]
    before = search(everything, list(canary.values()))
    assert any(canary["alpha"].decode() in h for f in copies[:2] for h in before.get(str(f), []))
    assert any(canary["note"].decode() in " ".join(h) for f, h in before.items() if "agent.db" in f)
    assert any(canary["hold"].decode() in " ".join(h) for f, h in before.items() if "agent.db" in f)

    # purge: two by the schedule (one after its hold is released), one early with a reason naming someone. The
    # workstation is off past their deadline (downtime, not a clock jump): the restarted agent purges at once.
    for name in ("alpha", "beta"):
        set_ceremony_api(agent.home, ids[name], datetime.now(BRUSSELS).date() + timedelta(days=3))
    assert agent.stop() == 0
    clock.set(timedelta(days=40))
    agent = agents.start(env)
    api(agent.home, "release", {"delivery": ids["beta"]})
    early = agent.cli("purge", ids["gamma"], "--reason", "duplicate of " + canary["early"].decode(), "--yes",
                      env=env)
    assert early.returncode == 0, early.stderr
    for delivery in ids.values():
        wait_for(lambda d=delivery: (agent.home / "proofs" / f"{d}.pdf").exists(), 30, f"the proof of {delivery}")
        assert delivery_row(agent.home, delivery)["state"] == "purged"
    for delivery in ids.values():
        doc = json.loads((agent.home / "proofs" / f"{delivery}.json").read_bytes())
        assert all(doc["verification"].values()), doc["verification"]

    # while the agent still runs ...
    assert search(everything, list(canary.values())) == {}
    audit = json.dumps(audit_entries(agent.home))
    assert [c for c in canary.values() if c.decode() in audit] == []
    assert [c for c in copies if c.exists()] == []
    # ... and after it stopped (its last checkpoint written, the WAL checkpointed)
    assert agent.stop() == 0
    assert search(everything, list(canary.values())) == {}
    names = sorted(p.name for p in agent.home.rglob("*") if p.is_file())
    assert "agent.db" in names and "agent.log" in names  # the search did look at the database and the log
    for delivery in ids.values():
        doc = json.loads((agent.home / "proofs" / f"{delivery}.json").read_bytes())
        assert doc["openings_count"] == {ids["alpha"]: 3, ids["beta"]: 1, ids["gamma"]: 1}[delivery]
