"""Who may do what: the list of authorised persons and the authorisation decision (pure).

Deliberation VCMP 05/2024 nrs. 45 and 64: access only for named staff who need it for the ceremony,
with an access level per person. The agent calls :func:`decide` for every request with the caller's OS
account (from the socket's peer credentials, never from anything the client says) and audits the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The words for each action are message text (i18n/actions.py); named here for errors.py, which imports them
# from here until it imports them from i18n.actions.
from retention_agent.i18n.actions import ACTION_WORDS as ACTION_WORDS
from retention_agent.i18n.actions import UNKNOWN_ACTION_WORDS as UNKNOWN_ACTION_WORDS

ROLES = ("import", "read", "modify", "destroy", "officer")
PURPOSES = ("invite", "phone", "attendance", "correction", "other")  # why a delivery is opened (nr. 64)
OPEN_MODES = ("workspace", "stdout", "to-dir")
READERS = frozenset({"read", "modify", "destroy", "officer"})
OFFICER = frozenset({"officer"})
ANY_STAFF = frozenset(ROLES)

# action -> roles of which the caller needs at least one
REQUIRED_ROLES: Mapping[str, frozenset[str]] = {
    "status": OFFICER,
    "staff.list": OFFICER,
    "staff.add": OFFICER,
    "staff.remove": OFFICER,
    "audit.show": OFFICER,
    "audit.checkpoint": OFFICER,
    "audit.verify": OFFICER,
    "vault.verify": OFFICER,
    "checklist.set": OFFICER,
    "hold": OFFICER,
    "release": OFFICER,
    "purge.due": OFFICER,
    "purge.quarantined": OFFICER,
    "purge.all": OFFICER,  # every live delivery, early, before the service is uninstalled
    "quarantine.release": OFFICER,
    "report": OFFICER,
    "proof.list": OFFICER,
    "proof.show": OFFICER,
    "proof.export": OFFICER,
    "ceremony.extend": OFFICER,
    "open.quarantined": OFFICER,  # a file not recognised as AgII's: the officer decides who sees it
    "ingest": frozenset({"import"}),
    "deliveries": READERS,
    "ceremony.list": READERS,
    "ceremony.set": frozenset({"modify", "officer"}),
    "open": frozenset({"read"}),
    "purge.early": frozenset({"destroy"}),
    "ceremony.early": frozenset({"destroy"}),  # a date that makes a delivery due now destroys it at once
    "keys.public": ANY_STAFF,
    "secret.set": OFFICER,
    "mailbox.signin": OFFICER,
    "notifications": ANY_STAFF,
    "whoami": ANY_STAFF,
    "copies.targets": ANY_STAFF,  # every staff member's session sweeps their own folders
    "copies.report": ANY_STAFF,
    "delivery.unlock": frozenset({"read"}),  # whoever may open a delivery may give its workbook's password
}


@dataclass(frozen=True)
class StaffMember:
    account: str
    name: str
    roles: frozenset[str]


@dataclass(frozen=True)
class Decision:
    granted: bool
    action: str
    account: str
    needs: frozenset[str]


def decide(staff: Mapping[str, StaffMember], account: str, action: str) -> Decision:
    """Grant ``action`` to ``account`` only if the staff list gives it one of the required roles.

    Unknown actions are refused: a new request type must be given its roles here before anyone can use it.
    """
    needs = REQUIRED_ROLES.get(action, frozenset())
    member = staff.get(account)
    granted = bool(needs) and member is not None and bool(member.roles & needs)
    return Decision(granted=granted, action=action, account=account, needs=needs)


def refusal(staff: Mapping[str, StaffMember], account: str, action: str) -> dict[str, Any]:
    """The values of a refused request's message: the action, and who may do it — never a role to hand out.

    ``who`` is ``officer`` (only the privacy officer: ``officers`` names them, from the staff list),
    ``roles`` (a staff member with one of ``roles``), ``roles-or-officer`` (either) or ``staff`` (anyone on
    the list of authorised persons).
    """
    needs = REQUIRED_ROLES.get(action, frozenset())
    roles = sorted(needs - OFFICER, key=ROLES.index)
    if needs == ANY_STAFF or not needs:
        who = "staff"
    elif not roles:
        who = "officer"
    else:
        who = "roles-or-officer" if "officer" in needs else "roles"
    officers = [m for m in staff.values() if "officer" in m.roles]
    return {"account": account, "action": action, "who": who, "roles": roles,
            "officers": ", ".join(f"{m.name} ({m.account})" for m in sorted(officers, key=lambda m: m.account))}


def validate_roles(roles: list[str] | tuple[str, ...]) -> frozenset[str]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"roles must be among {', '.join(ROLES)}")
    return frozenset(roles)


def officers_after_change(staff: Mapping[str, StaffMember], account: str,
                          new_roles: frozenset[str] | None) -> int:
    """How many officers the list would have if ``account`` got ``new_roles`` (None = removed)."""
    count = sum(1 for m in staff.values() if m.account != account and "officer" in m.roles)
    return count + (1 if new_roles and "officer" in new_roles else 0)
