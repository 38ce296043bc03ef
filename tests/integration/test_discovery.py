"""Where a client finds the agent: ``--home``, ``RETENTION_AGENT_HOME``, the system-wide pointer a shared
installation writes, then the per-user home — and a pointer that is malformed, or that an account other than
root could have written, is refused with an error naming the file and the fix.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_discovery.py.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from click.testing import CliRunner

from retention_agent.cli.main import main, register_commands
from retention_agent.i18n import catalogue as i18n
from tests.support.accounts import as_account, needs_root, temporary_account
from tests.support.agent import ME, AgentProcess, make_home
from tests.unit.test_discovery import (
    invoke,
    language_reset_fixture,  # noqa: F401 - the fixture `language_reset` (autouse)
    pointer_fixture,  # noqa: F401 - the fixture `pointer`
    write_pointer,
)


@needs_root
def test_whoami_and_status_say_which_agent_answered(pointer: Path, tmp_path: Path) -> None:
    home = make_home(tmp_path / "shared")
    write_pointer(pointer, home.root)
    agent = AgentProcess(home.root).start()
    try:
        whoami = invoke("whoami")
        assert whoami.exit_code == 0, whoami.stderr
        assert whoami.stdout.splitlines() == [f"{ME}: officer",
                                              f"Agent: {home.root} (the shared agent named in {pointer})"]
        status = invoke("--lang", "nl", "status")
        assert status.exit_code == 0, status.stderr
        assert status.stdout.splitlines()[0] == f"Agent: {home.root} (de gedeelde agent vermeld in {pointer})"
    finally:
        agent.stop()
    unreachable = invoke("whoami")
    assert unreachable.exit_code == 1
    assert f"The agent was looked for in {home.root} (the shared agent named in {pointer})." in unreachable.stderr


@needs_root
def test_whoami_for_an_account_not_on_the_list_says_so_as_the_guide_promises() -> None:
    register_commands()  # the account's child process cannot read this Python's files under /root:
    i18n.catalogue("nl")  # everything it runs is loaded beforehand
    base = Path(tempfile.mkdtemp(prefix="ra-whoami-", dir="/var/tmp"))  # reachable by other accounts
    base.chmod(0o755)
    home = make_home(base / "home")
    agent = AgentProcess(home.root).start()
    try:
        with temporary_account("ra-stranger") as stranger:
            def ask() -> tuple[int, str]:
                result = CliRunner().invoke(main, ["--lang", "nl", "--home", str(home.root), "whoami"])
                return result.exit_code, result.stdout

            code, out = as_account(stranger, ask)
            assert code == 0
            assert out.splitlines()[0] == f"{stranger.name}: geen (niet op de lijst)"
            audit = agent.cli("audit", "show", "--json")
            assert f'"actor": "{stranger.name}"' in audit.stdout.decode()  # refused by the agent, and audited
    finally:
        agent.stop()
        shutil.rmtree(base, ignore_errors=True)
