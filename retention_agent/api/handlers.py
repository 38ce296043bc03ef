"""From request to answer: authorise by the caller's OS identity, audit, run the operation.

Every request is decided and audited before its operation runs, in this order:

1. an account that is not on the staff list spends a token of its request budget (``budget``): over budget
   it waits a moment or is refused;
2. an unknown operation is refused;
3. below the disk's free-space floor (``diskspace``) an account that is not on the list is refused;
4. :func:`access.decide` grants or refuses.

A refusal is audited folded (``refusals``: the first of a minute at once, the repeats in one follow-up
entry) and records the reason and how many subjects the request named, with one keyed hash of them — never
their text. A granted request is audited with its subjects once each was validated as what it claims to be
(``subjects``). Then the operation runs with its typed request (``requests``). Whatever it raises gets an
audit entry (outcome ``failed``): a catalogue error is the caller's answer; a full or locked database is
recognised by SQLite's error code; anything else is an internal error, logged with its stack and the
caller's uid at most once a minute, never turned into a "usage" error.

Operations register themselves with :func:`operation`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from retention_agent.api.budget import REFUSAL_PAUSE_S
from retention_agent.api.peer import Peer, account_name
from retention_agent.api.refusals import RefusalKey
from retention_agent.api.requests import parse
from retention_agent.api.server import Session
from retention_agent.api.services import WiredContext
from retention_agent.clock import utc_iso
from retention_agent.errors import (
    AccessDeniedError,
    DiskSpaceLowError,
    InternalError,
    ProtocolError,
    RequestBudgetError,
    RetentionAgentError,
    UsageError,
)
from retention_agent.rules.access import decide, refusal
from retention_agent.rules.subjects import recorded, refused
from retention_agent.runtime.context import AgentContext
from retention_agent.store.database import catalogue_error, error_code
from retention_agent.system.log_limits import left_out, traceback_lines

log = logging.getLogger(__name__)

OperationFn = Callable[[WiredContext, Session, Any], None]
ActionFn = Callable[[AgentContext, dict[str, Any]], str]


@dataclass(frozen=True)
class Operation:
    name: str
    run: OperationFn
    action: ActionFn  # the access-control action, which may depend on the arguments
    request: type | None = None  # the typed request the operation receives; None: the arguments as they came
    command: str = ""  # the command line's name for it, for the hint of a usage error


REGISTRY: dict[str, Operation] = {}


def operation(name: str, action: str | ActionFn | None = None, request: type | None = None,
              command: str | None = None) -> Callable[[OperationFn], OperationFn]:
    def register(fn: OperationFn) -> OperationFn:
        chosen = action or name
        REGISTRY[name] = Operation(name, fn, chosen if callable(chosen) else _fixed(chosen), request,
                                   command or name.replace(".", " "))
        return fn

    return register


def _fixed(action: str) -> ActionFn:
    def fixed(_ctx: AgentContext, _args: dict[str, Any]) -> str:
        return action

    return fixed


def dispatch(ctx: WiredContext, session: Session, op: str, args: dict[str, Any]) -> None:
    entry = REGISTRY.get(op)
    try:
        action = _authorise(ctx, session, entry, op, args)
    except Exception as exc:  # the request could not even be audited: say why, and record that it failed
        _failed(ctx, session, entry.name if entry else "request", exc)
        return
    if action is None or entry is None:
        return
    try:
        request = parse(entry.request, args, entry.command) if entry.request is not None else args
        entry.run(ctx, session, request)
    except Exception as exc:
        _failed(ctx, session, action, exc)


def _authorise(ctx: WiredContext, session: Session, entry: Operation | None, op: str,
               args: dict[str, Any]) -> str | None:
    """The action, once granted and audited; None when the request was refused (and answered)."""
    peer = session.peer
    staff = ctx.staff.members()
    on_list = peer.account in staff
    if on_list:
        ctx.health.last_staff_request = ctx.clock.monotonic()
    else:
        wait = ctx.budget.take(peer.account, ctx.clock.monotonic())
        if wait is None:
            time.sleep(REFUSAL_PAUSE_S)  # so that refusals cannot be had in a tight loop either
            _refuse(ctx, session, entry.name if entry else "request", "over-budget",
                    RequestBudgetError(account=peer.account), args)
            return None
        time.sleep(wait)
    if entry is None:
        _refuse(ctx, session, "request", "unknown-operation", ProtocolError(problem=f"unknown operation {op[:40]!r}"),
                {})
        return None
    # Outside the list every request is refused anyway: do not look anything up for it (the action may
    # depend on the arguments, through the database).
    action = entry.action(ctx, args) if on_list else entry.name
    if not on_list:
        try:
            ctx.free_space.require_room()
        except DiskSpaceLowError as exc:
            _refuse(ctx, session, action, "disk-space-low", exc, args)
            return None
    decision = decide(staff, peer.account, action)
    if not decision.granted:
        _refuse(ctx, session, action, "no-role" if on_list else "not-on-staff-list",
                AccessDeniedError(**refusal(staff, peer.account, action)), args)
        return None
    subjects, details = recorded(args, ctx.subject_key)
    ctx.audit.append(peer.account, action, "granted", subjects, {"uid": peer.uid, **details})
    return action


def _refuse(ctx: WiredContext, session: Session, action: str, reason: str, error: RetentionAgentError,
            args: Mapping[str, Any]) -> None:
    note_refusal(ctx, session.peer, action, reason, refused(args, ctx.subject_key))
    session.fail(error)


def note_refusal(ctx: WiredContext, peer: Peer, action: str, reason: str, details: Mapping[str, Any]) -> None:
    """Count a refusal; audit it now when it is the first of its window (refusals.RefusalLedger)."""
    key = RefusalKey(peer.account, peer.uid, action, reason)
    if ctx.refusals.note(key, ctx.clock.monotonic(), ctx.clock.now()):
        ctx.audit.append(peer.account, action, "denied", [], {"uid": peer.uid, "reason": reason, **details})


def protocol_violation(ctx: WiredContext, session: Session, code: str) -> None:
    """A client broke the protocol (the server answers it and ends the connection): audit it, folded."""
    try:
        note_refusal(ctx, session.peer, "protocol", code, {})
    except Exception as exc:  # a full disk: the violation is still answered
        _log_once(ctx, f"violation-audit:{type(exc).__name__}", "a protocol violation could not be audited: %s",
                  type(exc).__name__)


def connection_refused(ctx: WiredContext, uid: int) -> None:
    """A connection turned away for want of a slot: counted, written in the next follow-up entry."""
    key = RefusalKey("", uid, "connect", "no-free-slot")
    ctx.refusals.note(key, ctx.clock.monotonic(), ctx.clock.now(), at_once=False)


def flush_refusals(ctx: WiredContext, *, everything: bool = False) -> int:
    """Write the follow-up entries of closed windows (``everything``: of all windows, the agent stops)."""
    found = ctx.refusals.drain() if everything else ctx.refusals.due(ctx.clock.monotonic())
    if found:
        now = ctx.clock.now()  # entries are appended in time order
        try:
            ctx.audit.append_many([(now, f.key.account or account_name(f.key.uid), f.key.action, "denied", [],
                                    f.details()) for f in found])
        except BaseException:
            ctx.refusals.give_back(found)  # counted still; written when the database takes them
            raise
    return len(found)


def _failed(ctx: WiredContext, session: Session, action: str, exc: Exception) -> None:
    """Answer with the catalogue's error for ``exc`` and audit that the request failed."""
    peer = session.peer
    if isinstance(exc, BrokenPipeError | ConnectionError | TimeoutError):
        error: RetentionAgentError = ProtocolError(problem="the client went away")
    elif isinstance(exc, RetentionAgentError):
        error = exc
        _log_once(ctx, f"failed:{action}:{exc.error_id}", "operation %s failed: %s", action, exc.error_id)
    elif isinstance(exc, sqlite3.Error) and (known := catalogue_error(exc, ctx.home.database)) is not None:
        error = known
        _log_once(ctx, f"database:{known.error_id}", "request %s refused: %s (%s)", action, known.error_id,
                  error_code(exc))
    else:
        error = InternalError(problem=type(exc).__name__, at=utc_iso(ctx.clock.now()))
        _log_once(ctx, f"internal:{action}:{type(exc).__name__}", "operation %s failed unexpectedly for uid %s\n%s",
                  action, peer.uid, traceback_lines(exc))
    try:
        ctx.audit.append(peer.account, action, "failed", [], {"uid": peer.uid, "error": error.error_id})
    except Exception as audit_exc:  # a full or locked database: the answer still says why
        _log_once(ctx, f"fallback-audit:{type(audit_exc).__name__}", "the failure of %s could not be audited: %s",
                  action, type(audit_exc).__name__)
    if isinstance(error, ProtocolError) and not isinstance(exc, RetentionAgentError):
        raise exc  # the connection is gone: nothing to answer
    session.fail(error)


def _log_once(ctx: AgentContext, key: str, message: str, *values: Any) -> None:
    count = ctx.log_limits.allow(key)
    if count is not None:
        log.warning(message + "%s", *values, left_out(count))


def arg_str(args: dict[str, Any], key: str, *, default: str | None = None, max_len: int = 500) -> str:
    """An argument of an operation without a typed request (prefer one: requests.py)."""
    value = args.get(key, default)
    if not isinstance(value, str) or len(value) > max_len:
        raise UsageError(problem=f"{key} must be a text of at most {max_len} characters", command="--help")
    return value
