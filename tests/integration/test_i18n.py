"""The Dutch catalogue is complete and sound, and people get Dutch by default and English on request.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_i18n.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.unit.test_i18n import ROOT

# ---- the real command line -------------------------------------------------------------------------------


def _status(home: Path, *options: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_AGENT_")}
    return subprocess.run([sys.executable, "-m", "retention_agent", *options, "--home", str(home), "status"],
                          capture_output=True, text=True, env=env, timeout=60, check=False, cwd=ROOT)


def test_the_cli_speaks_dutch_by_default_and_english_with_lang_en(tmp_path: Path) -> None:
    home = tmp_path / "no-home-here"

    dutch = _status(home)
    assert dutch.returncode != 0
    assert "De dienst retention-agent draait niet of is niet bereikbaar op" in dutch.stderr, dutch.stderr
    assert "tip: Start hem met 'retention-agent run'" in dutch.stderr, dutch.stderr
    assert "cannot be reached" not in dutch.stderr and "hint:" not in dutch.stderr

    english = _status(home, "--lang", "en")
    assert english.returncode == dutch.returncode
    assert "The retention-agent service is not running or cannot be reached at" in english.stderr, english.stderr
    assert "hint: Start it with 'retention-agent run'" in english.stderr, english.stderr
    assert "draait niet" not in english.stderr
    assert not home.exists()  # asking for the status creates nothing
