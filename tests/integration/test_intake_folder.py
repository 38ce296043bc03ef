"""Drop-folder intake against real files, real inotify (and polling) events and a real watcher thread.

The tests of this subject that run the real agent process, Dovecot or OS accounts; the rest are in
tests/unit/test_intake_folder.py.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from retention_agent.intake.folder_rules import ERR_UNREADABLE
from tests.unit.test_intake_folder import entries, manual_watcher


def test_unreadable_file_is_retried_until_readable() -> None:
    """As root (the usual CI case) a forked child drops to uid 65534, for whom chmod 000 means something."""
    folder = Path(tempfile.mkdtemp(prefix="intake-unreadable-"))
    try:
        folder.chmod(0o777)
        target = folder / "lijst.xlsx"
        target.write_bytes(b"secret")
        if os.geteuid() != 0:
            target.chmod(0)
            assert _unreadable_scenario(folder, lambda: target.chmod(0o600)) == 0
            return
        os.chown(target, 65534, 65534)
        target.chmod(0)
        assert _run_as_nobody(folder, lambda: target.chmod(0o600)) == 0
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


def _unreadable_scenario(folder: Path, make_readable: Callable[[], None]) -> int:
    """0 when the file stays while unreadable (error id reported) and is taken once readable."""
    watcher, deliver, _clock = manual_watcher(folder, settle_seconds=0)
    first = watcher.scan_once()
    if first.taken or entries(folder) != {"lijst.xlsx"}:
        return 1
    if watcher.status.last_error_id != ERR_UNREADABLE:
        return 2
    make_readable()
    if watcher.scan_once().taken != 1 or entries(folder) or deliver.delivered() != {b"secret"}:
        return 3
    return 0


def _run_as_nobody(folder: Path, make_readable: Callable[[], None]) -> int:
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: no pytest machinery from here on, only os._exit
        code = 9
        try:
            os.setgid(65534)
            os.setuid(65534)

            def ask_parent() -> None:
                os.write(to_parent_w, b"r")
                os.read(to_child_r, 1)

            code = _unreadable_scenario(folder, ask_parent)
        finally:
            os._exit(code)
    os.read(to_parent_r, 1)
    make_readable()
    os.write(to_child_w, b"g")
    _pid, status = os.waitpid(pid, 0)
    for fd in (to_parent_r, to_parent_w, to_child_r, to_child_w):
        os.close(fd)
    return os.waitstatus_to_exitcode(status)
