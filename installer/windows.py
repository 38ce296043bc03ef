"""Windows: Task Scheduler, driven by the same steps as the generated install.cmd (see ``winsteps.py``).

Per-user mode: a logon task running ``pythonw.exe`` (no console window) as the staff member. Shared mode:
a boot task under the dedicated local account ``retention-agent`` (S4U logon: no stored password), and a
logon task running the desktop app in the tray in every user's session. Both add the app to the Start menu
(``winshortcut.py``). Not run on the Linux test machines: the task
XML and scripts are checked there, ``schtasks`` is not.
"""

from __future__ import annotations

from pathlib import Path

from . import winsteps
from .definitions import render
from .params import ServiceParams
from .runner import Runner
from .steps import Run, ServiceStatus, Step, WriteFile


def install_steps(params: ServiceParams, files_dir: str, *, start: bool = True) -> list[Step]:
    """Write the task XML to ``files_dir`` (schtasks reads it from there), then the steps of install.cmd."""
    xml = [name for name in render(params) if name.endswith(".xml")]
    writes: list[Step] = [WriteFile(str(Path(files_dir) / name), name) for name in xml]
    steps = winsteps.install_steps(params)
    if not start:
        steps = [s for s in steps if not (isinstance(s, Run) and s.argv[:2] == ("schtasks", "/Run"))]
    return writes + steps


def uninstall_steps(params: ServiceParams, *, keep_home: bool) -> list[Step]:
    """The steps that uninstall.cmd lists (it runs them through ``retention-agent service uninstall``)."""
    return winsteps.uninstall_steps(params, keep_home=keep_home)


def status(params: ServiceParams, runner: Runner) -> ServiceStatus:
    """Installed or not; whether it runs is left unknown (schtasks reports it in the display language)."""
    command = winsteps.status_command(params)
    installed = runner.run(command).returncode == 0
    return ServiceStatus(installed=installed, running=None, detail=f"task {command[-1]}: "
                         + ("registered" if installed else "not registered"))
