"""A local **double** of Microsoft Graph v1.0 mail, for the Graph driver's tests. Not Microsoft's service.

Microsoft Graph cannot run here, so this small HTTPS server answers the requests the driver makes with the
request and response shapes Microsoft publishes for v1.0 (learn.microsoft.com/graph/api/resources/message,
mailfolder, fileattachment, itemattachment; message-permanentdelete):

- ``GET .../mailFolders/{well-known name or id}``; ``GET .../mailFolders`` and
  ``.../mailFolders/{id}/childFolders`` (``value``, ``@odata.nextLink`` paging with ``$top``/``$skip``);
- ``GET .../mailFolders/{id}/messages`` with ``$select``, ``$top``, ``$filter`` (``internetMessageId eq '...'``,
  ``receivedDateTime ge ...``, ``hasAttachments eq true``, joined by ``and``) and
  ``$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')`` (the message size);
- ``GET .../messages/{id}/$value`` (MIME); ``POST .../messages/{id}/permanentDelete`` (204, no body);
- ``GET .../messages/{id}/attachments`` (``#microsoft.graph.fileAttachment`` / ``itemAttachment``, ``size``
  counting the attachment's properties as well) and ``.../attachments/{id}/$value``;
- errors as Graph sends them: ``{"error": {"code": ..., "message": ...}}`` with 401 for a wrong token, 403
  ``ErrorAccessDenied`` for a mailbox the application access policy does not allow, and 403
  ``Authorization_RequestDenied`` for ``GET /v1.0/users/{upn}`` itself: the application has ``Mail.ReadWrite``
  only, and reading a user object takes ``User.Read.All``.

What it does not model: Graph's throttling, delta queries, ids that change when a message moves, and the
Recoverable Items folders themselves (a permanently deleted message is recorded in ``purged``).
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

from tests.support.tls_ca import serve_https, stop_https

WELL_KNOWN = ("inbox", "sentitems", "deleteditems", "drafts", "junkemail", "archive")
SIZE_PROPERTY = "Integer 0x0E08"


@dataclass
class Folder:
    id: str
    name: str
    parent: str | None
    well_known: str | None = None


@dataclass
class Message:
    id: str
    folder: str
    mime: bytes
    received: datetime


@dataclass
class GraphDouble:
    cert: Path
    key: Path
    mailbox: str
    token: str
    allowed: bool = True
    """Whether the application access policy lets the application open this mailbox."""
    folders: dict[str, Folder] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    purged: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    link_origin: str | None = None
    """Where ``@odata.nextLink`` points (default: this double); a test sets another origin to play a forged one."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> GraphDouble:
        double = self
        for name, display in (("inbox", "Inbox"), ("sentitems", "Sent Items"), ("deleteditems", "Deleted Items"),
                              ("drafts", "Drafts"), ("junkemail", "Junk Email"), ("archive", "Archive")):
            self.add_folder(display, well_known=name)

        class Handler(_Handler):
            graph = double

        self._server = serve_https(Handler, self.cert, self.key, "graph-double")
        self.port = int(self._server.server_address[1])
        return self

    def stop(self) -> None:
        stop_https(self._server)

    # ---- what the test does -----------------------------------------------------------------------------

    def add_folder(self, name: str, parent: str | None = None, well_known: str | None = None) -> str:
        folder_id = "AAMk" + secrets.token_urlsafe(24)
        with self.lock:
            self.folders[folder_id] = Folder(folder_id, name, parent, well_known)
        return folder_id

    def folder_id(self, name_or_well_known: str) -> str:
        with self.lock:
            return next(f.id for f in self.folders.values()
                        if name_or_well_known in (f.name, f.well_known))

    def deliver(self, folder: str, mime: bytes) -> str:
        message_id, folder_id = "AAMkAG" + secrets.token_urlsafe(40), self.folder_id(folder)
        with self.lock:
            self.messages[message_id] = Message(message_id, folder_id, mime, datetime.now(UTC))
        return message_id

    def in_folder(self, folder: str) -> list[bytes]:
        fid = self.folder_id(folder)
        with self.lock:
            return [m.mime for m in self.messages.values() if m.folder == fid]

    # ---- resources ------------------------------------------------------------------------------------------

    def folder_json(self, folder: Folder) -> dict[str, Any]:
        children = sum(1 for f in self.folders.values() if f.parent == folder.id)
        items = sum(1 for m in self.messages.values() if m.folder == folder.id)
        return {"id": folder.id, "displayName": folder.name, "parentFolderId": folder.parent or "root",
                "childFolderCount": children, "unreadItemCount": 0, "totalItemCount": items, "isHidden": False}

    def message_json(self, message: Message, select: list[str], expand_size: bool) -> dict[str, Any]:
        parsed = email.message_from_bytes(message.mime, policy=email.policy.default)
        name, address = email.utils.parseaddr(str(parsed.get("From", "")))
        full: dict[str, Any] = {
            "id": message.id, "subject": str(parsed.get("Subject", "")),
            "from": {"emailAddress": {"name": name, "address": address}},
            "internetMessageId": str(parsed.get("Message-ID", "")).strip(),
            "receivedDateTime": message.received.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "hasAttachments": any(True for _ in parsed.iter_attachments()),
            "parentFolderId": message.folder,
        }
        found = {key: full[key] for key in (select or full) if key in full}
        found["id"] = message.id
        if expand_size:
            found["singleValueExtendedProperties"] = [{"id": SIZE_PROPERTY, "value": str(len(message.mime))}]
        return found

    def attachments(self, message: Message) -> list[tuple[dict[str, Any], bytes]]:
        parsed = email.message_from_bytes(message.mime, policy=email.policy.default)
        found = []
        for n, part in enumerate(parsed.iter_attachments()):
            if part.get_content_type() == "message/rfc822":
                inner = part.get_payload()[0]
                data = inner.as_bytes(policy=email.policy.SMTP)
                kind = "#microsoft.graph.itemAttachment"
            else:
                data = part.get_payload(decode=True) or b""
                kind = "#microsoft.graph.fileAttachment"
            name = part.get_filename() or "Attached message"
            meta = {"@odata.type": kind, "id": f"AAMkATT{n}", "name": name, "contentType": part.get_content_type(),
                    "size": len(data) + 180 + len(name), "isInline": False}
            found.append((meta, data))
        return found


_FILTER = re.compile(r"(\w+) (eq|ge) ('(?:[^']|'')*'|[\w:.-]+)")


def _matches(message_json: dict[str, Any], conditions: list[tuple[str, str, str]]) -> bool:
    for prop, op, raw in conditions:
        value = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw
        actual = message_json.get(prop)
        if prop == "hasAttachments":
            if actual != (value == "true"):
                return False
        elif op == "eq" and str(actual) != value:
            return False
        elif op == "ge" and not str(actual) >= value:
            return False
    return True


class _Handler(BaseHTTPRequestHandler):
    graph: GraphDouble

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        graph = self.graph
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = [unquote(p) for p in url.path.split("/") if p]
        with graph.lock:
            graph.requests.append(f"{method} {url.path}")
        if self.headers.get("Authorization") != f"Bearer {graph.token}":
            return self._error(401, "InvalidAuthenticationToken", "Access token validation failure.")
        if parts[:2] != ["v1.0", "users"] or len(parts) < 3 or parts[2] != graph.mailbox:
            return self._error(404, "ErrorInvalidUser", "The requested user is invalid.")
        if not graph.allowed:
            return self._error(403, "ErrorAccessDenied", "Access to OData is disabled.")
        rest = parts[3:]
        with graph.lock:
            return self._route(method, rest, query)

    def _route(self, method: str, rest: list[str], query: dict[str, str]) -> None:
        graph = self.graph
        if not rest:  # reading the user object needs User.Read.All, which a mail-only application lacks
            return self._error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        if rest[0] == "mailFolders":
            return self._folders(rest[1:], query)
        if rest[0] == "messages" and len(rest) >= 2:
            message = graph.messages.get(rest[1])
            if message is None:
                return self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            if method == "POST" and rest[2:] == ["permanentDelete"]:
                del graph.messages[message.id]
                graph.purged.append(message.id)
                return self._empty(204)
            if rest[2:] == ["$value"]:
                return self._bytes(message.mime, "message/rfc822")
            if rest[2:3] == ["attachments"]:
                found = graph.attachments(message)
                if len(rest) == 3:
                    return self._json({"value": [meta for meta, _ in found]})
                match = [(meta, data) for meta, data in found if meta["id"] == rest[3]]
                if match and rest[4:] == ["$value"]:
                    return self._bytes(match[0][1], "application/octet-stream")
            return self._error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return self._error(400, "BadRequest", "Unsupported segment.")

    def _folders(self, rest: list[str], query: dict[str, str]) -> None:
        graph = self.graph
        if not rest:
            top = [f for f in graph.folders.values() if f.parent is None]
            return self._page([graph.folder_json(f) for f in top], query)
        folder = next((f for f in graph.folders.values() if rest[0] in (f.id, f.well_known)), None)
        if folder is None:
            return self._error(404, "ErrorInvalidIdMalformed", "Id is malformed.")
        if len(rest) == 1:
            return self._json(graph.folder_json(folder))
        if rest[1] == "childFolders":
            children = [f for f in graph.folders.values() if f.parent == folder.id]
            return self._page([graph.folder_json(f) for f in children], query)
        if rest[1] == "messages":
            select = [s for s in query.get("$select", "").split(",") if s]
            expand = SIZE_PROPERTY in query.get("$expand", "")
            conditions = [(m[1], m[2], m[3]) for m in _FILTER.finditer(query.get("$filter", ""))]
            items = [graph.message_json(m, [], expand) for m in graph.messages.values() if m.folder == folder.id]
            chosen = [item for item in items if _matches(item, conditions)]
            keep = {*select, "id", "singleValueExtendedProperties"} if select else None
            return self._page([{k: v for k, v in item.items() if keep is None or k in keep} for item in chosen],
                              query)
        return self._error(400, "BadRequest", "Unsupported segment.")

    def _page(self, items: list[dict[str, Any]], query: dict[str, str]) -> None:
        top, skip = int(query.get("$top", "10")), int(query.get("$skip", "0"))
        body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata", "value":
                                items[skip:skip + top]}
        if skip + top < len(items):
            rest = {**query, "$skip": str(skip + top)}
            encoded = "&".join(f"{quote(k)}={quote(v)}" for k, v in rest.items())
            body["@odata.nextLink"] = f"{self.graph.link_origin or self.graph.url}{urlparse(self.path).path}?{encoded}"
        self._json(body)

    def _json(self, body: dict[str, Any], status: int = 200) -> None:
        self._bytes(json.dumps(body).encode(), "application/json", status)

    def _error(self, status: int, code: str, message: str) -> None:
        self._json({"error": {"code": code, "message": message, "innerError": {"request-id": secrets.token_hex(8)}}},
                   status)

    def _empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _bytes(self, data: bytes, content_type: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
