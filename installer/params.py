"""What an installation is made of: the validated parameters, file and task names, the agent's command line.

Pure: no I/O. ``definitions.py`` re-exports :class:`ServiceParams`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from string import Template
from typing import Literal, get_args

Mode = Literal["user", "shared"]
Platform = Literal["linux", "windows", "macos"]
ProtectHome = Literal["yes", "read-only", "tmpfs"]

DEFAULT_DESCRIPTION = "retention-agent: keeps AgII deliveries in an encrypted vault and purges them on time"
LAUNCH_MODULE = "retention_agent.installer.launch"

# file names produced by render()
SYSTEM_UNIT = "retention-agent.service"
USER_UNIT = "retention-agent-user.service"
NOTIFIER_UNIT = "retention-agent-notifier.service"
AGENT_TASK_XML = "retention-agent-task.xml"
APP_TASK_XML = "retention-agent-app-task.xml"  # per-user mode (Windows): the app in the tray at the user's logon
SERVICE_TASK_XML = "retention-agent-service-task.xml"
NOTIFIER_TASK_XML = "retention-agent-notifier-task.xml"
INSTALL_CMD = "install.cmd"
UNINSTALL_CMD = "uninstall.cmd"
MACOS_LABEL = "be.vlaanderen.retention-agent"
MACOS_PLIST = MACOS_LABEL + ".plist"
CLIENT_POINTER = "client.toml"  # shared mode: tells every client where the agent lives

# Where the shared-mode installation writes CLIENT_POINTER (retention_agent/system/home.py reads the same paths).
POINTER_PATHS = {
    "linux": "/etc/retention-agent/client.toml",
    "windows": "C:\\ProgramData\\retention-agent\\client.toml",
    "macos": "/Library/Application Support/retention-agent/client.toml",
}
MACOS_TRAY_LABEL = MACOS_LABEL + ".tray"  # the app in the tray at login (a second LaunchAgent)
MACOS_TRAY_PLIST = MACOS_TRAY_LABEL + ".plist"
# the desktop app's menu entries: a .desktop file (Linux), an app bundle (macOS), a Start-menu shortcut (Windows)
DESKTOP_FILE = "retention-agent.desktop"
AUTOSTART_FILE = "retention-agent-tray.desktop"  # per-user mode (Linux): the app in the tray at the desktop's login
MACOS_APP = "retention-agent.app"
MACOS_APP_PLIST = MACOS_APP + "/Contents/Info.plist"
MACOS_APP_LAUNCHER = MACOS_APP + "/Contents/MacOS/retention-agent"
APP_NAME = "retention-agent"
APP_COMMENT = "Leveringen van AgII: ceremoniedatum, openen met een doel, status en bewijzen"
# what each staff member's logon starts, in both modes: the app, minimised to the tray (without Qt: the notifier).
# It is the one process that shows that person the agent's notifications; the agent never shows them itself.
LOGON_ARGS = ("app", "--minimized")

# Windows Task Scheduler names (a folder of their own in the Task Scheduler library)
TASK_FOLDER = "retention-agent"
SERVICE_TASK = TASK_FOLDER + "\\agent"
NOTIFIER_TASK = TASK_FOLDER + "\\notifier"
USERS_GROUP_SID = "S-1-5-32-545"  # BUILTIN\Users: every interactive user, whatever the display language

_POSIX_ACCOUNT = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_POSIX_USER_ACCOUNT = re.compile(r"^[A-Za-z_][A-Za-z0-9._@-]{0,63}$")
_WINDOWS_ACCOUNT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,19}$")
_WINDOWS_USER_ACCOUNT = re.compile(r"^(?:[\w.-]{1,15}\\)?[\w.-](?:[\w. -]{0,18}[\w.-])?$")
_BUILTIN_ACCOUNTS = {"root", "system", "localsystem", "localservice", "networkservice", "administrator",
                     "administrators", "trustedinstaller", "nobody"}
_SIMPLE = re.compile(r"^[A-Za-z0-9._/-]+$")
_PRIVATE_TMP = (PurePosixPath("/tmp"), PurePosixPath("/var/tmp"))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ServiceParams:
    """One installation of the agent.

    ``executable`` is the absolute path of the program that starts the agent: the ``retention-agent`` console
    script (Linux, macOS) or a Python interpreter, which then runs ``-m retention_agent.installer.launch``.
    On Windows it must be the interpreter (``python.exe`` or ``pythonw.exe``): tasks start the windowless
    ``pythonw.exe`` next to it, scripts the console ``python.exe``.
    ``account`` is the dedicated service account in shared mode and the staff member in user mode.
    ``protect_home`` (Linux shared mode) overrides ProtectHome=; by default ``yes``, or ``read-only`` when a
    drop folder lies under /home, /root or /run/user (that folder is then made writable again).
    """

    mode: Mode
    platform: Platform
    executable: str
    home: str
    account: str
    drop_folders: tuple[str, ...] = ()
    description: str = DEFAULT_DESCRIPTION
    protect_home: ProtectHome | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "drop_folders", tuple(self.drop_folders))
        validate(self)

    @property
    def windows(self) -> bool:
        return self.platform == "windows"


def validate(params: ServiceParams) -> None:
    """Raise ValueError naming the parameter, the bad value and what is expected."""
    if params.mode not in get_args(Mode):
        raise ValueError(f"mode must be 'user' or 'shared', not {params.mode!r}")
    if params.platform not in get_args(Platform):
        raise ValueError(f"platform must be 'linux', 'windows' or 'macos', not {params.platform!r}")
    if params.platform == "macos" and params.mode == "shared":
        raise ValueError("shared mode is not available on macOS; install in user mode (a LaunchAgent)")
    if params.protect_home is not None and params.protect_home not in get_args(ProtectHome):
        raise ValueError(f"protect_home must be 'yes', 'read-only' or 'tmpfs', not {params.protect_home!r}")
    _check_path(params, "executable", params.executable)
    _check_path(params, "home", params.home)
    for folder in params.drop_folders:
        _check_path(params, "drop folder", folder)
    _check_account(params)
    if _CONTROL.search(params.description) or not params.description.strip() or len(params.description) > 200:
        raise ValueError("description must be one line of at most 200 characters")
    if params.windows:
        name = PureWindowsPath(params.executable).name.lower()
        if name not in ("python.exe", "pythonw.exe"):
            raise ValueError(
                f"on Windows the executable must be the Python interpreter (python.exe or pythonw.exe), "
                f"not {params.executable!r}: the task then starts pythonw.exe, which opens no console window"
            )
    if params.platform == "linux" and params.mode == "shared":
        for folder in params.drop_folders:
            if any(PurePosixPath(folder).is_relative_to(tmp) for tmp in _PRIVATE_TMP):
                raise ValueError(
                    f"the drop folder {folder!r} lies under /tmp or /var/tmp, which the service does not see "
                    f"(its unit has PrivateTmp=yes): use a folder such as /srv/agii-inbox"
                )
        home = PurePosixPath(params.home)
        under = home != PurePosixPath("/var/lib") and home.is_relative_to("/var/lib")
        if not under or not _SIMPLE.match(params.home):
            raise ValueError(
                f"in shared mode on Linux the home must lie under /var/lib (systemd's StateDirectory=), "
                f"in letters, digits, '.', '_', '-': not {params.home!r}; use /var/lib/retention-agent"
            )


def _check_path(params: ServiceParams, what: str, value: str) -> None:
    path: PurePath = PureWindowsPath(value) if params.windows else PurePosixPath(value)
    if _CONTROL.search(value) or '"' in value:
        raise ValueError(f"the {what} path {value!r} contains a control character or a double quote")
    if ".." in path.parts:
        raise ValueError(f"the {what} path {value!r} must not contain '..'")
    if not path.is_absolute():
        example = "C:\\ProgramData\\retention-agent" if params.windows else "/var/lib/retention-agent"
        raise ValueError(f"the {what} path must be absolute (like {example}), not {value!r}")
    if params.windows and "%" in value:
        raise ValueError(f"the {what} path {value!r} contains '%', which cmd.exe and Task Scheduler expand")


def _check_account(params: ServiceParams) -> None:
    account = params.account
    if params.mode == "shared" and account.rsplit("\\", 1)[-1].strip().lower() in _BUILTIN_ACCOUNTS:
        raise ValueError(
            f"shared mode needs a dedicated account, never {account!r}: a built-in or administrative account "
            f"(LocalSystem above all) would not see a user key store and could read far more than it needs"
        )
    if params.windows and params.mode == "shared":
        pattern, rule = _WINDOWS_ACCOUNT, "letters, digits, '.', '_', '-' (at most 20)"
    elif params.windows:
        pattern, rule = _WINDOWS_USER_ACCOUNT, "a Windows account name (at most 20), optionally DOMAIN\\"
    elif params.mode == "shared":
        pattern, rule = _POSIX_ACCOUNT, "lower-case letters, digits, '_', '-' (at most 32), no leading digit"
    else:
        pattern, rule = _POSIX_USER_ACCOUNT, "letters, digits, '.', '_', '@', '-' (at most 64)"
    if not pattern.match(account):
        raise ValueError(f"account name {account!r} is not valid: use {rule}")


def template(name: str) -> Template:
    return Template((files("retention_agent.installer") / "templates" / name).read_text(encoding="utf-8"))


def encode_file(name: str, text: str) -> bytes:
    """The bytes written for a rendered file: Task Scheduler XML in UTF-16 with a byte order mark (what
    ``schtasks /XML`` reads reliably), .cmd scripts with CRLF line ends, everything else UTF-8."""
    if name.endswith(".xml"):
        return b"\xff\xfe" + text.encode("utf-16-le")
    if name.endswith(".cmd"):
        return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    return text.encode("utf-8")


def state_directory(params: ServiceParams) -> str:
    """Linux shared mode: the home relative to /var/lib, as StateDirectory= wants it."""
    return str(PurePosixPath(params.home).relative_to("/var/lib"))


def program(params: ServiceParams, *, windowless: bool = False) -> list[str]:
    """The program and the arguments that precede the agent's own options."""
    if not params.windows:
        name = PurePosixPath(params.executable).name
        if name.startswith("python"):
            return [params.executable, "-m", LAUNCH_MODULE]
        return [params.executable]
    exe = PureWindowsPath(params.executable)
    return [str(exe.with_name("pythonw.exe" if windowless else "python.exe")), "-m", LAUNCH_MODULE]


def agent_command(params: ServiceParams, *args: str, windowless: bool = False) -> list[str]:
    """``[program…, --home, HOME, *args]``: how the installed definitions start the agent."""
    return [*program(params, windowless=windowless), "--home", params.home, *args]


def user_task_name(params: ServiceParams) -> str:
    """Per-user logon task: one per staff member, so installing for one does not replace another's."""
    user = params.account.rsplit("\\", 1)[-1]
    return f"{TASK_FOLDER}\\agent-{user}"


def pointer_path(params: ServiceParams) -> str:
    """Shared mode: the file that tells every client on the machine where the agent's home is."""
    return POINTER_PATHS[params.platform]


def pointer_dir(params: ServiceParams) -> str:
    path = pointer_path(params)
    return str(PureWindowsPath(path).parent if params.windows else PurePosixPath(path).parent)
def user_app_task_name(params: ServiceParams) -> str:
    """Per-user mode: the logon task that starts the staff member's app in the tray."""
    user = params.account.rsplit("\\", 1)[-1]
    return f"{TASK_FOLDER}\\app-{user}"
