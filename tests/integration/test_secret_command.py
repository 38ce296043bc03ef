"""``secret set`` takes the value from a hidden prompt or from standard input, never from the command line
(where every account on the machine reads it in the process list), against the real agent."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from retention_agent.vault.keys import FileKeyStore
from tests.support.agent import AgentProcess
from tests.support.retention import wait_for


def stored(agent: AgentProcess, name: str) -> bytes | None:
    return FileKeyStore(agent.home / "keys").get(f"secret/{name}")


def test_a_value_on_the_command_line_is_refused_and_nothing_is_stored(agent: AgentProcess) -> None:
    done = agent.cli("secret", "set", "smtp", "--value", "Geheim-123")
    assert done.returncode == 2, done.stderr
    assert b"No such option '--value'" in done.stderr
    assert stored(agent, "smtp") is None


def test_the_value_is_read_from_standard_input(agent: AgentProcess) -> None:
    done = agent.cli("secret", "set", "mailbox-agii", input=b"Geheim-123\n")
    assert done.returncode == 0, done.stderr
    assert stored(agent, "mailbox-agii") == b"Geheim-123"
    assert b"Geheim-123" not in done.stdout + done.stderr
    assert b"Geheim-123" not in (agent.home / "agent.db").read_bytes()


def test_empty_or_several_lines_on_standard_input_are_a_usage_error(agent: AgentProcess) -> None:
    for given in (b"", b"\n", b"one\ntwo\n"):
        done = agent.cli("secret", "set", "smtp", input=given)
        assert done.returncode == 2, (given, done.stderr)
        assert b"Traceback" not in done.stderr
    assert stored(agent, "smtp") is None


def test_on_a_terminal_the_value_is_asked_twice_without_being_shown(agent: AgentProcess) -> None:
    pid, terminal = pty.fork()
    if pid == 0:  # the child: the real command line on a pseudo-terminal
        os.execve(sys.executable, [sys.executable, "-m", "retention_agent", "--home", str(agent.home), "secret",
                                   "set", "smtp"], {**os.environ, "RETENTION_AGENT_LANG": "en"})
    shown = b""
    try:
        shown += _read_until(terminal, b"Password or token: ")
        os.write(terminal, b"Geheim-456\n")
        shown += _read_until(terminal, b"Repeat for confirmation: ")
        os.write(terminal, b"Geheim-456\n")
        shown += _read_until(terminal, b"is stored in the agent's key store")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 0, shown
    assert b"Geheim-456" not in shown  # not echoed
    assert stored(agent, "smtp") == b"Geheim-456"


def _read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        left = deadline - time.monotonic()
        assert left > 0, f"waited for {marker!r}; the terminal showed {data!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            data += chunk
    assert marker in data, data
    return data


def test_the_process_list_never_holds_the_value(agent: AgentProcess) -> None:
    """While the command waits for its value, its command line is all any account could read."""
    command = subprocess.Popen([sys.executable, "-m", "retention_agent", "--home", str(agent.home), "secret",
                                "set", "smtp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert command.stdin is not None
    try:
        def cmdline() -> list[bytes]:
            return Path(f"/proc/{command.pid}/cmdline").read_bytes().split(b"\0")

        # until the child has executed Python, its command line is empty or still pytest's
        wait_for(lambda: b"retention_agent" in cmdline(), 30, "the command started")
        seen = cmdline()
        assert seen[-3:] == [b"set", b"smtp", b""] or seen[-2:] == [b"set", b"smtp"]
    finally:
        _out, err = command.communicate(b"Geheim-789\n", timeout=60)
    assert command.returncode == 0, err
    assert stored(agent, "smtp") == b"Geheim-789"
