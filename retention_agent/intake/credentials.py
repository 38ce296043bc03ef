"""How a mailbox driver logs in: a password, or an OAuth2 access token that the agent keeps fresh.

A driver asks :meth:`Credentials.current` each time it connects and gets a :class:`Credential`: the SASL
mechanism, the secret, and how long the secret stays valid (an access token's ``expires_in``). The driver
renews its session before then (Exchange Online ends an IMAP session whose token expired with
``BYE Session invalidated - AccessTokenExpired``).

:class:`StaticCredentials` reads a password (or a pasted access token, the old ``xoauth2`` setting) from the key
store at every connection. The OAuth2 flows that acquire and refresh tokens themselves are in :mod:`.oauth`.
Secrets are never logged, never written anywhere but the key store, and never part of an exception's text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, Protocol

Mechanism = Literal["password", "xoauth2", "oauthbearer"]

ERR_SECRET = "imap-secret-missing"


class CredentialError(Exception):
    """No usable credential right now, by stable error id (never the identity provider's text)."""

    def __init__(self, error_id: str) -> None:
        super().__init__(error_id)
        self.error_id = error_id


@dataclass(frozen=True)
class Credential:
    mechanism: Mechanism
    secret: str
    valid_for_s: float | None = None
    """Seconds from now until the secret expires (an access token); None: it does not."""

    def __repr__(self) -> str:  # never show the secret, not even in a traceback's locals
        return f"Credential({self.mechanism}, valid_for_s={self.valid_for_s})"


@dataclass(frozen=True)
class TokenStatus:
    """What ``status`` shows of an OAuth2 credential. No token, no address: times, kinds and error ids."""

    flow: str  # "app" (client credentials) or "delegated" (device code, refresh token)
    credential: str  # "certificate", "secret" or "refresh-token"
    expires_at: datetime | None = None
    acquired_at: datetime | None = None
    last_failure: str | None = None
    last_failure_at: datetime | None = None

    def acquired(self, now: datetime, expires_at: datetime) -> TokenStatus:
        return replace(self, acquired_at=now, expires_at=expires_at, last_failure=None, last_failure_at=None)

    def failed(self, error_id: str, now: datetime) -> TokenStatus:
        return replace(self, last_failure=error_id, last_failure_at=now)


class Credentials(Protocol):
    def current(self) -> Credential:
        """A credential to log in with now; :class:`CredentialError` when there is none."""
        ...

    @property
    def status(self) -> TokenStatus | None:
        """The token's state for ``status`` (None for a password)."""
        ...

    def invalidate(self) -> None:
        """The server refused the last credential: do not hand it out again (get a new token next time)."""
        ...


class StaticCredentials:
    """A secret read from the key store at every connection: a password, or an access token someone pasted."""

    def __init__(self, get_secret: Callable[[str], str], name: str, mechanism: Mechanism = "password") -> None:
        self._get_secret = get_secret
        self._name = name
        self._mechanism = mechanism

    @property
    def status(self) -> TokenStatus | None:
        return None

    def invalidate(self) -> None:
        return None  # read afresh from the key store at every connection anyway

    def current(self) -> Credential:
        try:
            secret = self._get_secret(self._name)
        except Exception as exc:  # the key store's own error is not ours to interpret
            raise CredentialError(ERR_SECRET) from exc
        if not secret:
            raise CredentialError(ERR_SECRET)
        return Credential(self._mechanism, secret)
