"""macOS: a LaunchAgent in ~/Library/LaunchAgents for user mode (shared mode is not offered on macOS), a second
one that starts the desktop app in the menu bar at login, and the app as a small bundle in ~/Applications (its
executable is a shell script that starts ``app``).

Not run on the Linux test machines: the plist is checked there, ``launchctl`` is not.
"""

from __future__ import annotations

import os
from pathlib import Path

from .params import (
    MACOS_APP,
    MACOS_APP_LAUNCHER,
    MACOS_APP_PLIST,
    MACOS_LABEL,
    MACOS_PLIST,
    MACOS_TRAY_LABEL,
    MACOS_TRAY_PLIST,
    ServiceParams,
)
from .runner import Runner
from .steps import Remove, Run, ServiceStatus, Step, WriteFile


def app_bundle_path() -> str:
    return str(Path.home() / "Applications" / MACOS_APP)


def plist_path(name: str = MACOS_PLIST) -> str:
    return str(Path.home() / "Library" / "LaunchAgents" / name)


def _domain(uid: int | None) -> str:
    return f"gui/{os.getuid() if uid is None else uid}"


def install_steps(params: ServiceParams, *, start: bool = True, uid: int | None = None) -> list[Step]:
    path = plist_path()
    bundle = str(Path(app_bundle_path()).parent)
    tray = plist_path(MACOS_TRAY_PLIST)
    steps: list[Step] = [WriteFile(path, MACOS_PLIST), WriteFile(tray, MACOS_TRAY_PLIST),
                         WriteFile(f"{bundle}/{MACOS_APP_PLIST}", MACOS_APP_PLIST),
                         WriteFile(f"{bundle}/{MACOS_APP_LAUNCHER}", MACOS_APP_LAUNCHER, mode=0o755)]
    if start:
        for label, plist in ((MACOS_LABEL, path), (MACOS_TRAY_LABEL, tray)):
            steps += [
                Run(("launchctl", "bootout", f"{_domain(uid)}/{label}"), why="an older copy", check=False),
                Run(("launchctl", "bootstrap", _domain(uid), plist), why="load and start it now"),
            ]
    return steps


def uninstall_steps(params: ServiceParams, *, keep_home: bool, uid: int | None = None) -> list[Step]:
    steps: list[Step] = [
        Run(("launchctl", "bootout", f"{_domain(uid)}/{MACOS_TRAY_LABEL}"), check=False),
        Run(("launchctl", "bootout", f"{_domain(uid)}/{MACOS_LABEL}"), check=False),
        Remove(plist_path(MACOS_TRAY_PLIST)),
        Remove(plist_path()),
        Remove(app_bundle_path()),
    ]
    return steps + ([] if keep_home else [Remove(params.home)])


def status(params: ServiceParams, runner: Runner) -> ServiceStatus:
    result = runner.run(("launchctl", "print", f"{_domain(None)}/{MACOS_LABEL}"))
    loaded = result.returncode == 0
    return ServiceStatus(
        installed=loaded or Path(plist_path()).exists(),
        running=loaded and "state = running" in result.stdout,
        detail=f"{MACOS_LABEL}: {'loaded' if loaded else 'not loaded'}",
    )
