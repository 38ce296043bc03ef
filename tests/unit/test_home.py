"""The agent's home: private layout, no overwrite, refusal of a home that others can open or own.

The tests of this subject that need no agent process, Dovecot or OS account; the others are in
tests/integration/test_home.py.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from retention_agent.clock import ManualClock
from retention_agent.errors import HomeExistsError, HomeOwnerError, HomePermissionError, UnknownAccountError
from retention_agent.system.home import Home, check_permissions, resolve_home
from retention_agent.system.init_home import init_home
from tests.support.agent import ME

NEEDS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root (CI runs as root)")


def snapshot(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """Every entry under ``root``: mode, owner, modification time and content hash."""
    found: dict[str, tuple[int, int, int, str]] = {}
    for path in sorted([root, *root.rglob("*")]):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(info.st_mode) else ""
        found[str(path.relative_to(root))] = (info.st_mode, info.st_uid, info.st_mtime_ns, digest)
    return found


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


@NEEDS_ROOT
@pytest.mark.parametrize("what", ["config", "database", "keys", "objects", "workspace"])
def test_any_entry_owned_by_another_account_is_refused(home: Home, what: str) -> None:
    nobody = pwd.getpwnam("nobody").pw_uid
    path = getattr(home, what)
    os.chown(path, nobody, -1)
    with pytest.raises(HomeOwnerError, match=f"belongs to another account \\(uid {nobody}\\)"):
        check_permissions(home)


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
