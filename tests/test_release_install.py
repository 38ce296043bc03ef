"""The set-up, end to end, as the guides describe it: build the release, install it as docs/administrator.md
says, set up shared mode, and use it as a real privacy officer and a real staff member — without --home.

Run for real: ``scripts/build-release.sh --wheelhouse`` on a copy of this checkout (``python -m build``,
``twine check``, the dependencies downloaded as wheels: PyPI or pip's cache); the administrator guide's
install lines (the block marked ``install: linux``) run as written into a fresh venv made with the system's
Python, offline from that wheelhouse; ``service install --mode shared`` with the guide's options (the real
``useradd`` of a service account, ``setfacl`` on a real drop folder, ``init`` as that account, the machine's
real pointer /etc/retention-agent/client.toml — held under a lock and restored, see shared_pointer.py); two
real accounts with home folders running the *installed* program as separate processes, with nothing but
HOME, PATH and LANG in their environment: the officer adds the staff member with the guide's command, the
staff member runs every command of the staff guide (docs/gebruikershandleiding.md) and reads Dutch.

NOT run: ``systemctl`` (systemd is not PID 1 here; imitated as in test_service_install.py: the unit's
ExecStart= run as its User=), the guide's ``ln -s`` into /usr/local/bin (the link goes into this test's own
bin folder, which is on the accounts' PATH), a desktop (``open`` finds no viewer, the notifier prints).
"""

from __future__ import annotations

import os
import pty
import pwd
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from retention_agent.installer import default_params

from retention_agent.cli.main import register_commands
from retention_agent.system.service import HomeSetup, install_service
from tests.accounts import create_account, needs_root, remove_account
from tests.copies_support import PASSWORD, agii_workbook
from tests.shared_pointer import POINTER, real_pointer
from tests.test_service_install import Machine

PROJECT = Path(__file__).resolve().parents[1]
ADMIN_GUIDE = PROJECT / "docs" / "administrator.md"
STAFF_GUIDE = PROJECT / "docs" / "gebruikershandleiding.md"
EXAMPLE_DELIVERY = ("01JD5Z8K3Q4W7E2R9T6Y", "<id>")  # how the staff guide writes a delivery's id
LONG_RUNNING = (["notifier"], ["run"])  # named in the guide's prose as what runs for you, not typed
UNCOPIED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", "dist", "build", "*.egg-info",
                                  ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis")


# ---- the guides, read as a program ----------------------------------------------------------------------------


def marked_block(text: str, marker: str) -> list[str]:
    """The lines of the fenced code block that follows ``<!-- MARKER (…) -->`` in a guide."""
    found = re.search(r"<!-- " + re.escape(marker) + r" \([^)]*\) -->\n```\w*\n(.*?)```", text, re.S)
    assert found, f"no code block marked {marker!r}: the guide and this test have drifted apart"
    return [line for line in found.group(1).splitlines() if line.strip()]


def staff_guide_commands(text: str) -> list[list[str]]:
    """Every complete ``retention-agent …`` command of the staff guide, in the order a reader meets them: the
    lines of its ``sh`` blocks and the inline ones (those with a ``…`` or ``<path>`` placeholder other than a
    delivery's ``<id>``, and a bare ``retention-agent ingest``, name a form rather than a command)."""
    found: list[list[str]] = []
    pattern = re.compile(r"```sh\n(?P<block>.*?)```|`(?P<inline>retention-agent [^`]*)`", re.S)
    for match in pattern.finditer(text):
        lines = match.group("block").splitlines() if match.group("block") else [match.group("inline")]
        for line in lines:
            if line.startswith("retention-agent ") and "…" not in line and not re.search(r"<(?!id>)[^>]*>", line):
                command = shlex.split(line, comments=True)
                if command[1:] == ["ingest"]:
                    continue
                if command not in found and command[1:] not in LONG_RUNNING:
                    found.append(command)
    return found


# ---- the machine ---------------------------------------------------------------------------------------------


class Site(Machine):
    """test_service_install's machine (a unique service account, home and work folder, systemd imitated),
    plus an officer, a drop folder and the bin folder the installed program is linked into."""

    def __init__(self) -> None:
        super().__init__()
        token = self.account.removeprefix("ra-svc-")
        self.officer = f"ra-off-{token}"
        self.inbox = Path(f"/srv/ra-inbox-{token}")
        self.bin = self.work / "bin"
        self.people: list[str] = []

    def person(self, name: str) -> pwd.struct_passwd:
        """A login account with a home folder, as staff have."""
        self.people.append(name)
        return create_account(name, home=True)

    def run_as(self, account: str, *args: str, typed: str = "") -> subprocess.CompletedProcess[str]:
        """The installed program, as ``account`` logged in: its own HOME, a PATH, a locale, nothing else. Its
        input is a terminal of its own; ``typed`` is typed there once the program asks (a prompt ending in
        ": " on stderr), as a person would type a password."""
        entry = pwd.getpwnam(account)
        env = {"HOME": entry.pw_dir, "USER": account, "LOGNAME": account, "LANG": "C.UTF-8",
               "PATH": f"{self.bin}:/usr/bin:/bin"}
        terminal, keyboard = pty.openpty()
        try:
            with subprocess.Popen(list(args), stdin=keyboard, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env, cwd=entry.pw_dir, user=entry.pw_uid, group=entry.pw_gid, extra_groups=[],
                                  umask=0o077, start_new_session=True) as process:
                asked = b""
                if typed:
                    assert process.stderr is not None
                    while not asked.endswith(b": ") and (chunk := process.stderr.read1(256)):
                        asked += chunk
                    os.write(terminal, typed.encode() + b"\n")
                out, err = process.communicate(timeout=120)
            return subprocess.CompletedProcess(args, process.returncode, out.decode(), (asked + err).decode())
        finally:
            os.close(terminal)
            os.close(keyboard)

    def teardown(self) -> None:
        for name in self.people:
            remove_account(name, home=True)
        super().teardown()
        shutil.rmtree(self.inbox, ignore_errors=True)


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    for name in ("SUDO_UID", "SUDO_GID", "SUDO_USER"):
        monkeypatch.delenv(name, raising=False)
    with real_pointer():
        made = Site()
        try:
            yield made
        finally:
            made.teardown()


def build_release(site: Site) -> Path:
    """``scripts/build-release.sh --wheelhouse`` on a copy of this checkout (the build writes into its tree),
    with this checkout's venv, which holds build and twine. Returns the copy, whose dist/ is the release."""
    source = site.work / "source"
    shutil.copytree(PROJECT, source, ignore=UNCOPIED, symlinks=True)
    (source / ".venv").symlink_to(PROJECT / ".venv")
    built = subprocess.run([str(source / "scripts" / "build-release.sh"), "--wheelhouse"], cwd=source,
                           capture_output=True, text=True, timeout=900, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    assert re.search(r"Checking dist/retention_agent-[\d.]+-py3-none-any\.whl: .*PASSED", built.stdout), built.stdout
    assert re.search(r"Checking dist/retention_agent-[\d.]+\.tar\.gz: .*PASSED", built.stdout), built.stdout
    log = (source / "build" / "release.log").read_text()
    assert "Successfully built retention_agent" in log
    # setuptools used to print ~100 lines of warnings about the data folders ("Package would be ignored")
    assert not re.search(r"\w+Warning\b|would be ignored", log), log
    return source


def install_as_the_guide_says(site: Site, release: Path) -> Path:
    """The guide's lines, run as root in the folder that holds dist/; /opt and /usr/local/bin are this test's
    own folders. Returns the installed program."""
    lines = marked_block(ADMIN_GUIDE.read_text(encoding="utf-8"), "install: linux")
    assert [line.split()[0] for line in lines] == ["/usr/bin/python3", "/opt/retention-agent/bin/pip", "ln"]
    wheel = shlex.split(lines[1])[-1]
    assert (release / wheel).is_file(), f"the guide installs {wheel}, the build made {os.listdir(release / 'dist')}"
    site.bin.mkdir()
    site.bin.chmod(0o755)  # whatever the umask (init_home, run in this process by other tests, sets 077)
    for line in lines:
        line = line.replace("/opt/retention-agent", str(site.work / "opt")).replace("/usr/local/bin", str(site.bin))
        done = subprocess.run(shlex.split(line), cwd=release, capture_output=True, text=True, timeout=600,
                              umask=0o022, env={"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
                                                "PIP_DISABLE_PIP_VERSION_CHECK": "1"}, check=False)
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"
    program = site.bin / "retention-agent"
    assert program.resolve() == site.work / "opt" / "bin" / "retention-agent"
    return program


def set_up_shared_mode(site: Site, program: Path) -> None:
    """The guide's ``service install --mode shared`` line, its options read by the real command line's parser;
    the service account and the home get this test's unique names, and systemctl is imitated."""
    [line] = marked_block(ADMIN_GUIDE.read_text(encoding="utf-8"), "install: linux shared")
    words = shlex.split(line)
    assert words[:3] == ["retention-agent", "service", "install"]
    register_commands()
    from retention_agent.cli.commands.service import service_install

    options = service_install.make_context("install", words[3:]).params
    assert options["mode"] == "shared" and options["officer"] == "jdewit" and options["inboxes"]
    site.inbox.mkdir()
    site.inbox.chmod(0o755)
    params = default_params("shared", "linux", home=str(site.home), account=site.account, executable=str(program),
                            drop_folders=(str(site.inbox),))
    setup = HomeSetup(municipality=options["municipality"], officer=site.officer, inboxes=params.drop_folders)
    assert install_service(params, site.runner, setup=setup)


# ---- the test -----------------------------------------------------------------------------------------------


@needs_root
@pytest.mark.root
def test_from_the_built_wheel_to_the_staff_guide_without_home(site: Site) -> None:
    release = build_release(site)
    program = install_as_the_guide_says(site, release)
    officer, staff = site.person(site.officer), site.person(site.staff)
    set_up_shared_mode(site, program)
    agent_line = f"Agent: {site.home} (de gedeelde agent vermeld in {POINTER})"

    # before the officer lists them, the staff member hears so, in Dutch, as the staff guide promises
    first = site.run_as(site.staff, "retention-agent", "whoami")
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout.splitlines() == [f"{site.staff}: geen (niet op de lijst)", agent_line]

    # the officer, logged in as the account given to --officer, adds the staff member (the guide's command)
    refused = site.run_as(site.staff, "retention-agent", "staff", "list")
    assert refused.returncode == 3, refused.stderr
    assert f"tip: Alleen de privacyverantwoordelijke kan dit doen: {site.officer} ({site.officer})." in refused.stderr
    [add] = marked_block(ADMIN_GUIDE.read_text(encoding="utf-8"), "shared: officer")
    added = site.run_as(site.officer, *shlex.split(add.replace("mpeeters", site.staff)))
    assert added.returncode == 0, added.stderr
    assert added.stderr == ""

    # the staff guide, command by command, as the staff member
    downloads = Path(staff.pw_dir) / "Downloads"
    downloads.mkdir()
    delivery_file = downloads / "inburgeraars-2026-11.xlsx"
    delivery_file.write_bytes(agii_workbook(212)[0])  # AgII's password-protected workbook (synthetic people)
    for path in (downloads, delivery_file):
        os.chown(path, staff.pw_uid, staff.pw_gid)
    delivery = ""
    ran: list[str] = []
    commands = staff_guide_commands(STAFF_GUIDE.read_text(encoding="utf-8"))
    # The guide's running text shows 'delivery unlock <id>' before its table of commands shows 'ingest': whoever
    # follows it on the command line has imported a file first, so what needs an id runs after what needs none.
    commands.sort(key=lambda command: bool(set(EXAMPLE_DELIVERY) & set(command)))
    for command in commands:
        args = [str(delivery_file) if arg.endswith(".xlsx") else delivery if arg in EXAMPLE_DELIVERY else arg
                for arg in command]
        assert delivery or not set(EXAMPLE_DELIVERY) & set(command), "a delivery is used before one is imported"
        unlock = command[1:3] == ["delivery", "unlock"]
        done = site.run_as(site.staff, *args, typed=PASSWORD if unlock else "")
        assert done.returncode == 0, f"{shlex.join(command)}:\n{done.stdout}{done.stderr}"
        prompt = "Wachtwoord van de werkmap: \n" if unlock else ""  # what a password prompt leaves on stderr
        assert done.stderr == prompt, f"{shlex.join(command)}: {done.stderr}"
        ran.append(command[1])
        if command[1] == "ingest":
            delivery = re.findall(r"[0-9A-HJKMNP-TV-Z]{26}", done.stdout)[0]
            assert not delivery_file.exists()  # the guide: the program removes your file
        if command[1] == "whoami":
            assert done.stdout.splitlines() == [f"{site.staff}: import, modify, read", agent_line]
        if unlock:
            assert done.stdout.startswith(f"Levering {delivery}: 212 inburgeraars in 212 rijen"), done.stdout
    assert ran == ["copies", "deliveries", "whoami", "ingest", "notifier", "delivery", "ceremony", "open"], ran

    # the officer's own view names the same agent; the audit log holds what the staff member did
    status = site.run_as(site.officer, "retention-agent", "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.splitlines()[0] == agent_line
    audit = site.run_as(site.officer, "retention-agent", "audit", "show", "--json")
    assert f'"actor": "{site.staff}"' in audit.stdout and '"delivery.opened"' in audit.stdout

    # a pointer that another account could have changed is refused, naming the file and the fix
    POINTER.chmod(0o664)
    unsafe = site.run_as(site.staff, "retention-agent", "whoami")
    assert unsafe.returncode == 1
    assert unsafe.stderr.splitlines() == [
        f"retention-agent: Het bestand {POINTER}, dat deze computer zegt waar de gedeelde agent staat, werd niet "
        f"gebruikt: {POINTER} kan gewijzigd worden door andere accounts dan root.",
        f"tip: Een beheerder maakt het veilig: 'sudo chown root:root {POINTER}' en 'sudo chmod go-w {POINTER}' (of "
        "schrijft het opnieuw met 'sudo retention-agent service install --mode shared')."]
    subprocess.run(["chmod", "go-w", str(POINTER)], check=True)  # the fix it names
    assert site.run_as(site.staff, "retention-agent", "whoami").returncode == 0
    text = POINTER.read_text()
    POINTER.write_text(text.replace("version = 1", "version = one"))
    malformed = site.run_as(site.staff, "retention-agent", "whoami")
    assert malformed.returncode == 1
    assert f"Het bestand {POINTER}, dat deze computer zegt waar de gedeelde agent staat, is onbruikbaar: het is " \
           "geen TOML-bestand." in malformed.stderr
    POINTER.write_text(text)

    # a per-user init on this machine would be hidden behind the shared agent: refused, nothing created
    hidden = site.run_as(site.staff, "retention-agent", "init", "--municipality", "X", "--officer", site.staff,
                         "--key-store", "file")
    assert hidden.returncode == 2 and "Deze computer heeft een gedeelde agent in" in hidden.stderr
    assert not (Path(staff.pw_dir) / ".local" / "share" / "retention-agent").exists()
    assert officer.pw_dir != staff.pw_dir

