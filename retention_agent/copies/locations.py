"""Where copies of a delivery end up on a workstation, per platform (pure: the environment is a parameter).

Windows: the Desktop, Documents and Downloads folders; Outlook's attachment cache
(``%LOCALAPPDATA%\\Microsoft\\Windows\\INetCache\\Content.Outlook``: every attachment opened from Outlook stays
there); Office's AutoRecover folders (``%APPDATA%\\Microsoft\\Excel`` and ``\\Word``) and unsaved files
(``%LOCALAPPDATA%\\Microsoft\\Office\\UnsavedFiles``); the temp folder; the OneDrive folders. macOS: the same
folders where Outlook and Office for Mac keep them, and the Trash. Linux: the XDG user folders (their
translated names, from ``~/.config/user-dirs.dirs``), LibreOffice's backup folder, the temp folder and the
Trash. Plus the folders configured in ``[copies] locations``.

The home is the account's own (``pwd`` by effective uid on POSIX), never ``$HOME``, which a process started
with ``sudo`` or from another account may have inherited.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath


@dataclass(frozen=True)
class Location:
    kind: str  # one of wire.LOCATION_KINDS
    path: PurePath
    own_files_only: bool = False  # a folder other accounts write too (/tmp): look at the user's own files only


def account_home() -> Path:
    """The sweeping account's home folder."""
    if os.name == "posix":
        import pwd

        return Path(pwd.getpwuid(os.geteuid()).pw_dir)
    return Path(os.environ.get("USERPROFILE") or Path.home())  # pragma: no cover - Windows


def default_locations(platform: str, env: Mapping[str, str], home: PurePath,
                      user_dirs: str | None = None) -> list[Location]:
    """The default locations of ``platform`` (``sys.platform``) for an account with ``home``."""
    if platform == "win32":
        return _windows(env, PureWindowsPath(home))
    if platform == "darwin":
        return _macos(env, PurePosixPath(home))
    return _linux(env, PurePosixPath(home), user_dirs)


def _windows(env: Mapping[str, str], home: PureWindowsPath) -> list[Location]:
    local = PureWindowsPath(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    roaming = PureWindowsPath(env.get("APPDATA") or home / "AppData" / "Roaming")
    found = [Location("desktop", home / "Desktop"), Location("documents", home / "Documents"),
             Location("downloads", home / "Downloads"),
             Location("outlook-cache", local / "Microsoft" / "Windows" / "INetCache" / "Content.Outlook"),
             Location("office-autorecover", roaming / "Microsoft" / "Excel"),
             Location("office-autorecover", roaming / "Microsoft" / "Word"),
             Location("office-unsaved", local / "Microsoft" / "Office" / "UnsavedFiles"),
             Location("temp", PureWindowsPath(env.get("TEMP") or local / "Temp"))]
    for name in ("OneDrive", "OneDriveCommercial", "OneDriveConsumer"):
        if env.get(name):
            found.append(Location("onedrive", PureWindowsPath(env[name])))
    return found


def _macos(env: Mapping[str, str], home: PurePosixPath) -> list[Location]:
    containers = home / "Library" / "Containers"
    office = home / "Library" / "Group Containers" / "UBF8T346G9.Office"
    return [Location("desktop", home / "Desktop"), Location("documents", home / "Documents"),
            Location("downloads", home / "Downloads"),
            Location("outlook-cache", containers / "com.microsoft.Outlook" / "Data" / "tmp"),
            Location("outlook-cache", office / "Outlook"),
            Location("office-autorecover", containers / "com.microsoft.Excel" / "Data" / "Library" / "Preferences"
                     / "AutoRecovery"),
            Location("office-autorecover", containers / "com.microsoft.Word" / "Data" / "Library" / "Preferences"
                     / "AutoRecovery"),
            Location("temp", PurePosixPath(env.get("TMPDIR") or "/tmp"), own_files_only=True),
            Location("onedrive", home / "Library" / "CloudStorage"),
            Location("trash", home / ".Trash")]


def _linux(env: Mapping[str, str], home: PurePosixPath, user_dirs: str | None) -> list[Location]:
    named = xdg_user_dirs(user_dirs or "", home)
    return [Location("desktop", named.get("DESKTOP", home / "Desktop")),
            Location("documents", named.get("DOCUMENTS", home / "Documents")),
            Location("downloads", named.get("DOWNLOAD", home / "Downloads")),
            Location("office-autorecover", home / ".config" / "libreoffice" / "4" / "user" / "backup"),
            Location("temp", PurePosixPath(env.get("TMPDIR") or "/tmp"), own_files_only=True),
            Location("onedrive", home / "OneDrive"),
            Location("trash", home / ".local" / "share" / "Trash" / "files")]


_USER_DIR = re.compile(r'^XDG_([A-Z]+)_DIR="([^"]*)"\s*$', re.MULTILINE)


def xdg_user_dirs(text: str, home: PurePosixPath) -> dict[str, PurePosixPath]:
    """``~/.config/user-dirs.dirs`` read as xdg-user-dirs writes it (``XDG_DESKTOP_DIR="$HOME/Bureaublad"``)."""
    found: dict[str, PurePosixPath] = {}
    for name, value in _USER_DIR.findall(text):
        if value.startswith("$HOME/"):
            found[name] = home / value[len("$HOME/"):]
        elif value.startswith("/"):
            found[name] = PurePosixPath(value)
    return found


def configured(paths: Sequence[str], home: PurePath) -> list[Location]:
    """Folders from ``[copies] locations``: absolute, or starting with ``~/`` (the sweeping account's home)."""
    found = []
    for text in paths:
        if text.startswith("~/") or text.startswith("~\\"):
            found.append(Location("configured", home / text[2:]))
        elif PurePath(text).is_absolute():
            found.append(Location("configured", PurePath(text)))
    return found


def for_this_account(extra: Sequence[str], *, defaults: bool = True) -> list[Location]:
    """The locations of the account this process runs as, on this platform."""
    home = account_home()
    user_dirs = None
    if sys.platform not in ("win32", "darwin"):
        try:
            user_dirs = (home / ".config" / "user-dirs.dirs").read_text(encoding="utf-8", errors="replace")
        except OSError:
            user_dirs = None
    found = default_locations(sys.platform, os.environ, home, user_dirs) if defaults else []
    return found + configured(extra, home)
