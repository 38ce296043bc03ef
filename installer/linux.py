"""Linux: systemd. Shared mode is a hardened system unit under the ``retention-agent`` system account (created
here, and given access to the drop folders by ACL) plus a user unit enabled for every user that starts the
desktop app in the tray (the notifier without Qt), and the pointer /etc/retention-agent/client.toml through
which every account's command line finds the agent; user mode is a ``systemd --user`` unit for the agent and
an XDG autostart entry that starts the app in the tray when the user logs on to the desktop. Both add the app
to the desktop's application menu (a .desktop file)."""

from __future__ import annotations

import os
from pathlib import Path

from .params import (
    AUTOSTART_FILE,
    CLIENT_POINTER,
    DESKTOP_FILE,
    NOTIFIER_UNIT,
    SYSTEM_UNIT,
    USER_UNIT,
    ServiceParams,
    agent_command,
    pointer_dir,
    pointer_path,
)
from .runner import Runner
from .steps import Remove, Run, ServiceStatus, Step, WriteFile

SYSTEM_UNIT_DIR = "/etc/systemd/system"
SYSTEM_APPLICATIONS_DIR = "/usr/share/applications"
GLOBAL_USER_UNIT_DIR = "/etc/systemd/user"
NOLOGIN = "/usr/sbin/nologin"


def user_unit_dir() -> str:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return str(Path(config) / "systemd" / "user")


def user_applications_dir() -> str:
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(data) / "applications")


def autostart_entry_path() -> str:
    """Per-user mode: the user's XDG autostart entry for the app in the tray."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return str(Path(config) / "autostart" / AUTOSTART_FILE)


def menu_entry(params: ServiceParams) -> str:
    """Where the app's .desktop file goes: the user's applications, or every user's in shared mode."""
    folder = user_applications_dir() if params.mode == "user" else SYSTEM_APPLICATIONS_DIR
    return f"{folder}/{DESKTOP_FILE}"


def install_steps(params: ServiceParams, *, start: bool = True, unit_dir: str | None = None) -> list[Step]:
    enable = ("enable", "--now") if start else ("enable",)
    if params.mode == "user":
        directory = unit_dir or user_unit_dir()
        return [
            WriteFile(f"{directory}/{USER_UNIT}", USER_UNIT),
            WriteFile(menu_entry(params), DESKTOP_FILE),
            WriteFile(autostart_entry_path(), AUTOSTART_FILE),
            Run(("systemctl", "--user", "daemon-reload")),
            Run(("systemctl", "--user", *enable, USER_UNIT)),
        ]
    account, home = params.account, params.home
    return [
        Run(("useradd", "--system", "--user-group", "--home-dir", home, "--no-create-home",
             "--shell", NOLOGIN, "--comment", "retention-agent service account", account),
            why="the service account", unless=("getent", "passwd", account)),
        # Also done by StateDirectory= at start; created now so `init` can run as the account first.
        Run(("install", "-d", "-m", "0711", "-o", account, "-g", account, home), why="the home"),
        *[Run(("setfacl", "-m", f"u:{account}:rwx,d:u:{account}:rwx", folder),
              why="the agent moves files out of this drop folder") for folder in params.drop_folders],
        WriteFile(f"{unit_dir or SYSTEM_UNIT_DIR}/{SYSTEM_UNIT}", SYSTEM_UNIT),
        WriteFile(f"{GLOBAL_USER_UNIT_DIR}/{NOTIFIER_UNIT}", NOTIFIER_UNIT),
        Run(("install", "-d", "-m", "0755", "-o", "root", "-g", "root", pointer_dir(params)),
            why="the folder of the pointer: root changes it, every account reads it"),
        WriteFile(pointer_path(params), CLIENT_POINTER),
        WriteFile(menu_entry(params), DESKTOP_FILE),
        Run(("systemctl", "daemon-reload")),
        Run(("systemctl", "--global", "enable", NOTIFIER_UNIT),
            why="the app in the tray at every user's logon (the notifier where Qt is not installed)"),
        Run(("systemctl", *enable, SYSTEM_UNIT)),
    ]


def uninstall_steps(params: ServiceParams, *, keep_home: bool, unit_dir: str | None = None) -> list[Step]:
    if params.mode == "user":
        steps: list[Step] = [
            Run(("systemctl", "--user", "disable", "--now", USER_UNIT), check=False),
            Remove(f"{unit_dir or user_unit_dir()}/{USER_UNIT}"),
            Remove(menu_entry(params)),
            Remove(autostart_entry_path()),
            Run(("systemctl", "--user", "daemon-reload")),
        ]
        return steps + ([] if keep_home else [Remove(params.home)])
    steps = [
        Run(("systemctl", "disable", "--now", SYSTEM_UNIT), check=False),
        Run(("systemctl", "--global", "disable", NOTIFIER_UNIT), check=False),
        Remove(f"{unit_dir or SYSTEM_UNIT_DIR}/{SYSTEM_UNIT}"),
        Remove(f"{GLOBAL_USER_UNIT_DIR}/{NOTIFIER_UNIT}"),
        Remove(menu_entry(params)),
        Run(("systemctl", "daemon-reload")),
        Remove(pointer_path(params)),
        Run(("rmdir", "--ignore-fail-on-non-empty", pointer_dir(params)), check=False),
    ]
    if not keep_home:
        # the account's uid may be given to a new account later: it must not inherit the drop folders' ACL
        steps += [Run(("setfacl", "-x", f"u:{params.account},d:u:{params.account}", folder), check=False)
                  for folder in params.drop_folders]
        steps += [Remove(params.home), Run(("userdel", params.account), check=False)]
    return steps


def as_service_account(params: ServiceParams, *args: str) -> list[str]:
    """A command of the agent run as the shared-mode account, e.g. ``init`` between ``install(start=False)``
    and ``systemctl start``: ``runuser -u retention-agent -- retention-agent --home HOME init …``."""
    return ["runuser", "-u", params.account, "--", *agent_command(params, *args)]


def status(params: ServiceParams, runner: Runner) -> ServiceStatus:
    scope = ("--user",) if params.mode == "user" else ()
    unit = USER_UNIT if params.mode == "user" else SYSTEM_UNIT
    enabled = runner.run(("systemctl", *scope, "is-enabled", unit)).stdout.strip()
    active = runner.run(("systemctl", *scope, "is-active", unit)).stdout.strip()
    return ServiceStatus(
        installed=enabled in ("enabled", "disabled", "static", "linked"),
        running=active == "active",
        detail=f"{unit}: {enabled or 'not installed'}, {active or 'unknown'}",
    )
