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

Where a client finds the agent, in this order (:func:`resolve_home`): ``--home``, ``$RETENTION_AGENT_HOME``,
the system-wide pointer that ``service install --mode shared`` writes (:data:`POINTER_PATHS`; only an
administrator may be able to change it, or it is refused), then the per-user home. ``init`` and ``run``
never follow the pointer: they make or run an agent in a home of the caller's own choosing.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from platformdirs import user_data_path

from retention_agent.errors import (
    HomeMissingError,
    HomeOwnerError,
    HomePermissionError,
    PointerInvalidError,
    PointerUnsafeError,
    SharedAgentPresentError,
)
from retention_agent.i18n.catalogue import translate
from retention_agent.i18n.msgids import N_

HOME_ENV = "RETENTION_AGENT_HOME"
HOME_MODE = 0o711
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
POSIX = os.name == "posix"

FoundBy = Literal["option", "environment", "pointer", "user"]
POINTER_FORMAT = 1
# The system-wide pointer to the shared agent, per platform (installer/params.py writes the same paths).
POINTER_PATHS = {
    "linux": "/etc/retention-agent/client.toml",
    "windows": "C:\\ProgramData\\retention-agent\\client.toml",
    "macos": "/Library/Application Support/retention-agent/client.toml",
}


@dataclass(frozen=True)
class Home:
    """An agent's home. ``found_by`` says how a client found it: ``option`` (``--home``, or given directly),
    ``environment`` (``$RETENTION_AGENT_HOME``), ``pointer`` (the shared agent named in the file ``pointer``)
    or ``user`` (the account's own per-user home)."""

    root: Path
    found_by: FoundBy = field(default="option", compare=False)
    pointer: Path | None = field(default=None, compare=False)

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


def resolve_home(explicit: str | os.PathLike[str] | None = None, *, follow_pointer: bool = True) -> Home:
    """``--home``, else ``$RETENTION_AGENT_HOME``, else the shared agent named by the system-wide pointer
    (unless ``follow_pointer`` is false), else the platform's per-user data folder.

    Raises :class:`PointerInvalidError` or :class:`PointerUnsafeError` for a pointer that cannot be trusted:
    a client that silently skipped it would talk to another agent than the administrator set up.
    """
    if explicit:
        return Home(_absolute(explicit), "option")
    if os.environ.get(HOME_ENV):
        return Home(_absolute(os.environ[HOME_ENV]), "environment")
    if follow_pointer:
        pointer = system_pointer()
        target = read_pointer(pointer)
        if target is not None:
            return Home(target, "pointer", pointer)
    return Home(_absolute(user_data_path("retention-agent", appauthor=False)), "user")


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(path).expanduser().absolute()


def system_pointer() -> Path:
    """Where ``service install --mode shared`` writes the pointer on this machine."""
    if sys.platform == "win32":
        import platformdirs

        # %ProgramData% as Windows knows it (SHGetFolderPath), not as an environment variable says
        return platformdirs.site_config_path("retention-agent", appauthor=False) / "client.toml"
    return Path(POINTER_PATHS["macos" if sys.platform == "darwin" else "linux"])


def read_pointer(path: Path) -> Path | None:
    """The home a pointer file names; None when there is no pointer. Refuses a pointer that an account other
    than root could have written (POSIX: the file and every folder above it), and one that is malformed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except PermissionError as exc:
        raise PointerInvalidError(file=str(path), problem=N_("this account may not read it")) from exc
    except OSError as exc:
        raise PointerInvalidError(file=str(path), problem=N_("it cannot be read")) from exc
    if POSIX:
        _check_pointer_owner(path)
    return parse_pointer(data, path)


def parse_pointer(data: bytes, path: Path) -> Path:
    """The home a pointer's content names (``path`` is only named in errors)."""
    import tomllib

    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PointerInvalidError(file=str(path), problem=N_("it is not a TOML file")) from exc
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PointerInvalidError(file=str(path), problem=N_("'version' is missing or not a whole number"))
    if version > POINTER_FORMAT:
        raise PointerInvalidError(file=str(path), problem=N_("it was written by a newer retention-agent"))
    if set(raw) - {"version", "home", "account"}:
        raise PointerInvalidError(file=str(path), problem=N_("it holds keys this version does not know"))
    home = raw.get("home")
    if not isinstance(home, str) or not home or not Path(home).is_absolute() or "\0" in home:
        raise PointerInvalidError(file=str(path), problem=N_("'home' is missing or not an absolute path"))
    return Path(home)


def _check_pointer_owner(path: Path) -> None:
    """The pointer and every folder above it belong to root and nobody else may change them (a folder that
    others may write is accepted only with the sticky bit, where they cannot replace root's entries)."""
    real = Path(os.path.realpath(path))
    for entry in (real, *real.parents):
        info = entry.stat()
        sticky_dir = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
        if info.st_uid != 0:
            raise PointerUnsafeError(file=str(path), path=str(entry), problem=N_("does not belong to root"))
        if info.st_mode & 0o022 and not sticky_dir:
            raise PointerUnsafeError(file=str(path), path=str(entry),
                                     problem=N_("can be changed by accounts other than root"))
        if entry == real and not stat.S_ISREG(info.st_mode):
            raise PointerInvalidError(file=str(path), problem=N_("it is not a regular file"))


def refuse_hidden_home(home: Home) -> None:
    """``init`` and ``run`` without --home on a machine with a shared agent: a per-user agent there would be
    hidden from every client (they find the shared one first), so refuse and name the way out."""
    if home.found_by != "user":
        return
    pointer = system_pointer()
    shared = read_pointer(pointer)
    if shared is not None:
        raise SharedAgentPresentError(home=str(home.root), shared=str(shared), pointer=str(pointer))


def describe_origin(home: Home, lang: str | None = None) -> str:
    """How a client found ``home``, for people (``whoami``, ``status``, an unreachable agent)."""
    texts = {
        "option": N_("given with --home"),
        "environment": N_("from RETENTION_AGENT_HOME"),
        "pointer": N_("the shared agent named in {pointer}"),
        "user": N_("this account's own home; no shared agent is set up in {pointer}"),
    }
    pointer = home.pointer or system_pointer()
    return translate(texts[home.found_by], lang).format(pointer=pointer)


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
