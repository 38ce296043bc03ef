"""From request to answer: authorise by the caller's OS identity, audit, run the operation.

Every request is decided by :func:`access.decide` and audited — granted or denied — before the operation
runs. Operations register themselves with :func:`operation`; each receives the agent context, the
session (for replies and streams) and the request's arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from retention_agent.access import decide, refusal
from retention_agent.api.server import Session
from retention_agent.context import AgentContext
from retention_agent.errors import AccessDeniedError, ProtocolError, RetentionAgentError, UsageError

log = logging.getLogger(__name__)

OperationFn = Callable[[AgentContext, Session, dict[str, Any]], None]
ActionFn = Callable[[AgentContext, dict[str, Any]], str]


@dataclass(frozen=True)
class Operation:
    name: str
    run: OperationFn
    action: ActionFn  # the access-control action, which may depend on the arguments


REGISTRY: dict[str, Operation] = {}


def operation(name: str, action: str | ActionFn | None = None) -> Callable[[OperationFn], OperationFn]:
    def register(fn: OperationFn) -> OperationFn:
        chosen = action or name
        REGISTRY[name] = Operation(name, fn, chosen if callable(chosen) else _fixed(chosen))
        return fn

    return register


def _fixed(action: str) -> ActionFn:
    def fixed(_ctx: AgentContext, _args: dict[str, Any]) -> str:
        return action

    return fixed


def subjects(args: dict[str, Any]) -> list[str]:
    """The ids a request is about, for the audit entry (ids and account names only, never free text)."""
    found: list[str] = []
    for key in ("delivery", "account", "item", "period"):
        value = args.get(key)
        if isinstance(value, str) and value:
            found.append(value[:64])
    deliveries = args.get("deliveries")
    if isinstance(deliveries, list):
        found += [str(d)[:64] for d in deliveries[:100]]
    return found


def dispatch(ctx: AgentContext, session: Session, op: str, args: dict[str, Any]) -> None:
    account = session.peer.account
    entry = REGISTRY.get(op)
    try:
        if entry is None:
            ctx.audit.append(account, "request", "denied", details={"reason": "unknown-operation"})
            session.fail(ProtocolError(problem=f"unknown operation {op[:40]!r}"))
            return
        action = entry.action(ctx, args)
        members = ctx.staff.members()
        decision = decide(members, account, action)
        outcome = "granted" if decision.granted else "denied"
        ctx.audit.append(account, action, outcome, subjects(args), {"uid": session.peer.uid})
    except RetentionAgentError as exc:  # including a request that cannot be audited: it is not run
        session.fail(exc)
        return
    if not decision.granted:
        session.fail(AccessDeniedError(**refusal(members, account, action)))
        return
    _run(ctx, session, entry, args)


def _run(ctx: AgentContext, session: Session, entry: Operation, args: dict[str, Any]) -> None:
    try:
        entry.run(ctx, session, args)
    except RetentionAgentError as exc:
        log.info("operation %s failed: %s", entry.name, exc.error_id)
        session.fail(exc)
    except (KeyError, TypeError, ValueError) as exc:
        log.info("operation %s: bad arguments (%s)", entry.name, type(exc).__name__)
        session.fail(UsageError(problem="invalid arguments", command=entry.name.replace(".", " ")))
    except OSError:
        raise
    except Exception:
        log.exception("operation %s crashed", entry.name)
        session.fail(RetentionAgentError())


def arg_str(args: dict[str, Any], key: str, *, default: str | None = None, max_len: int = 500) -> str:
    value = args.get(key, default)
    if not isinstance(value, str) or len(value) > max_len:
        raise UsageError(problem=f"{key} must be a text of at most {max_len} characters", command="--help")
    return value
