"""What a drop folder may not make the agent do: follow a swapped folder, take links, holes or huge files, or
leave plaintext behind. The folder watcher against real files and a real (pinned) folder, driven by scans.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_intake_refusals.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tests.support.accounts import in_child_as, needs_root, traversable_folder
from tests.unit.test_intake_folder import entries
from tests.unit.test_intake_refusals import watcher_for


@needs_root
def test_a_source_the_agent_may_not_write_is_recorded_before_it_is_unlinked() -> None:
    """The agent's account (uid 65534 here) may remove the file from the folder but not write it: the
    delivery must record that before the name goes, so the proof can say the bytes may remain."""
    with traversable_folder() as base:
        _not_writable_scenario(base / "drop")


def _not_writable_scenario(drop: Path) -> None:
    drop.mkdir()
    drop.chmod(0o777)  # the folder is the agent's to empty
    os.chown(drop, 65534, 65534)
    source = drop / "lijst.xlsx"
    source.write_bytes(b"not writable by the agent")
    source.chmod(0o644)  # owned by root: the agent can read it, not write it

    def scan_as_agent() -> bytes:
        watcher, deliver, reports = watcher_for(drop)
        result = watcher.scan_once()
        return json.dumps({"taken": result.taken, "delivered": [d.decode() for d in deliver.delivered()],
                           "kept": [[list(ids), why, sorted(present)] for ids, why, present in reports.kept]}).encode()

    outcome = json.loads(in_child_as(65534, 65534, scan_as_agent))
    assert outcome["taken"] == 1 and outcome["delivered"] == ["not writable by the agent"]
    ((ids, why, present),) = outcome["kept"]
    assert ids == [hashlib.sha256(b"not writable by the agent").hexdigest()[:16]] and why == "no-write-permission"
    assert len(present) == 1 and present[0].startswith(".retention-agent-claim-")  # recorded before the unlink
    assert entries(drop) == set()
