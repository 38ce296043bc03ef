"""Real OS accounts for tests (root only), and acting as one from a forked child of the test process.

The venv's Python lives under /root, which other accounts cannot read or execute, so another account cannot
start a new Python: a child forked after every import becomes the account with setuid() and calls the library
(or the command line, :func:`cli_in_process`) directly. The agent sees the child's uid through SO_PEERCRED.

- :func:`create_account` / :func:`remove_account`, and :func:`temporary_account` around them, give an
  :class:`Account`; :func:`Account.named` looks up one made elsewhere (by the installer, say).
- :func:`run_as` runs a function as an account and returns what happened as plain data;
  :func:`as_account` returns its value or raises again the catalogue error it met.
- :func:`traversable_folder` (and the ``shared_root`` fixture) is a folder other accounts may traverse,
  unlike pytest's own temporary folders (0700); ``accounts`` is a reader and an outsider for the session.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import retention_agent.cli.main  # noqa: F401 - imported before any fork: the child cannot read /root
from retention_agent.errors import RetentionAgentError
from retention_agent.i18n import catalogue as i18n
from retention_agent.system.home import Home

# A forked child that became another account cannot read this venv under /root: Babel and the locale data with
# which dates and times are shown to people are loaded now, before any fork.
for _lang in i18n.LANGUAGES:
    i18n.format_moment("2026-01-01T00:00:00Z", _lang)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="creates operating-system accounts and switches to "
                                                          "them: needs root (CI runs the suite as root)")


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int

    @classmethod
    def named(cls, name: str) -> Account:
        entry = pwd.getpwnam(name)
        return cls(name, entry.pw_uid, entry.pw_gid)


def create_account(name: str, *, home: bool = False) -> Account:
    """A new login-less OS account (and its group); ``home`` also makes its home folder."""
    subprocess.run(["useradd", "--create-home" if home else "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True)
    return Account.named(name)


def remove_account(name: str, *, home: bool = False) -> None:
    subprocess.run(["userdel", *(["-r"] if home else []), name], capture_output=True, check=False)
    subprocess.run(["groupdel", name], capture_output=True, check=False)


@contextlib.contextmanager
def temporary_account(prefix: str = "ra-test", *, home: bool = False) -> Iterator[Account]:
    """A new login-less account with a unique name, removed afterwards (with its home) whatever happened."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    account = create_account(name, home=home)
    try:
        yield account
    finally:
        remove_account(name, home=home)


@dataclass(frozen=True)
class Accounts:
    reader: Account  # gets roles from the tests that use it
    outsider: Account  # never on the staff list


@pytest.fixture(scope="session", name="accounts")
def accounts_fixture() -> Iterator[Accounts]:
    """Two fresh OS accounts for the whole session (root only: CI runs as root)."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to create OS accounts (CI runs as root)")
    with temporary_account("rat-reader") as reader, temporary_account("rat-outsider") as outsider:
        yield Accounts(reader, outsider)


@contextlib.contextmanager
def traversable_folder() -> Iterator[Path]:
    """A temporary folder that other accounts may traverse but not list (pytest's tmp_path is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="retention-agent-test-"))
    try:
        folder.chmod(0o711)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(name="shared_root")
def shared_root_fixture() -> Iterator[Path]:
    """A folder every account can traverse (0711), unlike pytest's own temporary folders."""
    with traversable_folder() as folder:
        yield folder


def in_child_as(uid: int, gid: int, produce: Callable[[], bytes]) -> bytes:
    """Run ``produce`` in a forked child that has dropped to ``uid``/``gid``; return the bytes it produced.

    The child never returns into pytest: whatever happens it leaves through ``os._exit``, and a failure is
    printed there and fails the caller.
    """
    pid, read_end = fork_as(uid, gid, produce)
    with os.fdopen(read_end, "rb") as incoming:
        data = incoming.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child process failed (see the captured stderr)"
    return data


def fork_as(uid: int, gid: int, produce: Callable[[], bytes]) -> tuple[int, int]:
    """Fork a child that drops to ``uid``/``gid`` and writes what ``produce`` returns to a pipe; return at once
    with the child's pid and the pipe's read end (for children that must run side by side)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 70
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            data = produce()
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _account(account: Account | str) -> Account:
    return account if isinstance(account, Account) else Account.named(account)


def run_as(account: Account | str, fn: Callable[[], Any]) -> dict[str, Any]:
    """Run ``fn`` in a forked child as ``account``; return its value or what went wrong, as plain data.

    ``{"value": ...}`` on success; ``{"error": class name, "error_id": ..., "exit_code": ..., "message": ...}``
    when it raised (``error_id`` and ``exit_code`` are None for an exception outside the catalogue);
    ``{"exit": code, "stdout": ..., "stderr": ...}`` when it called ``sys.exit``.
    """
    who = _account(account)
    return dict(json.loads(in_child_as(who.uid, who.gid, lambda: json.dumps(_call(fn), default=str).encode())))


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


def as_account(account: Account | str, action: Callable[[], Any]) -> Any:
    """Run ``action`` in a child of this process that has become ``account``; return its result, or raise
    again the catalogue error it met (same class)."""
    who = _account(account)

    def outcome() -> bytes:
        try:
            result: tuple[str, Any] = ("ok", action())
        except RetentionAgentError as exc:
            result = ("error", (type(exc), exc.params))
        except BaseException as exc:
            result = ("crash", repr(exc))
        return pickle.dumps(result)

    kind, value = pickle.loads(in_child_as(who.uid, who.gid, outcome))
    if kind == "error":
        cls, params = value
        raise cls(**params)
    assert kind == "ok", value
    return value


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


def cli_as(account: Account, home: Path, *args: str) -> dict[str, Any]:
    """The real command line (in-process, through click) run by ``account``: exit code and output.

    The home is given as ``RETENTION_AGENT_HOME``: ``--home`` is a ``click.Path`` that insists on a readable
    folder, and a shared home (0711) is not readable by staff accounts.
    """
    from retention_agent.cli.main import main

    def invoke() -> dict[str, Any]:
        result = CliRunner().invoke(main, list(args), env={"RETENTION_AGENT_HOME": str(home)},
                                    catch_exceptions=True)
        crashed = result.exception if not isinstance(result.exception, SystemExit) else None
        return {"exit": result.exit_code, "stdout": result.stdout_bytes.decode(errors="replace"),
                "stdout_bytes": result.stdout_bytes.hex(), "stderr": result.stderr,
                "crash": repr(crashed) if crashed else None}

    outcome = run_as(account, invoke)
    assert "value" in outcome, outcome
    done: dict[str, Any] = outcome["value"]
    return done
