"""Service definitions and installation for Windows, Linux (systemd) and macOS (launchd).

``write_definitions`` writes any platform's files on any machine (``--dry-run --out DIR``); :mod:`.driver`
installs, uninstalls and reports on this machine through the platform's step lists.
"""

from __future__ import annotations

import getpass
import shutil
import sys
from pathlib import Path

from .definitions import ServiceParams, render
from .params import Mode, Platform, encode_file

__all__ = ["ServiceParams", "current_platform", "default_params", "render", "write_definitions"]


def write_definitions(params: ServiceParams, out_dir: Path) -> list[Path]:
    """Write the rendered files into ``out_dir`` (created if needed); returns their paths, sorted."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(render(params).items()):
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)  # the macOS app bundle's files are in folders
        path.write_bytes(encode_file(name, text))
        written.append(path)
    return written


def current_platform() -> Platform:
    if sys.platform == "win32":
        return "windows"
    return "macos" if sys.platform == "darwin" else "linux"


def default_params(
    mode: Mode,
    platform: Platform | None = None,
    *,
    home: str | None = None,
    account: str | None = None,
    executable: str | None = None,
    drop_folders: tuple[str, ...] = (),
) -> ServiceParams:
    """Parameters for this machine; for another platform (dry run) with example paths to adapt."""
    target = platform or current_platform()
    native = target == current_platform()
    user = account or ("retention-agent" if mode == "shared" else getpass.getuser())
    return ServiceParams(
        mode=mode,
        platform=target,
        executable=executable or (_this_executable() if native else _EXAMPLE_EXECUTABLE[target]),
        home=home or _default_home(mode, target, user, native=native),
        account=user,
        drop_folders=drop_folders,
    )


_EXAMPLE_EXECUTABLE = {
    "windows": "C:\\Program Files\\Python311\\python.exe",
    "linux": "/usr/local/bin/retention-agent",
    "macos": "/usr/local/bin/retention-agent",
}


def _this_executable() -> str:
    if sys.platform == "win32":
        return sys.executable
    beside = Path(sys.executable).with_name("retention-agent")
    if beside.exists():
        return str(beside)
    return shutil.which("retention-agent") or sys.executable


def _default_home(mode: Mode, platform: Platform, user: str, *, native: bool) -> str:
    if mode == "shared":  # on Windows inside the pointer's folder, with an ACL of its own
        return "C:\\ProgramData\\retention-agent\\agent" if platform == "windows" else "/var/lib/retention-agent"
    if native:
        import platformdirs

        return str(platformdirs.user_data_path("retention-agent", appauthor=False))
    name = user.rsplit("\\", 1)[-1]
    return {
        "windows": f"C:\\Users\\{name}\\AppData\\Local\\retention-agent",
        "macos": f"/Users/{name}/Library/Application Support/retention-agent",
        "linux": f"/home/{name}/.local/share/retention-agent",
    }[platform]
