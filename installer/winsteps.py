"""Windows installation steps (pure) and the silent install.cmd / uninstall.cmd rendered from them.

One list of steps serves both ``windows.install()`` (run through a runner) and ``install.cmd`` (for GPO,
Intune or any deployment tool; no PowerShell). Uninstallation goes through ``retention-agent service
uninstall`` because only the agent can tell whether the vault still holds deliveries.
"""

from __future__ import annotations

from .params import (
    AGENT_TASK_XML,
    APP_TASK_XML,
    CLIENT_POINTER,
    INSTALL_CMD,
    NOTIFIER_TASK,
    NOTIFIER_TASK_XML,
    SERVICE_TASK,
    SERVICE_TASK_XML,
    UNINSTALL_CMD,
    USERS_GROUP_SID,
    ServiceParams,
    pointer_dir,
    pointer_path,
    program,
    template,
    user_app_task_name,
    user_task_name,
)
from .quoting import cmd_word
from .steps import FileRef, MakeDir, Remove, Run, Step

ACCOUNT_MODULE = "retention_agent.installer.winaccount"
SHORTCUT_MODULE = "retention_agent.installer.winshortcut"
_SYSTEM_SID = "*S-1-5-18"
_ADMINISTRATORS_SID = "*S-1-5-32-544"
_ADMIN_CHECK = "net session >nul 2>&1 || (echo retention-agent: run this as administrator. 1>&2 & exit /b 1)"


def shortcut_step(params: ServiceParams, *, remove: bool = False) -> Run:
    """The desktop app's Start-menu shortcut: the user's own in user mode, every user's in shared mode."""
    python, windowless = program(params)[0], program(params, windowless=True)[0]
    scope = "--user" if params.mode == "user" else "--all-users"
    return Run((python, "-m", SHORTCUT_MODULE, scope, *(["--remove"] if remove else []), windowless, params.home),
               why="the desktop app in the Start menu", check=not remove)


def install_steps(params: ServiceParams) -> list[Step]:
    if params.mode == "user":
        task, app_task = user_task_name(params), user_app_task_name(params)
        return [
            shortcut_step(params),
            Run(("schtasks", "/Create", "/XML", FileRef(AGENT_TASK_XML), "/TN", task, "/F"),
                why=f"the logon task: the agent starts as {params.account} at logon, with no console window"),
            Run(("schtasks", "/Create", "/XML", FileRef(APP_TASK_XML), "/TN", app_task, "/F"),
                why=f"the desktop app in the tray at {params.account}'s logon (it shows the notifications)"),
            Run(("schtasks", "/Run", "/TN", task), why="start it now (fails harmlessly when not logged on)",
                check=False),
            Run(("schtasks", "/Run", "/TN", app_task), why="and the app in the tray", check=False),
        ]
    python = program(params)[0]
    account = params.account
    folder = pointer_dir(params)
    steps: list[Step] = [
        Run((python, "-m", ACCOUNT_MODULE, account),
            why=f"the dedicated local account {account} (never LocalSystem); nobody knows its password"),
        MakeDir(folder),
        Run(("icacls", folder, "/setowner", _ADMINISTRATORS_SID, "/Q"),
            why="the pointer's folder belongs to the administrators, whoever created it first"),
        Run(("icacls", folder, "/inheritance:r", "/grant:r", f"{_SYSTEM_SID}:(OI)(CI)F",
             f"{_ADMINISTRATORS_SID}:(OI)(CI)F", f"*{USERS_GROUP_SID}:(OI)(CI)RX", "/Q"),
            why="the pointer's folder: administrators change it, every user reads it"),
        MakeDir(params.home),
        Run(("icacls", params.home, "/inheritance:r", "/grant:r", f"{account}:(OI)(CI)F",
             f"{_SYSTEM_SID}:(OI)(CI)F", f"{_ADMINISTRATORS_SID}:(OI)(CI)F", "/Q"),
            why="the home: the service account only (SYSTEM and Administrators keep what they could take)"),
    ]
    steps += [
        Run(("icacls", folder, "/grant", f"{account}:(OI)(CI)M", "/Q"),
            why="the agent moves files out of this drop folder")
        for folder in params.drop_folders
    ]
    steps += [
        Run(("schtasks", "/Create", "/XML", FileRef(SERVICE_TASK_XML), "/TN", SERVICE_TASK, "/F"),
            why=f"the agent: at boot, as {account}, restarted when it fails"),
        Run(("schtasks", "/Create", "/XML", FileRef(NOTIFIER_TASK_XML), "/TN", NOTIFIER_TASK, "/F"),
            why="the desktop app in the tray at every user's logon, in that user's session"),
        Run(("cmd", "/c", "del", "/f", "/q", pointer_path(params)), check=False,
            why="an older pointer is replaced, not written over: the new file takes the folder's ACL"),
        Run(("cmd", "/c", "copy", "/Y", FileRef(CLIENT_POINTER), pointer_path(params)),
            why="the pointer through which every user's retention-agent finds the agent"),
        shortcut_step(params),
        Run(("schtasks", "/Run", "/TN", SERVICE_TASK), why="start the agent now"),
    ]
    return steps


def uninstall_steps(params: ServiceParams, *, keep_home: bool) -> list[Step]:
    tasks = ([user_app_task_name(params), user_task_name(params)] if params.mode == "user"
             else [SERVICE_TASK, NOTIFIER_TASK])
    steps: list[Step] = [shortcut_step(params, remove=True)]
    for task in tasks:
        steps.append(Run(("schtasks", "/End", "/TN", task), why=f"stop {task}", check=False))
        steps.append(Run(("schtasks", "/Delete", "/TN", task, "/F"), why=f"unregister {task}", check=False))
    if params.mode == "shared":
        steps.append(Run(("cmd", "/c", "del", "/f", "/q", pointer_path(params)), why="the pointer",
                         check=False))
    if not keep_home:
        steps.append(Remove(params.home))
        if params.mode == "shared":
            steps.append(Run(("net", "user", params.account, "/delete"), why="the service account",
                             check=False))
            steps.append(Run(("cmd", "/c", "rd", pointer_dir(params)), why="the pointer's folder, when empty",
                             check=False))
    return steps


def status_command(params: ServiceParams) -> tuple[str, ...]:
    task = user_task_name(params) if params.mode == "user" else SERVICE_TASK
    return ("schtasks", "/Query", "/TN", task)


# ---- .cmd scripts -----------------------------------------------------------------------------------


def scripts(params: ServiceParams) -> dict[str, str]:
    admin_check = _ADMIN_CHECK if params.mode == "shared" else ""
    who = ("Run as an administrator (or SYSTEM): a GPO computer startup script or an Intune Win32 app."
           if params.mode == "shared" else
           f"Run as {params.account} (user context) or as an administrator.")
    install = template(INSTALL_CMD).substitute(
        mode=params.mode, who=who, admin_check=admin_check, steps="\n".join(cmd_lines(install_steps(params))),
    )
    uninstall_cli = [*program(params), "--home", params.home, "service", "uninstall",
                     "--mode", params.mode, "--platform", "windows"]
    uninstall = template(UNINSTALL_CMD).substitute(
        mode=params.mode,
        admin_check=admin_check,
        steps="\n".join(_uninstall_listing(params)),
        uninstall=" ".join(cmd_word(word) for word in uninstall_cli) + " %*",
    )
    return {INSTALL_CMD: install, UNINSTALL_CMD: uninstall}


def _uninstall_listing(params: ServiceParams) -> list[str]:
    kept = uninstall_steps(params, keep_home=True)
    extra = uninstall_steps(params, keep_home=False)[len(kept):]
    lines = ["rem   " + _describe(step) for step in kept]
    return lines + ["rem and, unless --keep-home:"] + ["rem   " + _describe(step) for step in extra]


def _describe(step: Step) -> str:
    if isinstance(step, Run):
        return " ".join(a.name if isinstance(a, FileRef) else cmd_word(a) for a in step.argv)
    if isinstance(step, Remove):
        return "rd /s /q " + cmd_word(step.path)
    return type(step).__name__ + " " + step.path


def cmd_lines(steps: list[Step]) -> list[str]:
    """cmd.exe lines; a failed checked step jumps to ``:failed``."""
    lines: list[str] = []
    for step in steps:
        if isinstance(step, Run):
            if step.why:
                lines.append("rem " + step.why)
            command = " ".join(f'"%~dp0{a.name}"' if isinstance(a, FileRef) else cmd_word(a)
                               for a in step.argv)
            if step.unless:
                command = " ".join(cmd_word(a) for a in step.unless) + " >nul 2>&1 || " + command
            lines.append(command + (" || goto :failed" if step.check else " >nul 2>&1"))
        elif isinstance(step, MakeDir):
            path = cmd_word(step.path)
            lines.append(f"if not exist {path} mkdir {path} || goto :failed")
        elif isinstance(step, Remove):
            path = cmd_word(step.path)
            lines.append(f"if exist {path} rd /s /q {path}")
        else:
            raise ValueError(f"a .cmd script cannot write {step.path}; ship the file next to the script")
    return lines

