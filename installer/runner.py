"""Runners carry out what the installer decided: :class:`SystemRunner` for real, :class:`RecordingRunner` for
dry runs and tests (it records, optionally prints, and answers commands with canned results)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str = ""
    stderr: str = ""


class Runner(Protocol):
    def run(self, argv: Sequence[str]) -> Result: ...

    def write_file(self, path: str, content: bytes, mode: int) -> None: ...

    def make_dir(self, path: str) -> None: ...

    def remove(self, path: str) -> None: ...


class SystemRunner:
    """Runs commands (never through a shell) and changes files on this machine."""

    def run(self, argv: Sequence[str]) -> Result:
        try:
            done = subprocess.run(list(argv), capture_output=True, text=True, check=False)
        except OSError as exc:
            return Result(127, "", f"{argv[0]}: {exc.strerror or exc}")
        return Result(done.returncode, done.stdout, done.stderr)

    def write_file(self, path: str, content: bytes, mode: int) -> None:
        """Atomically: a reader (systemd, launchd) never sees half a file."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            Path(tmp).chmod(mode)
            Path(tmp).replace(target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def make_dir(self, path: str) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)

    def remove(self, path: str) -> None:
        target = Path(path)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


Responder = Callable[[tuple[str, ...]], Result]


# the readable lines of a dry run for what is no command, in English; the command line passes them translated
# (retention-agent's catalogue has them: its collector reads every MESSAGES dict)
MESSAGES = {"write": "# write {path} (mode {mode}, {size} bytes)", "mkdir": "# mkdir {path}",
            "remove": "# remove {path}"}


@dataclass
class RecordingRunner:
    """Changes nothing. ``calls`` lists what would be done, as readable lines (``$ cmd`` or ``# write …``);
    ``files`` holds the would-be file contents; ``respond`` answers each command (default: success);
    ``notes`` words the lines that are no command (default: ``MESSAGES``)."""

    respond: Responder = field(default=lambda argv: Result(0))
    echo: TextIO | None = None
    calls: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=lambda: dict(MESSAGES))

    def _note(self, line: str) -> None:
        self.calls.append(line)
        if self.echo is not None:
            self.echo.write(line + "\n")

    def run(self, argv: Sequence[str]) -> Result:
        self._note("$ " + shlex.join(argv))
        return self.respond(tuple(argv))

    def write_file(self, path: str, content: bytes, mode: int) -> None:
        self.files[path] = content
        self._note(self.notes["write"].format(path=path, mode=f"{mode:04o}", size=len(content)))

    def make_dir(self, path: str) -> None:
        self._note(self.notes["mkdir"].format(path=path))

    def remove(self, path: str) -> None:
        self._note(self.notes["remove"].format(path=path))
