"""The IMAP mailbox driver: IMAP4rev1 over TLS, with UIDPLUS, IDLE and SPECIAL-USE where the server offers them.

What it does, command by command (see :mod:`.mail_driver` for the interface):

- **connect**: TLS by default (``starttls``; plaintext only when configured ``tls = "none"``), certificate
  verification never switched off (``ca_file`` adds an in-house CA), then ``LOGIN`` with a password or
  ``AUTHENTICATE XOAUTH2`` / ``OAUTHBEARER`` with an OAuth2 access token from :mod:`.credentials`. With a
  token the session has an end (:meth:`ImapDriver.session_ends_at`): a few minutes before the token expires
  (a fifth of its lifetime when that is shorter), so the watcher logs in again with a fresh token instead of
  meeting Exchange Online's ``BYE Session invalidated - AccessTokenExpired`` in the middle of a fetch;
- **list / envelopes**: ``EXAMINE`` (read-only), ``UID SEARCH ALL``, then only the ``From``, ``Subject`` and
  ``Message-ID`` header fields, ``RFC822.SIZE`` and ``INTERNALDATE`` (``BODY.PEEK``: no ``\\Seen`` flag);
- **fetch**: ``BODY.PEEK[]<0.limit>``;
- **delete**: ``SELECT``, ``\\Deleted`` and ``UID EXPUNGE`` of exactly those UIDs (plain ``EXPUNGE`` without
  UIDPLUS, which also expunges what someone else flagged ``\\Deleted``);
- **folders**: ``LIST "" *`` with the RFC 6154 special-use attributes; ``\\Noselect`` folders are skipped;
- **copies**: ``UID SEARCH HEADER Message-ID`` (then the fetched header field is compared exactly), ``UID SEARCH
  LARGER n SINCE d``, ``BODYSTRUCTURE`` to pick the body parts whose encoded size could hold a file of a
  wanted size (forwarded messages, ``message/rfc822``, included), and ``BODY.PEEK[part]`` of those only,
  decoded and hashed here;
- **wait**: ``IDLE`` in slices of half a second, so that stop is prompt.

If a folder's ``UIDVALIDITY`` changes between two selections in one session, UIDs from before are stale: the
operation fails with ``imap-server`` and the watcher starts over. imapclient's own logger (which logs every
command and response, user name and headers included) is held at WARNING.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import quopri
import socket
import ssl
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import date, datetime
from typing import Any, Literal

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from imapclient.response_types import BodyData

from retention_agent.clock import Clock

from .copies import could_hold
from .credentials import Credential, CredentialError, Credentials
from .mail_driver import (
    REMOVAL_IMAP_EXPUNGE,
    DriverError,
    Envelope,
    FolderError,
    FolderInfo,
    Listing,
    MessageRef,
    WaitOutcome,
)
from .mailfile import message_id

logging.getLogger("imapclient").setLevel(logging.WARNING)

ERR_AUTH = "imap-auth"
ERR_OAUTH_REFUSED = "imap-oauth-refused"
ERR_TLS = "imap-tls"
ERR_CONNECT = "imap-connect"
ERR_CONNECTION_LOST = "imap-connection-lost"
ERR_SERVER = "imap-server"

TlsMode = Literal["tls", "starttls", "none"]

_ENVELOPE = "BODY.PEEK[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID)]"
_MESSAGE_ID_FIELD = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"
_SPECIAL_USE = (b"\\Trash", b"\\Sent", b"\\Drafts", b"\\Junk", b"\\Archive", b"\\All", b"\\Flagged")
_FETCH_BATCH = 200
_PART_BATCH_BYTES = 16 << 20
"""Body parts fetched in one command hold at most this many encoded bytes (memory stays bounded)."""
_IDLE_SLICE_S = 0.5
_SESSION_MARGIN_S = 300.0
"""Renew a token-authenticated session this long before the token expires (MSAL renews in the same window)."""

ClientFactory = Callable[..., IMAPClient]


def session_margin(valid_for_s: float) -> float:
    """How long before its token expires a session is renewed: 5 minutes, or a fifth of a short lifetime."""
    return min(_SESSION_MARGIN_S, valid_for_s / 5)


class ImapDriver:
    removal_method = REMOVAL_IMAP_EXPUNGE

    def __init__(self, *, host: str, port: int, username: str, credentials: Credentials, clock: Clock,
                 tls: TlsMode = "tls", ca_file: str | None = None, timeout_s: float = 30.0,
                 client_factory: ClientFactory = IMAPClient) -> None:
        self.host, self.port, self.username = host, port, username
        self.tls: TlsMode = tls
        self.ca_file = ca_file
        self.timeout_s = timeout_s
        self._credentials = credentials
        self._clock = clock
        self._client_factory = client_factory
        self._client: IMAPClient | None = None
        self._session_end: float | None = None
        self._selected: tuple[str, bool] | None = None
        self._validity: dict[str, int | None] = {}
        self._uidnext: dict[str, object] = {}

    # ---- connection -----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise DriverError(ERR_CONNECTION_LOST)
        return self._client

    def connect(self) -> None:
        if self._client is None:
            self._client = self._connect()

    def session_ends_at(self) -> float | None:
        return self._session_end

    def disconnect(self, *, graceful: bool = False) -> None:
        """Forget the connection; LOGOUT only when it is healthy (a dead one would block until timeout)."""
        client, self._client = self._client, None
        self._selected = None
        self._session_end = None
        self._validity.clear()
        if client is not None:
            _close_quietly(client, graceful=graceful)

    def abort(self) -> None:
        client = self._client
        if client is None:
            return
        try:
            client.socket().shutdown(socket.SHUT_RDWR)
        except Exception:  # already closed: nothing to abort
            return

    def _connect(self) -> IMAPClient:
        try:
            credential = self._credentials.current()
        except CredentialError as exc:
            raise DriverError(exc.error_id) from exc
        context = ssl.create_default_context(cafile=self.ca_file) if self.tls != "none" else None
        timeout = SocketTimeout(connect=self.timeout_s, read=self.timeout_s)
        started = self._clock.monotonic()
        try:
            client = self._client_factory(self.host, self.port, ssl=self.tls == "tls", ssl_context=context,
                                          timeout=timeout)
        except ssl.SSLError as exc:
            raise DriverError(ERR_TLS) from exc
        except (OSError, IMAPClientError) as exc:
            raise DriverError(ERR_CONNECT) from exc
        try:
            self._secure_and_login(client, context, credential)
        except BaseException:
            _close_quietly(client, graceful=False)
            raise
        client.normalise_times = False  # INTERNALDATE as an aware datetime
        if credential.valid_for_s is not None:
            self._session_end = started + credential.valid_for_s - session_margin(credential.valid_for_s)
        return client

    def _secure_and_login(self, client: IMAPClient, context: ssl.SSLContext | None, credential: Credential) -> None:
        if self.tls == "starttls":
            try:
                client.starttls(context)
            except (OSError, IMAPClientError) as exc:
                raise DriverError(ERR_TLS) from exc
        try:
            if credential.mechanism == "xoauth2":
                client.oauth2_login(self.username, credential.secret)
            elif credential.mechanism == "oauthbearer":
                client.oauthbearer_login(self.username, credential.secret)
            else:
                client.login(self.username, credential.secret)
        except IMAPClientAbortError as exc:
            raise DriverError(ERR_CONNECTION_LOST) from exc
        except IMAPClientError as exc:
            if credential.mechanism == "password" or credential.valid_for_s is None:
                raise DriverError(ERR_AUTH) from exc
            self._credentials.invalidate()  # a revoked token must not be offered again
            raise DriverError(ERR_OAUTH_REFUSED) from exc

    # ---- folders and messages -------------------------------------------------------------------------

    def _select(self, folder: str, *, readonly: bool, fresh: bool = False) -> dict[bytes, Any]:
        """Select ``folder`` (again when ``fresh`` or the mode differs); stale UIDs fail the operation."""
        if not fresh and self._selected is not None and self._selected[0] == folder and (
                readonly or not self._selected[1]):
            return {}
        client = self.client
        info: dict[bytes, Any] = client.select_folder(folder, readonly=readonly)
        self._selected = (folder, readonly)
        raw = info.get(b"UIDVALIDITY")
        validity = int(raw) if raw is not None else None
        known = folder in self._validity
        previous = self._validity.get(folder)
        self._validity[folder] = validity
        if known and previous != validity and not fresh:
            raise DriverError(ERR_SERVER)  # the UIDs we hold for this folder no longer name the same messages
        return info

    def listing(self, folder: str) -> Listing:
        info = self._select(folder, readonly=True, fresh=True)
        self._uidnext[folder] = info.get(b"UIDNEXT")
        refs: list[MessageRef] = [int(u) for u in self.client.search("ALL")]
        return Listing(generation=self._validity.get(folder), refs=refs)

    def changed_since_listing(self, folder: str) -> bool:
        """EXAMINE again (IDLE runs read-only, like the scan) and compare UIDNEXT with the listing's.

        A message that arrives while a command runs is announced in that command's response, where IDLE
        never sees it.
        """
        uidnext = self._select(folder, readonly=True, fresh=True).get(b"UIDNEXT")
        return uidnext is not None and uidnext != self._uidnext.get(folder)

    def envelopes(self, folder: str, refs: list[MessageRef]) -> dict[MessageRef, Envelope]:
        self._select(folder, readonly=True)
        found: dict[MessageRef, Envelope] = {}
        for batch in _chunks(refs, _FETCH_BATCH):
            fetched = self.client.fetch(batch, [_ENVELOPE, "RFC822.SIZE", "INTERNALDATE"])
            for uid in batch:
                item = fetched.get(uid)
                if item is None:
                    continue  # expunged meanwhile by someone else
                received = item.get(b"INTERNALDATE")
                found[uid] = Envelope(ref=uid, header=_section(item, b"BODY[HEADER"),
                                      size=int(item.get(b"RFC822.SIZE", 0)),
                                      received_at=received if isinstance(received, datetime) else None)
        return found

    def fetch(self, folder: str, ref: MessageRef, limit: int) -> bytes | None:
        self._select(folder, readonly=False)
        fetched = self.client.fetch([ref], [f"BODY.PEEK[]<0.{limit}>"])
        item = fetched.get(ref)
        if item is None:
            return None  # expunged meanwhile
        return _section(item, b"BODY[]")

    def delete(self, folder: str, refs: Collection[MessageRef]) -> None:
        if not refs:
            return
        with _folder_errors():
            self._select(folder, readonly=False)
            client = self.client
            uids = sorted(int(r) for r in refs)
            client.delete_messages(uids)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(uids)
            else:
                client.expunge()

    def folders(self) -> list[FolderInfo]:
        found = []
        for flags, _delimiter, name in self.client.list_folders():
            if any(f.lower() in (b"\\noselect", b"\\nonexistent") for f in flags):
                continue
            use = next((f.decode() for f in flags if f in _SPECIAL_USE), None)
            found.append(FolderInfo(str(name), use))
        return found

    def special_folder(self, flag: bytes) -> str | None:
        found = self.client.find_special_folder(flag)
        return str(found) if found else None

    def search_message_id(self, folder: str, message_id: str) -> list[MessageRef]:
        if not message_id.isascii() or any(c in message_id for c in '"\\\r\n'):
            return []
        with _folder_errors():
            return self._search_message_id(folder, message_id)

    def _search_message_id(self, folder: str, message_id: str) -> list[MessageRef]:
        self._select(folder, readonly=True)
        candidates = self.client.search(["HEADER", "Message-ID", message_id])
        if not candidates:
            return []
        fetched = self.client.fetch(candidates, [_MESSAGE_ID_FIELD])
        return [int(uid) for uid, item in fetched.items()
                if _message_id_of(_section(item, b"BODY[HEADER")) == message_id]

    def search_larger(self, folder: str, min_size: int, since: date | None) -> list[MessageRef]:
        criteria: list[object] = ["LARGER", max(0, min_size)]
        if since is not None:
            criteria += ["SINCE", since]
        with _folder_errors():
            self._select(folder, readonly=True)
            return [int(u) for u in self.client.search(criteria)]

    def part_digests(self, folder: str, refs: Iterable[MessageRef],
                     sizes: Collection[int]) -> dict[MessageRef, set[tuple[int, str]]]:
        with _folder_errors():
            return self._part_digests(folder, refs, sizes)

    def _part_digests(self, folder: str, refs: Iterable[MessageRef],
                      sizes: Collection[int]) -> dict[MessageRef, set[tuple[int, str]]]:
        self._select(folder, readonly=True)
        client = self.client
        result: dict[MessageRef, set[tuple[int, str]]] = {}
        wanted: dict[str, list[tuple[int, str, int]]] = {}  # part number -> (uid, encoding, encoded size)
        for batch in _chunks(sorted(int(r) for r in refs), _FETCH_BATCH):
            for uid, item in client.fetch(batch, ["BODYSTRUCTURE"]).items():
                result[int(uid)] = set()
                body = item.get(b"BODYSTRUCTURE")
                for number, encoding, encoded in _leaf_parts(body) if body is not None else ():
                    if could_hold(encoding, encoded, sizes):
                        wanted.setdefault(number, []).append((int(uid), encoding, encoded))
        for number, parts in wanted.items():  # one FETCH per part number and batch, not one per message
            for batch in _byte_batches(parts):
                encodings = {uid: encoding for uid, encoding, _ in batch}
                fetched = client.fetch(sorted(encodings), [f"BODY.PEEK[{number}]"])
                for uid, item in fetched.items():
                    data = _decode(_section(item, f"BODY[{number}]".encode()), encodings.get(int(uid), "7bit"))
                    if data is not None:
                        result.setdefault(int(uid), set()).add((len(data), hashlib.sha256(data).hexdigest()))
        return result

    # ---- waiting ----------------------------------------------------------------------------------------

    def can_wait(self) -> bool:
        client = self._client
        return client is not None and bool(client.has_capability("IDLE"))

    def wait(self, folder: str, until: float, stop: threading.Event) -> WaitOutcome:
        client = self.client
        client.idle()
        outcome = self._idle_until(client, until, stop)
        if outcome != "lost":
            _, responses = client.idle_done()
            if any(_is_new_mail(r) for r in responses):
                outcome = "mail"
        return outcome

    def _idle_until(self, client: IMAPClient, until: float, stop: threading.Event) -> WaitOutcome:
        while not stop.is_set():
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


# ---- helpers ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _folder_errors() -> Iterator[None]:
    """A NO or BAD answer about one folder (it cannot be selected, a search it refuses) fails that folder only;
    a broken connection still fails the cycle."""
    try:
        yield
    except IMAPClientAbortError:
        raise
    except IMAPClientError as exc:
        raise FolderError(ERR_SERVER) from exc


def error_id_of(exc: BaseException) -> str | None:
    """The driver error id for an exception an IMAP call raised; None when it is not an IMAP failure."""
    if isinstance(exc, DriverError):
        return exc.error_id
    if isinstance(exc, LoginError):
        return ERR_AUTH
    if isinstance(exc, ssl.SSLError):
        return ERR_TLS
    if isinstance(exc, IMAPClientAbortError | OSError):
        return ERR_CONNECTION_LOST
    if isinstance(exc, IMAPClientError):
        return ERR_SERVER
    return None


def _leaf_parts(body: Any, number: str = "", *, in_message: bool = False) -> Iterator[tuple[str, str, int]]:
    """``(part number, transfer encoding, encoded size)`` of every leaf body part, forwarded messages included."""
    if getattr(body, "is_multipart", False):
        for i, child in enumerate(body[0], 1):
            yield from _leaf_parts(child, f"{number}.{i}" if number else str(i))
        return
    if not isinstance(body, tuple) or len(body) < 7:
        return
    here = f"{number}.1" if in_message else (number or "1")
    maintype, subtype = _lower(body[0]), _lower(body[1])
    if maintype == "message" and subtype == "rfc822" and len(body) > 8 and isinstance(body[8], tuple):
        nested = body[8] if isinstance(body[8], BodyData) else BodyData.create(body[8])  # imapclient leaves it raw
        yield from _leaf_parts(nested, here, in_message=True)
        return
    try:
        size = int(body[6])
    except (TypeError, ValueError):
        return
    yield here, _lower(body[5]) or "7bit", size


def _lower(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").lower()
    return str(value).lower() if value is not None else ""


def _decode(data: bytes, encoding: str) -> bytes | None:
    try:
        if encoding == "base64":
            return base64.b64decode(b"".join(data.split()))
        if encoding == "quoted-printable":
            return quopri.decodestring(data)
    except (binascii.Error, ValueError):
        return None
    return data


def _message_id_of(header: bytes) -> str | None:
    return message_id(header)


def _section(item: dict[bytes, Any], prefix: bytes) -> bytes:
    """The bytes of a fetched body section whose response key starts with ``prefix``."""
    for key, value in item.items():
        if isinstance(key, bytes) and key.upper().startswith(prefix):
            return bytes(value) if value is not None else b""
    return b""


def _is_new_mail(response: Any) -> bool:
    return isinstance(response, tuple) and len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")


def _byte_batches(parts: list[tuple[int, str, int]]) -> Iterator[list[tuple[int, str, int]]]:
    """Parts in batches of at most :data:`_PART_BATCH_BYTES` encoded bytes (at least one part each)."""
    batch: list[tuple[int, str, int]] = []
    total = 0
    for part in parts:
        if batch and total + part[2] > _PART_BATCH_BYTES:
            yield batch
            batch, total = [], 0
        batch.append(part)
        total += part[2]
    if batch:
        yield batch


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
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
