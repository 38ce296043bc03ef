"""What each request of the local API does, in the words of the people who ask for it.

The words complete a refusal ("The account X may not …", ``errors.AccessDeniedError``) and name the actions in
the DPO report; a refusal never shows an action's code. ``rules/access.py`` holds the roles each action needs;
a test keeps the two lists of actions the same.
"""

from __future__ import annotations

from collections.abc import Mapping

from retention_agent.i18n.msgids import N_

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
