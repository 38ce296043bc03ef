"""Which views and actions a user's roles allow: the app shows only what the agent would grant.

Derived from :data:`access.REQUIRED_ROLES`, the agent's own table, so the two cannot drift apart. The agent
still decides every request: a view or button the roles allow can still be refused (a ceremony date that keeps
data longer needs the officer), and the app then shows the agent's refusal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from retention_agent.i18n.msgids import N_
from retention_agent.rules.access import REQUIRED_ROLES


@dataclass(frozen=True)
class View:
    key: str
    title: str  # English, with the mnemonic; translated where it is shown
    actions: tuple[str, ...]  # the view is shown when the roles allow any of these API actions


VIEWS = (
    View("deliveries", N_("&Deliveries"), ("deliveries", "ingest")),
    View("timeline", N_("&Timeline"), ("deliveries",)),
    View("status", N_("&Status"), ("status",)),
    View("audit", N_("A&udit"), ("audit.show",)),
    View("proofs", N_("&Proofs"), ("proof.list",)),
    View("reports", N_("&Reports"), ("report",)),
    View("staff", N_("St&aff"), ("staff.list",)),
)

# the actions of the deliveries view -> the API action the agent decides them by
DELIVERY_ACTIONS = {"add": "ingest", "list": "deliveries", "ceremony": "ceremony.set", "open": "open",
                    "destroy": "purge.early", "release": "quarantine.release"}


def may(roles: Iterable[str], action: str) -> bool:
    """Whether the roles give one of the roles the agent requires for ``action``."""
    return bool(REQUIRED_ROLES.get(action, frozenset()) & frozenset(roles))


def views_for(roles: Iterable[str]) -> list[View]:
    granted = frozenset(roles)
    return [view for view in VIEWS if any(may(granted, action) for action in view.actions)]


def delivery_actions(roles: Iterable[str]) -> dict[str, bool]:
    granted = frozenset(roles)
    return {name: may(granted, action) for name, action in DELIVERY_ACTIONS.items()}
