"""Key stores: the private file store, the OS key store through ``keyring``, and refusal of unsafe backends.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_keystore.py.
"""

from __future__ import annotations

import pytest

from retention_agent.system.home import Home
from tests.support.agent import cli

# ---- through the real agent process -------------------------------------------------------------------


@pytest.mark.parametrize(("backend", "why"), [
    ("keyring.backends.fail.Keyring", "no key store is available on this system"),  # a headless machine
    ("keyrings.alt.file.PlaintextKeyring", "it keeps keys in a file readable by anyone who can read the account's"),
])
def test_the_agent_refuses_an_unsafe_key_store(home: Home, backend: str, why: str) -> None:
    text = home.config.read_text()
    home.config.write_text(text.replace('key_store = "file"', 'key_store = "keyring"'))
    result = cli(home.root, "run", env={"PYTHON_KEYRING_BACKEND": backend}, timeout=30)
    assert result.returncode == 1, result.stderr
    stderr = result.stderr.decode()
    assert f"The key store backend {backend} is not safe for keys: {why}" in stderr
    assert "Changing key_store in the configuration does not help" in stderr  # its keys are in that store
    assert "Traceback" not in stderr
    assert not home.socket.exists()
