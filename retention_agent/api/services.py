"""The context the API operations get: the agent's parts, the services the composition root wired once they existed,
and the API server's own state (what callers may cost)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from retention_agent.api.budget import RequestBudget
from retention_agent.api.refusals import RefusalLedger
from retention_agent.lifecycle.purge import Purger
from retention_agent.lifecycle.purge_schedule import Schedule
from retention_agent.runtime.context import AgentContext
from retention_agent.store.notifications import Notifier

# handle -> (mailbox, MSAL flow, monotonic expiry): the device-code sign-ins under way
SignIns = dict[str, tuple[str, dict[str, Any], float]]


@dataclass
class Services:
    notifier: Notifier
    purger: Purger
    schedule: Schedule
    wake: Callable[[], None]  # wakes the ticker now (a purge was asked for, a date changed)
    copies_account: str | None = None  # per-user mode: the account whose copies the agent sweeps itself
    sign_ins: SignIns = field(default_factory=dict)


@dataclass
class WiredContext(AgentContext):
    """The context once the composition root wired its services (``capabilities.wire``)."""

    services: Services = field(init=False, repr=False)
    # what callers of the API may cost: the API server's own state (api/budget.py, api/refusals.py)
    refusals: RefusalLedger = field(default_factory=RefusalLedger)
    budget: RequestBudget = field(default_factory=RequestBudget)

    def wire(self, services: Services) -> None:
        self.services = services
        self.health.purging = services.purger.purging
