"""Service definitions (installer/): generated for every platform here, checked as far as this machine allows.

Checked for real on this Linux machine: the systemd units with ``systemd-analyze verify`` (and
``security``), the launchd plist with plistlib, the Task Scheduler XML and the .cmd scripts as files
(well-formed XML, required elements, escaping), and every platform's install/uninstall command sequence
through a recording runner.

NOT run here: ``schtasks``, ``icacls``, NetUserAdd (Windows) and ``launchctl`` (macOS) are never executed; the
real shared-mode installation on Linux (account, started agent, staff reaching the socket) belongs to the
integration test that needs the running agent.
"""

from __future__ import annotations

import os
import plistlib
import shlex
import shutil
import struct
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from retention_agent.installer import (
    current_platform,
    default_params,
    driver,
    linux,
    macos,
    render,
    windows,
    winsteps,
    write_definitions,
)
from retention_agent.installer.definitions import ServiceParams
from retention_agent.installer.runner import RecordingRunner, Result
from retention_agent.installer.steps import InstallError, Remove, Run, UninstallRefusedError, execute

TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"
NS = {"t": TASK_NS}
LOCAL_SYSTEM = {"system", "localsystem", "s-1-5-18", "nt authority\\system", ".\\localsystem"}
SCRIPT = Path(sys.executable).with_name("retention-agent")
ODD_WINDOWS_PYTHON = "C:\\Program Files & <Co>\\Python 3.11\\python.exe"

needs_systemd_analyze = pytest.mark.usefixtures("require_systemd_analyze")


def linux_shared(**changes: object) -> ServiceParams:
    params = ServiceParams(
        mode="shared", platform="linux", executable=str(SCRIPT), home="/var/lib/retention-agent",
        account="retention-agent",
        drop_folders=("/srv/agii drop & <inbox>", "/home/events team/100% AgII", "/srv/plain"),
    )
    return replace(params, **changes)


def linux_user(**changes: object) -> ServiceParams:
    params = ServiceParams(
        mode="user", platform="linux", executable=str(SCRIPT),
        home="/home/jan peeters/Gegevens & <privé> 100%/retention-agent", account="jan.peeters",
    )
    return replace(params, **changes)


def windows_params(mode: str, **changes: object) -> ServiceParams:
    shared = mode == "shared"
    home = "C:\\ProgramData\\Retention & <Agent>" if shared else "C:\\Users\\Jan Peeters\\Data & <x>\\ra"
    params = ServiceParams(
        mode=mode, platform="windows", executable=ODD_WINDOWS_PYTHON, home=home,
        account="retention-agent" if mode == "shared" else "GEMEENTE\\Jan Peeters",
        drop_folders=("D:\\AgII drop & <in>",) if mode == "shared" else (),
    )
    return replace(params, **changes)


def macos_params() -> ServiceParams:
    return ServiceParams(
        mode="user", platform="macos", executable="/Users/jan/Library/Python/3.11/bin/retention-agent",
        home="/Users/jan/Library/Application Support/retention & <agent>", account="jan",
    )


# ---- systemd ----------------------------------------------------------------------------------------


def verify(unit: Path, *, user: bool, runtime_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)}
    command = ["systemd-analyze", *(["--user"] if user else []), "verify", str(unit)]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    path = tmp_path / "runtime"
    path.mkdir(mode=0o700)
    return path


@needs_systemd_analyze
def test_system_unit_passes_systemd_analyze_verify(tmp_path: Path, runtime_dir: Path) -> None:
    write_definitions(linux_shared(), tmp_path / "out")
    result = verify(tmp_path / "out" / "retention-agent.service", user=False, runtime_dir=runtime_dir)
    assert (result.returncode, result.stderr) == (0, "")


@needs_systemd_analyze
def test_user_units_pass_systemd_analyze_verify(tmp_path: Path, runtime_dir: Path) -> None:
    write_definitions(linux_user(), tmp_path / "user")
    write_definitions(linux_shared(), tmp_path / "shared")
    for unit in (tmp_path / "user" / "retention-agent-user.service",
                 tmp_path / "shared" / "retention-agent-notifier.service"):
        result = verify(unit, user=True, runtime_dir=runtime_dir)
        assert (result.returncode, result.stderr) == (0, ""), unit.name


@needs_systemd_analyze
def test_verify_does_fail_on_a_bad_key(tmp_path: Path, runtime_dir: Path) -> None:
    """The check above can fail: systemd-analyze exits 0 on an unknown key, but says so on stderr."""
    write_definitions(linux_shared(), tmp_path)
    unit = tmp_path / "retention-agent.service"
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict"))
    result = verify(unit, user=False, runtime_dir=runtime_dir)
    assert "Unknown key" in result.stderr and "ProtectSytem" in result.stderr


@needs_systemd_analyze
def test_system_unit_exposure_is_low(tmp_path: Path) -> None:
    write_definitions(linux_shared(), tmp_path)
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(tmp_path / "retention-agent.service")],
        capture_output=True, text=True, check=False,
    )
    line = next(x for x in result.stdout.splitlines() if "Overall exposure level" in x)
    assert float(line.split(":")[1].split()[0]) <= 2.0, line


def test_system_unit_hardening_and_home() -> None:
    unit = render(linux_shared())["retention-agent.service"]
    for setting in ("User=retention-agent", "StateDirectory=retention-agent", "StateDirectoryMode=0711",
                    "UMask=0077", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
                    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "Restart=on-failure",
                    "CapabilityBoundingSet=\n", "MemoryDenyWriteExecute=yes",
                    "SystemCallArchitectures=native"):
        assert setting in unit, setting
    assert "PrivateUsers=yes" not in unit  # would turn every peer credential into "nobody"
    # a drop folder under /home: read-only home tree, that folder writable again; missing folders tolerated
    assert "ProtectHome=read-only" in unit
    assert 'ReadWritePaths="-/home/events team/100%% AgII"' in unit
    assert 'ReadWritePaths="-/srv/agii drop & <inbox>"' in unit and "ReadWritePaths=-/srv/plain" in unit
    assert "ProtectHome=yes" in render(linux_shared(drop_folders=("/srv/in",)))["retention-agent.service"]
    tmpfs = render(linux_shared(protect_home="tmpfs"))["retention-agent.service"]
    assert 'BindPaths="-/home/events team/100%% AgII"' in tmpfs and "ProtectHome=tmpfs" in tmpfs


def test_exec_start_quotes_paths_with_spaces_and_specifiers() -> None:
    params = linux_user()
    line = next(x for x in render(params)["retention-agent-user.service"].splitlines()
                if x.startswith("ExecStart="))
    assert "%%" in line
    # systemd unquotes like a POSIX shell for these characters, after turning %% into %
    assert shlex.split(line.removeprefix("ExecStart=").replace("%%", "%")) == [
        str(SCRIPT), "--home", params.home, "run"]


def test_python_interpreter_runs_the_launch_module() -> None:
    params = linux_user(executable=sys.executable, home="/home/jan/.local/share/retention-agent")
    unit = render(params)["retention-agent-user.service"]
    assert f"ExecStart={sys.executable} -m retention_agent.installer.launch --home" in unit


# ---- launchd ----------------------------------------------------------------------------------------


def test_launch_agent_plist_round_trips(tmp_path: Path) -> None:
    """macOS: the plist is checked here; launchctl is not run."""
    params = macos_params()
    path, tray, *bundle = write_definitions(params, tmp_path)
    assert (path.name, tray.name) == ("be.vlaanderen.retention-agent.plist", "be.vlaanderen.retention-agent.tray.plist")
    assert [p.relative_to(tmp_path).as_posix() for p in bundle] == [
        "retention-agent.app/Contents/Info.plist", "retention-agent.app/Contents/MacOS/retention-agent"]
    at_login = plistlib.loads(tray.read_bytes())
    assert at_login["ProgramArguments"] == [params.executable, "--home", params.home, "app", "--minimized"]
    assert at_login["RunAtLoad"] is True and "KeepAlive" not in at_login, "quitting the app in the menu bar is final"
    assert b"&amp; &lt;agent&gt;" in path.read_bytes()
    plist = plistlib.loads(path.read_bytes())
    assert plist["Label"] == "be.vlaanderen.retention-agent"
    assert plist["ProgramArguments"] == [params.executable, "--home", params.home, "run"]
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["Umask"] == 0o077


# ---- Task Scheduler ---------------------------------------------------------------------------------


def parse_task(path: Path) -> ET.Element:
    raw = path.read_bytes()
    assert raw.startswith(b"\xff\xfe"), "UTF-16 with a byte order mark"
    assert raw.decode("utf-16").startswith('<?xml version="1.0" encoding="UTF-16"?>')
    root = ET.fromstring(raw)
    assert root.tag == f"{{{TASK_NS}}}Task"
    return root


def text(root: ET.Element, path: str) -> str:
    found = root.find(path, NS)
    assert found is not None, path
    return found.text or ""


def assert_task_structure(root: ET.Element, trigger: str) -> None:
    for path in ("t:RegistrationInfo", "t:Principals/t:Principal", "t:Settings", "t:Actions/t:Exec/t:Command",
                 f"t:Triggers/t:{trigger}"):
        assert root.find(path, NS) is not None, path
    assert text(root, "t:Settings/t:Hidden") == "true"
    assert text(root, "t:Settings/t:ExecutionTimeLimit") == "PT0S"
    assert text(root, "t:Principals/t:Principal/t:RunLevel") == "LeastPrivilege"
    for who in root.iterfind("t:Principals/t:Principal/*", NS):
        if who.tag.endswith(("UserId", "GroupId")):
            assert (who.text or "").lower() not in LOCAL_SYSTEM


def assert_windowless_action(root: ET.Element, params: ServiceParams, *command: str) -> None:
    assert text(root, "t:Actions/t:Exec/t:Command") == ODD_WINDOWS_PYTHON.replace("python.exe", "pythonw.exe")
    expected = ["-m", "retention_agent.installer.launch", "--home", params.home, *command]
    assert text(root, "t:Actions/t:Exec/t:Arguments") == subprocess.list2cmdline(expected)


def test_user_logon_task_xml(tmp_path: Path) -> None:
    """Windows per-user mode: the task XML is checked here; schtasks is not run."""
    params = windows_params("user")
    write_definitions(params, tmp_path)
    raw = (tmp_path / "retention-agent-task.xml").read_bytes().decode("utf-16")
    assert "Data &amp; &lt;x&gt;" in raw and "Files &amp; &lt;Co&gt;" in raw
    root = parse_task(tmp_path / "retention-agent-task.xml")
    assert_task_structure(root, "LogonTrigger")
    assert text(root, "t:Triggers/t:LogonTrigger/t:UserId") == "GEMEENTE\\Jan Peeters"
    assert text(root, "t:Principals/t:Principal/t:UserId") == "GEMEENTE\\Jan Peeters"
    assert text(root, "t:Principals/t:Principal/t:LogonType") == "InteractiveToken"
    assert_windowless_action(root, params, "run")


def test_shared_mode_tasks_never_run_as_local_system(tmp_path: Path) -> None:
    """Windows shared mode: agent at boot under its own account (S4U), notifier at every user's logon."""
    params = windows_params("shared")
    write_definitions(params, tmp_path)
    agent = parse_task(tmp_path / "retention-agent-service-task.xml")
    assert_task_structure(agent, "BootTrigger")
    assert text(agent, "t:Principals/t:Principal/t:UserId") == "retention-agent"
    assert text(agent, "t:Principals/t:Principal/t:LogonType") == "S4U"
    assert_windowless_action(agent, params, "run")
    notifier = parse_task(tmp_path / "retention-agent-notifier-task.xml")
    assert_task_structure(notifier, "LogonTrigger")
    assert text(notifier, "t:Principals/t:Principal/t:GroupId") == "S-1-5-32-545"
    assert notifier.find("t:Triggers/t:LogonTrigger/t:UserId", NS) is None  # every user
    assert_windowless_action(notifier, params, "app", "--minimized")


@pytest.mark.parametrize(
    "account", ["LocalSystem", "SYSTEM", "localservice", "Administrator", "root", "NT AUTHORITY\\SYSTEM"]
)
def test_shared_mode_refuses_builtin_accounts(account: str) -> None:
    for platform in ("windows", "linux"):
        with pytest.raises(ValueError, match="never"):
            replace(windows_params("shared") if platform == "windows" else linux_shared(), account=account)


def test_install_cmd_is_silent_quoted_and_powershell_free(tmp_path: Path) -> None:
    params = windows_params("shared")
    written = {p.name: p for p in write_definitions(params, tmp_path)}
    install = written["install.cmd"].read_bytes()
    assert b"\r\n" in install and b"\n" not in install.replace(b"\r\n", b"")
    script = install.decode("utf-8")
    assert "powershell" not in script.lower()
    lines = [x for x in script.splitlines() if not x.startswith("rem ")]
    account_line = f'"{ODD_WINDOWS_PYTHON}" -m retention_agent.installer.winaccount retention-agent'
    assert account_line + " || goto :failed" in lines
    home = 'icacls "C:\\ProgramData\\Retention & <Agent>"'
    assert home + ' /inheritance:r /grant:r "retention-agent:(OI)(CI)F"' in script
    assert 'icacls "D:\\AgII drop & <in>" /grant "retention-agent:(OI)(CI)M" /Q || goto :failed' in lines
    for name in ("retention-agent-service-task.xml", "retention-agent-notifier-task.xml"):
        assert f'schtasks /Create /XML "%~dp0{name}" /TN' in script and name in written
    pointer = 'cmd /c copy /Y "%~dp0client.toml" C:\\ProgramData\\retention-agent\\client.toml || goto :failed'
    assert pointer in lines and "client.toml" in written
    # outside double quotes no line carries a bare & < > | except the script's own operators
    for line in lines:
        bare = "".join(part for i, part in enumerate(line.split('"')) if i % 2 == 0)
        for operator in ("2>&1", ">nul", "||", "1>&2", "& exit"):
            bare = bare.replace(operator, "")
        assert not set(bare) & set("&<>|"), line


def test_uninstall_cmd_hands_over_to_the_guarded_command(tmp_path: Path) -> None:
    params = windows_params("user")
    script = render(params)["uninstall.cmd"]
    last = [x for x in script.splitlines() if x and not x.startswith("rem ")][-2]
    assert last.startswith(f'"{ODD_WINDOWS_PYTHON}" -m retention_agent.installer.launch --home ')
    assert last.endswith("service uninstall --mode user --platform windows %*")
    assert "powershell" not in script.lower()


# ---- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"home": "relative/home"}, "absolute"),
        ({"executable": "retention-agent"}, "absolute"),
        ({"home": "/var/lib/../etc"}, "'..'"),
        ({"home": "/srv/retention-agent"}, "under /var/lib"),
        ({"home": "/var/lib/retention agent"}, "under /var/lib"),
        ({"account": "Retention Agent"}, "account name"),
        ({"account": "x;rm -rf"}, "account name"),
        ({"description": "two\nlines"}, "one line"),
        ({"drop_folders": ("inbox",)}, "absolute"),
        ({"mode": "system"}, "mode"),
        ({"protect_home": "no"}, "protect_home"),
    ],
)
def test_invalid_linux_params_are_refused_clearly(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        linux_shared(**change)


def test_invalid_windows_and_macos_params_are_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"pythonw\.exe"):
        windows_params("user", executable="C:\\Python311\\Scripts\\retention-agent.exe")
    with pytest.raises(ValueError, match="expand"):
        windows_params("user", home="C:\\Users\\%USERNAME%\\ra")
    with pytest.raises(ValueError, match="absolute"):
        windows_params("shared", home="/var/lib/retention-agent")
    with pytest.raises(ValueError, match="macOS"):
        replace(macos_params(), mode="shared")


# ---- the platform side, through a recording runner --------------------------------------------------


def responder(absent_account: bool = True) -> RecordingRunner:
    def respond(argv: tuple[str, ...]) -> Result:
        return Result(2 if absent_account and argv[0] == "getent" else 0)

    return RecordingRunner(respond=respond)


def test_linux_shared_install_issues_the_commands_in_order() -> None:
    params = linux_shared()
    runner = responder()
    driver.install(params, runner)
    commands = [line.split(" (mode")[0] for line in runner.calls]
    assert commands == [
        "$ getent passwd retention-agent",
        "$ useradd --system --user-group --home-dir /var/lib/retention-agent --no-create-home --shell "
        "/usr/sbin/nologin --comment 'retention-agent service account' retention-agent",
        "$ install -d -m 0711 -o retention-agent -g retention-agent /var/lib/retention-agent",
        "$ setfacl -m u:retention-agent:rwx,d:u:retention-agent:rwx '/srv/agii drop & <inbox>'",
        "$ setfacl -m u:retention-agent:rwx,d:u:retention-agent:rwx '/home/events team/100% AgII'",
        "$ setfacl -m u:retention-agent:rwx,d:u:retention-agent:rwx /srv/plain",
        "# write /etc/systemd/system/retention-agent.service",
        "# write /etc/systemd/user/retention-agent-notifier.service",
        "$ install -d -m 0755 -o root -g root /etc/retention-agent",
        "# write /etc/retention-agent/client.toml",
        "# write /usr/share/applications/retention-agent.desktop",
        "$ systemctl daemon-reload",
        "$ systemctl --global enable retention-agent-notifier.service",
        "$ systemctl enable --now retention-agent.service",
    ]
    assert runner.files["/etc/systemd/system/retention-agent.service"] == render(params)[
        "retention-agent.service"].encode()
    assert runner.files["/etc/retention-agent/client.toml"] == render(params)["client.toml"].encode()
    assert "# write /etc/retention-agent/client.toml (mode 0644," in " ".join(runner.calls)


def test_the_pointer_names_the_home_and_the_client_reads_it_where_the_installer_writes_it() -> None:
    from retention_agent.installer.params import POINTER_PATHS

    from retention_agent.system import home

    assert POINTER_PATHS == home.POINTER_PATHS
    text = render(linux_shared())["client.toml"]
    assert home.parse_pointer(text.encode(), Path("client.toml")) == Path("/var/lib/retention-agent")
    assert "client.toml" not in render(linux_user()) and "client.toml" not in render(windows_params("user"))


def test_linux_shared_uninstall_removes_the_pointer_and_takes_back_the_drop_folder_access() -> None:
    runner = RecordingRunner()
    driver.uninstall(linux_shared(drop_folders=("/srv/plain",)), runner, has_live_deliveries=lambda: 0)
    assert runner.calls[-6:] == [
        "$ systemctl daemon-reload",
        "# remove /etc/retention-agent/client.toml",
        "$ rmdir --ignore-fail-on-non-empty /etc/retention-agent",
        "$ setfacl -x u:retention-agent,d:u:retention-agent /srv/plain",
        "# remove /var/lib/retention-agent",
        "$ userdel retention-agent",
    ]
    kept = RecordingRunner()
    driver.uninstall(linux_shared(drop_folders=("/srv/plain",)), kept, has_live_deliveries=lambda: 0,
                    keep_home=True)
    assert "# remove /etc/retention-agent/client.toml" in kept.calls  # the service is gone either way
    assert not any("setfacl" in line or "userdel" in line for line in kept.calls)


@pytest.mark.parametrize("folder", ["/tmp/agii", "/var/tmp/agii", "/tmp"])
def test_a_drop_folder_the_service_cannot_see_is_refused_in_shared_mode(folder: str) -> None:
    with pytest.raises(ValueError, match="PrivateTmp=yes"):
        linux_shared(drop_folders=(folder,))
    assert linux_user(drop_folders=(folder,)).drop_folders == (folder,)  # a user-mode agent sees the real /tmp


def test_linux_install_keeps_an_existing_account_and_can_defer_the_start() -> None:
    runner = responder(absent_account=False)
    driver.install(linux_shared(), runner, start=False)
    assert not any("useradd" in line for line in runner.calls)
    assert runner.calls[-1] == "$ systemctl enable retention-agent.service"


def test_init_can_run_as_the_service_account_before_the_start() -> None:
    command = linux.as_service_account(linux_shared(), "init", "--municipality", "De Panne")
    assert command == ["runuser", "-u", "retention-agent", "--", str(SCRIPT), "--home", "/var/lib/retention-agent",
                       "init", "--municipality", "De Panne"]


def test_linux_install_stops_at_the_first_failed_command() -> None:
    runner = RecordingRunner(respond=lambda argv: Result(1, "", "Failed to reload daemon: Access denied")
                             if argv == ("systemctl", "daemon-reload") else Result(0))
    with pytest.raises(InstallError, match="daemon-reload' failed with exit code 1: Failed to reload daemon"):
        driver.install(linux_shared(), runner)
    assert runner.calls[-1] == "$ systemctl daemon-reload"


def test_linux_user_install(tmp_path: Path) -> None:
    runner = RecordingRunner()
    execute(linux.install_steps(linux_user(), unit_dir=str(tmp_path)), runner, render(linux_user()))
    assert runner.calls[1].startswith("# write ") and runner.calls[1].split(" (mode")[0].endswith(
        "/applications/retention-agent.desktop")
    assert runner.calls[2].startswith("# write ") and runner.calls[2].split(" (mode")[0].endswith(
        "/autostart/retention-agent-tray.desktop")
    assert runner.calls[3:] == ["$ systemctl --user daemon-reload",
                                "$ systemctl --user enable --now retention-agent-user.service"]
    assert str(tmp_path / "retention-agent-user.service") in runner.files


def test_linux_status_reads_systemctl() -> None:
    answers = {"is-enabled": "enabled\n", "is-active": "active\n"}
    runner = RecordingRunner(respond=lambda argv: Result(0, answers[argv[-2]]))
    state = driver.status(linux_shared(), runner)
    assert (state.installed, state.running) == (True, True)


def test_uninstall_refuses_while_deliveries_remain() -> None:
    runner = RecordingRunner()
    with pytest.raises(UninstallRefusedError, match="still holds 3 deliveries") as refused:
        driver.uninstall(linux_shared(), runner, has_live_deliveries=lambda: 3)
    assert refused.value.count == 3
    assert runner.calls == []  # nothing touched


def test_uninstall_keep_home_leaves_home_and_account() -> None:
    runner = RecordingRunner()
    driver.uninstall(linux_shared(), runner, has_live_deliveries=lambda: 3, keep_home=True)
    assert "$ systemctl disable --now retention-agent.service" in runner.calls
    assert not any("/var/lib/retention-agent" in line or "userdel" in line for line in runner.calls)


def test_uninstall_purge_first_purges_then_removes_everything() -> None:
    remaining = [2]
    runner = RecordingRunner()

    def purge_all() -> None:
        runner.calls.append("purge")
        remaining[0] = 0

    driver.uninstall(linux_shared(), runner, has_live_deliveries=lambda: remaining[0], purge_all=purge_all,
                    purge_first=True)
    assert runner.calls[0] == "purge"
    assert runner.calls[-2:] == ["# remove /var/lib/retention-agent", "$ userdel retention-agent"]


def test_uninstall_refuses_when_the_purge_left_deliveries() -> None:
    runner = RecordingRunner()
    with pytest.raises(UninstallRefusedError, match="purge left 1"):
        driver.uninstall(linux_shared(), runner, has_live_deliveries=lambda: 1, purge_all=lambda: None,
                        purge_first=True)
    with pytest.raises(ValueError, match="purge_all"):
        driver.uninstall(linux_shared(), runner, has_live_deliveries=lambda: 1, purge_first=True)
    assert runner.calls == []


def test_removal_near_the_root_is_refused() -> None:
    for path in ("/", "/var", "C:\\"):
        with pytest.raises(ValueError, match="too close"):
            execute([Remove(path)], RecordingRunner(), {})


def test_windows_install_runs_the_install_cmd_steps(tmp_path: Path) -> None:
    """Windows shared mode through a recording runner: the order of the commands; none is executed here."""
    params = windows_params("shared")
    runner = RecordingRunner()
    execute(windows.install_steps(params, str(tmp_path)), runner, render(params), str(tmp_path))
    programs = [shlex.split(line[2:])[:2] if line.startswith("$") else line.split()[:2]
                for line in runner.calls]
    assert programs == [
        ["#", "write"], ["#", "write"], [ODD_WINDOWS_PYTHON, "-m"],
        ["#", "mkdir"], ["icacls", "C:\\ProgramData\\retention-agent"], ["icacls", "C:\\ProgramData\\retention-agent"],
        ["#", "mkdir"], ["icacls", params.home], ["icacls", params.drop_folders[0]],
        ["schtasks", "/Create"], ["schtasks", "/Create"], ["cmd", "/c"], ["cmd", "/c"], [ODD_WINDOWS_PYTHON, "-m"],
        ["schtasks", "/Run"],
    ]
    xml = str(tmp_path / "retention-agent-service-task.xml")
    assert runner.files[xml].startswith(b"\xff\xfe")
    assert f"$ schtasks /Create /XML {xml} /TN 'retention-agent\\agent' /F" in runner.calls
    pointer_acl = "$ icacls 'C:\\ProgramData\\retention-agent' /inheritance:r /grant:r '*S-1-5-18:(OI)(CI)F' " \
                  "'*S-1-5-32-544:(OI)(CI)F' '*S-1-5-32-545:(OI)(CI)RX' /Q"
    assert pointer_acl in runner.calls
    copy = f"$ cmd /c copy /Y {tmp_path / 'client.toml'} 'C:\\ProgramData\\retention-agent\\client.toml'"
    assert copy in runner.calls
    assert runner.calls[runner.calls.index(copy) - 1] == \
        "$ cmd /c del /f /q 'C:\\ProgramData\\retention-agent\\client.toml'"


def test_windows_user_uninstall_and_status() -> None:
    params = windows_params("user")
    runner = RecordingRunner()
    driver.uninstall(params, runner, has_live_deliveries=lambda: 0)
    task, app = "retention-agent\\agent-Jan Peeters", "retention-agent\\app-Jan Peeters"
    shortcut = [ODD_WINDOWS_PYTHON, "-m", "retention_agent.installer.winshortcut", "--user", "--remove",
                ODD_WINDOWS_PYTHON.replace("python.exe", "pythonw.exe"), params.home]
    assert runner.calls == [f"$ {shlex.join(shortcut)}",
                            f"$ schtasks /End /TN {shlex.quote(app)}",
                            f"$ schtasks /Delete /TN {shlex.quote(app)} /F",
                            f"$ schtasks /End /TN {shlex.quote(task)}",
                            f"$ schtasks /Delete /TN {shlex.quote(task)} /F",
                            f"# remove {params.home}"]
    state = driver.status(params, RecordingRunner(respond=lambda argv: Result(1)))
    assert (state.installed, state.running) == (False, None)


def test_macos_install_bootstraps_the_agent() -> None:
    """macOS: the launchctl commands as they would be issued; launchctl is not run here."""
    runner = RecordingRunner()
    execute(macos.install_steps(macos_params(), uid=501), runner, render(macos_params()))
    assert runner.calls[0].startswith("# write ") and "LaunchAgents/be.vlaanderen.retention-agent.plist" in \
        runner.calls[0]
    assert "LaunchAgents/be.vlaanderen.retention-agent.tray.plist (mode 0644" in runner.calls[1]
    assert "Applications/retention-agent.app/Contents/Info.plist (mode 0644" in runner.calls[2]
    assert "Applications/retention-agent.app/Contents/MacOS/retention-agent (mode 0755" in runner.calls[3]
    assert runner.calls[4] == "$ launchctl bootout gui/501/be.vlaanderen.retention-agent"
    assert runner.calls[5].startswith("$ launchctl bootstrap gui/501 ")
    assert runner.calls[6] == "$ launchctl bootout gui/501/be.vlaanderen.retention-agent.tray"
    assert runner.calls[7].startswith("$ launchctl bootstrap gui/501 ") and runner.calls[7].endswith(".tray.plist")


# ---- the public entry -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "platform", "names"),
    [
        ("shared", "linux", {"retention-agent.service", "retention-agent-notifier.service", "retention-agent.desktop",
                             "client.toml"}),
        ("user", "linux", {"retention-agent-user.service", "retention-agent.desktop", "retention-agent-tray.desktop"}),
        ("shared", "windows", {"retention-agent-service-task.xml", "retention-agent-notifier-task.xml",
                               "install.cmd", "uninstall.cmd", "client.toml"}),
        ("user", "windows", {"retention-agent-task.xml", "retention-agent-app-task.xml", "install.cmd",
                             "uninstall.cmd"}),
        ("user", "macos", {"be.vlaanderen.retention-agent.plist", "be.vlaanderen.retention-agent.tray.plist",
                           "Info.plist", "retention-agent"}),
    ],
)
def test_dry_run_writes_any_platform_here(tmp_path: Path, mode: str, platform: str, names: set[str]) -> None:
    params = default_params(mode, platform)
    written = write_definitions(params, tmp_path / "out")
    assert {p.name for p in written} == names
    assert all(p.stat().st_size > 0 for p in written)


def test_platform_steps_and_current_platform() -> None:
    for name in ("linux", "windows", "macos"):
        module = driver.platform_steps(name)
        assert callable(getattr(module, "install_steps")) and callable(module.uninstall_steps)  # noqa: B009
        assert not hasattr(module, "install") and not hasattr(module, "uninstall")  # the driver's, for all three
    with pytest.raises(ValueError, match="unknown platform"):
        driver.platform_steps("solaris")
    assert current_platform() == "linux"


@pytest.mark.parametrize("params", [linux_user(), linux_shared(drop_folders=("/srv/plain",)), windows_params("user"),
                                    windows_params("shared"), macos_params()],
                         ids=["linux-user", "linux-shared", "windows-user", "windows-shared", "macos"])
def test_the_one_driver_performs_exactly_each_platforms_step_lists(params: ServiceParams, tmp_path: Path) -> None:
    """install/uninstall are the same driver everywhere: what it does is the platform's step list, executed."""
    module = driver.platform_steps(params.platform)
    installed, expected = RecordingRunner(), RecordingRunner()
    driver.install(params, installed, start=True)
    if params.platform == "windows":  # the driver writes the task XML into a temporary folder of its own
        files_dir = next(line.split()[2].rsplit("\\", 1)[0].rsplit("/", 1)[0] for line in installed.calls
                         if line.startswith("# write"))
        assert Path(files_dir).name.startswith("retention-agent-") and not Path(files_dir).exists()
        execute(windows.install_steps(params, files_dir), expected, render(params), files_dir)
    else:
        execute(getattr(module, "install_steps")(params), expected, render(params))  # noqa: B009
    assert installed.calls == expected.calls and installed.files == expected.files
    for keep_home in (True, False):
        removed, expected = RecordingRunner(), RecordingRunner()
        driver.uninstall(params, removed, has_live_deliveries=lambda: 0, keep_home=keep_home)
        execute(module.uninstall_steps(params, keep_home=keep_home), expected, {})
        assert removed.calls == expected.calls and removed.calls


def test_windows_status_command_and_account_helper_off_windows() -> None:
    from retention_agent.installer import winaccount

    query = winsteps.status_command(windows_params("shared"))
    assert query == ("schtasks", "/Query", "/TN", "retention-agent\\agent")
    password = winaccount.random_password()
    assert len(password) >= 40 and any(c.isupper() for c in password) and any(c.isdigit() for c in password)
    assert winaccount.main(["retention-agent"]) == 1  # needs Windows; says so instead of crashing


def test_launch_replaces_missing_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    """What pythonw.exe does to sys.stdout/sys.stderr, imitated; the command line is a stand-in here."""
    from retention_agent.installer import launch

    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    fake_cli = types.ModuleType("retention_agent.cli.main")
    fake_cli.main = lambda: print("hello") or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "retention_agent.cli.main", fake_cli)
    assert launch.main() == 0
    assert sys.stdout is not None and sys.stderr is not None


def test_system_runner_writes_atomically_and_removes(tmp_path: Path) -> None:
    """The real runner, on this machine (the only part of it that needs no root)."""
    from retention_agent.installer.runner import SystemRunner

    runner = SystemRunner()
    target = tmp_path / "etc" / "unit.service"
    runner.write_file(str(target), b"[Unit]\n", 0o644)
    assert target.read_bytes() == b"[Unit]\n" and (target.stat().st_mode & 0o777) == 0o644
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind
    runner.make_dir(str(tmp_path / "home" / "vault"))
    runner.remove(str(tmp_path / "home"))
    runner.remove(str(tmp_path / "home"))  # already gone: fine
    assert not (tmp_path / "home").exists()
    assert runner.run(["true"]).returncode == 0
    missing = runner.run(["/nonexistent/retention-agent-tool"])
    assert missing.returncode == 127 and "No such file" in missing.stderr


def test_cmd_scripts_are_utf8_for_accented_paths(tmp_path: Path) -> None:
    params = windows_params("shared", home="C:\\ProgramData\\Zelé retention-agent")
    write_definitions(params, tmp_path)
    script = (tmp_path / "install.cmd").read_bytes().decode("utf-8")
    assert "chcp 65001" in script and '"C:\\ProgramData\\Zelé retention-agent"' in script


# ---- the desktop app's menu entries and the logon task ----------------------------------------------------


def test_shared_mode_logon_starts_the_app_in_the_tray() -> None:
    unit = render(linux_shared())["retention-agent-notifier.service"]
    assert f"ExecStart={SCRIPT} --home /var/lib/retention-agent app --minimized" in unit


def test_per_user_logon_starts_the_app_in_the_tray_too(tmp_path: Path) -> None:
    """Per-user mode: besides the agent, each platform starts the app in the tray at the user's logon (Linux: an XDG
    autostart entry, checked with desktop-file-validate; Windows: a second logon task; macOS: a second LaunchAgent)."""
    files = render(linux_user())
    entry = files["retention-agent-tray.desktop"]
    [exec_line] = [line for line in entry.splitlines() if line.startswith("Exec=")]
    [menu_exec] = [line for line in files["retention-agent.desktop"].splitlines() if line.startswith("Exec=")]
    assert exec_line == menu_exec + " --minimized"
    path = tmp_path / "retention-agent-tray.desktop"
    path.write_text(entry)
    if shutil.which("desktop-file-validate") is None:
        pytest.fail("desktop-file-validate is missing: run scripts/test.sh, which installs desktop-file-utils")
    done = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout
    params = windows_params("user")
    files = render(params)
    task = files["retention-agent-app-task.xml"]
    assert "<LogonTrigger>" in task and "<UserId>GEMEENTE\\Jan Peeters</UserId>" in task
    assert "<LogonType>InteractiveToken</LogonType>" in task
    assert "pythonw.exe</Command>" in task and "app --minimized</Arguments>" in task
    steps = [s.argv for s in winsteps.install_steps(params) if isinstance(s, Run)]
    assert ("schtasks", "/Run", "/TN", "retention-agent\\app-Jan Peeters") in steps
    assert any(argv[:2] == ("schtasks", "/Create") and getattr(argv[3], "name", "") == "retention-agent-app-task.xml"
               and argv[5] == "retention-agent\\app-Jan Peeters" for argv in steps)
    assert "retention-agent-app-task.xml" in files["install.cmd"]


def test_the_desktop_entry_starts_the_app(tmp_path: Path) -> None:
    params = linux_user(home="/home/jan/Mijn map/$agent\\%x")
    entry = render(params)["retention-agent.desktop"]
    assert entry.startswith("[Desktop Entry]\nType=Application\n")
    [exec_line] = [line for line in entry.splitlines() if line.startswith("Exec=")]
    assert exec_line == f'Exec={SCRIPT} --home "/home/jan/Mijn map/\\\\$agent\\\\\\\\%%x" app'
    if shutil.which("desktop-file-validate") is None:
        pytest.fail("desktop-file-validate is missing: run scripts/test.sh, which installs desktop-file-utils")
    path = tmp_path / "retention-agent.desktop"
    path.write_text(entry)
    done = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout


def test_the_macos_app_bundle_starts_the_app(tmp_path: Path) -> None:
    """macOS: the bundle's files are checked here; macOS never opened it."""
    files = render(macos_params())
    info = plistlib.loads(files["retention-agent.app/Contents/Info.plist"].encode())
    assert info["CFBundleExecutable"] == "retention-agent" and info["CFBundlePackageType"] == "APPL"
    launcher = files["retention-agent.app/Contents/MacOS/retention-agent"]
    assert launcher.startswith("#!/bin/sh\nexec ")
    script = tmp_path / "launcher.sh"
    script.write_text(launcher.replace("exec ", "printf '%s\\n' ", 1))
    done = subprocess.run(["sh", str(script), "extra"], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [macos_params().executable, "--home", macos_params().home, "app", "extra"]


def test_the_windows_start_menu_shortcut_is_a_shell_link() -> None:
    """Windows: the .lnk bytes are checked against [MS-SHLLINK] here; Windows never opened one."""
    from retention_agent.installer import winshortcut

    target = "C:\\Program Files\\Python311\\pythonw.exe"
    arguments = winshortcut.app_arguments("C:\\ProgramData\\retention-agent")
    data = winshortcut.shell_link(target, arguments, "C:\\Program Files\\Python311", "retention-agent")
    size, clsid, flags = struct.unpack_from("<I16sI", data)
    assert (size, clsid, flags & 0xF6) == (0x4C, winshortcut.LINK_CLSID, 0xB6)
    info_size, header_size, info_flags, _volume, base_at = struct.unpack_from("<IIIII", data, 0x4C)
    assert (header_size, info_flags) == (0x1C, 1)
    base = data[0x4C + base_at:].split(b"\0", 1)[0].decode("cp1252")
    assert base == target
    strings, at = [], 0x4C + info_size
    for _ in range(3):
        (count,) = struct.unpack_from("<H", data, at)
        strings.append(data[at + 2:at + 2 + 2 * count].decode("utf-16-le"))
        at += 2 + 2 * count
    assert strings == ["retention-agent", "C:\\Program Files\\Python311", arguments]
    assert data[at:] == bytes(4)
    assert arguments == "-m retention_agent.installer.launch --home C:\\ProgramData\\retention-agent app"
