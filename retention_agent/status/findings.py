"""What the officer's status finds wrong: each problem makes ``compliant`` false; warnings do not.

Pure: read from the status document alone. Each finding is a code, an English ``message`` template (Dutch in
locale/nl.po) and the ``params`` that the client puts in it: counts, ids, dates and configuration names.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from retention_agent.clock import parse_utc, utc_iso
from retention_agent.i18n.msgids import N_

Finding = dict[str, Any]

# code -> English template (Dutch in locale/nl.po); the values are counts, ids, dates and configuration names
FINDINGS: dict[str, str] = {
    "overdue-purges": N_("{count} purges are overdue: run 'retention-agent purge --due' and find out why"),
    "unfinished-purges": N_("{count} purges did not finish; the agent retries them"),
    "no-ceremony": N_("{count} deliveries have no ceremony date yet"),
    "quarantined": N_("{count} quarantined files wait for the officer's decision"),
    "ceremony-after-the-fact": N_("{count} ceremony dates were recorded after their deadline had passed (last 30 "
                                  "days): those deliveries were kept too long, then destroyed when the date was "
                                  "recorded"),
    "integrity-failures": N_("{count} vault objects failed their integrity check"),
    "vault-verification-failed": N_("The last verification of the vault found problems"),
    "audit-verification-failed": N_("The last verification of the audit log found problems"),
    "vault-not-verified": N_("The vault was not verified since the agent started"),
    "audit-not-verified": N_("The audit log was not verified since the agent started"),
    "file-key-store": N_("Keys are kept in a file in the home, not in the OS key store: a backup of the home "
                         "carries the keys with the vault"),
    "test-hooks": N_("Test-only settings were switched on (first seen {at})"),
    "intake-failing": N_("Intake {name} is failing ({error})"),
    "intake-retrying": N_("Intake {name} is retrying ({error})"),
    "intake-stopped": N_("Intake {name} has stopped ({error})"),
    "folder-swapped": N_("Drop folder {name} was replaced after the agent opened it (renamed away, or a link put in "
                         "its place); no file is taken from it any more. Find out who changed it (audit log: "
                         "intake.refused), put the real folder back and restart the agent"),
    "folder-link-in-path": N_("Drop folder {name} is reached through a symbolic link, or is not a folder; it is not "
                              "watched. Configure the real path of the folder, without links"),
    "folder-inside-home": N_("Drop folder {name} lies inside the agent's home or its key store; it is not watched. "
                             "Choose a folder outside them"),
    "folder-unsafe-parent": N_("A folder above drop folder {name} may be changed by other accounts; the drop folder "
                               "is not watched. Take their write access away, or set the sticky bit on that folder "
                               "(chmod +t)"),
    "source-refused": N_("{count} items in {name} are links, folders or special files and stay where they are: put "
                         "the file itself in the folder"),
    "source-hard-link": N_("{count} files in {name} have more than one name (hard links) and stay where they are: "
                           "put a copy in the folder, not a link"),
    "source-sparse": N_("{count} files in {name} are sparse (mostly holes) and stay where they are: find out where "
                        "they came from and remove them"),
    "source-owned-by-agent": N_("{count} files in {name} belong to the agent's own account and stay where they are: "
                                "find out how they got there and remove them"),
    "source-too-large": N_("{count} files in {name} are larger than {limit} bytes and stay where they are: take them "
                           "in with 'retention-agent ingest', or raise intake.max_file_bytes"),
    "imap-message-too-large": N_("{count} messages in mailbox {name} are larger than the limit and stay on the "
                                 "server: save their attachments and take them in with 'retention-agent ingest'"),
    "mail-too-many-files": N_("{count} quarantined deliveries are whole messages with more than {limit} files (the "
                              "first is {delivery}): check them, then release or purge them"),
    "mail-not-authenticated": N_("Mailbox {name} takes mail on its sender address alone; a forged AgII sender would "
                                 "be trusted. Set authserv_id for it (see docs/administrator.md)"),
    "sources-not-overwritten": N_("{count} live deliveries came from a plaintext file that could not be overwritten "
                                  "before it was removed ({reasons}); its bytes may remain on that disk"),
    "oauth-credential-refused": N_("Mailbox {name}: the identity provider refuses the agent's credentials (client "
                                   "secret, certificate or application); messages stay on the server. Replace the "
                                   "credential in Entra ID and give it to the agent ('retention-agent secret set "
                                   "mailbox-{name}', or a new file at certificate_path)"),
    "oauth-signin-required": N_("Mailbox {name} needs someone to sign in again: run 'retention-agent mailbox signin "
                                "{name}' and sign in with the mailbox's account"),
    "oauth-certificate-unreadable": N_("The certificate of mailbox {name} cannot be used: certificate_path must be a "
                                       "PEM file with the private key and the certificate, readable by the agent's "
                                       "account only (chmod 600)"),
    "oauth-configuration": N_("The identity provider does not know the tenant of mailbox {name}: check tenant and "
                              "authority_host in the configuration"),
    "oauth-authority-unreachable": N_("Mailbox {name} cannot reach the identity provider (network, proxy or TLS); "
                                      "the agent retries with back-off"),
    "imap-oauth-refused": N_("The mail server refuses the agent's token for mailbox {name}: the application may not "
                             "open it. Check the Exchange service principal and Add-MailboxPermission "
                             "(docs/administrator.md)"),
    "graph-access-denied": N_("Microsoft Graph refuses the agent access to mailbox {name}: check that username is "
                              "the mailbox's address, the permission Mail.ReadWrite and the application access policy "
                              "(docs/administrator.md)"),
    "mailbox-copies-remaining": N_("{count} copies of AgII messages were left in mailbox {name} (copies = \"report\", "
                                   "or a removal failed): remove them by hand; their proofs of deletion say so"),
    "mailbox-copies-pending": N_("{count} searches for other copies of taken messages in mailbox {name} have not "
                                 "finished since {since}; see the agent's log"),
    "legal-basis-lapsed": N_("{count} live deliveries arrived by {channel} after its legal basis ({basis}) lapsed "
                             "on {date}"),
    "channel-lapsed": N_("The legal basis {basis} no longer covers deliveries by {channel} (valid until {date}), "
                         "but an intake still takes that channel: data may no longer arrive that way"),
    "checklist-open": N_("{count} conditions of the deliberation are still open: {items}"),
    "reports-not-sent": N_("{count} reports could not be sent yet ({error}); they are retried"),
    "copies-found": N_("{count} copies of deliveries were found on workstations (see 'Copies on workstations'); "
                       "they are erased when their delivery is purged"),
    "copies-remaining": N_("{count} copies of purged deliveries remain on workstations: the staff member's session "
                           "could not erase them, or has not run since the purge (see 'Copies on workstations')"),
    "workbook-invalid-numbers": N_("The workbook of delivery {delivery} has {count} national register numbers with "
                                   "wrong check digits: check the list with AgII"),
    "disk-space-low": N_("The disk of the agent's home has {free_mib} MiB free, below the floor of {floor_mib} "
                         "MiB: no new deliveries are taken in until space is freed"),
}


OAUTH_FINDINGS = ("oauth-credential-refused", "oauth-signin-required", "oauth-certificate-unreadable",
                  "oauth-configuration", "oauth-authority-unreachable", "imap-oauth-refused", "graph-access-denied")


def _finding(code: str, **params: Any) -> Finding:
    return {"code": code, "message": FINDINGS[code], "params": params}


def assess(status: dict[str, Any]) -> tuple[list[Finding], list[Finding]]:
    """Problems (not compliant) and warnings, each a code, an English template and its values."""
    problems: list[Finding] = []
    warnings: list[Finding] = []
    _assess_purges(status, problems, warnings)
    _assess_integrity(status, problems, warnings)
    _assess_intake(status, problems, warnings)
    _assess_legal_bases(status, problems, warnings)
    _assess_organisation(status, problems, warnings)
    _assess_copies(status, problems, warnings)
    disk = status["health"]["disk"]
    if disk["low"]:
        problems.append(_finding("disk-space-low", free_mib=disk["free_bytes"] >> 20,
                                 floor_mib=-(-disk["floor_bytes"] >> 20)))
    return problems, warnings


def _assess_purges(status: dict[str, Any], problems: list[Finding], warnings: list[Finding]) -> None:
    overdue = status["overdue_purges"]["count"]
    if overdue:
        problems.append(_finding("overdue-purges", count=overdue))
    if status["unfinished_purges"]:
        problems.append(_finding("unfinished-purges", count=status["unfinished_purges"]))
    without = status["deliveries"]["without_ceremony"]["count"]
    if without:
        warnings.append(_finding("no-ceremony", count=without))
    if status["quarantined"]["count"]:
        warnings.append(_finding("quarantined", count=status["quarantined"]["count"]))
    if status["ceremonies_after_the_fact_30d"]["count"]:
        warnings.append(_finding("ceremony-after-the-fact", count=status["ceremonies_after_the_fact_30d"]["count"]))


def _assess_integrity(status: dict[str, Any], problems: list[Finding], warnings: list[Finding]) -> None:
    failures = status["vault"]["integrity_failures"]["count"]
    if failures:
        problems.append(_finding("integrity-failures", count=failures))
    for part in ("vault", "audit"):
        verified = status[part]["last_verification"]
        if verified and not verified.get("ok"):
            problems.append(_finding(f"{part}-verification-failed"))
        elif not verified:
            warnings.append(_finding(f"{part}-not-verified"))
    if status["health"]["key_store"]["file_store"]:
        warnings.append(_finding("file-key-store"))
    hooks = status["health"]["test_hooks"]
    if hooks["active"] or hooks["first_seen"]:
        problems.append(_finding("test-hooks", at=hooks["first_seen"] or status["generated_at"]))


def _assess_intake(status: dict[str, Any], problems: list[Finding], warnings: list[Finding]) -> None:
    limits = status["health"]["intake_limits"]
    for watcher in status["health"]["intake"]:
        error = watcher["last_error_id"] or "-"
        name = watcher["name"].partition(":")[2] or watcher["name"]
        refused = {r["code"]: r["count"] for r in watcher.get("refused", [])}
        folder = [code for code in refused if code.startswith("folder-") and code in FINDINGS]
        for code in folder:
            problems.append(_finding(code, name=name))
        for code, count in sorted(refused.items()):
            if code not in folder and code in FINDINGS:
                problems.append(_finding(code, name=name, count=count, limit=limits["max_file_bytes"]))
        if folder:
            continue  # the refusal says what is wrong and what to do; "failing" would only repeat it
        if watcher["state"] in ("failing", "retrying") and error in OAUTH_FINDINGS:
            (problems if watcher["state"] == "failing" else warnings).append(_finding(error, name=name))
        elif watcher["state"] == "failing":
            problems.append(_finding("intake-failing", name=watcher["name"], error=error))
        elif watcher["state"] in ("retrying", "stopped"):
            warnings.append(_finding("intake-" + watcher["state"], name=watcher["name"], error=error))
    for box in status["health"]["mail_authentication"]:
        if not box["authserv_id_configured"]:
            warnings.append(_finding("mail-not-authenticated", name=box["mailbox"]))
    flood = status["quarantined"]["by_reason"].get("mail-too-many-files")
    if flood:
        problems.append(_finding("mail-too-many-files", count=flood["count"], delivery=flood["first"],
                                 limit=limits["max_files_per_message"]))
    for box in status["mailbox_copies"]["by_mailbox"]:
        if box["remaining"]:
            warnings.append(_finding("mailbox-copies-remaining", name=box["mailbox"], count=box["remaining"]))
        stale = box["oldest_pending"] and box["oldest_pending"] < utc_iso(parse_utc(status["generated_at"])
                                                                           - timedelta(hours=1))
        if stale:
            warnings.append(_finding("mailbox-copies-pending", name=box["mailbox"], count=box["pending"],
                                     since=box["oldest_pending"]))
    kept = status["sources_not_overwritten"]
    if kept["count"]:
        warnings.append(_finding("sources-not-overwritten", count=kept["count"],
                                 reasons=", ".join(sorted(kept["by_reason"]))))


def _assess_legal_bases(status: dict[str, Any], problems: list[Finding], warnings: list[Finding]) -> None:
    for row in status["legal_bases"]:
        values = {"channel": row["channel"], "basis": row["legal_basis"], "date": row["valid_until"] or "-"}
        if row["received_after_lapse"]:
            problems.append(_finding("legal-basis-lapsed", count=row["received_after_lapse"], **values))
        elif row["lapsed"] and row["intake_configured"]:  # a mailbox or folder still takes this channel
            warnings.append(_finding("channel-lapsed", **values))


def _assess_copies(status: dict[str, Any], problems: list[Finding], warnings: list[Finding]) -> None:
    copies = status["copies"]
    remaining = copies["remaining"]["count"] + copies["found"]["remaining"]
    if remaining:
        problems.append(_finding("copies-remaining", count=remaining))
    if copies["found"]["count"]:
        warnings.append(_finding("copies-found", count=copies["found"]["count"]))
    for item in copies["contents"]:
        if item["invalid_numbers"]:
            warnings.append(_finding("workbook-invalid-numbers", delivery=item["delivery"],
                                     count=item["invalid_numbers"]))


def _assess_organisation(status: dict[str, Any], problems: list[Finding], warnings: list[Finding]) -> None:
    still_open = status["checklist"]["open"]
    if still_open:
        problems.append(_finding("checklist-open", count=len(still_open), items=", ".join(still_open)))
    failed = [r for r in status["reports"]["waiting"] if r["delivery"] == "failed"]
    if failed:
        warnings.append(_finding("reports-not-sent", count=len(failed), error=failed[0]["last_error"] or "?"))
