"""The one driver of every platform's installation: it performs a platform's step lists through a runner.

A platform module (``linux.py``, ``macos.py``, ``windows.py``) only says what to do: ``install_steps``,
``uninstall_steps`` (pure lists of :mod:`.steps`) and ``status``. Installing, uninstalling (after the guard
that keeps a vault with deliveries from being orphaned) and reporting go through here, the same for all three.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Protocol

from . import linux, macos, windows
from .definitions import render
from .params import ServiceParams
from .runner import Runner
from .steps import ServiceStatus, Step, execute, guard_uninstall


class PlatformSteps(Protocol):
    """What every platform module offers the driver beside its ``install_steps`` (whose arguments differ:
    Windows needs the folder the task XML is written to)."""

    def uninstall_steps(self, params: ServiceParams, *, keep_home: bool) -> list[Step]: ...

    def status(self, params: ServiceParams, runner: Runner) -> ServiceStatus: ...


_PLATFORMS: dict[str, PlatformSteps] = {"linux": linux, "windows": windows, "macos": macos}


def platform_steps(name: str) -> PlatformSteps:
    """The module that says what to do on platform ``name``."""
    if name not in _PLATFORMS:
        raise ValueError(f"unknown platform {name!r}: use linux, windows or macos")
    return _PLATFORMS[name]


def install(params: ServiceParams, runner: Runner, *, start: bool = True) -> None:
    """Register (and unless ``start=False`` start) the service and the desktop app for ``params``."""
    if params.platform == "windows":  # schtasks reads the task XML from a folder: the steps write it there first
        with tempfile.TemporaryDirectory(prefix="retention-agent-") as files_dir:
            execute(windows.install_steps(params, files_dir, start=start), runner, render(params), files_dir)
        return
    steps = (linux.install_steps(params, start=start) if params.platform == "linux"
             else macos.install_steps(params, start=start))
    execute(steps, runner, render(params))


def uninstall(
    params: ServiceParams,
    runner: Runner,
    *,
    has_live_deliveries: Callable[[], int],
    purge_all: Callable[[], object] | None = None,
    purge_first: bool = False,
    keep_home: bool = False,
) -> None:
    """Refuse while the vault holds deliveries (unless they are purged first or the home is kept), then remove."""
    platform = platform_steps(params.platform)
    guard_uninstall(has_live_deliveries, purge_first=purge_first, keep_home=keep_home, purge_all=purge_all)
    execute(platform.uninstall_steps(params, keep_home=keep_home), runner, {})


def status(params: ServiceParams, runner: Runner) -> ServiceStatus:
    """Whether the service is installed and running, as the platform can tell."""
    return platform_steps(params.platform).status(params, runner)
