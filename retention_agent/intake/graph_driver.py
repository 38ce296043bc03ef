"""The Microsoft Graph mailbox driver: Exchange Online through Graph v1.0, deleting with ``permanentDelete``.

Why a second driver: an IMAP expunge leaves the message in Exchange's Recoverable Items, where the mailbox's
user can restore it until the deleted-item retention ends. Graph's ``permanentDelete`` puts it in the Purges
folder instead, which Outlook and OWA cannot restore from (Exchange still keeps it there until the retention
ends, longer under a hold: the proof of deletion says so). It needs the application permission
``Mail.ReadWrite``, limited to the one mailbox by an application access policy (docs/administrator.md).

Requests, all under ``/v1.0/users/{mailbox}`` with ``Authorization: Bearer <token>`` (:mod:`.oauth`):

- connect: ``GET mailFolders/inbox?$select=id`` (the token opens the mailbox; a 404 means ``username`` is not
  a mailbox of the tenant, a permanent ``graph-access-denied``);
- list / envelopes: ``GET mailFolders/{folder}/messages?$select=id,from,subject,internetMessageId,
  receivedDateTime&$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')`` (PR_MESSAGE_SIZE,
  since v1.0 has no size property), following ``@odata.nextLink``; the header fields the watcher matches on
  are rebuilt from ``from``, ``subject`` and ``internetMessageId``;
- fetch: ``GET messages/{id}/$value`` (the MIME message);
- delete: ``POST messages/{id}/permanentDelete`` (204);
- folders: ``GET mailFolders`` and each folder's ``childFolders``; the well-known folders
  (``deleteditems``, ``sentitems``, ``drafts``, ``junkemail``, ``archive``) give the special uses;
- copies: ``$filter=internetMessageId eq '...'``; ``$filter=receivedDateTime ge ... and hasAttachments eq
  true`` (sizes filtered here); ``GET messages/{id}/attachments`` then ``attachments/{id}/$value`` of those
  that may hold a wanted file (an attached message, ``itemAttachment``, is unpacked here as the IMAP driver
  unpacks ``message/rfc822``).

Graph has no IDLE: the watcher polls. Errors: ``graph-connect`` (network, TLS), ``graph-access-denied``
(401/403: the token, the permission or the application access policy; permanent), ``graph-server`` (other
failures, 429 throttling included: retried with back-off). It was tested against a local double that follows
Microsoft's published v1.0 request and response shapes (``tests/graph_double.py``), never against Microsoft.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Collection, Iterable, Iterator
from datetime import date, datetime
from email.headerregistry import Address
from email.policy import SMTP
from email.utils import formataddr
from typing import Any
from urllib.parse import quote

from retention_agent.clock import Clock

from .credentials import CredentialError, Credentials
from .imap_driver import session_margin
from .mail_driver import REMOVAL_GRAPH_PERMANENT, DriverError, Envelope, FolderInfo, Listing, MessageRef, WaitOutcome
from .mailfile import MailFileError, attachments

ERR_CONNECT = "graph-connect"
ERR_DENIED = "graph-access-denied"
ERR_SERVER = "graph-server"

_SIZE_PROPERTY = "Integer 0x0E08"  # PR_MESSAGE_SIZE
_WELL_KNOWN = {"deleteditems": "\\Trash", "sentitems": "\\Sent", "drafts": "\\Drafts", "junkemail": "\\Junk",
               "archive": "\\Archive"}
_PAGE = 100
_MAX_PAGES = 1000
_ENVELOPE_SELECT = "id,from,subject,internetMessageId,receivedDateTime"


class GraphDriver:
    removal_method = REMOVAL_GRAPH_PERMANENT

    def __init__(self, *, base_url: str, mailbox: str, credentials: Credentials, clock: Clock,
                 ca_file: str | None = None, timeout_s: float = 30.0, max_attachment_bytes: int = 64 << 20) -> None:
        self._origin = base_url.rstrip("/")
        self.base = self._origin + "/v1.0/users/" + quote(mailbox, safe="@")
        self._credentials = credentials
        self._clock = clock
        self._verify: str | bool = ca_file or True
        self._timeout = timeout_s
        self._max_attachment = max_attachment_bytes
        self._session: Any = None
        self._token: str | None = None
        self._session_end: float | None = None
        self._folder_ids: dict[str, str] = {}
        self._envelopes: dict[MessageRef, Envelope] = {}

    # ---- connection -----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._token is not None

    def connect(self) -> None:
        if self._token is not None:
            return
        import requests

        try:
            credential = self._credentials.current()
        except CredentialError as exc:
            raise DriverError(exc.error_id) from exc
        self._session = self._session or requests.Session()
        self._token = credential.secret
        if credential.valid_for_s is not None:
            self._session_end = (self._clock.monotonic() + credential.valid_for_s
                                 - session_margin(credential.valid_for_s))
        # the token opens this mailbox: its inbox, since Mail.ReadWrite is all the application has (reading the
        # user object would take User.Read.All); not found (404) is a wrong address, not an empty mailbox
        if self._get("/mailFolders/inbox", {"$select": "id"}) is None:
            raise DriverError(ERR_DENIED)

    def disconnect(self, *, graceful: bool = False) -> None:
        self._token = None
        self._session_end = None
        self._folder_ids.clear()

    def abort(self) -> None:
        session = self._session
        if session is not None:
            session.close()

    def session_ends_at(self) -> float | None:
        return self._session_end

    # ---- HTTP ---------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, params: dict[str, str] | None = None) -> Any:
        import requests

        if self._token is None:
            raise DriverError(ERR_CONNECT)
        url = path if path.startswith("https://") else self.base + path
        try:
            response = self._session.request(method, url, params=params, timeout=self._timeout, verify=self._verify,
                                             headers={"Authorization": f"Bearer {self._token}",
                                                      "Accept": "application/json"})
        except requests.RequestException as exc:
            raise DriverError(ERR_CONNECT) from exc
        if response.status_code in (401, 403):
            if response.status_code == 401:
                self._credentials.invalidate()
            raise DriverError(ERR_DENIED)
        if response.status_code == 404:
            return None
        if response.status_code >= 300:
            raise DriverError(ERR_SERVER)
        return response

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any] | None:
        response = self._request("GET", path, params)
        if response is None:
            return None
        try:
            body = response.json()
        except ValueError as exc:
            raise DriverError(ERR_SERVER) from exc
        return body if isinstance(body, dict) else None

    def _pages(self, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        page = self._get(path, params)
        for _ in range(_MAX_PAGES):
            if page is None:
                return
            yield from (item for item in page.get("value", []) if isinstance(item, dict))
            link = page.get("@odata.nextLink")
            if not isinstance(link, str) or not link.startswith(self._origin + "/"):
                return  # the token goes to Graph only, never to a host a link names
            page = self._get(link)

    # ---- folders and messages -------------------------------------------------------------------------

    def _folder(self, folder: str) -> str:
        """The path segment of a folder: a well-known name (``inbox``) or the id of a folder we listed."""
        if folder.upper() == "INBOX":
            return "inbox"
        return quote(self._folder_ids.get(folder, folder), safe="")

    def listing(self, folder: str) -> Listing:
        self._envelopes = {}
        refs: list[MessageRef] = []
        params = {"$select": _ENVELOPE_SELECT, "$top": str(_PAGE),
                  "$expand": f"singleValueExtendedProperties($filter=id eq '{_SIZE_PROPERTY}')"}
        for item in self._pages(f"/mailFolders/{self._folder(folder)}/messages", params):
            envelope = _envelope(item)
            if envelope is not None:
                refs.append(envelope.ref)
                self._envelopes[envelope.ref] = envelope
        return Listing(generation="graph", refs=refs)

    def changed_since_listing(self, folder: str) -> bool:
        return False

    def envelopes(self, folder: str, refs: list[MessageRef]) -> dict[MessageRef, Envelope]:
        return {ref: self._envelopes[ref] for ref in refs if ref in self._envelopes}

    def fetch(self, folder: str, ref: MessageRef, limit: int) -> bytes | None:
        response = self._request("GET", f"/messages/{quote(str(ref), safe='')}/$value")
        if response is None:
            return None
        return bytes(response.content[:limit])

    def delete(self, folder: str, refs: Collection[MessageRef]) -> None:
        for ref in refs:
            self._request("POST", f"/messages/{quote(str(ref), safe='')}/permanentDelete")

    def folders(self) -> list[FolderInfo]:
        uses = {}
        for name, use in _WELL_KNOWN.items():
            found = self._get(f"/mailFolders/{name}", {"$select": "id"})
            if found and isinstance(found.get("id"), str):
                uses[found["id"]] = use
        result: list[FolderInfo] = []
        self._walk("/mailFolders", "", uses, result, depth=0)
        return result

    def _walk(self, path: str, prefix: str, uses: dict[str, str], found: list[FolderInfo], depth: int) -> None:
        params = {"$select": "id,displayName,childFolderCount", "$top": str(_PAGE)}
        for item in self._pages(path, params):
            folder_id, name = item.get("id"), item.get("displayName")
            if not isinstance(folder_id, str) or not isinstance(name, str):
                continue
            label = f"{prefix}{name}"
            self._folder_ids[label] = folder_id
            found.append(FolderInfo(label, uses.get(folder_id)))
            if depth < 8 and int(item.get("childFolderCount") or 0):
                self._walk(f"/mailFolders/{quote(folder_id, safe='')}/childFolders", label + "/", uses, found,
                           depth + 1)

    def search_message_id(self, folder: str, message_id: str) -> list[MessageRef]:
        escaped = message_id.replace("'", "''")
        params = {"$filter": f"internetMessageId eq '{escaped}'", "$select": "id,internetMessageId",
                  "$top": str(_PAGE)}
        return [str(item["id"]) for item in self._pages(f"/mailFolders/{self._folder(folder)}/messages", params)
                if item.get("internetMessageId") == message_id and isinstance(item.get("id"), str)]

    def search_larger(self, folder: str, min_size: int, since: date | None) -> list[MessageRef]:
        clauses = ["hasAttachments eq true"]
        if since is not None:
            clauses.insert(0, f"receivedDateTime ge {since.isoformat()}T00:00:00Z")
        params = {"$filter": " and ".join(clauses), "$select": "id", "$top": str(_PAGE),
                  "$expand": f"singleValueExtendedProperties($filter=id eq '{_SIZE_PROPERTY}')"}
        return [str(item["id"]) for item in self._pages(f"/mailFolders/{self._folder(folder)}/messages", params)
                if isinstance(item.get("id"), str) and _size(item) > min_size]

    def part_digests(self, folder: str, refs: Iterable[MessageRef],
                     sizes: Collection[int]) -> dict[MessageRef, set[tuple[int, str]]]:
        smallest = min(sizes, default=0)
        result: dict[MessageRef, set[tuple[int, str]]] = {}
        for ref in refs:
            digests: set[tuple[int, str]] = set()
            base = f"/messages/{quote(str(ref), safe='')}/attachments"
            for item in self._pages(base, {"$select": "id,size,name,contentType"}):
                # "size" counts the attachment's properties too: it is at least the file's length
                if not isinstance(item.get("id"), str) or int(item.get("size") or 0) < smallest:
                    continue
                digests |= self._attachment_digests(f"{base}/{quote(item['id'], safe='')}/$value", item, sizes)
            result[ref] = digests
        return result

    def _attachment_digests(self, path: str, item: dict[str, Any], sizes: Collection[int]) -> set[tuple[int, str]]:
        response = self._request("GET", path)
        if response is None:
            return set()
        data = bytes(response.content[:self._max_attachment + 1])
        if item.get("@odata.type") == "#microsoft.graph.itemAttachment":
            try:  # an attached message: its MIME, whose files are what we look for
                return {(len(part.data), hashlib.sha256(part.data).hexdigest())
                        for part in attachments(data, self._max_attachment) if len(part.data) in sizes}
            except MailFileError:
                return set()
        return {(len(data), hashlib.sha256(data).hexdigest())} if len(data) in sizes else set()

    def can_wait(self) -> bool:
        return False

    def wait(self, folder: str, until: float, stop: threading.Event) -> WaitOutcome:
        return "quiet"


def _size(item: dict[str, Any]) -> int:
    for prop in item.get("singleValueExtendedProperties") or []:
        if isinstance(prop, dict) and str(prop.get("id", "")).lower() == _SIZE_PROPERTY.lower():
            try:
                return int(prop.get("value") or 0)
            except (TypeError, ValueError):
                return 0
    return 0


def _envelope(item: dict[str, Any]) -> Envelope | None:
    """The watcher's envelope of a Graph message: its header fields rebuilt from the JSON (SMTP-encoded)."""
    ref = item.get("id")
    if not isinstance(ref, str):
        return None
    sender = ((item.get("from") or {}).get("emailAddress") or {}) if isinstance(item.get("from"), dict) else {}
    address, name = str(sender.get("address") or ""), str(sender.get("name") or "")
    lines = []
    try:
        lines.append(SMTP.fold("From", formataddr((name, Address(addr_spec=address).addr_spec)) if address else ""))
    except (ValueError, IndexError):
        lines.append("From: \r\n")
    lines.append(SMTP.fold("Subject", str(item.get("subject") or "")))
    if isinstance(item.get("internetMessageId"), str):
        lines.append(f"Message-ID: {item['internetMessageId']}\r\n")
    received = item.get("receivedDateTime")
    moment = None
    if isinstance(received, str):
        try:
            moment = datetime.fromisoformat(received.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    return Envelope(ref=ref, header="".join(lines).encode("utf-8", "replace"), size=_size(item), received_at=moment)
