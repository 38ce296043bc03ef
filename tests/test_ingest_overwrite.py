"""``ingest --overwrite`` (and the desktop app's "overwrite the source"): the source's bytes are overwritten with
zeros before it is removed. A second hard link to the same file shows what became of its blocks."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import AgentProcess
from tests.retention_support import grant_me

CANARY = b"CANARY-rijksregisternummer-" * 4000


def _ingest_with_link(agent: AgentProcess, tmp_path: Path, *options: str) -> bytes:
    source, link = tmp_path / "agii.zip", tmp_path / "second-name-of-the-same-file"
    source.write_bytes(b"PK\x03\x04" + CANARY + os.urandom(16))
    os.link(source, link)
    done = agent.cli("ingest", *options, str(source))
    assert done.returncode == 0, done.stderr.decode()
    assert not source.exists()
    return link.read_bytes()


def test_overwrite_zeroes_the_source_before_removing_it(agent: AgentProcess, tmp_path: Path) -> None:
    grant_me(agent.home, "import")
    left = _ingest_with_link(agent, tmp_path, "--overwrite")
    assert len(left) == len(CANARY) + 20 and left == bytes(len(left))


def test_without_overwrite_the_source_is_only_removed(agent: AgentProcess, tmp_path: Path) -> None:
    grant_me(agent.home, "import")
    assert CANARY in _ingest_with_link(agent, tmp_path)
