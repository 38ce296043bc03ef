"""Errors of deliveries and the vault: finding, opening, storing and reading what was received."""

from __future__ import annotations

from retention_agent.errors.base import EXIT_INTEGRITY, EXIT_USAGE, RetentionAgentError


class DeliveryNotFoundError(RetentionAgentError):
    error_id = "delivery-unknown"
    message = "There is no delivery {delivery}."
    hint = "See 'retention-agent deliveries' for the ids."


class DeliveryPurgedError(RetentionAgentError):
    error_id = "delivery-purged"
    message = "Delivery {delivery} was purged on {purged_at}; its data no longer exists."
    hint = "See its proof of deletion: 'retention-agent proof show {delivery}'."


class DeliveryStateError(RetentionAgentError):
    error_id = "delivery-state"
    message = "Delivery {delivery} is {state}; this cannot be done now."
    hint = "See 'retention-agent deliveries'."


class DeliveryQuarantinedError(RetentionAgentError):
    error_id = "delivery-quarantined"
    message = ("Delivery {delivery} is in quarantine: it was not recognised as an AgII delivery, and the privacy "
               "officer decides what happens to it.")
    hint = ("Only the privacy officer can release it from quarantine ('retention-agent quarantine release "
            "{delivery} --reason TEXT'); after that it is an ordinary delivery.")


class DeliveryHeldError(RetentionAgentError):
    error_id = "delivery-held"
    message = "Delivery {delivery} is under a legal hold until {until}: it is not purged while the hold lasts."
    hint = "Ask the privacy officer to release the hold first ('retention-agent release DELIVERY')."


class SourceRefusedError(RetentionAgentError):
    error_id = "source-refused"
    message = "{file} was not taken: {why}"
    hint = "Save the delivery as a regular file you can read, then run ingest on that file."


class SourceUnreadableError(RetentionAgentError):
    error_id = "source-unreadable"
    message = "{file} cannot be read: {problem}"
    hint = "Check that the file exists and that your account may read it; nothing was changed."


class DiskFullError(RetentionAgentError):
    error_id = "disk-full"
    message = "There is not enough disk space to store {file}; nothing was changed."
    hint = "Free space on the disk that holds the agent's home, then try again. The source file was kept."


class VaultIntegrityError(RetentionAgentError):
    error_id = "vault-integrity"
    exit_code = EXIT_INTEGRITY
    message = "The vault object of delivery {delivery} is damaged or was altered; no data was released."
    hint = "Run 'retention-agent vault verify' and report this as a security incident to the privacy officer."


class DatabaseLockedError(RetentionAgentError):
    error_id = "database-locked"
    message = "The agent's database {file} is locked by another program; the request was not carried out."
    hint = "Close the program that holds {file} (a backup tool or an SQLite browser), then try again."


class PurposeRequiredError(RetentionAgentError):
    error_id = "purpose-required"
    exit_code = EXIT_USAGE
    message = "An opening needs a purpose: one of {codes}."
    hint = "Add --purpose CODE (and --note TEXT for 'other'); the note must not contain personal data."


class WorkbookPasswordError(RetentionAgentError):
    error_id = "workbook-password"
    message = "The password does not open the workbook of delivery {delivery}."
    hint = ("Check the password AgII sent separately (capitals, spaces, a character that looks like another) and "
            "try again; nothing was stored.")


class WorkbookUnreadableError(RetentionAgentError):
    error_id = "workbook-unreadable"
    message = "The rows of delivery {delivery} cannot be read: {problem}"
    hint = ("Copies of the file itself are still found. Ask AgII for the list as a password-protected .xlsx if "
            "copies derived from it (a CSV, a mail merge) must be found too.")
    translated_params = ("problem",)


class WorkbookColumnsError(RetentionAgentError):
    error_id = "workbook-columns"
    message = ("The workbook of delivery {delivery} has no column of national register numbers in its first rows "
               "(columns found: {found}).")
    hint = ("A header such as Rijksregisternummer, INSZ or Nationaal nummer is expected; check the file with AgII. "
            "Nothing was stored.")


class PersonalDataInTextError(RetentionAgentError):
    error_id = "personal-data-in-text"
    exit_code = EXIT_USAGE
    message = "{field} looks like it holds personal data ({what}); nothing was stored."
    hint = ("Notes, labels and reasons are kept in the database and as a hash in the audit log: never put a "
            "national number, a name or an e-mail address there. Refer to the case instead (a file number).")


class InternalError(RetentionAgentError):
    error_id = "internal"
    message = "The agent met an unexpected problem ({problem}); the request was not carried out."
    hint = "Try again; if it happens again, give the agent's log (agent.log) of {at} UTC to the supplier."


class DiskSpaceLowError(RetentionAgentError):
    error_id = "disk-space-low"
    message = ("The disk that holds the agent's home {folder} has {free_mib} MiB free, below the floor of "
               "{floor_mib} MiB: the agent takes in no new deliveries until space is freed.")
    hint = ("Free space on that disk. Purges, proofs of deletion and status go on meanwhile; see "
            "'retention-agent status' and [disk] in docs/configuration.md.")


class RequestBudgetError(RetentionAgentError):
    error_id = "request-budget"
    message = "The account {account} sent too many requests in a short time; this one was refused."
    hint = "Wait a few seconds and try again."
