"""The agent's home: where it is, what it holds, and that nobody else can open it.

Layout (everything 0700/0600 and owned by the agent's account, except as noted)::

    HOME/                 0711: others may reach the socket by its path, not list the folder
      config.toml
      agent.db            SQLite (+ -wal); no keys, no plaintext
      agent.sock          the local API, 0666: the agent decides who may do what, by peer credentials
      agent.pid           single-instance lock
      agent.log           no personal data
      keys/               the file key store (only with key_store = "file")
      vault/objects/      one encrypted object per delivery
      vault/tmp/          objects being written (removed at start-up if left by a crash)
      workspace/          0711; one folder per account for opened copies
      proofs/             deletion proofs (JSON + .sig + PDF)
      reports/            DPO reports
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_path

from retention_agent.errors import HomeMissingError, HomeOwnerError, HomePermissionError

HOME_ENV = "RETENTION_AGENT_HOME"
HOME_MODE = 0o711
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
POSIX = os.name == "posix"


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def database(self) -> Path:
        return self.root / "agent.db"

    @property
    def socket(self) -> Path:
        return self.root / "agent.sock"

    @property
    def pidfile(self) -> Path:
        return self.root / "agent.pid"

    @property
    def log(self) -> Path:
        return self.root / "agent.log"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def objects(self) -> Path:
        return self.root / "vault" / "objects"

    @property
    def vault_tmp(self) -> Path:
        return self.root / "vault" / "tmp"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def proofs(self) -> Path:
        return self.root / "proofs"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def private_dirs(self) -> list[Path]:
        return [self.keys, self.root / "vault", self.objects, self.vault_tmp, self.proofs, self.reports]

    def exists(self) -> bool:
        return self.config.is_file()

    def require(self) -> Home:
        if not self.exists():
            raise HomeMissingError(home=str(self.root))
        return self


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Home:
    """``--home``, else ``$RETENTION_AGENT_HOME``, else the platform's per-user data folder."""
    chosen = explicit or os.environ.get(HOME_ENV) or user_data_path("retention-agent", appauthor=False)
    return Home(Path(chosen).expanduser().absolute())


def create_layout(home: Home) -> None:
    """Create the folders with their modes (the caller has checked that no home exists there)."""
    home.root.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    _chmod(home.root, HOME_MODE)
    for folder in home.private_dirs():
        folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        _chmod(folder, PRIVATE_DIR_MODE)
    home.workspace.mkdir(exist_ok=True, mode=PRIVATE_DIR_MODE)
    _chmod(home.workspace, HOME_MODE)


def write_private(path: Path, data: bytes) -> None:
    """Write a file that only the agent's account can read, durably (write, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), PRIVATE_FILE_MODE)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    if not POSIX:
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_permissions(home: Home) -> None:
    """Refuse a home that other accounts can read or change (POSIX; Windows relies on the profile ACL)."""
    if not POSIX:
        return
    _check_entry(home.root, allowed_extra=0o011)
    for path in _walk(home):
        if path == home.socket:
            continue
        allowed = 0o011 if path == home.workspace or path.parent == home.workspace else 0
        _check_entry(path, allowed_extra=allowed)


def _walk(home: Home) -> list[Path]:
    entries = [home.config, home.database, home.keys, *home.private_dirs(), home.workspace]
    entries += [p for p in home.root.glob("agent.db*")]
    entries += [p for p in home.keys.glob("*") if home.keys.is_dir()]
    return [p for p in dict.fromkeys(entries) if p.exists() or p.is_symlink()]


def _check_entry(path: Path, allowed_extra: int) -> None:
    info = path.lstat()
    if info.st_uid != os.geteuid():
        raise HomeOwnerError(path=str(path), uid=info.st_uid)
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 & ~allowed_extra:
        # the home and the workspace keep their search bits for others (the socket, opened copies)
        wanted = ("711" if allowed_extra else "700") if stat.S_ISDIR(info.st_mode) else "600"
        raise HomePermissionError(path=str(path), mode=oct(mode)[2:], wanted=wanted)


def _chmod(path: Path, mode: int) -> None:
    path.chmod(mode)
