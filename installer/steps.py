"""Installation steps as data: one list drives the real installation, the dry run and the .cmd scripts.

A platform module builds a list of steps (pure); :func:`execute` performs it through a runner
(``runner.py``); ``winsteps.py`` turns the Windows list into cmd.exe lines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from .params import encode_file
from .runner import Result, Runner


@dataclass(frozen=True)
class FileRef:
    """A file from ``render()``, found where the definitions were written (for a .cmd: next to the script)."""

    name: str


Arg = str | FileRef


@dataclass(frozen=True)
class Run:
    """Run a program. ``unless``: a probe; when it succeeds the step is skipped (e.g. "the account exists").
    ``check=False``: a failure is expected or harmless (stopping what is not running)."""

    argv: tuple[Arg, ...]
    why: str = ""
    unless: tuple[str, ...] = ()
    check: bool = True


@dataclass(frozen=True)
class WriteFile:
    """Write the rendered file ``name`` to ``path``."""

    path: str
    name: str
    mode: int = 0o644


@dataclass(frozen=True)
class MakeDir:
    path: str


@dataclass(frozen=True)
class Remove:
    """Remove a file or a whole tree; a missing one is fine."""

    path: str


Step = Run | WriteFile | MakeDir | Remove


@dataclass(frozen=True)
class ServiceStatus:
    installed: bool
    running: bool | None  # None: this platform cannot tell without parsing localised output
    detail: str = ""


class InstallError(RuntimeError):
    """A step of the installation failed; the message names the command and shows its error output."""

    def __init__(self, argv: Sequence[str], result: Result) -> None:
        last = (result.stderr or result.stdout).strip().splitlines()
        super().__init__(
            f"'{' '.join(argv)}' failed with exit code {result.returncode}"
            + (f": {last[-1]}" if last else "")
            + ". Nothing after this step was done; fix the cause and run the installation again."
        )
        self.argv = list(argv)
        self.result = result


class UninstallRefusedError(RuntimeError):
    """Uninstalling now would leave deliveries in the vault with nobody to purge them on time."""

    def __init__(self, count: int, *, after_purge: bool = False) -> None:
        self.count = count
        if after_purge:
            text = (f"The purge left {count} deliveries in the vault; nothing was uninstalled. "
                    "Check 'retention-agent status' (held deliveries are not purged) and try again.")
        else:
            text = (f"The vault still holds {count} deliveries with personal data; uninstalling now would "
                    "leave them without anyone to purge them on time. Purge them first, with deletion proofs "
                    "(--purge), or keep the home for a later installation (--keep-home).")
        super().__init__(text)


def guard_uninstall(
    has_live_deliveries: Callable[[], int],
    *,
    purge_first: bool,
    keep_home: bool,
    purge_all: Callable[[], object] | None,
) -> None:
    """Refuse to remove a home that still holds deliveries, unless they are purged first or it is kept."""
    count = has_live_deliveries()
    if count == 0:
        return
    if purge_first:
        if purge_all is None:
            raise ValueError("purge_first=True needs the purge_all callable")
        purge_all()
        left = has_live_deliveries()
        if left:
            raise UninstallRefusedError(left, after_purge=True)
        return
    if not keep_home:
        raise UninstallRefusedError(count)


def execute(steps: Sequence[Step], runner: Runner, files: Mapping[str, str], files_dir: str = "") -> None:
    """Perform ``steps`` in order; stop at the first failed checked command (:class:`InstallError`)."""
    for step in steps:
        if isinstance(step, Run):
            argv = [str(Path(files_dir) / a.name) if isinstance(a, FileRef) else a for a in step.argv]
            if step.unless and runner.run(step.unless).returncode == 0:
                continue
            result = runner.run(argv)
            if step.check and result.returncode != 0:
                raise InstallError(argv, result)
        elif isinstance(step, WriteFile):
            runner.write_file(step.path, encode_file(step.name, files[step.name]), step.mode)
        elif isinstance(step, MakeDir):
            runner.make_dir(step.path)
        else:
            if max(len(PurePosixPath(step.path).parts), len(PureWindowsPath(step.path).parts)) < 3:
                raise ValueError(f"refusing to remove {step.path!r}: too close to the file system's root")
            runner.remove(step.path)
