"""The agent's home: private layout, no overwrite, refusal of a home that others can open or own."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import keyring
import pytest

from retention_agent.clock import ManualClock
from retention_agent.errors import HomeExistsError, HomeOwnerError, HomePermissionError, UnknownAccountError
from retention_agent.system.home import Home, check_permissions, resolve_home
from retention_agent.system.init_home import init_home
from tests.conftest import ME, AgentProcess, cli
from tests.test_keystore import MemoryKeyring

NEEDS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root (CI runs as root)")


def init(root: Path, *extra: str, env: dict[str, str] | None = None,
         umask: int = -1) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "retention_agent", *extra, "init", "--municipality", "De Panne",
                           "--officer", ME, "--key-store", "file"],
                          capture_output=True, timeout=60, env={**os.environ, **(env or {})}, umask=umask,
                          check=False, cwd=root)


def snapshot(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry under ``root``: mode, owner, modification time and content hash."""
    found: dict[str, tuple[int, int, int, str]] = {}
    for path in sorted([root, *root.rglob("*")]):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else ""
        found[str(path.relative_to(root))] = (info.st_mode, info.st_uid, info.st_mtime_ns, digest)
    return found


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def assert_private_layout(home: Home) -> None:
    assert mode(home.root) == 0o711
    assert mode(home.workspace) == 0o711
    for folder in home.private_dirs():
        assert mode(folder) == 0o700, folder
    for path in home.root.rglob("*"):
        info = path.lstat()
        assert info.st_uid == os.geteuid(), path
        if path == home.socket:
            assert stat.S_ISSOCK(info.st_mode) and mode(path) == 0o666
        elif path.is_dir():
            assert mode(path) in (0o700, 0o711), path
        else:
            assert mode(path) == 0o600, f"{path} has mode {oct(mode(path))}"


# ---- init --------------------------------------------------------------------------------------------


def test_init_creates_a_private_home_whatever_the_umask(tmp_path: Path) -> None:
    root = tmp_path / "home"
    result = init(tmp_path, "--home", str(root), umask=0)  # the most permissive umask
    assert result.returncode == 0, result.stderr
    home = Home(root)
    assert home.config.is_file() and home.database.is_file()
    assert list(home.keys.glob("*.key")), "init creates the signing key in the file key store"
    assert_private_layout(home)


def test_once_the_named_fix_is_applied_the_agent_runs_and_keeps_the_home_private(home: Home) -> None:
    key = first_key(home)
    key.chmod(0o644)
    refused = cli(home.root, "run", timeout=30)
    assert refused.returncode == 1
    assert f"chmod 600 '{key}'" in refused.stderr.decode()
    subprocess.run(["chmod", "600", str(key)], check=True)  # what the message says to do
    process = AgentProcess(home.root).start()
    try:
        assert process.cli("staff", "list").returncode == 0
        assert home.log.is_file() and home.pidfile.is_file() and home.socket.exists()
        assert_private_layout(home)
    finally:
        assert process.stop() == 0


def test_init_refuses_an_existing_home_and_changes_nothing(home: Home) -> None:
    before = snapshot(home.root)
    result = cli(home.root, "init", "--municipality", "Elsewhere", "--officer", ME, "--key-store", "keyring",
                 "--inbox", "/srv/other")
    assert result.returncode == 1
    assert f"A retention-agent home already exists at {home.root}" in result.stderr.decode()
    assert snapshot(home.root) == before


def test_init_refuses_a_home_whose_database_survived_without_config(home: Home) -> None:
    home.config.unlink()
    before = snapshot(home.root)
    with pytest.raises(HomeExistsError):
        init_home(home, municipality="X", officer=ME, officer_name="X", key_store="file", inboxes=[],
                  clock=ManualClock())
    assert snapshot(home.root) == before


def test_init_refuses_an_unknown_officer_account_and_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "home"
    with pytest.raises(UnknownAccountError, match="There is no operating-system account named no-such-account-xyz"):
        init_home(Home(root), municipality="X", officer="no-such-account-xyz", officer_name="X", key_store="file",
                  inboxes=[], clock=ManualClock())
    assert not root.exists()


# ---- init is all or nothing ------------------------------------------------------------------------------


def init_in_dutch(root: Path, *options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``init`` as a person runs it: no language chosen (Dutch), the key store left to its default."""
    environment = {k: v for k, v in os.environ.items() if k != "RETENTION_AGENT_LANG"}
    return subprocess.run([sys.executable, "-m", "retention_agent", "--home", str(root), "init", "--municipality",
                           "De Panne", "--officer", ME, *options], capture_output=True, text=True, timeout=60,
                          env={**environment, **(env or {})}, check=False, cwd=root.parent)


NO_SAFE_KEY_STORE = {
    "headless": ("keyring.backends.fail.Keyring", "er is geen sleutelopslag beschikbaar op dit systeem"),
    "plaintext": ("keyrings.alt.file.PlaintextKeyring", "ze bewaart sleutels in een bestand dat iedereen kan lezen "
                                                        "die de bestanden van het account kan lezen"),
}


@pytest.mark.parametrize("store", NO_SAFE_KEY_STORE, ids=NO_SAFE_KEY_STORE.keys())
@pytest.mark.parametrize("folder", ["new", "pre-created"])
def test_init_without_a_safe_key_store_says_which_flag_to_add_and_creates_nothing(
        tmp_path: Path, store: str, folder: str) -> None:
    backend, why = NO_SAFE_KEY_STORE[store]
    root = tmp_path / "home"
    if folder == "pre-created":  # as the shared-mode installer leaves it for the service account
        root.mkdir(mode=0o711)
        root.chmod(0o711)
    before = snapshot(root) if root.exists() else None
    env = {"PYTHON_KEYRING_BACKEND": backend, "HOME": str(tmp_path / "account"), "XDG_DATA_HOME": str(tmp_path / "d")}
    refused = init_in_dutch(root, env=env)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"retention-agent: Deze computer heeft geen veilige sleutelopslag voor de sleutels: {why}. Er werd niets "
        "aangemaakt.\ntip: Voer dezelfde opdracht opnieuw uit met --key-store file: de sleutels worden dan bewaard "
        "in een afgeschermd bestand in de map van de agent (zie docs/administrator.md).\n")
    assert (snapshot(root) if root.exists() else None) == before
    assert not (tmp_path / "account").exists() and not (tmp_path / "d").exists()  # no plaintext keyring file either

    fixed = init_in_dutch(root, "--key-store", "file", env=env)  # the flag it names is the whole fix
    assert fixed.returncode == 0, fixed.stderr
    assert Home(root).exists()


def test_init_refuses_a_drop_folder_that_does_not_exist_and_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "home"
    refused = init_in_dutch(root, "--key-store", "file", "--inbox", str(tmp_path / "agii-inbox"))
    assert refused.returncode == 1
    assert f"De dropmap {tmp_path / 'agii-inbox'} bestaat niet, of dit account kan er niet bij; er werd niets " \
           "aangemaakt." in refused.stderr
    assert f'mkdir "{tmp_path / "agii-inbox"}"' in refused.stderr
    assert not root.exists()
    (tmp_path / "agii-inbox").mkdir()
    assert init_in_dutch(root, "--key-store", "file", "--inbox", str(tmp_path / "agii-inbox")).returncode == 0


class RecordingKeyring(MemoryKeyring):
    """A safe key store that remembers every key ever put into it."""

    def __init__(self) -> None:
        super().__init__()
        self.put: list[str] = []

    def set_password(self, service: str, username: str, password: str) -> None:
        self.put.append(f"{service}/{username}")
        super().set_password(service, username, password)


@NEEDS_ROOT
def test_a_failure_after_the_key_was_stored_takes_the_key_back_and_leaves_the_folder_as_it_was(
        tmp_path: Path) -> None:
    """A real full disk: the pre-created home folder is a tmpfs of 8 KiB, too small for the database."""
    root = tmp_path / "home"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k,mode=0711", "tmpfs", str(root)], check=True)
    previous = keyring.get_keyring()
    backend = RecordingKeyring()
    keyring.set_keyring(backend)
    try:
        before = snapshot(root)
        with pytest.raises((OSError, sqlite3.Error)):
            init_home(Home(root), municipality="X", officer=ME, officer_name="X", key_store="keyring", inboxes=[],
                      clock=ManualClock())
        assert len(backend.put) == 1 and backend.put[0].endswith("/signing-key")  # it was stored...
        assert backend.passwords == {}  # ...and taken back
        assert snapshot(root) == before
    finally:
        keyring.set_keyring(previous)
        if subprocess.run(["umount", str(root)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(root)], check=False)  # leave no mount behind, and say why
            pytest.fail("init left a file open on the home's disk (umount: target is busy)")


# ---- start-up permission checks ----------------------------------------------------------------------


def first_key(home: Home) -> Path:
    return sorted(home.keys.glob("*.key"))[0]


BAD_MODES = [
    (lambda h: h.config, 0o640, "600"),
    (lambda h: h.config, 0o604, "600"),
    (lambda h: h.config, 0o620, "600"),
    (lambda h: h.database, 0o644, "600"),
    (lambda h: h.keys, 0o750, "700"),
    (lambda h: h.keys, 0o705, "700"),
    (first_key, 0o640, "600"),
    (first_key, 0o604, "600"),
    (lambda h: h.objects, 0o755, "700"),
    (lambda h: h.proofs, 0o770, "700"),
    (lambda h: h.root, 0o755, "711"),
    (lambda h: h.root, 0o731, "711"),
    (lambda h: h.workspace, 0o777, "711"),
]
BAD_MODE_IDS = ["config-group", "config-world", "config-group-write", "db", "keys-dir-group", "keys-dir-world",
                "key-file-group", "key-file-world", "vault-objects", "proofs", "home-listable",
                "home-group-writable", "workspace"]


@pytest.mark.parametrize(("what", "bad_mode", "wanted"), BAD_MODES, ids=BAD_MODE_IDS)
def test_permission_check_names_the_path_and_the_fix(home: Home, what: Callable[[Home], Path], bad_mode: int,
                                                    wanted: str) -> None:
    check_permissions(home)  # a fresh home passes
    path = what(home)
    path.chmod(bad_mode)
    with pytest.raises(HomePermissionError) as caught:
        check_permissions(home)
    message = str(caught.value)
    assert f"{path} can be read or changed by other accounts (mode {bad_mode:o})" in message
    assert f"chmod {wanted} '{path}'" in message
    path.chmod(int(wanted, 8))  # the fix it names is enough
    check_permissions(home)


@pytest.mark.parametrize(("what", "bad_mode", "wanted"), [BAD_MODES[0], BAD_MODES[3], BAD_MODES[4], BAD_MODES[7],
                                                          BAD_MODES[10]],
                         ids=["config", "db", "keys-dir", "key-file", "home"])
def test_the_agent_refuses_to_start_on_a_home_others_can_open(home: Home, what: Callable[[Home], Path],
                                                              bad_mode: int, wanted: str) -> None:
    path = what(home)
    path.chmod(bad_mode)
    result = cli(home.root, "run", timeout=30)
    assert result.returncode == 1, result.stderr
    stderr = result.stderr.decode()
    assert stderr.startswith("retention-agent: ")
    assert f"{path} can be read or changed by other accounts (mode {bad_mode:o})" in stderr
    assert f"chmod {wanted} '{path}'" in stderr
    assert "Traceback" not in stderr
    assert not home.socket.exists()


@NEEDS_ROOT
def test_the_agent_refuses_a_home_owned_by_another_account(home: Home) -> None:
    nobody = pwd.getpwnam("nobody").pw_uid
    os.chown(home.root, nobody, -1)
    result = cli(home.root, "run", timeout=30)
    assert result.returncode == 1, result.stderr
    stderr = result.stderr.decode()
    assert f"{home.root} belongs to another account (uid {nobody})" in stderr
    assert "Run the agent as the account that owns the home" in stderr
    assert not home.socket.exists()


@NEEDS_ROOT
@pytest.mark.parametrize("what", ["config", "database", "keys", "objects", "workspace"])
def test_any_entry_owned_by_another_account_is_refused(home: Home, what: str) -> None:
    nobody = pwd.getpwnam("nobody").pw_uid
    path = getattr(home, what)
    os.chown(path, nobody, -1)
    with pytest.raises(HomeOwnerError, match=f"belongs to another account \\(uid {nobody}\\)"):
        check_permissions(home)


def test_run_without_a_home_says_how_to_create_one(tmp_path: Path) -> None:
    result = cli(tmp_path / "nowhere", "run", timeout=30)
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert f"There is no retention-agent home at {tmp_path / 'nowhere'}" in stderr
    assert "retention-agent init --municipality NAME --officer ACCOUNT" in stderr
    assert not (tmp_path / "nowhere").exists()


# ---- a damaged database ------------------------------------------------------------------------------


def _empty(db: Path) -> None:
    db.write_bytes(b"")


def _missing(db: Path) -> None:
    db.unlink()


def _truncated(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])


def _garbage(db: Path) -> None:
    db.write_bytes(os.urandom(64 * 1024))


def _garbage_after_the_header(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[:100] + os.urandom(len(data) - 100))


def _no_tables(db: Path) -> None:
    import sqlite3

    db.unlink()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA user_version = 0")  # a valid, empty SQLite database


def _no_installation_id(db: Path) -> None:
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("DELETE FROM meta WHERE key = 'installation_id'")
        conn.commit()


DAMAGE = {"empty": (_empty, "the file is empty"), "missing": (_missing, "the file is missing"),
          "truncated": (_truncated, "it is truncated"), "garbage": (_garbage, "it is not an SQLite database"),
          "garbage-after-the-header": (_garbage_after_the_header, "SQLITE_"),
          "no-tables": (_no_tables, "it holds no tables of the agent"),
          "no-installation-id": (_no_installation_id, "it has no installation id")}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_database_next_to_a_config_is_refused_never_re_initialised(home: Home, damage: str) -> None:
    """A zero-byte agent.db used to become a new, empty home: no staff, an audit chain from 1, and the live
    deliveries' keys and objects never purged."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(home.database)) as conn:  # closed: everything is in agent.db
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    make_damage, problem = DAMAGE[damage]
    make_damage(home.database)
    before = snapshot(home.root)
    result = cli(home.root, "run", timeout=60)
    stderr = result.stderr.decode()
    assert result.returncode == 4, stderr
    assert f"The agent's database {home.database} is damaged ({problem}" in stderr, stderr
    assert "Do not delete it or create a new home over it" in stderr and "A damaged database" in stderr
    assert "Traceback" not in stderr
    assert not home.socket.exists()
    after = snapshot(home.root)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed <= {".", "agent.log", "agent.pid"}, changed  # the database was neither created nor written
    assert "home-damaged" in home.log.read_text()


# ---- where the home is -------------------------------------------------------------------------------


def test_home_from_the_environment(tmp_path: Path) -> None:
    root = tmp_path / "from-env"
    result = init(tmp_path, env={"RETENTION_AGENT_HOME": str(root)})
    assert result.returncode == 0, result.stderr
    assert Home(root).exists()


def test_resolve_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_home().root == tmp_path / "xdg" / "retention-agent"
    monkeypatch.setenv("RETENTION_AGENT_HOME", str(tmp_path / "env"))
    assert resolve_home().root == tmp_path / "env"
    assert resolve_home(tmp_path / "opt").root == tmp_path / "opt"
    monkeypatch.chdir(tmp_path)
    assert resolve_home("relative").root == tmp_path / "relative"  # made absolute: the agent may chdir


def test_home_layout_paths() -> None:
    home = Home(Path("/srv/ra"))
    assert (home.config.name, home.database.name, home.socket.name, home.pidfile.name, home.log.name) == (
        "config.toml", "agent.db", "agent.sock", "agent.pid", "agent.log")
    assert home.objects == Path("/srv/ra/vault/objects")
    assert not home.exists()
