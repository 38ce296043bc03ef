"""Test accounts: create an OS account for one test (root only), and act as it from a forked child.

The venv's Python lives under /root, which other accounts cannot read, so a child of the test process
(forked after every import) becomes the account with setuid() and calls the library directly.
"""

from __future__ import annotations

import os
import pickle
import pwd
import secrets
import subprocess
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from retention_agent.errors import RetentionAgentError
from retention_agent.i18n import catalogue as i18n

# A forked child that became another account cannot read this venv under /root: Babel and the locale data with
# which dates and times are shown to people are loaded now, before any fork.
for _lang in i18n.LANGUAGES:
    i18n.format_moment("2026-01-01T00:00:00Z", _lang)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="creates operating-system accounts: needs root")


def create_account(name: str, *, home: bool = False) -> pwd.struct_passwd:
    """A new login-less OS account (and its group); ``home`` also makes its home folder."""
    subprocess.run(["useradd", "--create-home" if home else "--no-create-home", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True)
    return pwd.getpwnam(name)


def remove_account(name: str, *, home: bool = False) -> None:
    subprocess.run(["userdel", *(["-r"] if home else []), name], capture_output=True, check=False)
    subprocess.run(["groupdel", name], capture_output=True, check=False)


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


@contextmanager
def temporary_account(prefix: str = "ra-test") -> Iterator[str]:
    """A new login-less account with a unique name, removed afterwards whatever happened."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    create_account(name)
    try:
        yield name
    finally:
        remove_account(name)


def as_account(account: str, action: Callable[[], Any]) -> Any:
    """Run ``action`` in a child of this process that has become ``account``; return its result, or raise
    again the catalogue error it met (same class)."""
    entry = pwd.getpwnam(account)

    def outcome() -> bytes:
        try:
            result: tuple[str, Any] = ("ok", action())
        except RetentionAgentError as exc:
            result = ("error", (type(exc), exc.params))
        except BaseException as exc:
            result = ("crash", repr(exc))
        return pickle.dumps(result)

    kind, value = pickle.loads(in_child_as(entry.pw_uid, entry.pw_gid, outcome))
    if kind == "error":
        cls, params = value
        raise cls(**params)
    assert kind == "ok", value
    return value
