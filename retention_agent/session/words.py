"""The codes the API answers with (states, channels, purposes, outcomes, audit actions), as words for people.

Each code maps to an English text marked with ``N_`` (Dutch in ``locale/nl.po``); :func:`word` translates it
for the language being shown. An unknown code (an agent newer than this app) is shown as it is.
"""

from __future__ import annotations

from retention_agent.i18n.catalogue import translate
from retention_agent.i18n.msgids import N_
from retention_agent.rules.access import PURPOSES

STATES = {
    "vaulted": N_("in the vault"),
    "scheduled": N_("scheduled"),
    "held": N_("legal hold"),
    "quarantined": N_("quarantined"),
    "purging": N_("being destroyed"),
    "purged": N_("destroyed"),
}

CHANNELS = {"email": N_("e-mail"), "folder": N_("drop folder"), "zivver": N_("Zivver"), "manual": N_("added by hand")}

# why a delivery is opened, as the staff member chooses it (the code is what the audit log records)
PURPOSES_SHOWN = {
    "invite": N_("Invite people to the ceremony"),
    "phone": N_("Phone people"),
    "attendance": N_("Attendance list of the ceremony"),
    "correction": N_("Correct an error in the data"),
    "other": N_("Something else (explain in the note)"),
}
assert tuple(PURPOSES_SHOWN) == PURPOSES

PURPOSES_SHORT = {"invite": N_("invitation"), "phone": N_("phone call"), "attendance": N_("attendance list"),
                  "correction": N_("correction"), "other": N_("other reason")}

OUTCOMES = {"granted": N_("granted"), "denied": N_("refused"), "ok": N_("done"), "failed": N_("failed")}

TRIGGERS = {"schedule": N_("deadline reached"), "due-command": N_("due, purged on request"),
            "clock-confirmed": N_("due after a clock change"), "early": N_("destroyed early"),
            "quarantine": N_("quarantined file")}

# the conditions of the deliberation (checklist ids, which the command line takes as they are)
CONDITIONS = {"commitment": N_("signed commitment"), "privacy-statement": N_("privacy statement"),
              "website": N_("publication on the website"), "processors": N_("processor agreements"),
              "dpo": N_("DPO appointed"), "staff-informed": N_("staff informed"), "register": N_("art. 30 register")}

ROLES = {"import": N_("add files"), "read": N_("open"), "modify": N_("set ceremony dates"),
         "destroy": N_("destroy early"), "officer": N_("privacy officer")}

REPORT_DELIVERY = {"sent": N_("sent"), "queued": N_("waiting to be sent"), "failed": N_("sending failed"),
                   "no-address": N_("no address configured"), "not-requested": N_("not sent")}

# audit actions: the requests the agent decides (access.REQUIRED_ROLES) and the events it records
AUDIT_ACTIONS = {
    # requests
    "status": N_("asked for the status"),
    "staff.list": N_("asked for the staff list"),
    "staff.add": N_("asked to add to the staff list"),
    "staff.remove": N_("asked to remove from the staff list"),
    "audit.show": N_("asked for the audit log"),
    "audit.checkpoint": N_("asked for a signed checkpoint"),
    "audit.verify": N_("verified the audit log"),
    "vault.verify": N_("verified the vault"),
    "checklist.set": N_("recorded a condition of the deliberation"),
    "hold": N_("asked for a legal hold"),
    "release": N_("asked to end a legal hold"),
    "purge.due": N_("asked to destroy what is due"),
    "purge.quarantined": N_("asked to destroy a quarantined file"),
    "purge.all": N_("asked to destroy everything (uninstallation)"),
    "purge.early": N_("asked to destroy a delivery early"),
    "ceremony.early": N_("asked for a ceremony date that destroys a delivery at once"),
    "quarantine.release": N_("asked to release a file from quarantine"),
    "report": N_("asked for a DPO report"),
    "proof.list": N_("asked for the proofs of deletion"),
    "proof.show": N_("asked for a proof of deletion"),
    "proof.export": N_("exported a proof of deletion"),
    "ceremony.extend": N_("asked to move a ceremony later"),
    "ceremony.set": N_("set a ceremony date"),
    "ingest": N_("added a file"),
    "deliveries": N_("asked for the list of deliveries"),
    "ceremony.list": N_("asked for the ceremonies"),
    "open": N_("asked to open a delivery"),
    "open.quarantined": N_("asked to open a quarantined file"),
    "keys.public": N_("asked for the public key"),
    "mailbox.signin": N_("asked to sign in for a mailbox"),
    "secret.set": N_("stored a password in the key store"),
    "notifications": N_("asked for notifications"),
    "whoami": N_("asked for their roles"),
    "copies.targets": N_("asked what to look for in their folders"),
    "copies.report": N_("reported the copies found in their folders"),
    "delivery.unlock": N_("gave the password of a delivery's workbook"),
    "request": N_("sent an unknown request"),
    # events
    "agent.started": N_("agent started"),
    "agent.stopped": N_("agent stopped"),
    "clock.jump": N_("system clock jumped"),
    "database.vacuumed": N_("tidied up the database (vacuum)"),
    "delivery.duplicate": N_("received a delivery again (duplicate)"),
    "delivery.integrity-failure": N_("found a damaged vault object"),
    "delivery.opened": N_("opened a delivery"),
    "delivery.received": N_("received a delivery"),
    "delivery.source-not-overwritten": N_("noted that an added file could not be overwritten"),
    "delivery.unlocked": N_("read a delivery's workbook (counts and fingerprints only)"),
    "copies.reported": N_("recorded the copies found on a workstation"),
    "delivery.purged": N_("destroyed a delivery"),
    "hold.released": N_("ended a legal hold"),
    "hold.set": N_("set a legal hold"),
    "ingest.recovered": N_("finished an interrupted intake"),
    "intake.refused": N_("refused a file at intake"),
    "installation.created": N_("installation created"),
    "proof.written": N_("signed a proof of deletion"),
    "mailbox.signed-in": N_("signed in for a mailbox"),
    "purge.all.finished": N_("destroyed everything (uninstallation)"),
    "purge.awaiting-clock-confirmation": N_("waits for confirmation of the clock"),
    "purge.refused": N_("refused to destroy (legal hold)"),
    "purge.started": N_("started destroying a delivery"),
    "quarantine.released": N_("released a file from quarantine"),
    "report.send-failed": N_("could not send a report"),
    "report.sent": N_("sent a report"),
    "report.written": N_("made a DPO report"),
    "secret.changed": N_("changed a password in the key store"),
    "staff.changed": N_("changed the staff list"),
    "workspace.wiped": N_("wiped an opened copy"),
}


def word(table: dict[str, str], code: object, lang: str | None = None) -> str:
    """``code`` in words, in ``lang``; ``-`` for no code; an unknown code as it is."""
    if code is None or code == "":
        return "-"
    text = table.get(str(code))
    return translate(text, lang) if text else str(code)
