"""Mailbox intake: AgII's messages leave the mail server for the vault, and then the server, for good.

One :class:`MailboxWatcher` per configured mailbox, on its own thread, talking to the server through a
:class:`~.mail_driver.MailboxDriver` (IMAP by default, :mod:`.imap_driver`; Microsoft Graph,
:mod:`.graph_driver`). One cycle (:meth:`MailboxWatcher.poll_once`):

1. connect and authenticate (a password from the key store, or an OAuth2 access token that :mod:`.oauth`
   acquires and renews); a session whose token is about to expire is renewed first;
2. list the folder (read-only) and read only the envelope (``From``, ``Subject``, ``Message-ID``, size, arrival
   time) of every message not seen before. A message that answers to no rule
   (:func:`~retention_agent.intake.rules.message_rules`) is left exactly as it was, and is not read again while
   the folder keeps its generation (IMAP ``UIDVALIDITY``). A message that answers to the notice rules (a
   Zivver notification) is left too, and its arrival is told to ``notice`` (it opens the window in which a
   watched Downloads folder takes AgII's files, :mod:`.downloads`);
3. for a matching message: fetch it (at most ``max_message_bytes``) and hand each attachment to ``deliver``.
   Attachments that a matching rule recognises (file name pattern, file type from the bytes) are delivered
   normally; the others from the same message are delivered as ``quarantine=True`` (the officer decides), so
   that nothing is lost when the message is deleted. A matching message that cannot be parsed is delivered
   whole, quarantined. A matching message without attachments is left on the server (there is nothing to
   move), unless ``keep_message``. A message larger than ``max_message_bytes`` is left on the server and
   refused (``imap-message-too-large``, reported once and shown in status until it is gone);
3a. **recognition is not authentication**: with ``authserv_id`` set, a message counts as AgII's only when
   the topmost ``Authentication-Results`` headers from that server say ``dmarc=pass`` or ``dkim=pass`` for
   ``agii_domain`` (:mod:`.authresults`); every file of any other matching message is quarantined with the
   reason ``mail-not-authenticated``. Without ``authserv_id`` mail is taken on recognition alone and status
   says that senders are not authenticated;
3b. **one message, a bounded number of deliveries**: a message with more than ``max_files_per_message``
   attachments is vaulted whole, as one quarantined delivery with the reason ``mail-too-many-files``, which
   status shows the officer as a problem. The files of one message are announced once (``deliver_message``),
   not once per file;
4. only after every ``deliver`` returned: the copy search is recorded (``copies.begin``: durable, so a crash
   after the next step does not forget it), then exactly that one message is deleted;
5. servers that move deleted mail to the trash (Gmail, some Exchange set-ups, Dovecot's lazy_expunge): the
   trash is searched for the same ``Message-ID`` (verified on the fetched header field) and that copy is
   deleted too. A message without ``Message-ID`` cannot be found there. (With ``copies = "remove"`` the copy
   search of step 6 covers the trash instead, and counts what it removes there;)
6. **every other copy** of the message's recognised files in the mailbox — filed in a folder, forwarded from
   Sent Items, in the trash — is found and removed, or only reported (:mod:`.copies`), and the result recorded
   with the deliveries (``copies.finish``), from where status and the proof of deletion read it. A search that
   a dropped connection interrupted is run again in a later cycle.

The message itself (headers and body) is not kept, since it may hold personal data; with
``keep_message = True`` the raw message is vaulted as one more delivery before it is deleted.

Crash safety rests on ``deliver`` being idempotent by content: a crash or a dropped connection between
"delivered" and "deleted" leaves the message on the server, and the next cycle delivers the same bytes again
(``duplicate=True``, nothing new stored) and then deletes it. Messages already flagged ``\\Deleted`` are
processed like the others for the same reason.

Between cycles the watcher waits (IMAP ``IDLE``) when the driver can and ``use_idle`` is set (a full cycle
still runs every ``poll_interval_s``: events are hints), otherwise it polls. Failures (connection loss,
refused credentials, TLS problems, server errors, a vault that refuses) are retried with back-off and
reported in :attr:`MailboxWatcher.status` by error id; the thread never dies of them. Logs carry the mailbox
name, error ids and counts only: never an address, subject, folder or file name, nor an exception's text.

Where each part lives: the configuration, the error ids and what a message becomes (steps 3, 3a, 3b) in
:mod:`.mailbox_rules` (pure); the trash and the other copies after the delete (steps 5, 6) in
:mod:`.mailbox_sweeps`. This module runs the cycle and the thread.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from retention_agent.backoff import Backoff
from retention_agent.clock import Clock

from .base import (
    Deliver,
    DeliverMessage,
    DeliverResult,
    IntakeStatus,
    MessageFile,
    RefusalReport,
)
from .copies import CopyLedger, CopyProbe, MemoryLedger
from .credentials import Credentials, StaticCredentials, TokenStatus
from .imap_driver import (
    ERR_AUTH,
    ERR_CONNECT,
    ERR_CONNECTION_LOST,
    ERR_SERVER,
    ERR_TLS,
    ClientFactory,
    ImapDriver,
    error_id_of,
)
from .mail_driver import DriverError, Envelope, MailboxDriver, MessageRef
from .mailbox_rules import (
    ERR_DELIVER,
    ERR_NO_ATTACHMENTS,
    ERR_TOO_LARGE,
    ERR_UNEXPECTED,
    PERMANENT_ERRORS,
    CycleReport,
    MailboxConfig,
    message_files,
)
from .mailbox_sweeps import MailboxSweeps
from .mailfile import MailFileError, attachments, envelope, message_id
from .rules import Rule, message_rules

log = logging.getLogger(__name__)

__all__ = ["ERR_AUTH", "ERR_CONNECT", "ERR_CONNECTION_LOST", "ERR_SERVER", "ERR_TLS", "MailboxWatcher"]


class _CycleError(Exception):
    def __init__(self, error_id: str, *, keep_connection: bool = False) -> None:
        super().__init__(error_id)
        self.error_id = error_id
        self.keep_connection = keep_connection


Notice = Callable[[datetime], None]
_Match = tuple[MessageRef, tuple[Rule, ...], str, str, datetime | None]


class MailboxWatcher:
    """Watches one mailbox folder on a thread; see the module documentation for what a cycle does."""

    def __init__(
        self,
        config: MailboxConfig,
        deliver: Deliver,
        get_secret: Callable[[str], str],
        clock: Clock,
        *,
        backoff: Backoff | None = None,
        stop_event: threading.Event | None = None,
        client_factory: ClientFactory | None = None,
        deliver_message: DeliverMessage | None = None,
        report: RefusalReport | None = None,
        credentials: Credentials | None = None,
        driver: MailboxDriver | None = None,
        copies: CopyLedger | None = None,
        notice: Notice | None = None,
    ) -> None:
        self.config = config
        self._deliver = deliver
        self._deliver_message = deliver_message
        self._report = report
        self._refused: dict[MessageRef, str] = {}  # message -> refusal code, while it stays on the server
        self._item_key = secrets.token_bytes(16)
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._stop = stop_event or threading.Event()
        self.credentials = credentials or StaticCredentials(get_secret, config.secret_name, config.auth)
        extra = {"client_factory": client_factory} if client_factory is not None else {}
        self.driver: MailboxDriver = driver or ImapDriver(
            host=config.host, port=config.port, username=config.username, credentials=self.credentials,
            clock=clock, tls=config.tls, ca_file=config.ca_file, timeout_s=config.timeout_s, **extra)
        self._sweeps = MailboxSweeps(config.name, config.folder, config.copies, copies or MemoryLedger())
        self._notice = notice
        self._retry_now = threading.Event()
        self._cycle_lock = threading.Lock()
        self._status_lock = threading.Lock()
        self._status = IntakeStatus()
        self._thread: threading.Thread | None = None
        self._generation: object = None
        self._settled: set[MessageRef] = set()  # messages left alone on purpose, not read again
        self._aborted = False

    # ---- public surface -----------------------------------------------------------------------------

    @property
    def status(self) -> IntakeStatus:
        with self._status_lock:
            return self._status

    @property
    def token_status(self) -> TokenStatus | None:
        """The OAuth2 token's expiry and last failure (None for a password)."""
        return self.credentials.status

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the mailbox watcher was already started")
        self._thread = threading.Thread(target=self._run, name=f"intake-mailbox-{self.config.name}",
                                        daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop promptly: the thread leaves IDLE within a fraction of a second; a blocked read is aborted."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(min(1.0, timeout))
            if thread.is_alive():
                self._aborted = True
                self.driver.abort()
                thread.join(timeout)
        if thread is None or not thread.is_alive():
            self._disconnect(graceful=thread is None)
        self._set_status(self.status.stopped())

    def wake(self) -> None:
        """Run a cycle soon (credentials changed): a failing watcher retries now instead of after its back-off."""
        self._retry_now.set()

    def poll_once(self) -> CycleReport:
        """Run one cycle now and return its counts; never raises for server, network or vault failures."""
        with self._cycle_lock:
            report = CycleReport()
            try:
                self._cycle(report)
            except Exception as exc:  # every failure is reported by id; the watcher never dies of one
                self._failed(report, exc)
            else:
                self._set_status(self.status.succeeded(self._clock.now()))
                if report.error_id:
                    self._set_status(self.status.noted(report.error_id))
            return report

    # ---- the thread -----------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
                self._wait_for_next_cycle()
            except Exception as exc:  # last line of defence: keep the thread alive
                log.error("mailbox %s: %s (%s)", self.config.name, ERR_UNEXPECTED, type(exc).__name__)
                self._disconnect()
                self._stop.wait(self._backoff.max_s)
        self._disconnect(graceful=not self._aborted)

    def _wait_for_next_cycle(self) -> None:
        failures = self.status.consecutive_failures
        if failures:
            self._pause(self._backoff.delay(failures))
        elif self._can_idle():
            self._idle()
        else:
            self._pause(min(self.config.poll_interval_s, self._until_session_end()))

    def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when stopped or told to retry now; in short slices, so both are prompt."""
        deadline = self._clock.monotonic() + seconds
        while not self._stop.is_set() and not self._retry_now.is_set():
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                break
            self._stop.wait(min(0.5, remaining))
        self._retry_now.clear()

    def _until_session_end(self) -> float:
        ends = self.driver.session_ends_at()
        return float("inf") if ends is None else max(0.0, ends - self._clock.monotonic())

    def _can_idle(self) -> bool:
        return bool(self.config.use_idle and self.driver.connected and self.driver.can_wait())

    def _idle(self) -> None:
        """Wait until new mail, ``poll_interval_s``, the session's end, or stop; a broken connection is dropped.

        The wait is left and the folder re-examined every ``idle_recheck_s``: a message that lands between the
        last command and the start of IDLE goes unannounced (Dovecot 2.3 reports it only after its own 30 s
        check; tried), and the UIDNEXT comparison catches it at the next re-check.
        """
        driver = self.driver
        deadline = self._clock.monotonic() + min(self.config.poll_interval_s, self._until_session_end())
        with self._cycle_lock:
            try:
                while not self._stop.is_set() and self._clock.monotonic() < deadline:
                    if self._changed_since_scan(driver):
                        return  # mail arrived; its notice may have gone to another command: cycle now
                    until = min(deadline, self._clock.monotonic() + self.config.idle_recheck_s)
                    outcome = driver.wait(self.config.folder, until, self._stop)
                    if outcome == "mail":
                        return
                    if outcome == "lost":
                        self._disconnect()
                        return
            except Exception as exc:
                if error_id_of(exc) is None:
                    raise
                self._disconnect()

    def _changed_since_scan(self, driver: MailboxDriver) -> bool:
        return driver.changed_since_listing(self.config.folder)

    # ---- one cycle ----------------------------------------------------------------------------------

    def _cycle(self, report: CycleReport) -> None:
        driver = self._connected()
        matched = self._scan(driver, report)
        for ref, rules, sender, subject, received in matched:
            self._take(driver, ref, rules, sender, subject, received, report)
        self._sweeps.sweep_trash(driver, report)
        self._sweeps.sweep_copies(driver, report)

    def _connected(self) -> MailboxDriver:
        driver = self.driver
        ends = driver.session_ends_at()
        if driver.connected and ends is not None and self._clock.monotonic() >= ends:
            self._disconnect(graceful=True)  # renew the session before its token expires
        if not driver.connected:
            self._sweeps.forget_trash_folder()
            driver.connect()
        return driver

    def _scan(self, driver: MailboxDriver, report: CycleReport) -> list[_Match]:
        """List the folder and read the envelope of every message not settled before."""
        listing = driver.listing(self.config.folder)
        if listing.generation != self._generation:
            self._generation = listing.generation
            self._settled.clear()
            self._forget_refused(set())
        present = set(listing.refs)
        self._settled &= present
        self._forget_refused(present)
        todo = [ref for ref in listing.refs if ref not in self._settled]
        matched: list[_Match] = []
        if not todo:
            return matched
        envelopes = driver.envelopes(self.config.folder, todo)
        for ref in todo:
            found = envelopes.get(ref)
            if found is None:
                continue  # expunged meanwhile by someone else
            report.examined += 1
            match = self._match(found, report)
            if match is not None:
                matched.append(match)
        return matched

    def _match(self, item: Envelope, report: CycleReport) -> _Match | None:
        try:
            sender, subject = envelope(item.header)
        except MailFileError:
            sender, subject = "", ""
        if self._is_notice(sender, subject):
            self._settled.add(item.ref)
            report.notices += 1
            if self._notice is not None:
                self._notice(item.received_at or self._clock.now())
            return None
        rules = message_rules(self.config.rules, sender=sender, subject=subject)
        if not rules:
            self._settled.add(item.ref)
            return None
        report.matched += 1
        if item.size > self.config.max_message_bytes:
            self._leave(item.ref, ERR_TOO_LARGE, report)
            return None
        return item.ref, rules, sender, subject, item.received_at

    def _is_notice(self, sender: str, subject: str) -> bool:
        if not self.config.notice_senders:
            return False
        notice = Rule(name="notice", senders=self.config.notice_senders, subjects=self.config.notice_subjects)
        return bool(message_rules((notice,), sender=sender, subject=subject))

    def _take(self, driver: MailboxDriver, ref: MessageRef, rules: tuple[Rule, ...], sender: str, subject: str,
              received: datetime | None, report: CycleReport) -> None:
        raw = driver.fetch(self.config.folder, ref, self.config.max_message_bytes + 1)
        if raw is None:
            return
        if len(raw) > self.config.max_message_bytes:
            self._leave(ref, ERR_TOO_LARGE, report)
            return
        try:
            parts = attachments(raw, self.config.max_attachment_bytes)
        except MailFileError as exc:
            log.warning("mailbox %s: %s; the message is vaulted whole, quarantined", self.config.name,
                        exc.error_id)
            report.error_id = exc.error_id
            files = [MessageFile(raw, quarantine=True)]
        else:
            if not parts and not self.config.keep_message:
                self._leave(ref, ERR_NO_ATTACHMENTS, report)
                return
            files = message_files(self.config, raw, parts, rules, sender, subject)
        results = self._vault(files, report)
        mid = message_id(raw)
        searched = self._begin_copy_check(files, results, mid, received)
        driver.delete(self.config.folder, [ref])
        report.expunged += 1
        if mid and self.config.expunge_trash and not (searched and self.config.copies.mode == "remove"):
            self._sweeps.trash_later(mid)  # (a removing copy search covers the trash, file by file)

    def _vault(self, files: list[MessageFile], report: CycleReport) -> list[DeliverResult]:
        """Deliver the files of one message (announced once when the router offers it)."""
        try:
            if self._deliver_message is not None:
                results = self._deliver_message(files, channel=self.config.channel, source=self.config.name)
            else:
                results = [self._deliver(io.BytesIO(f.data), channel=self.config.channel, source=self.config.name,
                                         quarantine=f.quarantine, reason=f.reason) for f in files]
        except Exception as exc:  # the vault refused: leave the message, retry later
            error_id = str(getattr(exc, "error_id", ERR_DELIVER))
            raise _CycleError(error_id, keep_connection=True) from exc
        for file, result in zip(files, results, strict=True):
            self._count(result, quarantine=file.quarantine, report=report)
        return results

    def _count(self, result: DeliverResult, *, quarantine: bool, report: CycleReport) -> None:
        if result.duplicate:
            report.duplicates += 1
        else:
            report.delivered += 1
        if quarantine:
            report.quarantined += 1

    def _begin_copy_check(self, files: list[MessageFile], results: list[DeliverResult], mid: str | None,
                          received: datetime | None) -> bool:
        """Record, before the message goes, that its copies must be looked for (the recognised files only);
        whether a search was recorded."""
        if self.config.copies.mode == "off":
            return False
        recognised = [(f, r) for f, r in zip(files, results, strict=True) if not f.quarantine]
        if not recognised:
            return False
        parts = frozenset((len(f.data), hashlib.sha256(f.data).hexdigest()) for f, _ in recognised)
        since = (received - timedelta(days=1)).date() if received is not None else None
        probe = CopyProbe(parts=parts, message_id=None, since=since)
        try:
            check = self._sweeps.ledger.begin(self.config.name, [r.delivery_id for _, r in recognised], probe)
        except Exception as exc:  # not recorded: the message stays and is taken (as duplicates) again
            raise _CycleError(ERR_DELIVER, keep_connection=True) from exc
        if mid:
            self._sweeps.remember_message_id(check, mid)
        return True

    def _leave(self, ref: MessageRef, error_id: str, report: CycleReport) -> None:
        """A matching message stays on the server (noted once, not read again); a too large one is refused."""
        self._settled.add(ref)
        report.left += 1
        report.error_id = error_id
        log.warning("mailbox %s: %s; one message left on the server", self.config.name, error_id)
        if error_id == ERR_TOO_LARGE and self._refused.get(ref) != error_id:
            self._refused[ref] = error_id
            self._refresh_refusals()
            self._tell(error_id, self._item_id(ref))

    def _forget_refused(self, present: set[MessageRef]) -> None:
        gone = [ref for ref in self._refused if ref not in present]
        for ref in gone:
            del self._refused[ref]
        if gone:
            self._refresh_refusals()

    def _refresh_refusals(self) -> None:
        counts: dict[str, int] = {}
        for code in self._refused.values():
            counts[code] = counts.get(code, 0) + 1
        with self._status_lock:
            self._status = self._status.refusing(counts)

    def _tell(self, code: str, item: str) -> None:
        if self._report is not None:
            self._report(self.config.name, code, item)

    def _item_id(self, ref: MessageRef) -> str:
        """A short keyed hash of a message's place: refers to it without its subject or sender."""
        text = f"{self._generation}:{ref}".encode()
        return hmac.new(self._item_key, text, hashlib.sha256).hexdigest()[:12]

    # ---- connection and status -------------------------------------------------------------------------

    def _disconnect(self, *, graceful: bool = False) -> None:
        self._sweeps.forget_trash_folder()
        self.driver.disconnect(graceful=graceful)

    def _failed(self, report: CycleReport, exc: Exception) -> None:
        error_id = _error_id(exc)
        report.error_id = error_id
        keep = isinstance(exc, _CycleError | DriverError) and exc.keep_connection
        if not keep:
            self._disconnect()
        previous = self.status
        failures = previous.consecutive_failures + 1
        delay = self._backoff.delay(failures)
        self._set_status(previous.failed(error_id, self._clock.now(), delay,
                                         permanent=error_id in PERMANENT_ERRORS))
        level = logging.WARNING if previous.last_error_id != error_id or failures == 1 else logging.DEBUG
        log.log(level, "mailbox %s: cycle failed: %s (%s, failure %d); retry in %.1f s", self.config.name,
                error_id, type(exc.__cause__ or exc).__name__, failures, delay)

    def _set_status(self, status: IntakeStatus) -> None:
        with self._status_lock:
            self._status = status


# ---- helpers ------------------------------------------------------------------------------------------


def _error_id(exc: BaseException) -> str:
    if isinstance(exc, _CycleError):
        return exc.error_id
    return error_id_of(exc) or ERR_UNEXPECTED

