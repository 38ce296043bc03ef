"""``retention-agent service``: the shared-mode installation on Linux, for real, and its command line.

Run for real here (as root; skipped otherwise, since it creates accounts): ``useradd`` of a unique service
account, ``install -d`` of its home under /var/lib, the unit files written to disk, ``runuser … init`` as
that account, the agent started from the written unit's ``ExecStart=`` line as the unit's ``User=``, a
second test account (``useradd``) reaching the socket from a forked child of this process that setuid()s
to it (the root-owned Python of the venv cannot be executed by other accounts; the agent itself runs from a
venv under /var/tmp that every account can execute), the refusal of ``service uninstall`` with deliveries
present (the real command line), and the uninstallation with ``--purge``: proofs exported and verified
with ssh-keygen, home removed, ``userdel``.

NOT run here:
- ``systemctl``: systemd is not PID 1 on this machine. A runner records every systemctl call and imitates
  the one unit (start = run its ExecStart as its User in the background; stop = SIGTERM). So the unit's
  hardening (ProtectSystem=, PrivateTmp=, …, ``StateDirectory=``) is not applied here; the unit itself is
  checked by ``systemd-analyze verify`` in test_installer_definitions.py.
- Unit files go to a staging folder standing in for /etc/systemd, so a test never overwrites a unit of
  this machine (nor another test run's).
- Windows (schtasks, icacls, the service account) and macOS (launchctl): never run; their definitions are
  checked as files in test_installer_definitions.py.
"""

from __future__ import annotations

import fcntl
import grp
import hashlib
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from retention_agent.installer import default_params
from retention_agent.installer.params import SYSTEM_UNIT, USER_UNIT
from retention_agent.installer.runner import RecordingRunner, Result, SystemRunner

from retention_agent.api.client import Client
from retention_agent.clock import ManualClock
from retention_agent.errors import (
    AccessDeniedError,
    HomeNotEmptyError,
    InboxMissingError,
    ServiceInitOptionsError,
    ServiceUninstallRefusedError,
)
from retention_agent.system.home import Home
from retention_agent.system.init_home import init_home
from retention_agent.system.service import (
    HomeSetup,
    api_caller,
    install_service,
    live_count,
    uninstall_service,
)
from tests.accounts import as_account, needs_root
from tests.conftest import ME, cli, socket_answers
from tests.shared_pointer import POINTER, real_pointer

PROJECT = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"


# ---- a Python every account can execute -------------------------------------------------------------


def _dependencies() -> list[str]:
    with open(PROJECT / "pyproject.toml", "rb") as handle:
        return list(tomllib.load(handle)["project"]["dependencies"])


def _deps_venv() -> Path:
    """The project's dependencies in a venv under /var/tmp, built once per dependency list (a lock keeps
    parallel runs from building it twice). Everything in it is world-readable."""
    deps = _dependencies()
    key = hashlib.sha256(json.dumps(deps).encode()).hexdigest()[:16]
    target = Path(f"/var/tmp/retention-agent-test-deps-{key}")
    with open("/var/tmp/retention-agent-test-deps.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "ok").exists():
            return target
        building = target.with_name(target.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        old_umask = os.umask(0o022)
        try:
            subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(building)], check=True, timeout=120)
            subprocess.run([str(building / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *deps],
                           check=True, timeout=600, capture_output=True)
        finally:
            os.umask(old_umask)
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)  # the venv's scripts name its old path; only its site-packages are used
        (target / "ok").write_text("built\n")
        return target


def _site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def make_world_venv(folder: Path) -> Path:
    """A fresh venv in ``folder`` holding this checkout (copied, as pip would install it) and, through a
    .pth file, the cached dependencies. Returns its ``retention-agent`` console script."""
    deps = _site_packages(_deps_venv())
    venv = folder / "venv"
    old_umask = os.umask(0o022)
    try:
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
        site = _site_packages(venv)
        (site / "retention-agent-deps.pth").write_text(f"{deps}\n")
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(PROJECT / "retention_agent", site / "retention_agent", ignore=ignore)
        shutil.copytree(PROJECT / "installer", site / "retention_agent" / "installer", ignore=ignore)
        script = venv / "bin" / "retention-agent"
        script.write_text(f"#!{venv}/bin/python\nimport sys\nfrom retention_agent.cli.main import main\n"
                          "sys.exit(main())\n")
        script.chmod(0o755)
    finally:
        os.umask(old_umask)
    return script


# ---- systemd, imitated --------------------------------------------------------------------------------


def unit_settings(text: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), value.strip())
    return settings


class FakeSystemd(SystemRunner):
    """Runs every command for real, except ``systemctl``: recorded, and imitated for the system unit.

    Files under /etc/systemd are written to (and removed from) ``root`` instead, the rest for real.
    """

    def __init__(self, root: Path, output: Path) -> None:
        self.root = root
        self.output = output
        self.calls: list[tuple[str, ...]] = []
        self.agent: subprocess.Popen[bytes] | None = None
        self.socket: Path | None = None

    def staged(self, path: str) -> str:
        return str(self.root / path.lstrip("/")) if path.startswith("/etc/systemd/") else path

    def run(self, argv: Sequence[str]) -> Result:
        self.calls.append(tuple(argv))
        if argv[0] != "systemctl":
            return super().run(argv)
        args = list(argv[1:])
        if args and args[-1] == SYSTEM_UNIT:
            if args[0] == "start" or args[:2] == ["enable", "--now"]:
                self.start_unit()
            elif args[0] == "stop" or args[:2] == ["disable", "--now"]:
                self.stop_unit()
            elif args[0] == "is-active":
                return Result(0 if self.running else 3, "active\n" if self.running else "inactive\n")
        return Result(0)

    def write_file(self, path: str, content: bytes, mode: int) -> None:
        super().write_file(self.staged(path), content, mode)

    def make_dir(self, path: str) -> None:
        super().make_dir(self.staged(path))

    def remove(self, path: str) -> None:
        super().remove(self.staged(path))

    @property
    def unit_file(self) -> Path:
        return Path(self.staged(f"/etc/systemd/system/{SYSTEM_UNIT}"))

    @property
    def running(self) -> bool:
        return self.agent is not None and self.agent.poll() is None

    def start_unit(self) -> None:
        """What systemd would do, minus the sandbox: ExecStart= as User=/Group=, with Environment=."""
        if self.running:
            return
        unit = unit_settings(self.unit_file.read_text())
        argv = shlex.split(unit["ExecStart"].replace("%%", "%"))
        account = pwd.getpwnam(unit["User"])
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": account.pw_dir}
        key, _, value = unit.get("Environment", "").partition("=")
        if key:
            env[key] = value
        with open(self.output, "ab") as out:
            self.agent = subprocess.Popen(argv, user=account.pw_uid, group=grp.getgrnam(unit["Group"]).gr_gid,
                                          extra_groups=[], umask=0o077, env=env, cwd="/", stdout=out, stderr=out)
        self.socket = Path(argv[argv.index("--home") + 1]) / "agent.sock"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.agent.poll() is not None:
                raise AssertionError("the agent exited: " + self.output.read_text(errors="replace"))
            if socket_answers(self.socket):
                return
            time.sleep(0.05)
        raise AssertionError("the agent did not start: " + self.output.read_text(errors="replace"))

    def stop_unit(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
            self.agent.wait(timeout=30)

    def systemctl_calls(self) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] == "systemctl"]



# ---- the API, as a client


def call(socket_path: Path, op: str, args: dict[str, Any] | None = None) -> Any:
    with Client(socket_path) as client:
        return client.call(op, args)


def upload(socket_path: Path, data: bytes) -> Any:
    with Client(socket_path) as client:
        return client.upload("ingest", {}, [data])


# ---- the real installation -------------------------------------------------------------------------------


class Machine:
    """Unique names for one test run, and a teardown that removes all of it whatever happened."""

    def __init__(self) -> None:
        token = secrets.token_hex(4)
        self.account = f"ra-svc-{token}"
        self.staff = f"ra-staff-{token}"
        self.home = Path(f"/var/lib/ra-svc-{token}")
        self.work = Path(f"/var/tmp/ra-svc-{token}")
        self.work.mkdir(mode=0o755)
        self.work.chmod(0o755)
        self.runner = FakeSystemd(self.work / "units", self.work / "agent-output.txt")

    def teardown(self) -> None:
        self.runner.stop_unit()
        if self.runner.agent is not None and self.runner.agent.poll() is None:
            self.runner.agent.kill()
        for account in (self.account, self.staff):
            subprocess.run(["userdel", account], capture_output=True, check=False)
            subprocess.run(["groupdel", account], capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.rmtree(self.work, ignore_errors=True)


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Machine]:
    """A shared-mode installation writes the machine's real pointer: held, and put back, by real_pointer."""
    for name in ("SUDO_UID", "SUDO_GID", "SUDO_USER"):
        monkeypatch.delenv(name, raising=False)
    with real_pointer():
        setup = Machine()
        try:
            yield setup
        finally:
            setup.teardown()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@needs_root
@pytest.mark.root
def test_shared_mode_install_serve_staff_refuse_purge_and_uninstall(machine: Machine, tmp_path: Path) -> None:
    executable = make_world_venv(machine.work)
    params = default_params("shared", "linux", home=str(machine.home), account=machine.account,
                            executable=str(executable))
    runner = machine.runner

    # -- install: account, home, units, init as the account, start -------------------------------------
    created = install_service(params, runner, setup=HomeSetup(municipality="De Panne", officer="root"))
    assert created
    account = pwd.getpwnam(machine.account)
    assert account.pw_dir == str(machine.home)
    assert account.pw_shell == "/usr/sbin/nologin"
    assert account.pw_uid < 1000  # a system account
    home = Home(machine.home)
    info = machine.home.stat()
    assert (info.st_uid, info.st_gid, mode_of(machine.home)) == (account.pw_uid, account.pw_gid, 0o711)
    for path, mode in ((home.config, 0o600), (home.database, 0o600), (home.keys, 0o700), (home.objects, 0o700),
                       (home.proofs, 0o700), (home.workspace, 0o711)):
        assert (path.stat().st_uid, mode_of(path)) == (account.pw_uid, mode), path
    assert all(key.stat().st_uid == account.pw_uid and mode_of(key) == 0o600 for key in home.keys.iterdir())
    assert home.socket.stat().st_uid == account.pw_uid and mode_of(home.socket) == 0o666

    unit = unit_settings(runner.unit_file.read_text())
    assert unit["User"] == machine.account and unit["StateDirectory"] == machine.home.name
    assert shlex.split(unit["ExecStart"]) == [str(executable), "--home", str(machine.home), "run"]
    assert runner.systemctl_calls() == [
        ("systemctl", "daemon-reload"),
        ("systemctl", "--global", "enable", "retention-agent-notifier.service"),
        ("systemctl", "enable", SYSTEM_UNIT),
        ("systemctl", "start", SYSTEM_UNIT),
    ]
    init_at = next(i for i, c in enumerate(runner.calls) if c[0] == "runuser" and "init" in c)
    assert runner.calls[init_at][:3] == ("runuser", "-u", machine.account)
    assert init_at < runner.calls.index(("systemctl", "start", SYSTEM_UNIT))
    assert runner.agent is not None
    uid_line = next(line for line in Path(f"/proc/{runner.agent.pid}/status").read_text().splitlines()
                    if line.startswith("Uid:"))
    assert uid_line.split()[1:] == [str(account.pw_uid)] * 4
    # every account's command line finds this agent through the pointer, which only root may change
    assert tomllib.loads(POINTER.read_text()) == {"version": 1, "home": str(machine.home), "account": machine.account}
    assert (POINTER.stat().st_uid, mode_of(POINTER), mode_of(POINTER.parent)) == (0, 0o644, 0o755)

    # -- a staff account reaches the socket and is refused until the officer adds it ------------------------
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", machine.staff], check=True)
    with pytest.raises(AccessDeniedError):
        as_account(machine.staff, lambda: call(home.socket, "deliveries"))
    call(home.socket, "staff.add", {"account": machine.staff, "name": "Test Medewerker", "roles": ["import", "read"]})
    assert as_account(machine.staff, lambda: call(home.socket, "whoami"))["roles"] == ["import", "read"]
    delivery = as_account(machine.staff, lambda: upload(home.socket, b"%PDF-1.4\n% synthetic test delivery\n"))
    assert as_account(machine.staff, lambda: [r["id"] for r in call(home.socket, "deliveries")["deliveries"]]) == [
        delivery["delivery"]]
    with Client(home.socket) as client:
        audit = list(client.pages("audit.show", "entries"))
    assert any(e["actor"] == machine.staff and e["outcome"] == "denied" for e in audit)

    # -- uninstall refuses while the vault holds the delivery (the real command line) -------------------------
    refused = subprocess.run(
        [sys.executable, "-m", "retention_agent", "--home", str(machine.home), "service", "uninstall",
         "--mode", "shared", "--account", machine.account],
        capture_output=True, text=True, timeout=60, env={**os.environ, "RETENTION_AGENT_LANG": "en"})
    assert refused.returncode == 1, refused.stderr
    assert "The vault still holds 1 delivery with personal data; nothing was uninstalled." in refused.stderr
    # through sudo, the purge is asked as the account that ran sudo: staff without the officer role
    staff = pwd.getpwnam(machine.staff)
    denied = subprocess.run(
        [sys.executable, "-m", "retention_agent", "--home", str(machine.home), "service", "uninstall",
         "--mode", "shared", "--account", machine.account, "--purge", "--yes"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "RETENTION_AGENT_LANG": "en", "SUDO_UID": str(staff.pw_uid),
             "SUDO_GID": str(staff.pw_gid)})
    assert denied.returncode == 3, denied.stderr
    assert f"The account {machine.staff} may not purge every delivery before an uninstallation." in denied.stderr
    # at a terminal, without --yes: refused before anyone is asked to type the number of deliveries
    terminal, typing = os.openpty()
    try:
        os.write(terminal, b"1\n")
        unasked = subprocess.run(
            [sys.executable, "-m", "retention_agent", "--home", str(machine.home), "service", "uninstall",
             "--mode", "shared", "--account", machine.account, "--purge"],
            stdin=typing, capture_output=True, text=True, timeout=60,
            env={**os.environ, "RETENTION_AGENT_LANG": "en", "SUDO_UID": str(staff.pw_uid),
                 "SUDO_GID": str(staff.pw_gid)})
    finally:
        os.close(terminal)
        os.close(typing)
    assert unasked.returncode == 3 and "Type 1 to purge" not in unasked.stdout, (unasked.stdout, unasked.stderr)
    assert socket_answers(home.socket) and machine.home.is_dir() and pwd.getpwnam(machine.account)
    assert live_count(home, api_caller(home.socket)) == 1
    # with the agent stopped, root counts from the database, as its owner: no root-owned file is left behind
    runner.stop_unit()
    assert live_count(home, api_caller(home.socket)) == 1
    assert [p.name for p in machine.home.rglob("*") if p.lstat().st_uid != account.pw_uid] == []
    runner.start_unit()

    # -- uninstall --purge: proofs, exported and verifiable; then nothing is left -------------------------------
    export = tmp_path / "records"
    asked: list[int] = []
    result = uninstall_service(params, runner, api=api_caller(home.socket), purge=True, keep_home=False,
                               export_dir=export, confirm=lambda n: asked.append(n) or True)
    assert asked == [1]
    assert [p["delivery"] for p in result.purged] == [delivery["delivery"]]
    proof_json = export / "proofs" / f"{delivery['delivery']}.json"
    assert {p.name for p in result.exported} >= {proof_json.name, proof_json.name + ".sig",
                                                  f"{delivery['delivery']}.pdf", "allowed_signers",
                                                  "audit-checkpoint.txt"}
    document = json.loads(proof_json.read_text())
    assert document["trigger"] == "early" and all(document["verification"].values())
    with open(proof_json, "rb") as stdin:
        verified = subprocess.run(
            ["ssh-keygen", "-Y", "verify", "-f", str(export / "allowed_signers"), "-I", "retention-agent@de-panne",
             "-n", "deletion-proof", "-s", f"{proof_json}.sig"], stdin=stdin, capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr

    assert not runner.running and runner.agent is not None and runner.agent.returncode == 0
    assert not machine.home.exists()
    with pytest.raises(KeyError):
        pwd.getpwnam(machine.account)
    with pytest.raises(KeyError):
        grp.getgrnam(machine.account)
    assert not runner.unit_file.exists()
    assert not Path(runner.staged("/etc/systemd/user/retention-agent-notifier.service")).exists()
    assert not POINTER.exists()
    assert runner.systemctl_calls()[4:] == [
        ("systemctl", "stop", SYSTEM_UNIT),  # before the last count and the export
        ("systemctl", "disable", "--now", SYSTEM_UNIT),
        ("systemctl", "--global", "disable", "retention-agent-notifier.service"),
        ("systemctl", "daemon-reload"),
    ]
    assert ("userdel", machine.account) in runner.calls


# ---- without root: user mode, the refusals, the command line ------------------------------------------------


def test_user_mode_creates_the_home_as_the_user_then_registers_and_starts_the_unit(tmp_path: Path) -> None:
    params = default_params("user", "linux", home=str(tmp_path / "home"), executable="/opt/ra/bin/retention-agent")
    recorder = RecordingRunner()
    assert install_service(params, recorder, setup=HomeSetup(municipality="De Panne", officer=ME))
    assert Home(tmp_path / "home").exists()
    assert recorder.calls[-2:] == ["$ systemctl --user daemon-reload",
                                   f"$ systemctl --user enable --now {USER_UNIT}"]
    # a second installation keeps the home as it is
    again = RecordingRunner()
    assert not install_service(params, again, setup=None)
    assert again.calls[-1] == f"$ systemctl --user enable --now {USER_UNIT}"


def test_a_new_home_needs_the_municipality_and_the_officer(tmp_path: Path) -> None:
    params = default_params("user", "linux", home=str(tmp_path / "home"), executable="/opt/ra/bin/retention-agent")
    recorder = RecordingRunner()
    with pytest.raises(ServiceInitOptionsError) as caught:
        install_service(params, recorder, setup=HomeSetup(municipality="", officer=ME))
    assert "--municipality" in caught.value.render("en")
    assert recorder.calls == []


def test_init_takes_an_empty_folder_but_never_a_non_empty_one(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o711)
    init_home(Home(empty), municipality="X", officer=ME, officer_name="O", key_store="file", inboxes=[],
              clock=ManualClock())
    assert Home(empty).exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("someone's file")
    with pytest.raises(HomeNotEmptyError):
        init_home(Home(busy), municipality="X", officer=ME, officer_name="O", key_store="file", inboxes=[],
                  clock=ManualClock())
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]


def test_uninstall_refuses_with_deliveries_and_counts_them_from_the_database_when_the_agent_is_down(
        home: Home) -> None:
    from tests.conftest import AgentProcess

    agent = AgentProcess(home.root).start()
    try:
        call(home.socket, "staff.add", {"account": ME, "name": "Officer", "roles": ["officer", "import"]})
        upload(home.socket, b"%PDF-1.4\n% one\n")
    finally:
        agent.stop()
    params = default_params("user", "linux", home=str(home.root), executable="/opt/ra/bin/retention-agent")
    recorder = RecordingRunner()
    with pytest.raises(ServiceUninstallRefusedError) as caught:
        uninstall_service(params, recorder, api=api_caller(home.socket), purge=False, keep_home=False,
                          export_dir=home.root.parent / "export")
    assert caught.value.params["count"] == 1
    assert recorder.calls == [] and home.exists()
    kept = RecordingRunner()
    uninstall_service(params, kept, api=api_caller(home.socket), purge=False, keep_home=True,
                      export_dir=home.root.parent / "export")
    assert f"$ systemctl --user disable --now {USER_UNIT}" in kept.calls
    assert not any(line.startswith("# remove " + str(home.root)) for line in kept.calls)


def test_dry_run_writes_any_platform_and_changes_nothing(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "retention_agent", "service", "install", "--platform",
                             "windows", "--mode", "shared", "--dry-run", "--out", str(tmp_path / "gpo")],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "gpo").iterdir()) == [
        "client.toml", "install.cmd", "retention-agent-notifier-task.xml", "retention-agent-service-task.xml",
        "uninstall.cmd"]
    assert "schtasks /Run /TN 'retention-agent\\agent'" in result.stdout
    assert "C:\\ProgramData\\retention-agent" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gpo"]


def test_the_command_line_refuses_what_cannot_be_done(tmp_path: Path) -> None:
    both = cli(tmp_path / "home", "service", "uninstall", "--purge", "--keep-home")
    assert both.returncode == 2 and b"--purge or --keep-home" in both.stderr
    other = cli(tmp_path / "home", "service", "install", "--platform", "windows")
    assert other.returncode == 2 and b"--dry-run" in other.stderr
    no_out = cli(tmp_path / "home", "service", "install", "--dry-run")
    assert no_out.returncode == 2 and b"--out" in no_out.stderr


def test_dry_run_shows_the_drop_folders_access_and_init_and_refuses_a_folder_the_service_cannot_see(
        tmp_path: Path) -> None:
    def dry_run(*inbox: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "retention_agent", "service", "install", "--platform", "linux",
                               "--mode", "shared", "--municipality", "De Panne", "--officer", "jdewit", "--dry-run",
                               "--out", str(tmp_path / "out"), *[a for f in inbox for a in ("--inbox", f)]],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)

    shown = dry_run("/srv/agii-inbox", "/srv/zivver")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    for folder in ("/srv/agii-inbox", "/srv/zivver"):
        assert f"$ setfacl -m u:retention-agent:rwx,d:u:retention-agent:rwx {folder}" in lines
    init = next(line for line in lines if line.startswith("$ runuser ") and " init " in line)
    assert shlex.split(init)[-6:] == ["--inbox", "/srv/agii-inbox", "--inbox", "/srv/zivver", "--deployment", "shared"]
    assert "--municipality 'De Panne' --officer jdewit" in init
    assert "# write /etc/retention-agent/client.toml (mode 0644" in shown.stdout
    assert (tmp_path / "out" / "client.toml").is_file()

    for hidden in ("/tmp/agii", "/var/tmp/agii"):
        refused = dry_run(hidden)
        assert refused.returncode == 2, refused.stdout
        assert f"the drop folder '{hidden}' lies under /tmp or /var/tmp" in refused.stderr
        assert "PrivateTmp=yes" in refused.stderr and "Traceback" not in refused.stderr


def test_a_missing_drop_folder_stops_the_installation_before_any_step(tmp_path: Path) -> None:
    params = default_params("user", "linux", home=str(tmp_path / "home"), executable="/opt/ra/bin/retention-agent",
                            drop_folders=(str(tmp_path / "not-there"),))
    recorder = RecordingRunner()
    with pytest.raises(InboxMissingError) as caught:
        install_service(params, recorder, setup=HomeSetup(municipality="De Panne", officer=ME,
                                                          inboxes=params.drop_folders))
    assert f"The drop folder {tmp_path / 'not-there'} does not exist" in caught.value.render("en")
    assert recorder.calls == [] and not (tmp_path / "home").exists()
