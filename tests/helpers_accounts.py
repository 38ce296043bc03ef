"""Helpers for tests that need a real agent shared by a module, or a real second OS account.

- :func:`shared_agent` starts the real agent on a fresh home in a folder every account can traverse (0711),
  with the same hermetic environment as ``conftest.hermetic_environment``, for module-scoped fixtures.
- :class:`TempAccount` creates an OS account with ``useradd`` and removes it with ``userdel -r``.
- :func:`run_as` runs a function in a forked child that has dropped to another account. The Python
  installation lives under /root (0700), so another account could not start it, but a forked child keeps
  everything that was imported before the fork; the agent sees the child's uid through SO_PEERCRED.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import retention_agent.cli  # noqa: F401 - imported before any fork: the child cannot read /root
from retention_agent.home import Home
from tests.conftest import AgentProcess, make_home

IS_ROOT = os.geteuid() == 0
NEEDS_ROOT = pytest.mark.skipif(not IS_ROOT, reason="creating OS accounts and switching to them needs root; "
                                                    "CI runs the suite as root")


@contextlib.contextmanager
def hermetic() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("RETENTION_AGENT_", "PYTHON_KEYRING")):
                patch.delenv(name)
        patch.setenv("RETENTION_AGENT_LANG", "en")
        yield


@contextlib.contextmanager
def traversable_folder() -> Iterator[Path]:
    """A temporary folder that other accounts may traverse but not list (pytest's tmp_path is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="retention-agent-test-"))
    try:
        folder.chmod(0o711)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def shared_agent() -> Iterator[AgentProcess]:
    """The real agent on a fresh home (file key store, current account as officer), stopped at the end."""
    with traversable_folder() as folder, hermetic():
        home = make_home(folder / "home")
        process = AgentProcess(home.root).start()
        try:
            yield process
        finally:
            if process.stop() != 0:  # pragma: no cover - shown in the failing test's output
                print(process.output.read_text(errors="replace"), file=sys.stderr)


class TempAccount:
    """A real OS account, unique to this run, removed again with its home."""

    def __init__(self) -> None:
        self.name = f"rat{secrets.token_hex(4)}"

    def __enter__(self) -> TempAccount:
        subprocess.run(["useradd", "--create-home", "--shell", "/usr/sbin/nologin", self.name], check=True,
                       capture_output=True)
        entry = pwd.getpwnam(self.name)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["userdel", "-r", self.name], check=False, capture_output=True)


def run_as(account: TempAccount, fn: Callable[[], Any]) -> dict[str, Any]:
    """Run ``fn`` in a forked child as ``account``; return its value or the error it raised, as plain data.

    ``{"value": ...}`` on success, ``{"error": type name, "error_id": ..., "exit_code": ..., "message": ...}``
    when it raised, ``{"exit": code, "stdout": ..., "stderr": ...}`` when it called ``sys.exit``.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(account.gid)
            os.setuid(account.uid)
            result = _call(fn)
            with os.fdopen(write_end, "wb") as out:
                out.write(json.dumps(result, default=str).encode())
        except BaseException:
            traceback.print_exc()
            status = 70
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as incoming:
        data = incoming.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child process failed (see the captured stderr)"
    return dict(json.loads(data))


def _call(fn: Callable[[], Any]) -> dict[str, Any]:
    stdout, stderr = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = stdout, stderr
    try:
        return {"value": fn()}
    except SystemExit as exc:
        return {"exit": exc.code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}
    except Exception as exc:
        return {"error": type(exc).__name__, "error_id": getattr(exc, "error_id", None),
                "exit_code": getattr(exc, "exit_code", None), "message": str(exc)}
    finally:
        sys.stdout, sys.stderr = saved


def cli_in_process(home: Home, *args: str, home_option: bool = False) -> None:
    """The real command line, in this process (for a forked child that cannot start a new Python).

    The home is named by ``$RETENTION_AGENT_HOME`` (this is a child that exits afterwards), or by ``--home``.
    """
    from retention_agent.cli import main

    if home_option:
        args = ("--home", str(home.root), *args)
    else:
        os.environ["RETENTION_AGENT_HOME"] = str(home.root)
    main.main(args=list(args), prog_name="retention-agent")
