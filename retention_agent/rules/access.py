"""Who may do what: the list of authorised persons and the authorisation decision (pure).

Deliberation VCMP 05/2024 nrs. 45 and 64: access only for named staff who need it for the ceremony,
with an access level per person. The agent calls :func:`decide` for every request with the caller's OS
account (from the socket's peer credentials, never from anything the client says) and audits the outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from retention_agent.i18n.msgids import N_

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


# action -> what it is in the words of the people who ask for it (completes "The account X may not …"); a
# refusal never shows the action's code.
ACTION_WORDS: Mapping[str, str] = {
    "status": N_("see the compliance status"),
    "staff.list": N_("see the list of authorised persons"),
    "staff.add": N_("add a person to the list of authorised persons or change their roles"),
    "staff.remove": N_("remove a person from the list of authorised persons"),
    "audit.show": N_("read the audit log"),
    "audit.checkpoint": N_("sign a checkpoint of the audit log"),
    "audit.verify": N_("verify the audit log"),
    "vault.verify": N_("verify the vault"),
    "checklist.set": N_("record the conditions of the deliberation"),
    "hold": N_("put a legal hold on a delivery"),
    "release": N_("end a legal hold"),
    "purge.due": N_("purge the deliveries that are due"),
    "purge.quarantined": N_("purge a quarantined delivery"),
    "purge.all": N_("purge every delivery before an uninstallation"),
    "quarantine.release": N_("release a delivery from quarantine"),
    "report": N_("make or send a report to the data protection officer"),
    "proof.list": N_("list the proofs of deletion"),
    "proof.show": N_("read a proof of deletion"),
    "proof.export": N_("export a proof of deletion for the data protection officer"),
    "ceremony.extend": N_("move a ceremony date later, which keeps the data longer"),
    "open.quarantined": N_("open a quarantined delivery"),
    "ingest": N_("import a delivery into the vault"),
    "deliveries": N_("list the deliveries"),
    "ceremony.list": N_("list the ceremonies"),
    "ceremony.set": N_("record a ceremony date"),
    "open": N_("open a delivery"),
    "purge.early": N_("destroy a delivery before its deadline"),
    "ceremony.early": N_("record a ceremony date that makes a delivery due now, which destroys it at once"),
    "keys.public": N_("see the installation's public key"),
    "secret.set": N_("store a password in the key store"),
    "mailbox.signin": N_("sign in for a mailbox"),
    "notifications": N_("receive the agent's notifications"),
    "whoami": N_("ask the agent who they are"),
    "copies.targets": N_("sweep their folders for copies of deliveries"),
    "copies.report": N_("report copies of deliveries found in their folders"),
    "delivery.unlock": N_("give the password of a delivery's workbook"),
}
UNKNOWN_ACTION_WORDS = N_("do this")


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
