"""Installing the agent as a service: what ``retention-agent service`` does around ``installer/``.

``installer/`` renders and registers each platform's definitions. This module adds what only the agent
knows about: creating the home on the first installation (in shared mode as the service account, so that
everything in it belongs to that account), starting the service afterwards, counting the deliveries still
in the vault, purging them with proofs before an uninstallation, and exporting the proofs before the home
is removed. Uninstalling never orphans personal data: it refuses while deliveries are in the vault, unless
they are purged first or the home is kept; and the service is stopped and the vault counted once more
before anything is removed, so a file that arrived meanwhile stops the uninstallation too.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from retention_agent import config as configuration
from retention_agent.api.client import Client, remote_error
from retention_agent.clock import SystemClock
from retention_agent.errors import (
    AccessDeniedError,
    AgentUnreachableError,
    InboxMissingError,
    ProtocolError,
    PurgeAllConfirmationError,
    RetentionAgentError,
    ServiceExecutableError,
    ServiceInitOptionsError,
    ServiceInstallError,
    ServiceUninstallIncompleteError,
    ServiceUninstallRefusedError,
)
from retention_agent.evidence import proof, sshsig
from retention_agent.i18n.msgids import N_
from retention_agent.installer import ServiceParams, driver, linux, macos
from retention_agent.installer.params import (
    MACOS_LABEL,
    SERVICE_TASK,
    SYSTEM_UNIT,
    USER_UNIT,
    program,
    user_task_name,
)
from retention_agent.installer.runner import Runner
from retention_agent.installer.steps import InstallError, UninstallRefusedError, guard_uninstall
from retention_agent.lifecycle import states as lifecycle
from retention_agent.store.deliveries import count_unpurged
from retention_agent.system.home import Home
from retention_agent.system.init_home import init_home

ApiCall = Callable[[str, dict[str, Any]], Any]
T = TypeVar("T")
SIGNING_NAMESPACES = ("deletion-proof", "dpo-report")


@dataclass(frozen=True)
class HomeSetup:
    """What ``init`` needs when the installation creates the home."""

    municipality: str
    officer: str
    officer_name: str = ""
    key_store: str = "file"
    inboxes: tuple[str, ...] = ()
    deployment: str = "user"  # "shared": the agent has an account of its own (config key ``deployment``)

    def missing(self) -> list[str]:
        return [option for option, value in (("--municipality", self.municipality), ("--officer", self.officer))
                if not value.strip()]

    def init_args(self) -> list[str]:
        args = ["init", "--municipality", self.municipality, "--officer", self.officer,
                "--officer-name", self.officer_name or self.officer, "--key-store", self.key_store]
        for folder in self.inboxes:
            args += ["--inbox", folder]
        if self.deployment != "user":
            args += ["--deployment", self.deployment]
        return args


@dataclass
class UninstallResult:
    purged: list[dict[str, Any]] = field(default_factory=list)
    exported: list[Path] = field(default_factory=list)
    export_dir: Path | None = None


# ---- installing ---------------------------------------------------------------------------------------


def is_admin() -> bool:
    if os.name == "posix":
        return os.geteuid() == 0
    import ctypes

    return bool(ctypes.windll.shell32.IsUserAnAdmin())  # type: ignore[attr-defined]


def start_command(params: ServiceParams) -> tuple[str, ...]:
    """Start the installed service now (the installation enables it for boot or logon)."""
    if params.platform == "linux":
        return (("systemctl", "start", SYSTEM_UNIT) if params.mode == "shared"
                else ("systemctl", "--user", "start", USER_UNIT))
    if params.platform == "windows":
        return ("schtasks", "/Run", "/TN", SERVICE_TASK if params.mode == "shared" else user_task_name(params))
    return ("launchctl", "bootstrap", f"gui/{os.getuid()}", macos.plist_path())


def stop_command(params: ServiceParams) -> tuple[str, ...]:
    if params.platform == "linux":
        return (("systemctl", "stop", SYSTEM_UNIT) if params.mode == "shared"
                else ("systemctl", "--user", "stop", USER_UNIT))
    if params.platform == "windows":
        return ("schtasks", "/End", "/TN", SERVICE_TASK if params.mode == "shared" else user_task_name(params))
    return ("launchctl", "bootout", f"gui/{os.getuid()}/{MACOS_LABEL}")


def install_service(params: ServiceParams, runner: Runner, *, setup: HomeSetup | None,
                    start: bool = True) -> bool:
    """Install, create the home if there is none yet, start. Returns whether a new home was created.

    User mode: ``init`` runs here, as the staff member, before the definitions are registered. Shared mode:
    the definitions are registered without starting (on Linux this creates the account and its empty home),
    then ``init`` runs as the service account (Linux; on Windows here, as the administrator, and the home's
    inherited ACL gives the service account its files), then the service is started.
    """
    home = Home(Path(params.home))
    new_home = not home.exists()
    missing = ["--municipality", "--officer"] if setup is None else setup.missing()
    if new_home and missing:
        raise ServiceInitOptionsError(home=params.home, missing=" and ".join(missing))
    for folder in params.drop_folders:  # before any step: init would refuse it after the units were written
        if not Path(folder).is_dir():
            raise InboxMissingError(folder=folder)
    if setup is not None:
        setup = replace(setup, deployment=params.mode)
    try:
        if params.mode == "user":
            if new_home:
                _init_here(home, setup)
            driver.install(params, runner, start=start)
            return new_home
        driver.install(params, runner, start=False)
        if new_home:
            if params.platform == "linux":
                _init_as_service_account(params, runner, setup)
            else:
                _init_here(home, setup)
        if start:
            _check(runner, start_command(params))
    except InstallError as exc:
        raise as_catalogue_error(exc) from exc
    return new_home


def _init_here(home: Home, setup: HomeSetup | None) -> None:
    assert setup is not None
    init_home(home, municipality=setup.municipality, officer=setup.officer,
              officer_name=setup.officer_name or setup.officer, key_store=setup.key_store,
              inboxes=list(setup.inboxes), clock=SystemClock(), deployment=setup.deployment)


def _init_as_service_account(params: ServiceParams, runner: Runner, setup: HomeSetup | None) -> None:
    assert setup is not None
    probe = runner.run(["runuser", "-u", params.account, "--", *program(params), "--help"])
    if probe.returncode != 0:
        raise ServiceExecutableError(account=params.account, executable=params.executable)
    command = linux.as_service_account(params, *setup.init_args())
    result = runner.run(command)
    if result.returncode != 0:
        raise ServiceInstallError(command="retention-agent init", code=result.returncode,
                                  output=(result.stderr or result.stdout).strip())


def _check(runner: Runner, argv: tuple[str, ...]) -> None:
    result = runner.run(argv)
    if result.returncode != 0:
        raise InstallError(argv, result)


def as_catalogue_error(exc: InstallError) -> ServiceInstallError:
    lines = (exc.result.stderr or exc.result.stdout).strip().splitlines()
    return ServiceInstallError(command=" ".join(exc.argv), code=exc.result.returncode,
                               output=lines[-1] if lines else "-")


# ---- the vault, seen from outside the agent ---------------------------------------------------------


def api_caller(socket: Path) -> ApiCall:
    """Calls to the agent's API. Run through sudo, they are made as the account that ran sudo (``SUDO_UID``),
    so the privacy officer's own roles authorise a purge and the audit log names that person, not root."""
    invoker = _sudo_invoker()

    def call(op: str, args: dict[str, Any]) -> Any:
        def direct() -> Any:
            with Client(socket) as client:
                return client.call(op, args)

        return direct() if invoker is None else run_as(invoker[0], invoker[1], direct)

    return call


def _sudo_invoker() -> tuple[int, int] | None:
    if os.name != "posix" or os.geteuid() != 0:
        return None
    try:
        uid, gid = int(os.environ.get("SUDO_UID", "")), int(os.environ.get("SUDO_GID", ""))
    except ValueError:
        return None
    return (uid, gid) if uid != 0 else None


def run_as(uid: int, gid: int, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a child process with the given uid and gid (POSIX, as root); its JSON-able result, or
    the catalogue error it raised, comes back through a pipe. Used so that root neither leaves root-owned
    files (SQLite's -shm) in the service account's home nor speaks to the API as root."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; its result is checked by the parent
        os.close(read_fd)
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            reply: dict[str, Any] = {"ok": True, "result": fn()}
        except RetentionAgentError as exc:
            reply = {"ok": False, "error": exc.to_wire()}
        except BaseException as exc:  # anything else becomes one protocol error
            reply = {"ok": False, "error": ProtocolError(problem=type(exc).__name__).to_wire()}
        with os.fdopen(write_fd, "wb") as out:
            out.write(json.dumps(reply).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as source:
        data = source.read()
    os.waitpid(pid, 0)
    try:
        reply = json.loads(data)
    except ValueError:
        raise ProtocolError(problem=N_("a helper process ended without an answer")) from None
    if reply.get("ok"):
        return reply["result"]
    error = reply.get("error") or {}
    raise remote_error(str(error.get("id", "")), error.get("params") or {})


def _give_to_invoker(folder: Path, files: list[Path]) -> None:
    """Under sudo, the exported records belong to the person who ran it, not to root."""
    invoker = _sudo_invoker()
    if invoker is None:
        return
    inside = {folder} | {p for path in files for p in (path, *path.parents) if p.is_relative_to(folder)}
    for path in inside:
        os.chown(path, invoker[0], invoker[1], follow_symlinks=False)


def _live_from_agent(api: ApiCall) -> int:
    count, cursor = 0, ""
    while True:  # page by page (api/paging.py)
        page = api("deliveries", {"cursor": cursor} if cursor else {})
        count += sum(1 for row in page["deliveries"] if row["state"] != lifecycle.PURGED)
        cursor = page.get("next") or ""
        if not cursor:
            return count


def live_count(home: Home, api: ApiCall) -> int:
    """Deliveries whose data still exists: from the agent (``deliveries``), or from its database, read as the
    database's owner, when the agent is stopped or the caller is not on the staff list."""
    try:
        return _live_from_agent(api)
    except (AgentUnreachableError, AccessDeniedError) as exc:
        if not home.database.exists():
            return 0
        try:
            return int(_as_owner(home.database, lambda: _count_unpurged(home.database)))
        except (sqlite3.Error, OSError):
            raise exc from None


def _count_unpurged(database: Path) -> int:
    with _read_only(database) as conn:
        return count_unpurged(conn)


class _read_only:  # noqa: N801 - used as a context manager, like open()
    def __init__(self, database: Path) -> None:
        self.conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _as_owner(path: Path, fn: Callable[[], T]) -> T:
    """Run ``fn`` as the owner of ``path`` when that is another account and we are root (POSIX)."""
    if os.name != "posix":
        return fn()
    info = path.stat()
    if os.geteuid() != 0 or info.st_uid == os.geteuid():
        return fn()
    return run_as(info.st_uid, info.st_gid, fn)


def export_records(home: Home, destination: Path) -> list[Path]:
    """Copy what must outlive the home into ``destination``: the proofs of deletion (JSON, signature, PDF),
    the DPO reports, the allowed-signers line that verifies them, and the last audit checkpoint."""
    destination.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for folder in (home.proofs, home.reports):
        if not folder.is_dir():
            continue
        for source in sorted(folder.rglob("*")):
            if source.is_file() and not source.is_symlink():
                target = destination / folder.name / source.relative_to(folder)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                written.append(target)
    if home.database.exists():
        signers, checkpoint = _as_owner(home.database, lambda: _signing_facts(home.database))
        for name, text in (("allowed_signers", signers), ("audit-checkpoint.txt", checkpoint)):
            if text:
                (destination / name).write_text(text, encoding="utf-8")
                written.append(destination / name)
    return written


def _signing_facts(database: Path) -> list[str]:
    with _read_only(database) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        row = conn.execute("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
    signers = ""
    if meta.get("public_key") and meta.get("municipality"):
        identity = proof.signer_identity(str(meta["municipality"]))
        signers = sshsig.allowed_signers_line(identity, SIGNING_NAMESPACES, bytes.fromhex(meta["public_key"])) + "\n"
    return [signers, str(row[0]) if row else ""]


# ---- uninstalling ---------------------------------------------------------------------------------------


def _with_drop_folders(params: ServiceParams, home: Home) -> ServiceParams:
    """The drop folders of the home's configuration, so that the uninstallation can take back the access it
    gave the service account to them (a later account with the same uid must not inherit it)."""
    try:
        folders = tuple(inbox.path for inbox in configuration.load(home.config).inbox)
        return replace(params, drop_folders=folders)
    except (OSError, RetentionAgentError, ValueError):
        return params  # no readable configuration (or folders the installer refuses): nothing to take back


def uninstall_service(params: ServiceParams, runner: Runner, *, api: ApiCall, purge: bool, keep_home: bool,
                      export_dir: Path, confirm: Callable[[int], bool] | None = None) -> UninstallResult:
    """Refuse, or purge (with proofs), stop, count again, export the records, then remove.

    ``confirm(count)`` is asked before the purge (the command line asks the person at the terminal).
    """
    home = Home(Path(params.home))
    if not keep_home and not params.drop_folders:
        params = _with_drop_folders(params, home)
    result = UninstallResult()

    def count() -> int:
        return live_count(home, api)

    def purge_all() -> None:
        waiting = count()
        api("purge.all", {"dry_run": True})  # may this caller? asked before the person confirms
        if confirm is not None and not confirm(waiting):
            raise PurgeAllConfirmationError(count=waiting)
        answer = api("purge.all", {})
        result.purged = list(answer.get("purged", []))

    try:
        guard_uninstall(count, purge_first=purge, keep_home=keep_home, purge_all=purge_all)
    except UninstallRefusedError as exc:
        if purge:
            raise ServiceUninstallIncompleteError(count=exc.count) from None
        raise ServiceUninstallRefusedError(count=exc.count) from None
    try:
        if not keep_home:
            runner.run(stop_command(params))  # the agent takes nothing in any more while we look
            left = count()
            if left:
                _check(runner, start_command(params))
                raise ServiceUninstallRefusedError(count=left)
            if home.root.exists():
                result.exported = export_records(home, export_dir)
                result.export_dir = export_dir
                _give_to_invoker(export_dir, result.exported)
        driver.uninstall(params, runner, has_live_deliveries=count, keep_home=keep_home)
    except InstallError as exc:
        raise as_catalogue_error(exc) from exc
    except UninstallRefusedError as exc:
        raise ServiceUninstallRefusedError(count=exc.count) from None
    return result
