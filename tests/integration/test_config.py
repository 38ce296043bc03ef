"""Configuration: documented defaults, every key round-trips, and bad files get errors naming file and key.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_config.py.
"""

from __future__ import annotations

import pytest

from retention_agent.system.home import Home
from tests.support.agent import cli

# ---- through the real process ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ('municipality = "De Panne"\nkey_store = "file"\nlanguag = "nl"\n', "did you mean 'language'?"),
    ('municipality = "De Panne\n', "cannot be read"),
    ('municipality = "De Panne"\nkey_store = "file"\n[retention]\ntick_seconds = 99999999999999999\n',
     "retention.tick_seconds: must be at most 3600"),
])
def test_the_agent_refuses_to_start_with_a_broken_config(home: Home, text: str, expected: str) -> None:
    home.config.write_text(text, encoding="utf-8")
    result = cli(home.root, "run", timeout=30)
    assert result.returncode == 1, result.stderr
    stderr = result.stderr.decode()
    assert stderr.startswith("retention-agent: ")
    assert str(home.config) in stderr
    assert expected in stderr
    assert "Traceback" not in stderr
    assert not home.socket.exists()
