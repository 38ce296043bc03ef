"""The certificate people read: a PDF "Bewijs van vernietiging" with the facts of a proof of deletion.

The signed JSON is the proof; this certificate repeats its facts in Dutch (or English), with dates in
nl-BE form and times in Europe/Brussels, and prints the exact ``ssh-keygen`` commands that verify the JSON.
The proof holds no personal data, so neither does the certificate. Rendering is deterministic: the PDF's
creation date is the purge time.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, Final

from fpdf import FPDF

from retention_agent.clock import parse_utc
from retention_agent.evidence import checkpoint as notes
from retention_agent.evidence.proof import REQUIRED_CHECKS, check_document, proof_file_names, verify_commands
from retention_agent.i18n.msgids import N_
from retention_agent.pdf import document as layout
from retention_agent.pdf.words import Words

_LEGAL_BASES: Final = {"VCMP-05-2024": "VCMP 05/2024 (18/11/2024), nr. 41"}
_WIPED: Final = re.compile(r"wiped (\d+)")
_COPIES: Final = re.compile(r"found (\d+) erased (\d+) remaining (\d+)")
_SCRUBBED: Final = re.compile(r"secure_delete=(\d+) wal_bytes=(\d+) free_pages=(\d+)(?: vacuum=[a-z]+)?")


def render_certificate(doc: Mapping[str, Any], lang: str = "nl") -> bytes:
    """The PDF certificate of a proof document (see :func:`retention_agent.evidence.proof_build.build_proof`)."""
    check_document(doc)
    words = Words(lang, missing=N_("not recorded"), zone=True)
    pdf = layout.new_document(
        f"{words('Proof of deletion')} {doc['delivery_id']}",
        created=parse_utc(doc["purged_at"]),
        language=words.tag,
    )
    layout.heading(pdf, words("Proof of deletion"))
    layout.paragraph(pdf, words(
        "The retention agent of {municipality} destroyed delivery {delivery} on {purged_at}. The signed "
        "file {file} is the proof itself; this certificate repeats its facts for people.",
        municipality=doc["municipality"], delivery=doc["delivery_id"],
        purged_at=words.moment(doc["purged_at"]), file=proof_file_names(doc["delivery_id"])[0]))
    _delivery_section(pdf, doc, words)
    _retention_section(pdf, doc, words)
    _erase_section(pdf, doc, words)
    _access_section(pdf, doc, words)
    _mailbox_section(pdf, doc, words)
    _audit_section(pdf, doc, words)
    _limits_section(pdf, doc, words)
    _verify_section(pdf, doc, words)
    return layout.output_bytes(pdf)


# ---- sections ----------------------------------------------------------------------------------------------


def _delivery_section(pdf: FPDF, doc: Mapping[str, Any], words: Words) -> None:
    layout.heading(pdf, words("The delivery"), level=2)
    layout.field_table(pdf, [
        (words("Municipality"), doc["municipality"]),
        (words("Delivery"), doc["delivery_id"]),
        (words("Received"), words.moment(doc["received_at"])),
        (words("Channel"), words.channel(doc["channel"])),
        (words("Size"), words("{size} bytes", size=words.number(doc["size"]))),
        (words("SHA-256 of what was received"), doc["sha256"]),
        (words("Legal basis"), _LEGAL_BASES.get(doc["legal_basis"], doc["legal_basis"])),
    ])


def _retention_section(pdf: FPDF, doc: Mapping[str, Any], words: Words) -> None:
    layout.heading(pdf, words("Retention"), level=2)
    lateness = doc["lateness_seconds"]
    rows = [
        (words("Ceremony date"), words.day(doc["ceremony_date"])),
        (words("Deadline"), words.day(doc["deadline"])),
        (words("Purged at"), words.moment(doc["purged_at"])),
        (words("On time"), words("on time") if lateness == 0
         else words("{duration} late", duration=words.duration(lateness))),
        (words("Trigger"), _trigger(doc["trigger"], words)),
        (words("Reason"), _reason(doc["reason"], words)),
    ]
    if doc["reason_sha256"]:
        rows.append((words("SHA-256 of the reason text"), doc["reason_sha256"]))
    layout.field_table(pdf, rows)


def _erase_section(pdf: FPDF, doc: Mapping[str, Any], words: Words) -> None:
    layout.heading(pdf, words("How the data was destroyed"), level=2)
    layout.paragraph(pdf, words(
        "Cryptographic erase (NIST SP 800-88): the delivery was stored encrypted from the first write, and "
        "its only data key was destroyed in the key store. The encrypted file and every working copy were "
        "then overwritten and removed, and the database was cleaned."))
    layout.field_table(pdf, [(words("Key store"), _key_store(doc["key_store_backend"], words))])
    layout.field_table(pdf, [
        (_step(step["step"], words), f"{_result(step['result'], words)} · {words.moment(step['done_at'])}")
        for step in doc["steps"]
    ])
    layout.heading(pdf, words("Verification after the purge"), level=2)
    layout.field_table(pdf, [
        (_check(name, words), words("passed") if passed else words("FAILED"))
        for name, passed in _in_order(doc["verification"])
    ])


def _access_section(pdf: FPDF, doc: Mapping[str, Any], words: Words) -> None:
    layout.heading(pdf, words("Access while it was kept"), level=2)
    layout.field_table(pdf, [
        (words("Openings"), words.number(doc["openings_count"])),
        (words("Distinct accounts that opened it"), words.number(doc["distinct_accounts_count"])),
        (words("Copies saved outside the agent"), words.number(doc["untracked_copies_count"])),
    ])


def _mailbox_section(pdf: FPDF, doc: Mapping[str, Any], words: Words) -> None:
    copies = doc.get("mailbox_copies")
    if not copies:
        return
    layout.heading(pdf, words("Other copies in the mailbox {mailbox}", mailbox=copies["mailbox"]), level=2)
    rows = [(words("Searched"), words.moment(copies["searched_at"]) if copies["searched_at"]
             else words("not yet (the search had not finished)")),
            (words("Copies found, removed, left"), words("{found} found, {removed} removed, {remaining} left",
                                                          found=words.number(copies["found"]),
                                                          removed=words.number(copies["removed"]),
                                                          remaining=words.number(copies["remaining"])))]
    rows += [(folder["folder"], words("{found} found, {removed} removed, {remaining} left",
                                      found=words.number(folder["found"]), removed=words.number(folder["removed"]),
                                      remaining=words.number(folder["remaining"])))
             for folder in copies["folders"]]
    layout.field_table(pdf, rows)


def _audit_section(pdf: FPDF, doc: Mapping[str, Any], words: Words) -> None:
    audit = doc["audit"]
    found, _ = notes.parse(audit["checkpoint"])
    layout.heading(pdf, words("Audit log"), level=2)
    layout.field_table(pdf, [
        (words("Log"), found.origin),
        (words("Purge entry"), words("entry {seq} of {size}", seq=words.number(audit["entry_seq"]),
                                     size=words.number(audit["tree_size"]))),
        (words("Root hash of the signed checkpoint"), base64.b64encode(found.root_hash).decode("ascii")),
    ])


def _limits_section(pdf: FPDF, doc: Mapping[str, Any], words: Words) -> None:
    layout.heading(pdf, words("What this proof does not cover"), level=2)
    for code in doc["not_covered"]:
        layout.paragraph(pdf, "• " + _limit(code, words))


def _verify_section(pdf: FPDF, doc: Mapping[str, Any], words: Words) -> None:
    json_name, sig_name = proof_file_names(doc["delivery_id"])
    commands = verify_commands(doc)
    layout.new_page(pdf, landscape=True)  # room for each command on one line
    layout.heading(pdf, words("Checking the signature"), level=2)
    layout.paragraph(pdf, words(
        "Put the allowed-signers line you received when the installation was set up in a file named "
        "allowed_signers, in the folder that holds {json} and {sig}. Then run in that folder:",
        json=json_name, sig=sig_name))
    layout.paragraph(pdf, words("Linux and macOS:"))
    layout.monospace_block(pdf, commands["posix"])
    layout.paragraph(pdf, words(
        "Windows 10 and 11 (also from PowerShell: always through cmd, because PowerShell pipes change "
        "the bytes):"))
    layout.monospace_block(pdf, commands["windows"])
    layout.paragraph(pdf, words(
        "A genuine proof gives: Good \"deletion-proof\" signature for {identity}. Any other answer means "
        "the file was changed or signed by another key. 'retention-agent proof verify {json}' checks the "
        "same signature and also the audit log proof.", identity=doc["signer"], json=json_name))


# ---- labels for codes --------------------------------------------------------------------------------------


def _trigger(code: str, words: Words) -> str:
    return {
        "schedule": words("automatically, at the deadline"),
        "due-command": words("by the privacy officer, for a due purge"),
        "early": words("early, on request"),
        "quarantine": words("quarantined delivery, by the privacy officer"),
    }.get(code, code)


def _reason(code: str, words: Words) -> str:
    return {
        "deadline": words("one month after the ceremony (deliberation nr. 41)"),
        "no-ceremony-maximum": words("no ceremony date within the maximum retention period"),
        "early": words("destroyed before its deadline, with a reason"),
        "quarantine": words("not recognised as an AgII delivery"),
        "uninstall": words("the agent was uninstalled"),
        "ceremony-recorded-after-the-fact": words("ceremony recorded after the fact: its deadline had already "
                                                  "passed when the date was recorded"),
        "ceremony-due-within-24h": words("a ceremony date that made it due within 24 hours"),
    }.get(code, code)


def _step(code: str, words: Words) -> str:
    return {
        "key": words("Destroy the data key"),
        "object": words("Overwrite and remove the encrypted file"),
        "workspace": words("Wipe the working copies"),
        "copies": words("Erase the copies found on workstations"),
        "rows": words("Delete the database rows"),
        "scrub": words("Clean the database and its journal"),
    }.get(code, code)


def _result(code: str, words: Words) -> str:
    wiped = _WIPED.fullmatch(code)
    if wiped:
        return words("{count} wiped", count=wiped.group(1))
    copies = _COPIES.fullmatch(code)
    if copies:
        return words("{found} found, {erased} erased, {remaining} remaining", found=copies.group(1),
                     erased=copies.group(2), remaining=copies.group(3))
    scrubbed = _SCRUBBED.fullmatch(code)
    if scrubbed:
        return words("cleaned (secure delete {secure}, {wal} bytes of journal, {free} free pages)",
                     secure=words("on") if scrubbed.group(1) != "0" else words("off"), wal=scrubbed.group(2),
                     free=scrubbed.group(3))
    return {
        "destroyed": words("destroyed"),
        "overwritten-and-unlinked": words("overwritten and removed"),
        "ok": words("done"),
        "absent": words("already absent"),
        "deleted": words("deleted"),
        "checkpointed-and-vacuumed": words("journal emptied and database compacted"),
    }.get(code, code)


def _key_store(code: str, words: Words) -> str:
    return {"file": words("a file in the agent's home"),
            "keyring": words("the key store of the operating system")}.get(code, code)


def _in_order(checks: Mapping[str, bool]) -> list[tuple[str, bool]]:
    """The required checks in their documented order, then any others by name."""
    known = [(name, checks[name]) for name in REQUIRED_CHECKS if name in checks]
    return known + sorted((n, v) for n, v in checks.items() if n not in REQUIRED_CHECKS)


def _check(code: str, words: Words) -> str:
    return {
        "key_absent": words("The data key is gone from the key store"),
        "object_absent": words("The encrypted file is gone from the vault"),
        "no_workspace_copy": words("No working copy is left"),
        "no_rows_left": words("No database row describes its content"),
        "database_scrubbed": words("The database and its journal were cleaned"),
        "unlock_secrets_absent": words("The workbook's password is gone from the key store"),
    }.get(code, code)


def _limit(code: str, words: Words) -> str:
    return {
        "copies-outside-agent": words(
            "Copies outside the agent, such as files staff saved elsewhere with 'open --to' "
            "(counted above as copies saved outside the agent)."),
        "mail-server-retention": words(
            "The mail server's own retention of the original message (deleted items, server backups)."),
        "inbox-folder-backups": words("Backups of the inbox or drop folder made before the file was taken in."),
        "overwrite-on-ssd-or-copy-on-write": words(
            "Overwriting is not sanitisation on SSDs and copy-on-write file systems; the proof rests on "
            "the destruction of the key."),
        "mail-recoverable-items": words(
            "The message and its copies were removed from the mailbox with IMAP: Exchange keeps them in "
            "Recoverable Items, where the mailbox's user can restore them until the deleted-item retention ends "
            "(14 days by default)."),
        "mail-purges-folder": words(
            "The message and its copies were removed with Microsoft Graph permanentDelete: Exchange keeps them in "
            "the Purges folder, out of the user's reach, until the deleted-item retention ends (longer under a "
            "hold)."),
        "mailbox-copies-not-searched": words(
            "The mailbox was not, or not completely, searched for other copies of the message."),
        "mailbox-copies-remaining": words(
            "Copies of the message were found and left in the mailbox (counted above)."),
        "source-not-overwritten": words(
            "The plaintext file this delivery came from was removed without being overwritten first (the "
            "file system or its permissions did not allow it): its bytes may remain on that disk."),
    }.get(code, code)
