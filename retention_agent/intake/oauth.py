"""OAuth2 for Microsoft 365 mailboxes: access tokens the agent acquires and renews itself, with MSAL.

Exchange Online has switched basic authentication off: IMAP (and Graph) need an OAuth2 access token, which
lives about an hour. Two flows, both through MSAL for Python (``msal``):

- **app-only** (:class:`AppTokens`, client-credentials grant): the municipality registers an application in
  Entra ID with the ``IMAP.AccessAsApp`` permission (or Graph ``Mail.ReadWrite``), and Exchange is told which
  one mailbox it may open (docs/administrator.md). The application proves itself with a **certificate**
  (preferred: a PEM file with the private key and the certificate, readable only by the agent's account) or a
  **client secret** kept in the key store (``retention-agent secret set mailbox-NAME``). MSAL keeps the token
  in memory and fetches a new one when less than five minutes are left;
- **delegated** (:class:`DelegatedTokens`, device-code grant): for municipalities that do not allow app-only
  access, a person signs in once with ``retention-agent mailbox signin NAME`` (a code to type at
  microsoft.com/devicelogin); the refresh token that sign-in yields is kept in the key store
  (:class:`RefreshTokenStore`) and renewed as the identity provider rotates it.

Tokens and secrets never leave memory except into the key store: MSAL's token cache is in memory only, and
neither MSAL's logger, ``urllib3``'s nor ours ever logs one (MSAL and urllib3 are held at WARNING). Failures
are error ids, each with a fix in the catalogue (``errors/``):

- ``oauth-credential-refused``: the identity provider refused the secret, the certificate or the application;
- ``oauth-signin-required``: no refresh token yet, or it expired or was revoked;
- ``oauth-certificate-unreadable``: the certificate file is missing, unreadable, readable by others, or does not
  hold an unencrypted private key and a certificate;
- ``oauth-configuration``: the tenant is not known to the authority;
- ``oauth-authority-unreachable``: network, TLS or a server error of the identity provider (the only one that
  may heal by itself: the others make the mailbox ``failing`` at once).

``status`` shows each token's expiry and the last failure (:class:`~.credentials.TokenStatus`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from retention_agent.clock import Clock
from retention_agent.vault.keys import KeyStore

from .credentials import ERR_SECRET, Credential, CredentialError, Mechanism, TokenStatus

for _noisy in ("msal", "urllib3"):  # both log request details at DEBUG; tokens must never reach a log
    logging.getLogger(_noisy).setLevel(logging.WARNING)

log = logging.getLogger(__name__)

ERR_CREDENTIAL_REFUSED = "oauth-credential-refused"
ERR_SIGNIN_REQUIRED = "oauth-signin-required"
ERR_CERTIFICATE = "oauth-certificate-unreadable"
ERR_CONFIGURATION = "oauth-configuration"
ERR_AUTHORITY = "oauth-authority-unreachable"

IMAP_APP_SCOPE = "https://outlook.office365.com/.default"
IMAP_DELEGATED_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"
GRAPH_APP_SCOPE = "https://graph.microsoft.com/.default"
GRAPH_DELEGATED_SCOPE = "https://graph.microsoft.com/Mail.ReadWrite"
DEFAULT_AUTHORITY_HOST = "login.microsoftonline.com"

Flow = Literal["app", "delegated"]
CredentialKind = Literal["certificate", "secret"]

# identity-provider error codes (RFC 6749 section 5.2) that no retry will heal
_REFUSED = frozenset({"invalid_client", "unauthorized_client", "access_denied", "invalid_scope"})
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_CHUNK = 900
"""Bytes per key-store entry: Windows Credential Manager holds 2,560 bytes of UTF-16 per entry, and keyring
stores our values base64-encoded."""


def scopes_for(driver: str, flow: Flow) -> tuple[str, ...]:
    if driver == "graph":
        return (GRAPH_APP_SCOPE,) if flow == "app" else (GRAPH_DELEGATED_SCOPE,)
    return (IMAP_APP_SCOPE,) if flow == "app" else (IMAP_DELEGATED_SCOPE,)


@dataclass(frozen=True, kw_only=True)
class OAuthConfig:
    mailbox: str
    """The mailbox's configuration name (key-store entries are named after it)."""
    flow: Flow
    tenant: str
    client_id: str
    scopes: tuple[str, ...]
    credential: CredentialKind = "certificate"
    certificate_path: str = ""
    authority_host: str = DEFAULT_AUTHORITY_HOST
    mechanism: Mechanism = "xoauth2"
    ca_file: str | None = None
    """Extra CA bundle for the authority (a TLS-inspecting proxy, a test CA); verification stays on."""
    timeout_s: float = 30.0

    @property
    def authority(self) -> str:
        return f"https://{self.authority_host}/{self.tenant}"

    @property
    def secret_name(self) -> str:
        return f"secret/mailbox-{self.mailbox}"


def _http_options(config: OAuthConfig) -> dict[str, Any]:
    """MSAL's settings: the authority as configured, no instance discovery, and an HTTP client of our own.

    ``verify`` is set on each request, not on the session: requests lets ``REQUESTS_CA_BUNDLE`` in the
    environment override a session's ``verify`` (psf/requests#3829), which would silently drop ``ca_file``.
    """
    import functools

    import requests

    session = requests.Session()
    session.request = functools.partial(  # type: ignore[method-assign]
        session.request, timeout=config.timeout_s, verify=config.ca_file or True)
    session.mount("https://", requests.adapters.HTTPAdapter(max_retries=1))
    return {"authority": config.authority, "instance_discovery": False, "http_client": session}


class _TokenSource:
    """What both flows share: the lock, the status, and turning MSAL's answers into credentials or error ids."""

    def __init__(self, config: OAuthConfig, clock: Clock, credential: str) -> None:
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._status = TokenStatus(flow=config.flow, credential=credential)

    @property
    def status(self) -> TokenStatus:
        with self._lock:
            return self._status

    def current(self) -> Credential:
        with self._lock:
            try:
                result = self._acquire()
            except CredentialError as exc:
                self._status = self._status.failed(exc.error_id, self._clock.now())
                log.warning("mailbox %s: %s", self.config.mailbox, exc.error_id)
                raise
            return self._accepted(result)

    def _acquire(self) -> dict[str, Any]:
        raise NotImplementedError

    def invalidate(self) -> None:
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        raise NotImplementedError

    def _accepted(self, result: dict[str, Any]) -> Credential:
        token, expires_in = result.get("access_token"), result.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise CredentialError(ERR_AUTHORITY)
        now = self._clock.now()
        self._status = self._status.acquired(now, now + timedelta(seconds=float(expires_in)))
        return Credential(self.config.mechanism, token, float(expires_in))


def answer_error(result: dict[str, Any], *, refresh: bool = False) -> str | None:
    """The error id for an MSAL result that carries no token (None when it carries one)."""
    if result.get("access_token"):
        return None
    error = str(result.get("error") or "")
    if refresh and error == "invalid_grant":
        return ERR_SIGNIN_REQUIRED  # the refresh token expired, was revoked, or the password changed
    if error in _REFUSED or error == "invalid_grant":
        return ERR_CREDENTIAL_REFUSED
    return ERR_AUTHORITY


def _call(fn: Callable[[], Any]) -> Any:
    """Run an MSAL call; its exceptions become error ids (their text is not kept: it may hold a URL)."""
    import requests

    try:
        return fn()
    except requests.RequestException as exc:
        raise CredentialError(ERR_AUTHORITY) from exc
    except ValueError as exc:  # MSAL: the tenant's OpenID configuration was not found (4xx)
        raise CredentialError(ERR_CONFIGURATION) from exc
    except RuntimeError as exc:  # MSAL: discovery failed in another way (5xx)
        raise CredentialError(ERR_AUTHORITY) from exc


class AppTokens(_TokenSource):
    """App-only tokens (client credentials) for one mailbox, with a certificate or a client secret."""

    def __init__(self, config: OAuthConfig, keys: KeyStore, clock: Clock,
                 app_factory: Callable[..., Any] | None = None) -> None:
        super().__init__(config, clock, config.credential)
        self._keys = keys
        self._app_factory = app_factory
        self._app: Any = None
        self._fingerprint: str | None = None

    def _acquire(self) -> dict[str, Any]:
        client_credential = self._client_credential()
        fingerprint = hashlib.sha256(json.dumps(client_credential, sort_keys=True).encode()).hexdigest()
        if self._app is None or fingerprint != self._fingerprint:  # a new secret or certificate: a new app
            factory = self._app_factory or _msal().ConfidentialClientApplication
            self._app = _call(lambda: factory(self.config.client_id, client_credential=client_credential,
                                              **_http_options(self.config)))
            self._fingerprint = fingerprint
        result = _call(lambda: self._app.acquire_token_for_client(scopes=list(self.config.scopes)))
        error = answer_error(result)
        if error:
            raise CredentialError(error)
        return dict(result)

    def _forget(self) -> None:
        self._app = None  # MSAL would hand out its cached token again: a new application has an empty cache

    def _client_credential(self) -> str | dict[str, str]:
        if self.config.credential == "secret":
            value = self._keys.get(self.config.secret_name)
            if not value:
                raise CredentialError(ERR_SECRET)
            return value.decode()
        return read_certificate(self.config.certificate_path)


def read_certificate(path: str) -> dict[str, str]:
    """The private key and certificate of a PEM file, for MSAL; the file must be private to the agent."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > 64 * 1024:
                raise CredentialError(ERR_CERTIFICATE)
            if os.name != "nt" and info.st_mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IWGRP):
                raise CredentialError(ERR_CERTIFICATE)  # others may read the key or replace it
            text = os.read(fd, 64 * 1024).decode("ascii")
        finally:
            os.close(fd)
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialError(ERR_CERTIFICATE) from exc
    blocks = {match[1]: match[0] for match in _PEM.finditer(text)}
    key = next((block for label, block in blocks.items() if label.endswith("PRIVATE KEY")
                and "ENCRYPTED" not in label), None)
    certificate = blocks.get("CERTIFICATE")
    if key is None or certificate is None:
        raise CredentialError(ERR_CERTIFICATE)
    return {"private_key": key, "public_certificate": certificate}


class DelegatedTokens(_TokenSource):
    """Delegated tokens for one mailbox: a person signed in once (device code); the refresh token does the rest."""

    def __init__(self, config: OAuthConfig, keys: KeyStore, clock: Clock,
                 app_factory: Callable[..., Any] | None = None) -> None:
        super().__init__(config, clock, "refresh-token")
        self.refresh_tokens = RefreshTokenStore(keys, config.mailbox)
        self._app_factory = app_factory
        self._app: Any = None
        self._cached: tuple[str, float, float] | None = None  # token, expires_in at issue, monotonic issue time

    def _forget(self) -> None:
        self._cached = None

    def _application(self) -> Any:
        if self._app is None:
            factory = self._app_factory or _msal().PublicClientApplication
            self._app = _call(lambda: factory(self.config.client_id, **_http_options(self.config)))
        return self._app

    def _acquire(self) -> dict[str, Any]:
        if self._cached is not None:
            token, lifetime, issued = self._cached
            left = lifetime - (self._clock.monotonic() - issued)
            if left > min(300.0, lifetime / 5):
                return {"access_token": token, "expires_in": left}
        refresh_token = self.refresh_tokens.load()
        if refresh_token is None:
            raise CredentialError(ERR_SIGNIN_REQUIRED)
        app = self._application()
        result = _call(lambda: app.acquire_token_by_refresh_token(refresh_token, scopes=list(self.config.scopes)))
        error = answer_error(result, refresh=True)
        if error:
            raise CredentialError(error)
        self._keep(dict(result), refresh_token)
        return dict(result)

    def _keep(self, result: dict[str, Any], previous: str | None) -> None:
        rotated = result.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != previous:
            self.refresh_tokens.save(rotated)
        self._cached = (str(result["access_token"]), float(result["expires_in"]), self._clock.monotonic())

    # ---- signing in (the device-code flow, driven by ``retention-agent mailbox signin``) ----------------------

    def start_sign_in(self) -> dict[str, Any]:
        """Start a device-code sign-in; the flow holds the code the person types and where."""
        with self._lock:
            app = self._application()
            flow = _call(lambda: app.initiate_device_flow(scopes=list(self.config.scopes)))
        if not isinstance(flow, dict) or "user_code" not in flow:
            raise CredentialError(answer_error(flow if isinstance(flow, dict) else {}) or ERR_AUTHORITY)
        return flow

    def poll_sign_in(self, flow: dict[str, Any]) -> bool:
        """Ask once whether the person finished signing in: True when done (the refresh token is stored)."""
        with self._lock:
            app = self._application()
            result = _call(lambda: app.acquire_token_by_device_flow(flow, exit_condition=lambda _flow: True))
            if result.get("error") in ("authorization_pending", "slow_down"):
                return False
            if not result.get("access_token") or not result.get("refresh_token"):
                raise CredentialError(ERR_CREDENTIAL_REFUSED if result.get("error") in _REFUSED
                                      else ERR_SIGNIN_REQUIRED)
            self._keep(dict(result), None)
            self._status = self._status.acquired(self._clock.now(), self._clock.now() + timedelta(
                seconds=float(result["expires_in"])))
            return True


def _msal() -> Any:
    import msal

    return msal


# ---- the refresh token in the key store ---------------------------------------------------------------------


class RefreshTokenStore:
    """A refresh token in the key store, in chunks, in two alternating slots.

    A refresh token can be longer than one Windows Credential Manager entry holds, so it is split into
    entries of :data:`_CHUNK` bytes. Each slot has a header entry (sequence number, chunk count, SHA-256) written
    after its chunks; a save goes to the older slot and removes that slot's header first, so a crash in the
    middle of a save leaves the other slot — the previous token — readable.
    """

    def __init__(self, keys: KeyStore, mailbox: str) -> None:
        self._keys = keys
        self._prefix = f"oauth/mailbox-{mailbox}/refresh"

    def load(self) -> str | None:
        best = max((found for found in (self._read(slot) for slot in "ab") if found), default=None)
        return best[1] if best else None

    def save(self, token: str) -> None:
        slots = {slot: self._read(slot) for slot in "ab"}
        newest = max((found[0] for found in slots.values() if found), default=0)
        target = min("ab", key=lambda slot: slots[slot][0] if slots[slot] else -1)  # type: ignore[index]
        data = token.encode()
        chunks = [data[i:i + _CHUNK] for i in range(0, len(data), _CHUNK)]
        self._erase(target)
        for i, chunk in enumerate(chunks):
            self._put(f"{self._prefix}-{target}.{i}", chunk)
        header = {"seq": newest + 1, "chunks": len(chunks), "sha256": hashlib.sha256(data).hexdigest()}
        self._put(f"{self._prefix}-{target}", json.dumps(header).encode())

    def clear(self) -> None:
        for slot in "ab":
            self._erase(slot)

    def _read(self, slot: str) -> tuple[int, str] | None:
        raw = self._keys.get(f"{self._prefix}-{slot}")
        if raw is None:
            return None
        try:
            header = json.loads(raw)
            parts = [self._keys.get(f"{self._prefix}-{slot}.{i}") for i in range(int(header["chunks"]))]
            if any(part is None for part in parts):
                return None
            data = b"".join(part for part in parts if part is not None)
            if hashlib.sha256(data).hexdigest() != header["sha256"]:
                return None
            return int(header["seq"]), data.decode()
        except (ValueError, KeyError, TypeError):
            return None

    def _erase(self, slot: str) -> None:
        raw = self._keys.get(f"{self._prefix}-{slot}")
        count = 0
        if raw is not None:
            try:
                count = int(json.loads(raw)["chunks"])
            except (ValueError, KeyError, TypeError):
                count = 0
        self._keys.delete(f"{self._prefix}-{slot}")
        for i in range(max(count, 1) + 8):  # and chunks a crashed save may have left beyond the header's count
            self._keys.delete(f"{self._prefix}-{slot}.{i}")

    def _put(self, name: str, value: bytes) -> None:
        self._keys.delete(name)
        self._keys.put(name, value)
