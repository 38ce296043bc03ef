"""The machine's real shared-agent pointer, /etc/retention-agent/client.toml, for the tests that install shared
mode for real and then use the command line without --home.

Only one such test at a time on this machine: an exclusive lock that every checkout's test run takes (test runs
of several branches may run side by side). Whatever was in /etc/retention-agent before is put back afterwards,
whether the test passed or not; a test killed with SIGKILL leaves its pointer behind, which the next run's
restore does not undo (it names a home that no longer exists: clients then say the agent cannot be reached).
"""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retention_agent.system.home import POINTER_PATHS

POINTER = Path(POINTER_PATHS["linux"])
LOCK = Path("/var/tmp/retention-agent-test-pointer.lock")


@contextmanager
def real_pointer() -> Iterator[Path]:
    """Hold the machine's pointer for the duration; yields its path."""
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = Path(tempfile.mkdtemp(prefix="ra-pointer-saved-"))
        folder = POINTER.parent
        existed = folder.exists()
        if existed:
            shutil.copytree(folder, saved / "folder", symlinks=True)
        try:
            yield POINTER
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            if existed:
                shutil.copytree(saved / "folder", folder, symlinks=True)
            shutil.rmtree(saved, ignore_errors=True)
