"""The composition root: the one place that wires configuration, store, keys, vault, audit, intake,
scheduler and the API server into a running agent."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sqlite3
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from retention_agent import config as configuration
from retention_agent import testing_hooks as testing
from retention_agent.api import handlers
from retention_agent.api.server import Session
from retention_agent.api.services import WiredContext
from retention_agent.api.transport import make_server
from retention_agent.audit.log import AuditLog
from retention_agent.clock import Clock, SystemClock
from retention_agent.errors import (
    AlreadyRunningError,
    HomeMissingError,
    RetentionAgentError,
)
from retention_agent.runtime.context import log_origin
from retention_agent.runtime.ticker import Ticker
from retention_agent.store.database import Store, catalogue_error, error_code
from retention_agent.store.diskspace import FreeSpace
from retention_agent.store.staff import StaffList
from retention_agent.system.home import PRIVATE_FILE_MODE, Home, check_permissions
from retention_agent.system.init_home import load_signing_key
from retention_agent.system.log_limits import LogLimiter
from retention_agent.vault.ingest import Ingest
from retention_agent.vault.keys import open_key_store
from retention_agent.vault.vault import Vault

log = logging.getLogger("retention_agent")
SUBJECT_KEY_PURPOSE = "retention-agent/audit-subject-hmac/v1"

def setup_logging(home: Home) -> None:
    """A log file private to the agent; messages carry ids and error ids, never personal data."""
    fd = os.open(home.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    os.close(fd)
    handler = logging.FileHandler(home.log, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("retention_agent")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


@contextlib.contextmanager
def single_instance(home: Home) -> Iterator[None]:
    """Hold an exclusive lock on ``agent.pid`` for the agent's lifetime."""
    import fcntl

    fd = os.open(home.pidfile, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise AlreadyRunningError(home=str(home.root), pid=other) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def build_context(home: Home, clock: Clock) -> WiredContext:
    """Open everything the agent owns, checking it loudly on the way."""
    if not home.exists():
        raise HomeMissingError(home=str(home.root))
    config = configuration.load(home.config)
    check_permissions(home)
    store = Store.open(home.database)  # refuses a damaged database (HomeDamagedError)
    installation_id = store.get_meta("installation_id") or ""
    keys = open_key_store(config.key_store, home.keys, installation_id)
    signing_key = load_signing_key(keys)
    audit = AuditLog(store, clock, signing_key, log_origin(config.slug, installation_id))
    vault = Vault(home, keys)
    free_space = FreeSpace(home.root, config.disk.free_space_floor_mib, config.disk.free_space_floor_percent,
                           clock.monotonic)
    ingest = Ingest(store, vault, audit, clock, config.legal_basis, room=free_space.require_room)
    return WiredContext(home=home, config=config, clock=clock, store=store, keys=keys,
                        signing_key=signing_key, audit=audit, staff=StaffList(store, clock),
                        vault=vault, ingest=ingest, started_at=clock.now(), installation_id=installation_id,
                        subject_key=signing_key.derive(SUBJECT_KEY_PURPOSE), free_space=free_space,
                        log_limits=LogLimiter(clock.monotonic))


class Agent:
    def __init__(self, home: Home, clock: Clock | None = None) -> None:
        testing.check_allowed()
        self.home = home
        self.clock = clock or testing.test_clock() or SystemClock()
        self.stopping = threading.Event()
        self.signalled = False  # set by SIGTERM / SIGINT (install_signal_handlers)

    def run(self, ready: Callable[[], None] | None = None) -> None:
        os.umask(0o077)  # whatever the agent creates is private unless it says otherwise
        with single_instance(self.home):
            setup_logging(self.home)
            try:
                ctx = build_context(self.home, self.clock)
                try:
                    self._serve(ctx, ready)
                finally:
                    ctx.store.close()
            except sqlite3.DatabaseError as exc:  # met while starting or stopping: say which and what to do
                known = catalogue_error(exc, self.home.database)
                if known is None:
                    raise
                log.error("the agent stopped: %s (%s)", known.error_id, error_code(exc))
                raise known from exc
            except RetentionAgentError as exc:
                log.error("the agent stopped: %s", exc.error_id)
                raise

    def _serve(self, ctx: WiredContext, ready: Callable[[], None] | None) -> None:
        from retention_agent.runtime import capabilities

        ticker = Ticker(interval_s=float(ctx.config.retention.tick_seconds))
        services = capabilities.wire(ctx, ticker)
        server = make_server(self.home.socket, ApiHandler(ctx))
        ctx.audit.append("agent", "agent.started", "ok", [], {"pid": os.getpid()})
        server.start()
        tick_thread = threading.Thread(target=ticker.loop, name="ticker", daemon=True)
        tick_thread.start()
        for service in services:
            service.start()
        log.info("agent started")
        if ready:
            ready()
        while not self.stopping.wait(0.2) and not self.signalled:
            pass
        log.info("agent stopping")
        for service in reversed(services):
            service.stop()
        server.stop()
        ticker.stop.set()
        ticker.wake.set()
        tick_thread.join(timeout=30)
        handlers.flush_refusals(ctx, everything=True)  # no request comes in any more: every count is final
        ctx.audit.append("agent", "agent.stopped", "ok")
        ctx.audit.checkpoint()

    def install_signal_handlers(self) -> None:
        def stop(signum: int, frame: FrameType | None) -> None:
            # Only a flag: Event.set() here could deadlock, the handler running in the main thread while it
            # holds the event's lock inside Event.wait() (the agent then never stopped). The wait looks at it.
            self.signalled = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)


class ApiHandler:
    """What the API server calls: requests, protocol violations, connections turned away, and the class of a
    connecting uid (for the slots kept back for staff and the officer)."""

    def __init__(self, ctx: WiredContext) -> None:
        self.ctx = ctx
        ctx.staff.members()  # read once now: the first connections are classified from it

    def request(self, session: Session, op: str, args: dict[str, Any]) -> None:
        handlers.dispatch(self.ctx, session, op, dict(args))

    def violation(self, session: Session, code: str) -> None:
        handlers.protocol_violation(self.ctx, session, code)

    def refused_connection(self, uid: int) -> None:
        handlers.connection_refused(self.ctx, uid)

    def classify(self, uid: int) -> str:
        return self.ctx.staff.class_of(uid)

