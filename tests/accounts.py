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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from retention_agent.errors import RetentionAgentError

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="creates operating-system accounts: needs root")


@contextmanager
def temporary_account(prefix: str = "ra-test") -> Iterator[str]:
    """A new login-less account with a unique name, removed afterwards whatever happened."""
    name = f"{prefix}-{secrets.token_hex(4)}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
        subprocess.run(["groupdel", name], capture_output=True, check=False)


def as_account(account: str, action: Callable[[], Any]) -> Any:
    """Run ``action`` in a child of this process that has become ``account``; return its result, or raise
    again the catalogue error it met (same class)."""
    entry = pwd.getpwnam(account)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            outcome: tuple[str, Any] = ("ok", action())
        except RetentionAgentError as exc:
            outcome = ("error", (type(exc), exc.params))
        except BaseException as exc:
            outcome = ("crash", repr(exc))
        with os.fdopen(write_fd, "wb") as out:
            out.write(pickle.dumps(outcome))
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as source:
        data = source.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "error":
        cls, params = value
        raise cls(**params)
    assert kind == "ok", value
    return value
