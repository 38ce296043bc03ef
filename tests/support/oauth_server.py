"""A local OAuth2 identity provider for tests, with the endpoints MSAL and Dovecot talk to, over TLS.

It answers where Entra ID (Azure AD) v2.0 does, so that MSAL — pointed at ``https://127.0.0.1:PORT/<tenant>``
with ``instance_discovery=False`` — runs its real code paths:

- ``GET /<tenant>/v2.0/.well-known/openid-configuration`` (MSAL's tenant discovery);
- ``POST /<tenant>/oauth2/v2.0/token`` with the grants ``client_credentials`` (a client secret, or a
  ``client_assertion`` JWT signed with the registered certificate's key: PS256 with ``x5t#S256``, as MSAL signs
  it, checked here with PyJWT), ``refresh_token`` (rotating: every use returns a new refresh token, as Entra ID
  does), and ``urn:ietf:params:oauth:grant-type:device_code``;
- ``POST /<tenant>/oauth2/v2.0/devicecode`` (RFC 8628);
- ``POST /introspect`` (RFC 7662) for Dovecot's ``oauth2`` passdb: ``active`` and the ``username`` the token
  may open — for an application, the mailbox it was granted (what ``Add-MailboxPermission`` does in Exchange).

Errors follow RFC 6749 section 5.2 (``invalid_client``, ``invalid_grant``, ``authorization_pending``, ...).
Tokens are random strings with a lifetime set by the test (``token_lifetime_s``), checked against the real
clock. The test acts as the person who signs in (:meth:`IdentityProvider.approve`) and as the administrator
who revokes an application or a user's sessions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.tls_ca import serve_https, stop_https

TENANT = "gemeente-test"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class Client:
    client_id: str
    mailbox: str = ""
    """The one mailbox an application may open (app-only); empty for a public (delegated) client."""
    secret: str | None = None
    certificate: x509.Certificate | None = None
    revoked: bool = False


@dataclass
class Token:
    client_id: str
    username: str
    expires_at: float
    revoked: bool = False


@dataclass
class DeviceCode:
    client_id: str
    user_code: str
    expires_at: float
    username: str | None = None


@dataclass
class IdentityProvider:
    cert: Path
    key: Path
    token_lifetime_s: int = 3600
    clients: dict[str, Client] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    refresh_tokens: dict[str, Token] = field(default_factory=dict)
    device_codes: dict[str, DeviceCode] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    introspected: list[tuple[str, bool]] = field(default_factory=list)
    auto_approve: str | None = None
    """When set, every device code is signed in for this user at once (a test that cannot type the code)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"https://{self.host}/{TENANT}/v2.0"

    def start(self) -> IdentityProvider:
        provider = self

        class Handler(_Handler):
            idp = provider

        self._server = serve_https(Handler, self.cert, self.key, "test-idp")
        self.port = int(self._server.server_address[1])
        return self

    def stop(self) -> None:
        stop_https(self._server)

    # ---- what the test does -----------------------------------------------------------------------------

    def register_app(self, client_id: str, mailbox: str, *, secret: str | None = None,
                     certificate_pem: bytes | None = None) -> Client:
        cert = x509.load_pem_x509_certificate(certificate_pem) if certificate_pem else None
        client = Client(client_id, mailbox, secret, cert)
        with self.lock:
            self.clients[client_id] = client
        return client

    def register_public(self, client_id: str) -> Client:
        client = Client(client_id)
        with self.lock:
            self.clients[client_id] = client
        return client

    def revoke_client(self, client_id: str) -> None:
        """The administrator removes the application's credential: no new token, and introspection says no."""
        with self.lock:
            self.clients[client_id].revoked = True
            for token in self.tokens.values():
                if token.client_id == client_id:
                    token.revoked = True

    def revoke_sessions(self, username: str) -> None:
        """``Revoke-MgUserSignInSession``: every refresh token of the user stops working."""
        with self.lock:
            for token in [*self.refresh_tokens.values(), *self.tokens.values()]:
                if token.username == username:
                    token.revoked = True

    def approve(self, user_code: str, username: str) -> None:
        """The person types the code at the verification page and signs in as ``username``."""
        with self.lock:
            for code in self.device_codes.values():
                if code.user_code == user_code:
                    code.username = username
                    return
        raise AssertionError("no device code with that user code")

    def grants(self, grant: str) -> int:
        with self.lock:
            return self.requests[f"token:{grant}"]

    def issued(self) -> list[str]:
        with self.lock:
            return list(self.tokens)

    # ---- the endpoints ------------------------------------------------------------------------------------

    def openid_configuration(self) -> dict[str, Any]:
        base = f"https://{self.host}/{TENANT}"
        return {"issuer": self.issuer, "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "introspection_endpoint": f"https://{self.host}/introspect"}

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type", "")
        with self.lock:
            self.requests[f"token:{grant}"] += 1
            client = self.clients.get(form.get("client_id", ""))
            if client is None or client.revoked:
                return 401, _error("invalid_client", "AADSTS7000215: Invalid client.")
            if grant == "client_credentials":
                if not self._client_authenticated(client, form):
                    return 401, _error("invalid_client", "AADSTS7000215: Invalid client secret provided.")
                return 200, self._issue(client.client_id, client.mailbox, refresh=False)
            if grant == "refresh_token":
                old = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
                if old is None or old.revoked or old.client_id != client.client_id:
                    return 400, _error("invalid_grant", "AADSTS700082: The refresh token has expired.")
                return 200, self._issue(client.client_id, old.username, refresh=True)
            if grant == DEVICE_GRANT:
                code = self.device_codes.get(form.get("device_code", ""))
                if code is None or code.expires_at < time.monotonic():
                    return 400, _error("expired_token", "AADSTS70020: The device code has expired.")
                if code.username is None:
                    return 400, _error("authorization_pending", "AADSTS70016: Pending.")
                del self.device_codes[form["device_code"]]
                return 200, self._issue(client.client_id, code.username, refresh=True)
        return 400, _error("unsupported_grant_type", "")

    def device_code(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests["devicecode"] += 1
            if form.get("client_id") not in self.clients:
                return 400, _error("unauthorized_client", "")
            device, user = secrets.token_urlsafe(24), secrets.token_hex(4).upper()
            self.device_codes[device] = DeviceCode(form["client_id"], user, time.monotonic() + 900,
                                                   self.auto_approve)
        uri = f"https://{self.host}/devicelogin"
        return 200, {"device_code": device, "user_code": user, "verification_uri": uri, "expires_in": 900,
                     "interval": 1, "message": f"To sign in, use a web browser to open the page {uri} and enter "
                                              f"the code {user} to authenticate."}

    def introspect(self, form: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            value = form.get("token", "")
            token = self.tokens.get(value)
            active = token is not None and not token.revoked and token.expires_at > time.monotonic()
            self.introspected.append((value, active))
            if not active or token is None:
                return {"active": False}
            return {"active": True, "username": token.username, "client_id": token.client_id,
                    "exp": int(time.time() + token.expires_at - time.monotonic())}

    def _client_authenticated(self, client: Client, form: dict[str, str]) -> bool:
        if client.secret is not None and secrets.compare_digest(form.get("client_secret", ""), client.secret):
            return True
        assertion = form.get("client_assertion")
        if client.certificate is None or not assertion:
            return False
        header = jwt.get_unverified_header(assertion)
        der = client.certificate.public_bytes(serialization.Encoding.DER)
        thumbprint = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
        if str(header.get("x5t#S256", "")).rstrip("=") != thumbprint:  # MSAL keeps the padding
            return False
        try:
            claims = jwt.decode(assertion, client.certificate.public_key(),  # type: ignore[arg-type]
                                algorithms=["PS256", "RS256"], audience=self.openid_configuration()["token_endpoint"])
        except jwt.PyJWTError:
            return False
        return bool(claims.get("iss") == claims.get("sub") == client.client_id)

    def _issue(self, client_id: str, username: str, *, refresh: bool) -> dict[str, Any]:
        access = "at-" + secrets.token_urlsafe(32)
        self.tokens[access] = Token(client_id, username, time.monotonic() + self.token_lifetime_s)
        answer: dict[str, Any] = {"token_type": "Bearer", "access_token": access,
                                  "expires_in": self.token_lifetime_s, "ext_expires_in": self.token_lifetime_s}
        if refresh:
            rotated = "rt-" + secrets.token_urlsafe(700)  # Entra ID's are long: more than one key-store entry
            self.refresh_tokens[rotated] = Token(client_id, username, time.monotonic() + 90 * 86400)
            answer["refresh_token"] = rotated
            answer["scope"] = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
        return answer


def _error(code: str, description: str) -> dict[str, Any]:
    return {"error": code, "error_description": description, "error_codes": [], "trace_id": secrets.token_hex(8)}


class _Handler(BaseHTTPRequestHandler):
    idp: IdentityProvider

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            self._json(200, self.idp.openid_configuration())
        else:
            self._json(404, _error("not_found", ""))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        form = {key: values[0] for key, values in parse_qs(body).items()}
        path = urlparse(self.path).path
        if path == f"/{TENANT}/oauth2/v2.0/token":
            self._json(*self.idp.token(form))
        elif path == f"/{TENANT}/oauth2/v2.0/devicecode":
            self._json(*self.idp.device_code(form))
        elif path == "/introspect":
            self._json(200, self.idp.introspect(form))
        else:
            self._json(404, _error("not_found", ""))

    def _json(self, status: int, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
