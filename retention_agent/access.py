"""Who may do what: the list of authorised persons and the authorisation decision (pure).

Deliberation VCMP 05/2024 nrs. 45 and 64: access only for named staff who need it for the ceremony,
with an access level per person. The agent calls :func:`decide` for every request with the caller's OS
account (from the socket's peer credentials, never from anything the client says) and audits the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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
    "ceremony.extend": OFFICER,
    "ingest": frozenset({"import"}),
    "deliveries": READERS,
    "ceremony.list": READERS,
    "ceremony.set": frozenset({"modify", "officer"}),
    "open": frozenset({"read"}),
    "purge.early": frozenset({"destroy"}),
    "keys.public": ANY_STAFF,
    "secret.set": OFFICER,
    "mailbox.signin": OFFICER,
    "notifications": ANY_STAFF,
    "whoami": ANY_STAFF,
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

    @property
    def needed_role(self) -> str:
        """The role to mention when telling someone how to get access."""
        return sorted(self.needs, key=ROLES.index)[0] if self.needs else "officer"


def decide(staff: Mapping[str, StaffMember], account: str, action: str) -> Decision:
    """Grant ``action`` to ``account`` only if the staff list gives it one of the required roles.

    Unknown actions are refused: a new request type must be given its roles here before anyone can use it.
    """
    needs = REQUIRED_ROLES.get(action, frozenset())
    member = staff.get(account)
    granted = bool(needs) and member is not None and bool(member.roles & needs)
    return Decision(granted=granted, action=action, account=account, needs=needs)


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
