"""Windows: the desktop app's Start-menu shortcut, written as a Shell Link (.lnk) file by Python itself.

``python -m retention_agent.installer.winshortcut (--user | --all-users) PYTHONW HOME`` writes
``retention-agent.lnk`` in the Start menu's Programs folder (the user's, or every user's), starting
``PYTHONW -m retention_agent.installer.launch --home HOME app``; ``--remove`` deletes it again. No PowerShell
or COM is needed, so ``install.cmd`` keeps working where PowerShell is locked down.

The file follows [MS-SHLLINK]: a header, a LinkInfo with the target's local path, and Unicode strings for the
working folder and the arguments. Built and parsed back by the tests on Linux; never run on Windows here.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path, PureWindowsPath

LINK_CLSID = bytes.fromhex("0114020000000000c000000000000046")  # {00021401-0000-0000-C000-000000000046}
HAS_LINK_INFO, HAS_NAME, HAS_WORKING_DIR, HAS_ARGUMENTS, IS_UNICODE = 0x02, 0x04, 0x10, 0x20, 0x80
SW_SHOWNORMAL = 1
DRIVE_FIXED = 3
LINK_NAME = "retention-agent.lnk"
LAUNCH_MODULE = "retention_agent.installer.launch"


def shell_link(target: str, arguments: str, working_dir: str, description: str) -> bytes:
    """The bytes of a .lnk that starts ``target`` (an absolute local path) with ``arguments``."""
    flags = HAS_LINK_INFO | HAS_NAME | HAS_WORKING_DIR | HAS_ARGUMENTS | IS_UNICODE
    header = struct.pack("<I16sII8s8s8sIIIHHII", 0x4C, LINK_CLSID, flags, 0x20, bytes(8), bytes(8), bytes(8), 0, 0,
                         SW_SHOWNORMAL, 0, 0, 0, 0)
    return header + _link_info(target) + b"".join(_string(s) for s in (description, working_dir, arguments)) \
        + bytes(4)


def _link_info(target: str) -> bytes:
    volume = struct.pack("<IIII", 0x11, DRIVE_FIXED, 0, 0x10) + b"\0"
    base_path = str(PureWindowsPath(target)).encode("mbcs" if sys.platform == "win32" else "cp1252") + b"\0"
    header_size = 0x1C
    volume_at, base_at = header_size, header_size + len(volume)
    suffix_at = base_at + len(base_path)
    size = suffix_at + 1
    return struct.pack("<IIIIIII", size, header_size, 1, volume_at, base_at, 0, suffix_at) + volume + base_path + b"\0"


def _string(text: str) -> bytes:
    encoded = text.encode("utf-16-le")
    return struct.pack("<H", len(encoded) // 2) + encoded


def programs_folder(*, all_users: bool) -> Path:
    """The Start menu's Programs folder: ``%ProgramData%`` for every user, ``%APPDATA%`` for this one."""
    base = os.environ["ProgramData" if all_users else "APPDATA"]
    return Path(base) / "Microsoft" / "Windows" / "Start Menu" / "Programs"


def app_arguments(home: str) -> str:
    from .quoting import windows_cmdline

    return windows_cmdline(["-m", LAUNCH_MODULE, "--home", home, "app"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--user", action="store_true")
    scope.add_argument("--all-users", action="store_true")
    parser.add_argument("--remove", action="store_true")
    parser.add_argument("pythonw")
    parser.add_argument("home")
    options = parser.parse_args(argv)
    path = programs_folder(all_users=options.all_users) / LINK_NAME
    if options.remove:
        path.unlink(missing_ok=True)
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    data = shell_link(options.pythonw, app_arguments(options.home), str(PureWindowsPath(options.pythonw).parent),
                      "retention-agent: leveringen van AgII")
    temp = path.with_name(path.name + ".tmp")
    temp.write_bytes(data)
    temp.replace(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
