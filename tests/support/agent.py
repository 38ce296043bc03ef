"""The real agent process, initialised homes, the real CLI, and the hermetic environment every test runs in."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from retention_agent.clock import ManualClock
from retention_agent.runtime.agent import build_context
from retention_agent.runtime.context import AgentContext
from retention_agent.system import home as home_module
from retention_agent.system.accounts import current_account
from retention_agent.system.home import Home
from retention_agent.system.init_home import init_home
from tests.support.accounts import traversable_folder

ME = current_account()


@pytest.fixture(autouse=True)
def hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting of the developer's machine leaks into a test (borg's conftest does the same), nor a shared
    agent installed on it: in this process the system-wide pointer is looked for where none exists (the
    tests that want one move it into their own folder; the real one is written under a lock)."""
    _clear_environment(monkeypatch)
    monkeypatch.setattr(home_module, "system_pointer", lambda: Path("/nonexistent/retention-agent/client.toml"))


def _clear_environment(patch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("RETENTION_AGENT_", "PYTHON_KEYRING")):
            patch.delenv(name)
    patch.setenv("RETENTION_AGENT_LANG", "en")


@contextlib.contextmanager
def hermetic() -> Iterator[None]:
    """The hermetic environment outside a function-scoped fixture (module-scoped fixtures, helpers)."""
    with pytest.MonkeyPatch.context() as patch:
        _clear_environment(patch)
        yield


def make_home(root: Path, *, municipality: str = "De Panne", key_store: str = "file",
              inboxes: list[str] | None = None, clock: ManualClock | None = None, sweep_copies: bool = False) -> Home:
    home = Home(root)
    init_home(home, municipality=municipality, officer=ME, officer_name="Officer", key_store=key_store,
              inboxes=inboxes or [], clock=clock or ManualClock())
    if not sweep_copies:  # the tests run as root: an agent must not sweep (and erase in) root's folders and /tmp
        text = home.config.read_text()
        home.config.write_text(text.replace("[retention]\n", "[copies]\nsweep = false\n\n[retention]\n", 1))
    return home


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return make_home(tmp_path / "home")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def ctx(tmp_path: Path, clock: ManualClock) -> Iterator[AgentContext]:
    """An in-process agent context on a fresh home, driven by a manual clock (no API server)."""
    home = make_home(tmp_path / "home", clock=clock)
    context = build_context(home, clock)
    from retention_agent.runtime import capabilities

    capabilities.register_operations()
    yield context
    context.store.close()


def cli(home: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Run the real command line (``python -m retention_agent``) against ``home``."""
    return subprocess.run([sys.executable, "-m", "retention_agent", "--home", str(home), *args],
                          input=input, capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)


@dataclass
class AgentProcess:
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def output(self) -> Path:
        """What the agent process printed (its log proper is HOME/agent.log)."""
        return self.home.parent / f"{self.home.name}-agent-output.txt"

    def start(self, timeout: float = 60) -> AgentProcess:  # many agents may start at once on two loaded cores
        env = {**os.environ, "RETENTION_AGENT_TESTING": "1", **self.env}
        command = [sys.executable, "-m", "retention_agent", "--home", str(self.home), "run"]
        with open(self.output, "ab") as output:
            self.proc = subprocess.Popen(command, env=env, stdout=output, stderr=output)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited: {self.output.read_text(errors='replace')}")
            if socket_answers(self.home / "agent.sock"):
                return self
            time.sleep(0.05)
        raise AssertionError(f"agent did not start in {timeout} s: {self.output.read_text(errors='replace')[-2000:]}")

    def cli(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        return cli(self.home, *args, input=input, env=env, timeout=timeout)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)


def socket_answers(path: Path) -> bool:
    """Whether something accepts connections on the Unix socket at ``path``."""
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


@pytest.fixture
def agent(home: Home) -> Iterator[AgentProcess]:
    process = AgentProcess(home.root).start()
    yield process
    process.stop()


@pytest.fixture
def require_ssh_keygen() -> None:
    """Fail, not skip, when a tool the test command installs is missing: a skip would hide a broken setup."""
    import shutil

    if shutil.which("ssh-keygen") is None:
        pytest.fail("ssh-keygen is missing: run scripts/test.sh, which installs openssh-client")


@pytest.fixture
def require_systemd_analyze() -> None:
    import shutil

    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: run scripts/test.sh, which installs systemd")


@contextlib.contextmanager
def shared_agent(folder: Path | None = None) -> Iterator[AgentProcess]:
    """The real agent on a fresh home (file key store, current account as officer) in ``folder``, or in a
    folder of its own, that other accounts can traverse (they reach its socket); stopped at the end."""
    with contextlib.ExitStack() as stack:
        root = folder if folder is not None else stack.enter_context(traversable_folder())
        stack.enter_context(hermetic())
        process = AgentProcess(make_home(root / "home").root).start()
        try:
            yield process
        finally:
            if process.stop() != 0:  # pragma: no cover - shown in the failing test's output
                print(process.output.read_text(errors="replace"), file=sys.stderr)


@pytest.fixture(name="shared_agent")
def shared_agent_fixture(shared_root: Path) -> Iterator[AgentProcess]:
    """A real agent whose home (in ``shared_root``) other accounts can reach: its socket; nothing else is theirs
    to read."""
    with shared_agent(shared_root) as process:
        yield process
