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
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import retention_agent.cli.main  # noqa: F401 - imported before any fork: the child cannot read /root
from retention_agent.system.home import Home
from tests.accounts import create_account, in_child_as, remove_account
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
        entry = create_account(self.name, home=True)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        return self

    def __exit__(self, *exc: object) -> None:
        remove_account(self.name, home=True)


def run_as(account: TempAccount, fn: Callable[[], Any]) -> dict[str, Any]:
    """Run ``fn`` in a forked child as ``account``; return its value or the error it raised, as plain data.

    ``{"value": ...}`` on success, ``{"error": type name, "error_id": ..., "exit_code": ..., "message": ...}``
    when it raised, ``{"exit": code, "stdout": ..., "stderr": ...}`` when it called ``sys.exit``.
    """
    return dict(json.loads(in_child_as(account.uid, account.gid,
                                       lambda: json.dumps(_call(fn), default=str).encode())))


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
    from retention_agent.cli.main import main

    if home_option:
        args = ("--home", str(home.root), *args)
    else:
        os.environ["RETENTION_AGENT_HOME"] = str(home.root)
    main.main(args=list(args), prog_name="retention-agent")
