"""The documentation: the generated references are current and complete, the guides cover what their readers
meet, links resolve, and the DPO's verification commands in docs/dpo-guide.md work — executed, as written,
against a real proof made by a real purge and a real signed report.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_docs.py.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from retention_agent.clock import ManualClock
from retention_agent.runtime.context import AgentContext
from tests.support.agent import ME
from tests.unit.test_docs import (
    EXAMPLE_ID,
    allowed_signers,
    command_after,
    purged_fixture,  # noqa: F401 - the fixture `purged`
    sh,
)

EXAMPLE_REPORT = "report-2026-10"


def test_the_proof_verify_command_of_the_dpo_guide_works_offline(
        purged: tuple[Path, str, dict[str, object]]) -> None:
    folder, delivery, _doc = purged
    command = command_after("dpo-verify-tool").replace(EXAMPLE_ID, delivery)
    assert command.startswith("retention-agent ")
    argv = [sys.executable, "-m", "retention_agent", *command.split()[1:]]
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "RETENTION_AGENT_LANG": "en"})
    assert done.returncode == 0, done.stderr
    assert f"Proof verified: delivery {delivery} was destroyed" in done.stdout


def test_the_report_commands_of_the_dpo_guide_verify_a_real_report(ctx: AgentContext, tmp_path: Path) -> None:
    from retention_agent.reports.generate import make_report
    from retention_agent.reports.period import parse_period

    assert isinstance(ctx.clock, ManualClock)
    ctx.ingest.receive(io.BytesIO(b"%PDF-1.4\n% in october\n"), channel="manual", source="manual",
                       quarantine=False, actor=ME)
    ctx.clock.advance(timedelta(days=1))
    meta = make_report(ctx, parse_period("2026-10"))
    folder = tmp_path / "rapporten"
    folder.mkdir()
    for fmt in ("json", "sig"):
        shutil.copyfile(ctx.home.reports / meta["files"][fmt], folder / meta["files"][fmt])
    (folder / "allowed_signers").write_text(allowed_signers(ctx) + "\n")
    name = Path(meta["files"]["json"]).stem
    command = command_after("dpo-verify-report-linux").replace(EXAMPLE_REPORT, name)
    done = sh(command, folder)
    assert done.returncode == 0, done.stderr
    assert 'Good "dpo-report" signature' in done.stdout + done.stderr

    folder_command = command_after("dpo-verify-folder")
    assert folder_command == "retention-agent dpo verify rapporten/"
    argv = [sys.executable, "-m", "retention_agent", *folder_command.split()[1:]]
    checked = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin", "RETENTION_AGENT_LANG": "en"})
    assert checked.returncode == 0, checked.stdout + checked.stderr
