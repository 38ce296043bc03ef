"""Signing in for a delegated mailbox: the agent runs the OAuth2 device-code flow, the officer's client shows it.

``mailbox.signin`` with ``step = "start"`` starts a flow (MSAL ``initiate_device_flow``) and answers the code to
type and the page to type it at; the flow stays in the agent's memory under a random handle (at most
:data:`MAX_FLOWS`, each until it expires). ``step = "poll"`` waits up to :data:`POLL_S` for the person to finish
(a few token requests, at the interval the identity provider asks), so that a sign-in costs a handful of audited
requests, not hundreds. When it is done the refresh token is in the key store, the mailbox watcher is woken,
and ``mailbox.signed-in`` is audited — with the mailbox's configuration name, never the account that signed in.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

from retention_agent.api.handlers import operation
from retention_agent.api.requests import arg, choice, text
from retention_agent.api.server import Session
from retention_agent.api.services import SignIns, WiredContext
from retention_agent.errors import MailboxNotDelegatedError, MailboxSignInFailedError
from retention_agent.intake.credentials import CredentialError
from retention_agent.intake.mailbox import MailboxWatcher
from retention_agent.intake.oauth import DelegatedTokens

MAX_FLOWS = 4
POLL_S = 25.0
_lock = threading.Lock()


@dataclass(frozen=True)
class SignIn:
    mailbox: str = arg(text(64))
    step: str = arg(choice(("start", "poll")))
    handle: str = arg(text(64), "")
    """The flow ``start`` answered (``poll`` only)."""


@operation("mailbox.signin", request=SignIn)
def mailbox_signin(ctx: WiredContext, session: Session, request: SignIn) -> None:
    name = request.mailbox
    watcher, tokens = _delegated(ctx, name)
    if request.step == "start":
        session.reply(_start(ctx, name, tokens))
        return
    done = _poll(ctx, name, tokens, request.handle)
    if done:
        ctx.audit.append(session.peer.account, "mailbox.signed-in", "ok", [name])
        watcher.wake()
    session.reply({"state": "done" if done else "pending"})


def _delegated(ctx: WiredContext, name: str) -> tuple[MailboxWatcher, DelegatedTokens]:
    watcher = ctx.health.intake.get(f"mailbox:{name}")
    if not isinstance(watcher, MailboxWatcher) or not isinstance(watcher.credentials, DelegatedTokens):
        raise MailboxNotDelegatedError(mailbox=name)
    return watcher, watcher.credentials


def _flows(ctx: WiredContext) -> SignIns:
    """handle -> (mailbox, MSAL flow, monotonic expiry); expired flows are dropped on every look."""
    flows = ctx.services.sign_ins
    now = ctx.clock.monotonic()
    for handle in [h for h, (_, _, until) in flows.items() if until <= now]:
        del flows[handle]
    return flows


def _start(ctx: WiredContext, name: str, tokens: DelegatedTokens) -> dict[str, Any]:
    with _lock:
        flows = _flows(ctx)
        if len(flows) >= MAX_FLOWS:
            raise MailboxSignInFailedError(mailbox=name, reason="too many sign-ins at once")
    try:
        flow = tokens.start_sign_in()
    except CredentialError as exc:
        raise MailboxSignInFailedError(mailbox=name, reason=exc.error_id) from exc
    expires_in = int(flow.get("expires_in", 900))
    handle = secrets.token_hex(16)
    with _lock:
        _flows(ctx)[handle] = (name, flow, ctx.clock.monotonic() + expires_in)
    return {"handle": handle, "user_code": str(flow["user_code"]), "verification_uri": str(flow["verification_uri"]),
            "expires_in": expires_in, "interval": int(flow.get("interval", 5))}


def _poll(ctx: WiredContext, name: str, tokens: DelegatedTokens, handle: str) -> bool:
    with _lock:
        entry = _flows(ctx).get(handle)
    if entry is None or entry[0] != name:
        raise MailboxSignInFailedError(mailbox=name, reason="the code expired")
    _, flow, until = entry
    interval = max(1.0, float(flow.get("interval", 5)))
    deadline = min(until, ctx.clock.monotonic() + POLL_S)
    waiter = threading.Event()
    while True:
        try:
            if tokens.poll_sign_in(flow):
                with _lock:
                    _flows(ctx).pop(handle, None)
                return True
        except CredentialError as exc:
            with _lock:
                _flows(ctx).pop(handle, None)
            raise MailboxSignInFailedError(mailbox=name, reason=exc.error_id) from exc
        if ctx.clock.monotonic() + interval > deadline:
            return False
        waiter.wait(interval)
