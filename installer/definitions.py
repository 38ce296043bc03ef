"""Render the service definitions of every platform from ``templates/``. Pure: no I/O but reading templates.

``render(params)`` returns ``{file name: content}``: systemd units (Linux), Task Scheduler XML and silent
install/uninstall scripts (Windows), a LaunchAgent property list (macOS), and in shared mode the pointer
``client.toml`` that tells every client where the agent lives.
"""

from __future__ import annotations

import plistlib
from pathlib import PurePosixPath

from . import winsteps
from .params import (
    AGENT_TASK_XML,
    APP_COMMENT,
    APP_NAME,
    APP_TASK_XML,
    AUTOSTART_FILE,
    CLIENT_POINTER,
    DESKTOP_FILE,
    LOGON_ARGS,
    MACOS_APP_LAUNCHER,
    MACOS_APP_PLIST,
    MACOS_LABEL,
    MACOS_PLIST,
    MACOS_TRAY_LABEL,
    MACOS_TRAY_PLIST,
    NOTIFIER_TASK_XML,
    NOTIFIER_UNIT,
    SERVICE_TASK_XML,
    SYSTEM_UNIT,
    USER_UNIT,
    USERS_GROUP_SID,
    ServiceParams,
    agent_command,
    state_directory,
    template,
)
from .quoting import (
    desktop_exec,
    shell_word,
    systemd_line,
    systemd_text,
    systemd_word,
    toml_string,
    windows_cmdline,
    xml_text,
)

__all__ = ["ServiceParams", "render"]

_HOME_TREES = (PurePosixPath("/home"), PurePosixPath("/root"), PurePosixPath("/run/user"))


def render(params: ServiceParams) -> dict[str, str]:
    """The definitions for ``params.platform`` and ``params.mode``, keyed by file name."""
    if params.platform == "linux":
        return _linux(params)
    if params.platform == "windows":
        return _windows(params)
    return {MACOS_PLIST: launch_agent_plist(params), MACOS_TRAY_PLIST: tray_agent_plist(params),
            MACOS_APP_PLIST: app_bundle_plist(), MACOS_APP_LAUNCHER: app_bundle_launcher(params)}


# ---- Linux: systemd ---------------------------------------------------------------------------------


def _linux(params: ServiceParams) -> dict[str, str]:
    description = systemd_text(params.description)
    if params.mode == "user":
        unit = template(USER_UNIT).substitute(
            description=description, exec_start=systemd_line(agent_command(params, "run"))
        )
        return {USER_UNIT: unit, DESKTOP_FILE: desktop_entry(params), AUTOSTART_FILE: autostart_entry(params)}
    unit = template(SYSTEM_UNIT).substitute(
        description=description,
        account=params.account,
        exec_start=systemd_line(agent_command(params, "run")),
        state_directory=systemd_word(state_directory(params)),
        protect_home=protect_home(params),
        read_write_paths="\n".join(_drop_folder_line(params, folder) for folder in params.drop_folders),
    )
    notifier = template(NOTIFIER_UNIT).substitute(
        description=description, exec_start=systemd_line(agent_command(params, *LOGON_ARGS))
    )
    return {SYSTEM_UNIT: unit, NOTIFIER_UNIT: notifier, DESKTOP_FILE: desktop_entry(params),
            CLIENT_POINTER: client_pointer(params)}


def client_pointer(params: ServiceParams) -> str:
    """Shared mode: the pointer that lets every account's command line find the agent without --home."""
    return template(CLIENT_POINTER).substitute(home=toml_string(params.home), account=toml_string(params.account))


def protect_home(params: ServiceParams) -> str:
    """ProtectHome=: ``yes`` (home trees inaccessible) unless a drop folder lies in one; then ``read-only``,
    with ReadWritePaths= opening just that folder again."""
    if params.protect_home is not None:
        return params.protect_home
    return "read-only" if any(_under_home(folder) for folder in params.drop_folders) else "yes"


def _drop_folder_line(params: ServiceParams, folder: str) -> str:
    """The agent moves files out of drop folders, so each one is writable; ``-``: a missing folder does not
    stop the service (the agent reports it). Under ProtectHome=tmpfs a folder in /home is bound in instead."""
    key = "BindPaths=" if protect_home(params) == "tmpfs" and _under_home(folder) else "ReadWritePaths="
    return key + systemd_word("-" + folder)


def _under_home(folder: str) -> bool:
    return any(PurePosixPath(folder).is_relative_to(tree) for tree in _HOME_TREES)


# ---- Windows: Task Scheduler ------------------------------------------------------------------------


def _windows(params: ServiceParams) -> dict[str, str]:
    out: dict[str, str] = {}
    if params.mode == "user":
        out[AGENT_TASK_XML] = task_xml(
            params, "run", comment="retention-agent per-user mode: the agent at logon, as the staff member",
            trigger=_logon_trigger(params.account),
            principal=_user_principal(params.account, "InteractiveToken"),
        )
        out[APP_TASK_XML] = task_xml(
            params, *LOGON_ARGS, comment="retention-agent per-user mode: the app in the tray at the user's logon",
            trigger=_logon_trigger(params.account),
            principal=_user_principal(params.account, "InteractiveToken"),
        )
    else:
        out[SERVICE_TASK_XML] = task_xml(
            params, "run", comment="retention-agent shared mode: the agent at boot, as its own local account",
            trigger="    <BootTrigger>\n      <Enabled>true</Enabled>\n    </BootTrigger>",
            principal=_user_principal(params.account, "S4U"),
        )
        out[NOTIFIER_TASK_XML] = task_xml(
            params, *LOGON_ARGS, comment="retention-agent shared mode: the app in the tray at every user's logon",
            trigger=_logon_trigger(None), principal=f"      <GroupId>{USERS_GROUP_SID}</GroupId>",
        )
        out[CLIENT_POINTER] = client_pointer(params)
    out.update(winsteps.scripts(params))
    return out


def task_xml(params: ServiceParams, *command: str, comment: str, trigger: str, principal: str) -> str:
    program, *arguments = agent_command(params, *command, windowless=True)
    return template("task.xml").substitute(
        comment=comment,
        description=xml_text(params.description),
        trigger=trigger,
        principal=principal,
        command=xml_text(program),
        arguments=xml_text(windows_cmdline(arguments)),
    )


def _logon_trigger(account: str | None) -> str:
    user = f"\n      <UserId>{xml_text(account)}</UserId>" if account else ""
    return f"    <LogonTrigger>\n      <Enabled>true</Enabled>{user}\n    </LogonTrigger>"


def _user_principal(account: str, logon_type: str) -> str:
    return f"      <UserId>{xml_text(account)}</UserId>\n      <LogonType>{logon_type}</LogonType>"


# ---- macOS: launchd ---------------------------------------------------------------------------------


def launch_agent_plist(params: ServiceParams) -> str:
    """A LaunchAgent: starts in the user's GUI session at login, restarted when it fails."""
    plist = {
        "Label": MACOS_LABEL,
        "ProgramArguments": agent_command(params, "run"),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "LimitLoadToSessionType": "Aqua",
        "ProcessType": "Background",
        "ThrottleInterval": 10,
        "Umask": 0o077,
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
    }
    return plistlib.dumps(plist, fmt=plistlib.FMT_XML, sort_keys=False).decode("utf-8")


# ---- the desktop app's menu entries ------------------------------------------------------------------------


def desktop_entry(params: ServiceParams) -> str:
    """Linux: the app in the desktop's application menu (freedesktop.org Desktop Entry)."""
    lines = ["[Desktop Entry]", "Type=Application", "Version=1.0", f"Name={APP_NAME}",
             "GenericName=Leveringen van AgII", "GenericName[en]=AgII deliveries", f"Comment={APP_COMMENT}",
             f"Exec={desktop_exec(agent_command(params, 'app'))}", "Icon=security-high", "Terminal=false",
             "Categories=Office;", "Keywords=AgII;inburgering;ceremonie;privacy;", "StartupNotify=true"]
    return "\n".join(lines) + "\n"


def autostart_entry(params: ServiceParams) -> str:
    """Linux, per-user mode: the app in the tray when the staff member logs on to the desktop (XDG Autostart, which
    every desktop runs in the graphical session; a console login starts nothing)."""
    lines = ["[Desktop Entry]", "Type=Application", "Version=1.0", f"Name={APP_NAME}",
             "Comment=Meldingen en leveringen van AgII in het systeemvak",
             f"Exec={desktop_exec(agent_command(params, *LOGON_ARGS))}", "Icon=security-high", "Terminal=false",
             "NoDisplay=true", "X-GNOME-Autostart-enabled=true"]
    return "\n".join(lines) + "\n"


def tray_agent_plist(params: ServiceParams) -> str:
    """macOS: a second LaunchAgent, the app in the tray (the menu bar) at login; quitting it is respected."""
    plist = {
        "Label": MACOS_TRAY_LABEL,
        "ProgramArguments": agent_command(params, *LOGON_ARGS),
        "RunAtLoad": True,
        "LimitLoadToSessionType": "Aqua",
        "ProcessType": "Interactive",
    }
    return plistlib.dumps(plist, fmt=plistlib.FMT_XML, sort_keys=False).decode("utf-8")


def app_bundle_plist() -> str:
    """macOS: the Info.plist of a small app bundle in ~/Applications whose executable starts the app."""
    info = {"CFBundleName": APP_NAME, "CFBundleDisplayName": APP_NAME, "CFBundleIdentifier": MACOS_LABEL + ".app",
            "CFBundleExecutable": "retention-agent", "CFBundlePackageType": "APPL", "CFBundleVersion": "1",
            "LSMinimumSystemVersion": "11.0", "NSHighResolutionCapable": True,
            "CFBundleDevelopmentRegion": "nl"}
    return plistlib.dumps(info, fmt=plistlib.FMT_XML, sort_keys=False).decode("utf-8")


def app_bundle_launcher(params: ServiceParams) -> str:
    return "#!/bin/sh\nexec " + " ".join(shell_word(w) for w in agent_command(params, "app")) + ' "$@"\n'
