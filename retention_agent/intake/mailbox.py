"""Mailbox intake: AgII's messages leave the IMAP server for the vault, and then the server, for good.

One :class:`MailboxWatcher` per configured mailbox, on its own thread. One cycle
(:meth:`MailboxWatcher.poll_once`):

1. connect (TLS by default; ``starttls``; plaintext only when the configuration says ``tls = "none"``) and
   log in with the password or OAuth2 access token that the key store holds under ``secret_name``;
2. ``EXAMINE`` the folder (read-only), list every message, and read only the ``From``, ``Subject`` and
   ``Message-ID`` header fields (``BODY.PEEK``: no ``\\Seen`` flag is set). A message that answers to no rule
   (:func:`~retention_agent.intake.rules.message_rules`) is left exactly as it was, and is not read again
   while the folder keeps its ``UIDVALIDITY``;
3. for a matching message: ``SELECT`` the folder, fetch the message (``BODY.PEEK[]``, at most
   ``max_message_bytes``), and hand each attachment to ``deliver``. Attachments that a matching rule
   recognises (file name pattern, file type from the bytes) are delivered normally; the others from the
   same message are delivered as ``quarantine=True`` (the officer decides), so that nothing is lost when the
   message is deleted. A matching message that cannot be parsed is delivered whole, quarantined. A matching
   message without attachments is left on the server (there is nothing to move), unless ``keep_message``.
   A message larger than ``max_message_bytes`` is left on the server and refused (``imap-message-too-large``,
   reported once and shown in status until it is gone);
3a. **recognition is not authentication**: with ``authserv_id`` set, a message counts as AgII's only when
   the topmost ``Authentication-Results`` headers from that server say ``dmarc=pass`` or ``dkim=pass`` for
   ``agii_domain`` (:mod:`.authresults`); every file of any other matching message is quarantined with the
   reason ``mail-not-authenticated``. Without ``authserv_id`` mail is taken on recognition alone and status
   says that senders are not authenticated;
3b. **one message, a bounded number of deliveries**: a message with more than ``max_files_per_message``
   attachments is vaulted whole, as one quarantined delivery with the reason ``mail-too-many-files``, which
   status shows the officer as a problem. The files of one message are announced once (``deliver_message``),
   not once per file;
4. only after every ``deliver`` returned: ``\\Deleted`` and ``UID EXPUNGE`` of that one message (plain
   ``EXPUNGE`` when the server lacks UIDPLUS, which also expunges what someone else flagged ``\\Deleted``);
5. servers that move deleted mail to the trash (Gmail, some Exchange set-ups, Dovecot's lazy_expunge): the
   ``\\Trash`` special-use folder is searched for the same ``Message-ID`` (verified on the fetched header
   field) and that copy is expunged too. A message without ``Message-ID`` cannot be found there.

The message itself (headers and body) is not kept, since it may hold personal data; with
``keep_message = True`` the raw message is vaulted as one more delivery before it is deleted.

Crash safety rests on ``deliver`` being idempotent by content: a crash or a dropped connection between
"delivered" and "expunged" leaves the message on the server, and the next cycle delivers the same bytes again
(``duplicate=True``, nothing new stored) and then expunges it. Messages already flagged ``\\Deleted`` are
processed like the others for the same reason.

Between cycles the watcher waits in ``IDLE`` when the server supports it and ``use_idle`` is set (a full
cycle still runs every ``poll_interval_s``: events are hints), otherwise it polls. Failures (connection
loss, refused credentials, TLS problems, server errors, a vault that refuses) are retried with back-off and
reported in :attr:`MailboxWatcher.status` by error id; the thread never dies of them. Logs carry the mailbox
name, error ids and counts only: never an address, subject or file name, nor an exception's text.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import secrets
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from retention_agent.clock import Clock

from . import authresults
from .base import (
    NOT_AUTHENTICATED,
    TOO_MANY_FILES,
    Backoff,
    Channel,
    Deliver,
    DeliverMessage,
    DeliverResult,
    IntakeStatus,
    MessageFile,
    RefusalReport,
)
from .mailfile import Attachment, MailFileError, attachments, envelope, header_fields, message_id
from .rules import Rule, detect_file_type, matches, message_rules

log = logging.getLogger(__name__)
# imapclient logs the user name, every command and every response (message headers included) at DEBUG:
# whatever the agent's log level, none of that may reach a log file (invariant 3).
logging.getLogger("imapclient").setLevel(logging.WARNING)

ERR_AUTH = "imap-auth"
ERR_TLS = "imap-tls"
ERR_CONNECT = "imap-connect"
ERR_CONNECTION_LOST = "imap-connection-lost"
ERR_SERVER = "imap-server"
ERR_SECRET = "imap-secret-missing"
ERR_DELIVER = "imap-deliver"
ERR_TOO_LARGE = "imap-message-too-large"
ERR_NO_ATTACHMENTS = "imap-no-attachments"
ERR_UNEXPECTED = "imap-unexpected"
PERMANENT_ERRORS = frozenset({ERR_AUTH, ERR_TLS, ERR_SECRET})
"""Errors that will not heal by retrying alone: the status shows ``failing`` at once."""

TlsMode = Literal["tls", "starttls", "none"]
AuthMode = Literal["password", "xoauth2"]

_HEADER_FIELDS = "BODY.PEEK[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID)]"
_MESSAGE_ID_FIELD = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"
_TRASH = b"\\Trash"  # RFC 6154 special-use flag
_FETCH_BATCH = 200
_IDLE_SLICE_S = 0.5
_MIB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class MailboxConfig:
    name: str
    """Configuration name, recorded as the delivery's ``source``: no address or other personal data."""
    host: str
    port: int
    username: str
    secret_name: str
    """Key-store entry holding the password or the OAuth2 access token."""
    tls: TlsMode = "tls"
    folder: str = "INBOX"
    auth: AuthMode = "password"
    poll_interval_s: float = 60.0
    """A full cycle runs at least this often, also while idling."""
    use_idle: bool = True
    idle_recheck_s: float = 4.0
    """While idling, leave IDLE this often to compare UIDNEXT (see :meth:`MailboxWatcher._idle`); this bounds
    the pick-up time of a message the server did not announce (the goal is under 5 s)."""
    rules: tuple[Rule, ...] = ()
    keep_message: bool = False
    channel: Channel = "email"
    ca_file: str | None = None
    """Extra CA bundle for a server with an in-house certificate; verification is never switched off."""
    timeout_s: float = 30.0
    max_message_bytes: int = 64 * _MIB
    """Larger messages are left on the server (noted as ``imap-message-too-large``); held in memory."""
    max_attachment_bytes: int = 64 * _MIB
    expunge_trash: bool = True
    max_files_per_message: int = 20
    """A message with more attachments is vaulted whole as one quarantined delivery."""
    authserv_id: str = ""
    """The ``authserv-id`` of the municipality's own mail server in ``Authentication-Results`` headers; empty:
    senders are not authenticated (status says so)."""
    agii_domain: str = "integratie-inburgering.be"
    """The domain that DKIM or DMARC must have passed for (``header.d`` / ``header.from``)."""

    def __post_init__(self) -> None:
        problem = _config_problem(self)
        if problem:
            raise ValueError(f"mailbox {self.name!r}: {problem}")


def _config_problem(cfg: MailboxConfig) -> str | None:
    checks = [
        (not cfg.name or "@" in cfg.name, "the name must be set and must not be an address"),
        (cfg.tls not in ("tls", "starttls", "none"), "tls must be 'tls', 'starttls' or 'none'"),
        (cfg.auth not in ("password", "xoauth2"), "auth must be 'password' or 'xoauth2'"),
        (not 0 < cfg.port < 65536, "port must be between 1 and 65535"),
        (min(cfg.poll_interval_s, cfg.idle_recheck_s, cfg.timeout_s) <= 0,
         "intervals and timeouts must be positive"),
        (cfg.max_message_bytes <= 0 or cfg.max_attachment_bytes <= 0, "size limits must be positive"),
        (cfg.max_files_per_message < 1, "max_files_per_message must be at least 1"),
        (not cfg.agii_domain.strip(), "agii_domain must not be empty"),
        (not any(r.has_envelope_criteria for r in cfg.rules),
         "no rule names a sender or subject, so no message would ever be taken"),
    ]
    return next((text for failed, text in checks if failed), None)


@dataclass
class CycleReport:
    """What one cycle did, in counts (safe to log)."""

    examined: int = 0
    matched: int = 0
    delivered: int = 0
    duplicates: int = 0
    quarantined: int = 0
    expunged: int = 0
    trash_expunged: int = 0
    left: int = 0
    error_id: str | None = None


class _CycleError(Exception):
    def __init__(self, error_id: str, *, keep_connection: bool = False) -> None:
        super().__init__(error_id)
        self.error_id = error_id
        self.keep_connection = keep_connection


ClientFactory = Callable[..., IMAPClient]
_IdleOutcome = Literal["mail", "quiet", "lost"]


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
        client_factory: ClientFactory = IMAPClient,
        deliver_message: DeliverMessage | None = None,
        report: RefusalReport | None = None,
    ) -> None:
        self.config = config
        self._deliver = deliver
        self._deliver_message = deliver_message
        self._report = report
        self._refused: dict[int, str] = {}  # UID -> refusal code, while the message stays on the server
        self._item_key = secrets.token_bytes(16)
        self._get_secret = get_secret
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._stop = stop_event or threading.Event()
        self._client_factory = client_factory
        self._client: IMAPClient | None = None
        self._cycle_lock = threading.Lock()
        self._status_lock = threading.Lock()
        self._status = IntakeStatus()
        self._thread: threading.Thread | None = None
        self._uidvalidity: int | None = None
        self._settled: set[int] = set()  # UIDs left alone on purpose, not read again
        self._trash_pending: set[str] = set()
        self._trash_folder: str | None = None
        self._aborted = False
        self._scan_uidnext: object = None

    # ---- public surface -----------------------------------------------------------------------------

    @property
    def status(self) -> IntakeStatus:
        with self._status_lock:
            return self._status

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
                self._abort_socket()
                thread.join(timeout)
        if thread is None or not thread.is_alive():
            self._disconnect(graceful=thread is None)
        self._set_status(self.status.stopped())

    def poll_once(self) -> CycleReport:
        """Run one cycle now and return its counts; never raises for IMAP, network or vault failures."""
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
            self._stop.wait(self._backoff.delay(failures))
        elif self._can_idle():
            self._idle()
        else:
            self._stop.wait(self.config.poll_interval_s)

    def _can_idle(self) -> bool:
        client = self._client
        return bool(self.config.use_idle and client is not None and client.has_capability("IDLE"))

    def _idle(self) -> None:
        """Wait in IDLE until new mail, ``poll_interval_s``, or stop; a broken connection is dropped.

        IDLE is left and the folder re-examined every ``idle_recheck_s``: a message that lands between the
        last command and the start of IDLE goes unannounced (Dovecot 2.3 reports it only after its own 30 s
        check; tried), and the UIDNEXT comparison catches it at the next re-check.
        """
        client = self._client
        assert client is not None
        deadline = self._clock.monotonic() + self.config.poll_interval_s
        with self._cycle_lock:
            try:
                while not self._stop.is_set() and self._clock.monotonic() < deadline:
                    if self._changed_since_scan(client):
                        return  # mail arrived; its notice may have gone to another command: cycle now
                    until = min(deadline, self._clock.monotonic() + self.config.idle_recheck_s)
                    outcome = self._idle_session(client, until)
                    if outcome == "mail":
                        return
                    if outcome == "lost":
                        self._disconnect()
                        return
            except (OSError, IMAPClientError):
                self._disconnect()

    def _changed_since_scan(self, client: IMAPClient) -> bool:
        """EXAMINE again (IDLE runs read-only, like the scan) and compare UIDNEXT with the scan's.

        A message that arrives while a command runs is announced in that command's response, where IDLE
        never sees it.
        """
        uidnext = self._select(client, readonly=True).get(b"UIDNEXT")
        return uidnext is not None and uidnext != self._scan_uidnext

    def _idle_session(self, client: IMAPClient, until: float) -> _IdleOutcome:
        client.idle()
        outcome = self._idle_until(client, until)
        if outcome != "lost":
            _, responses = client.idle_done()
            if any(_is_new_mail(r) for r in responses):
                outcome = "mail"
        return outcome

    def _idle_until(self, client: IMAPClient, until: float) -> _IdleOutcome:
        while not self._stop.is_set():
            remaining = until - self._clock.monotonic()
            if remaining <= 0:
                break
            slice_s = min(_IDLE_SLICE_S, remaining)
            started = self._clock.monotonic()
            responses = client.idle_check(timeout=slice_s)
            if any(_is_new_mail(r) for r in responses):
                return "mail"
            if not responses and self._clock.monotonic() - started < slice_s / 2:
                return "lost"  # readable but nothing to read: the server closed the connection
        return "quiet"

    # ---- one cycle ----------------------------------------------------------------------------------

    def _cycle(self, report: CycleReport) -> None:
        client = self._connected()
        matched = self._scan(client, report)
        if matched:
            self._select(client, readonly=False)
            for uid, rules, sender, subject in matched:
                self._take(client, uid, rules, sender, subject, report)
        self._sweep_trash(client, report)

    def _scan(self, client: IMAPClient, report: CycleReport) -> list[tuple[int, tuple[Rule, ...], str, str]]:
        """EXAMINE the folder and read the envelope of every message not settled before."""
        self._scan_uidnext = self._select(client, readonly=True).get(b"UIDNEXT")
        uids = [int(u) for u in client.search("ALL")]
        self._settled &= set(uids)
        self._forget_refused(set(uids))
        todo = [u for u in uids if u not in self._settled]
        matched: list[tuple[int, tuple[Rule, ...], str, str]] = []
        for batch in _chunks(todo, _FETCH_BATCH):
            fetched = client.fetch(batch, [_HEADER_FIELDS, "RFC822.SIZE"])
            for uid in batch:
                item = fetched.get(uid)
                if item is None:
                    continue  # expunged meanwhile by someone else
                report.examined += 1
                found = self._match(uid, item, report)
                if found is not None:
                    matched.append(found)
        return matched

    def _match(
        self, uid: int, item: dict[bytes, Any], report: CycleReport
    ) -> tuple[int, tuple[Rule, ...], str, str] | None:
        try:
            sender, subject = envelope(_section(item, b"BODY[HEADER"))
        except MailFileError:
            sender, subject = "", ""
        rules = message_rules(self.config.rules, sender=sender, subject=subject)
        if not rules:
            self._settled.add(uid)
            return None
        report.matched += 1
        size = int(item.get(b"RFC822.SIZE", 0))
        if size > self.config.max_message_bytes:
            self._leave(uid, ERR_TOO_LARGE, report)
            return None
        return uid, rules, sender, subject

    def _take(
        self, client: IMAPClient, uid: int, rules: tuple[Rule, ...], sender: str, subject: str,
        report: CycleReport,
    ) -> None:
        raw = self._fetch_message(client, uid)
        if raw is None:
            return
        if len(raw) > self.config.max_message_bytes:
            self._leave(uid, ERR_TOO_LARGE, report)
            return
        try:
            parts = attachments(raw, self.config.max_attachment_bytes)
        except MailFileError as exc:
            log.warning("mailbox %s: %s; the message is vaulted whole, quarantined", self.config.name,
                        exc.error_id)
            report.error_id = exc.error_id
            self._vault([MessageFile(raw, quarantine=True)], report)
        else:
            if not parts and not self.config.keep_message:
                self._leave(uid, ERR_NO_ATTACHMENTS, report)
                return
            self._vault(self._files(raw, parts, rules, sender, subject), report)
        self._remove(client, uid, message_id(raw), report)

    def _files(self, raw: bytes, parts: list[Attachment], rules: tuple[Rule, ...], sender: str,
               subject: str) -> list[MessageFile]:
        """What the message becomes: its attachments (quarantined unless recognised and authenticated), or
        the whole message as one quarantined delivery when it has too many."""
        if len(parts) > self.config.max_files_per_message:
            log.warning("mailbox %s: %s (%d files); the message is vaulted whole, quarantined",
                        self.config.name, TOO_MANY_FILES, len(parts))
            return [MessageFile(raw, quarantine=True, reason=TOO_MANY_FILES)]
        authenticated = self._authenticated(raw, sender)
        reason = "" if authenticated else NOT_AUTHENTICATED
        files = [MessageFile(part.data, quarantine=not (authenticated and _recognised(rules, sender, subject, part)),
                             reason=reason) for part in parts]
        if self.config.keep_message:
            files.append(MessageFile(raw, quarantine=not authenticated, reason=reason))
        return files

    def _authenticated(self, raw: bytes, sender: str) -> bool:
        """Without ``authserv_id``: recognition alone (status warns). With it: what that server says."""
        if not self.config.authserv_id:
            return True
        found, code = authresults.verdict(header_fields(raw),
                                          authserv_id=self.config.authserv_id, domain=self.config.agii_domain,
                                          from_domain=sender.rpartition("@")[2])
        if not found:
            log.warning("mailbox %s: %s (%s); its files are quarantined", self.config.name, NOT_AUTHENTICATED,
                        code)
        return found

    def _vault(self, files: list[MessageFile], report: CycleReport) -> None:
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

    def _count(self, result: DeliverResult, *, quarantine: bool, report: CycleReport) -> None:
        if result.duplicate:
            report.duplicates += 1
        else:
            report.delivered += 1
        if quarantine:
            report.quarantined += 1

    def _remove(self, client: IMAPClient, uid: int, mid: str | None, report: CycleReport) -> None:
        client.delete_messages([uid])
        if client.has_capability("UIDPLUS"):
            client.uid_expunge([uid])
        else:
            client.expunge()
        report.expunged += 1
        if mid and self.config.expunge_trash:
            self._trash_pending.add(mid)

    def _leave(self, uid: int, error_id: str, report: CycleReport) -> None:
        """A matching message stays on the server (noted once, not read again); a too large one is refused."""
        self._settled.add(uid)
        report.left += 1
        report.error_id = error_id
        log.warning("mailbox %s: %s; one message left on the server", self.config.name, error_id)
        if error_id == ERR_TOO_LARGE and self._refused.get(uid) != error_id:
            self._refused[uid] = error_id
            self._refresh_refusals()
            self._tell(error_id, self._item_id(uid))

    def _forget_refused(self, present: set[int]) -> None:
        gone = [uid for uid in self._refused if uid not in present]
        for uid in gone:
            del self._refused[uid]
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

    def _item_id(self, uid: int) -> str:
        """A short keyed hash of a message's place: refers to it without its subject or sender."""
        text = f"{self._uidvalidity}:{uid}".encode()
        return hmac.new(self._item_key, text, hashlib.sha256).hexdigest()[:12]

    # ---- trash ----------------------------------------------------------------------------------------

    def _sweep_trash(self, client: IMAPClient, report: CycleReport) -> None:
        """Expunge the trash copies of messages expunged here (the trash stays selected)."""
        if not self._trash_pending:
            return
        trash = self._find_trash(client)
        if trash is None or trash == self.config.folder:
            self._trash_pending.clear()
            return
        client.select_folder(trash)
        for mid in sorted(self._trash_pending):
            uids = self._trash_copies(client, mid)
            if uids:
                client.delete_messages(uids)
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge(uids)
                else:
                    client.expunge()
                report.trash_expunged += len(uids)
            self._trash_pending.discard(mid)

    def _find_trash(self, client: IMAPClient) -> str | None:
        if self._trash_folder is None:
            found = client.find_special_folder(_TRASH)
            self._trash_folder = str(found) if found else None
        return self._trash_folder

    def _trash_copies(self, client: IMAPClient, mid: str) -> list[int]:
        if not mid.isascii() or any(c in mid for c in '"\\\r\n'):
            return []
        candidates = client.search(["HEADER", "Message-ID", mid])
        if not candidates:
            return []
        fetched = client.fetch(candidates, [_MESSAGE_ID_FIELD])
        return [int(uid) for uid, item in fetched.items()
                if message_id(_section(item, b"BODY[HEADER")) == mid]

    # ---- connection -------------------------------------------------------------------------------------

    def _connected(self) -> IMAPClient:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> IMAPClient:
        cfg = self.config
        secret = self._secret()
        context = ssl.create_default_context(cafile=cfg.ca_file) if cfg.tls != "none" else None
        timeout = SocketTimeout(connect=cfg.timeout_s, read=cfg.timeout_s)
        try:
            client = self._client_factory(cfg.host, cfg.port, ssl=cfg.tls == "tls", ssl_context=context,
                                          timeout=timeout)
        except ssl.SSLError as exc:
            raise _CycleError(ERR_TLS) from exc
        except (OSError, IMAPClientError) as exc:
            raise _CycleError(ERR_CONNECT) from exc
        try:
            self._secure_and_login(client, context, secret)
        except BaseException:
            _close_quietly(client, graceful=False)
            raise
        return client

    def _secure_and_login(self, client: IMAPClient, context: ssl.SSLContext | None, secret: str) -> None:
        if self.config.tls == "starttls":
            try:
                client.starttls(context)
            except (OSError, IMAPClientError) as exc:
                raise _CycleError(ERR_TLS) from exc
        try:
            if self.config.auth == "xoauth2":
                client.oauth2_login(self.config.username, secret)
            else:
                client.login(self.config.username, secret)
        except IMAPClientAbortError as exc:
            raise _CycleError(ERR_CONNECTION_LOST) from exc
        except IMAPClientError as exc:
            raise _CycleError(ERR_AUTH) from exc

    def _secret(self) -> str:
        try:
            secret = self._get_secret(self.config.secret_name)
        except Exception as exc:  # the key store's own error is not ours to interpret
            raise _CycleError(ERR_SECRET) from exc
        if not secret:
            raise _CycleError(ERR_SECRET)
        return secret

    def _select(self, client: IMAPClient, *, readonly: bool) -> dict[bytes, Any]:
        info: dict[bytes, Any] = client.select_folder(self.config.folder, readonly=readonly)
        validity = info.get(b"UIDVALIDITY")
        validity = int(validity) if validity is not None else None
        if validity != self._uidvalidity:
            self._uidvalidity = validity
            self._settled.clear()
            self._forget_refused(set())
        return info

    def _fetch_message(self, client: IMAPClient, uid: int) -> bytes | None:
        limit = self.config.max_message_bytes + 1
        fetched = client.fetch([uid], [f"BODY.PEEK[]<0.{limit}>"])
        item = fetched.get(uid)
        if item is None:
            return None  # expunged meanwhile
        return _section(item, b"BODY[]")

    def _disconnect(self, *, graceful: bool = False) -> None:
        """Forget the connection; LOGOUT only when it is healthy (a dead one would block until timeout)."""
        client, self._client = self._client, None
        self._trash_folder = None
        if client is not None:
            _close_quietly(client, graceful=graceful)

    def _abort_socket(self) -> None:
        client = self._client
        self._aborted = True
        if client is None:
            return
        try:
            client.socket().shutdown(socket.SHUT_RDWR)
        except Exception:  # already closed: nothing to abort
            return

    # ---- status -------------------------------------------------------------------------------------

    def _failed(self, report: CycleReport, exc: Exception) -> None:
        error_id = _error_id(exc)
        report.error_id = error_id
        if not (isinstance(exc, _CycleError) and exc.keep_connection):
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
    if isinstance(exc, LoginError):
        return ERR_AUTH
    if isinstance(exc, ssl.SSLError):
        return ERR_TLS
    if isinstance(exc, IMAPClientAbortError | OSError):
        return ERR_CONNECTION_LOST
    if isinstance(exc, IMAPClientError):
        return ERR_SERVER
    return ERR_UNEXPECTED


def _recognised(rules: Iterable[Rule], sender: str, subject: str, part: Attachment) -> bool:
    file_type = detect_file_type(part.data)
    return any(matches(rule, sender=sender, subject=subject, filename=part.filename, file_type=file_type)
               for rule in rules)


def _section(item: dict[bytes, Any], prefix: bytes) -> bytes:
    """The bytes of a fetched body section whose response key starts with ``prefix``."""
    for key, value in item.items():
        if isinstance(key, bytes) and key.upper().startswith(prefix):
            return bytes(value) if value is not None else b""
    return b""


def _is_new_mail(response: Any) -> bool:
    return isinstance(response, tuple) and len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _close_quietly(client: IMAPClient, *, graceful: bool) -> None:
    if graceful:
        try:
            client.logout()
            return
        except Exception:  # the connection may already be gone: close the socket below
            pass
    try:
        client.shutdown()
    except Exception:  # nothing left to close
        return
