"""Credentials the agent needs (mailbox passwords or tokens, SMTP): kept in its key store, never shown."""

from __future__ import annotations

import re
from dataclasses import dataclass

from retention_agent.api.handlers import operation
from retention_agent.api.requests import arg, text
from retention_agent.api.server import Session
from retention_agent.errors import UsageError
from retention_agent.runtime.context import AgentContext

SECRET_NAME = re.compile(r"^(smtp|mailbox-[a-z0-9][a-z0-9._-]{0,60})$")


@dataclass(frozen=True)
class SecretSet:
    name: str = arg(text(80))
    value: str = arg(text(8192))


@operation("secret.set", request=SecretSet)
def secret_set(ctx: AgentContext, session: Session, request: SecretSet) -> None:
    """Store (or replace) a credential; the value never enters the database, the log or the audit."""
    name, value = request.name, request.value
    if not SECRET_NAME.match(name):
        raise UsageError(problem="the name must be smtp or mailbox-<configured mailbox name>", command="secret set")
    ctx.keys.delete(f"secret/{name}")
    ctx.keys.put(f"secret/{name}", value.encode())
    ctx.audit.append(session.peer.account, "secret.changed", "ok", [name])
    session.reply({"name": name, "stored": True})
