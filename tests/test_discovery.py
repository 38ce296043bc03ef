"""Where a client finds the agent: ``--home``, ``RETENTION_AGENT_HOME``, the system-wide pointer a shared
installation writes, then the per-user home — and a pointer that is malformed, or that an account other than
root could have written, is refused with an error naming the file and the fix.

Run for real: pointer files on disk with their real owners and modes (root only: the tests chown and need a
root-owned folder chain), the real agent process answering ``whoami`` and ``status``, the command line in this
process (click's runner) so that the pointer's location can be moved into the test's folder. The machine's own
pointer (/etc/retention-agent/client.toml) is written for real, under a lock, by test_release_install.py.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from retention_agent.installer import default_params
from retention_agent.installer.definitions import client_pointer

from retention_agent.cli.main import main, register_commands
from retention_agent.errors import PointerInvalidError, PointerUnsafeError
from retention_agent.i18n import catalogue as i18n
from retention_agent.system import home as home_module
from retention_agent.system.home import Home, describe_origin, parse_pointer, read_pointer, resolve_home
from tests.accounts import as_account, needs_root, temporary_account
from tests.conftest import ME, AgentProcess, make_home


@pytest.fixture
def pointer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where this test's "system-wide" pointer lives: a folder like /etc/retention-agent, owned by root."""
    folder = tmp_path / "etc" / "retention-agent"
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    path = folder / "client.toml"
    monkeypatch.setattr(home_module, "system_pointer", lambda: path)
    return path


@pytest.fixture(autouse=True)
def language_reset() -> Iterator[None]:
    yield
    i18n.set_language(None)  # the command line's --lang sets it for the whole process


def write_pointer(path: Path, home: Path, *, mode: int = 0o644) -> None:
    """What ``service install --mode shared`` writes (the installer's own rendering)."""
    params = default_params("shared", "linux", home="/var/lib/retention-agent", executable="/usr/bin/true")
    text = client_pointer(params).replace('"/var/lib/retention-agent"', f'"{home}"')
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


# ---- the order -----------------------------------------------------------------------------------------------


@needs_root
def test_option_then_environment_then_pointer_then_the_per_user_home(
        pointer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    own = resolve_home()
    assert (own.root, own.found_by, own.pointer) == (tmp_path / "xdg" / "retention-agent", "user", None)

    write_pointer(pointer, Path("/var/lib/shared-agent"))
    shared = resolve_home()
    assert (shared.root, shared.found_by, shared.pointer) == (Path("/var/lib/shared-agent"), "pointer", pointer)
    assert resolve_home(follow_pointer=False).found_by == "user"  # what init and run use

    monkeypatch.setenv("RETENTION_AGENT_HOME", str(tmp_path / "env"))
    assert (resolve_home().root, resolve_home().found_by) == (tmp_path / "env", "environment")
    assert (resolve_home(tmp_path / "opt").root, resolve_home(tmp_path / "opt").found_by) == (tmp_path / "opt",
                                                                                            "option")
    assert Home(tmp_path / "a") == Home(tmp_path / "a", "pointer", pointer)  # how it was found is not identity


def test_how_the_home_was_found_is_said_in_both_languages(tmp_path: Path) -> None:
    pointer = Path("/etc/retention-agent/client.toml")
    shared = Home(Path("/var/lib/retention-agent"), "pointer", pointer)
    assert describe_origin(shared, "en") == f"the shared agent named in {pointer}"
    assert describe_origin(shared, "nl") == f"de gedeelde agent vermeld in {pointer}"
    assert describe_origin(Home(tmp_path, "environment"), "nl") == "uit RETENTION_AGENT_HOME"
    assert describe_origin(Home(tmp_path, "option"), "nl") == "opgegeven met --home"
    assert "geen gedeelde agent" in describe_origin(Home(tmp_path, "user"), "nl")


# ---- a pointer that cannot be trusted ---------------------------------------------------------------------------

MALFORMED = {
    "not-toml": b"home = /var/lib/retention-agent\n",
    "not-utf8": b"version = 1\nhome = \"/var/lib/\xff\"\n",
    "no-version": b'home = "/var/lib/retention-agent"\n',
    "newer-version": b'version = 2\nhome = "/var/lib/retention-agent"\n',
    "relative-home": b'version = 1\nhome = "var/lib/retention-agent"\n',
    "no-home": b"version = 1\n",
    "unknown-key": b'version = 1\nhome = "/var/lib/retention-agent"\nsocket = "/tmp/evil.sock"\n',
}


@pytest.mark.parametrize("content", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_pointer_is_refused_naming_the_file_in_dutch(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "client.toml"
    with pytest.raises(PointerInvalidError) as caught:
        parse_pointer(content, path)
    dutch = caught.value.render("nl")
    assert f"Het bestand {path}, dat deze computer zegt waar de gedeelde agent staat, is onbruikbaar: " in dutch
    assert "sudo retention-agent service install --mode shared" in dutch and "--home MAP" in dutch
    problem = caught.value.params["problem"]
    assert problem not in dutch  # the reason is a catalogue text, shown translated


def test_the_installers_pointer_is_read_back_for_every_platform() -> None:
    linux = default_params("shared", "linux", home="/var/lib/retention-agent", executable="/usr/bin/true")
    assert parse_pointer(client_pointer(linux).encode(), Path("client.toml")) == Path("/var/lib/retention-agent")
    odd = "C:\\ProgramData\\Ret & <A> 'x'\\agent"
    windows = default_params("shared", "windows", home=odd, executable="C:\\Python311\\python.exe")
    assert tomllib.loads(client_pointer(windows)) == {"version": 1, "home": odd, "account": "retention-agent"}


CHANGES = {  # what an account other than root could do to the pointer or its folder
    "file-group-writable": ("file", lambda p: p.chmod(0o664)),
    "file-world-writable": ("file", lambda p: p.chmod(0o646)),
    "file-owned-by-nobody": ("file", lambda p: os.chown(p, pwd.getpwnam("nobody").pw_uid, -1)),
    "folder-writable-by-all": ("folder", lambda p: p.chmod(0o777)),
    "folder-owned-by-nobody": ("folder", lambda p: os.chown(p, pwd.getpwnam("nobody").pw_uid, -1)),
}


@needs_root
@pytest.mark.parametrize("change", CHANGES)
def test_a_pointer_others_could_have_written_is_refused(pointer: Path, change: str) -> None:
    write_pointer(pointer, Path("/var/lib/retention-agent"))
    assert read_pointer(pointer) == Path("/var/lib/retention-agent")
    what, make_unsafe = CHANGES[change]
    target = pointer if what == "file" else pointer.parent
    make_unsafe(target)
    with pytest.raises(PointerUnsafeError) as caught:
        read_pointer(pointer)
    dutch = caught.value.render("nl")
    assert f"Het bestand {pointer}, dat deze computer zegt waar de gedeelde agent staat, werd niet gebruikt: " \
           f"{target} " in dutch
    assert f"'sudo chown root:root {target}' en 'sudo chmod go-w {target}'" in dutch


@needs_root
def test_a_sticky_folder_is_accepted_and_a_symlink_is_judged_by_its_target(pointer: Path, tmp_path: Path) -> None:
    pointer.parent.chmod(0o1777)  # like /tmp: others may create files there, not replace root's
    write_pointer(pointer, Path("/var/lib/retention-agent"))
    assert read_pointer(pointer) == Path("/var/lib/retention-agent")
    elsewhere = tmp_path / "theirs.toml"
    write_pointer(elsewhere, Path("/home/mallory/fake-agent"))
    os.chown(elsewhere, pwd.getpwnam("nobody").pw_uid, -1)
    pointer.unlink()
    pointer.symlink_to(elsewhere)
    with pytest.raises(PointerUnsafeError, match="does not belong to root"):
        read_pointer(pointer)


@needs_root
def test_the_command_line_refuses_a_bad_pointer_but_help_and_an_explicit_home_still_work(
        pointer: Path, tmp_path: Path) -> None:
    write_pointer(pointer, Path("/var/lib/retention-agent"), mode=0o666)
    refused = invoke("--lang", "nl", "whoami")
    assert refused.exit_code == 1
    assert f"retention-agent: Het bestand {pointer}" in refused.stderr and "Traceback" not in refused.stderr
    assert invoke("whoami", "--help").exit_code == 0  # --help reads no pointer
    delivery = tmp_path / "inburgeraars.xlsx"
    delivery.write_bytes(b"PK synthetic")
    ingest = invoke("ingest", str(delivery))
    assert ingest.exit_code == 1 and f"The file {pointer}, which tells" in ingest.stderr  # not about the delivery
    assert delivery.exists()
    explicit = invoke("--home", str(tmp_path / "none"), "whoami")
    assert explicit.exit_code == 1 and "cannot be reached" in explicit.stderr  # --home comes first


# ---- which commands follow the pointer ------------------------------------------------------------------------


@needs_root
def test_init_and_run_without_home_refuse_on_a_machine_with_a_shared_agent(
        pointer: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    write_pointer(pointer, tmp_path / "shared")
    for args in (["init", "--municipality", "X", "--officer", ME, "--key-store", "file"], ["run"]):
        refused = invoke("--lang", "nl", *args)
        assert refused.exit_code == 2, refused.stderr
        assert f"Deze computer heeft een gedeelde agent in {tmp_path / 'shared'} (vermeld in {pointer})" in \
            refused.stderr
        assert "--home MAP" in refused.stderr
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "shared").exists()
    created = invoke("--home", str(tmp_path / "mine"), "init", "--municipality", "X", "--officer", ME,
                     "--key-store", "file")
    assert created.exit_code == 0, created.stderr
    assert Home(tmp_path / "mine").exists() and not (tmp_path / "shared").exists()


@needs_root
def test_whoami_and_status_say_which_agent_answered(pointer: Path, tmp_path: Path) -> None:
    home = make_home(tmp_path / "shared")
    write_pointer(pointer, home.root)
    agent = AgentProcess(home.root).start()
    try:
        whoami = invoke("whoami")
        assert whoami.exit_code == 0, whoami.stderr
        assert whoami.stdout.splitlines() == [f"{ME}: officer",
                                              f"Agent: {home.root} (the shared agent named in {pointer})"]
        status = invoke("--lang", "nl", "status")
        assert status.exit_code == 0, status.stderr
        assert status.stdout.splitlines()[0] == f"Agent: {home.root} (de gedeelde agent vermeld in {pointer})"
    finally:
        agent.stop()
    unreachable = invoke("whoami")
    assert unreachable.exit_code == 1
    assert f"The agent was looked for in {home.root} (the shared agent named in {pointer})." in unreachable.stderr


@needs_root
def test_whoami_for_an_account_not_on_the_list_says_so_as_the_guide_promises() -> None:
    register_commands()  # the account's child process cannot read this Python's files under /root:
    i18n.catalogue("nl")  # everything it runs is loaded beforehand
    base = Path(tempfile.mkdtemp(prefix="ra-whoami-", dir="/var/tmp"))  # reachable by other accounts
    base.chmod(0o755)
    home = make_home(base / "home")
    agent = AgentProcess(home.root).start()
    try:
        with temporary_account("ra-stranger") as stranger:
            def ask() -> tuple[int, str]:
                result = CliRunner().invoke(main, ["--lang", "nl", "--home", str(home.root), "whoami"])
                return result.exit_code, result.stdout

            code, out = as_account(stranger, ask)
            assert code == 0
            assert out.splitlines()[0] == f"{stranger}: geen (niet op de lijst)"
            audit = agent.cli("audit", "show", "--json")
            assert f'"actor": "{stranger}"' in audit.stdout.decode()  # refused by the agent, and audited
    finally:
        agent.stop()
        shutil.rmtree(base, ignore_errors=True)
