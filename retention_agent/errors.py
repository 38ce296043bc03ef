"""The catalogue of errors a user can meet.

Each class is one error: its ``error_id`` is stable (scripts and the documentation rely on it), its
``message`` is an English sentence with ``{placeholders}`` that says what happened, its ``hint`` says what
to do next, and ``exit_code`` is what the command line exits with. Dutch translations live in
``locale/nl.po``; ``docs/errors.md`` is generated from this module and a test keeps it complete.

Parameters are shown to the person at the terminal only. The agent's log records the ``error_id`` and
never the parameters, since a file name may itself be personal data.
"""

from __future__ import annotations

from typing import Any, ClassVar

from retention_agent.i18n.msgids import N_

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_DENIED = 3
EXIT_INTEGRITY = 4


def _fill(text: str, params: Any) -> str:
    """A translated parameter may hold {placeholders} of the other parameters ("unknown item {item}")."""
    try:
        return str(text.format_map(params))
    except (ValueError, IndexError, AttributeError):  # braces that are no placeholder: the text as it is
        return text


class RetentionAgentError(Exception):
    error_id: ClassVar[str] = "error"
    exit_code: ClassVar[int] = EXIT_ERROR
    message: ClassVar[str] = "Something went wrong."
    hint: ClassVar[str] = ""
    # parameters that hold an English text of the catalogue (marked with N_) rather than a value
    translated_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        self.params = params
        super().__init__(self.render("en"))

    def render(self, lang: str = "nl") -> str:
        from retention_agent.i18n.catalogue import count_of, people_params, translate

        params = _Lenient(people_params(self.params, lang))
        if isinstance(params.get("state"), str):  # a delivery's state is a word of the catalogue too
            params["state"] = translate(params["state"], lang)
        for name in self.translated_params:
            if isinstance(params.get(name), str):
                params[name] = _fill(translate(params[name], lang), params)
        text = translate(self.message, lang, count_of(self.params)).format_map(params)
        if self.hint:
            text += "\n" + translate("hint:", lang) + " " + translate(self.hint, lang).format_map(params)
        return text

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.error_id, "params": {k: _plain(v) for k, v in self.params.items()}}


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None) | list) else str(value)


# ---- configuration and home -------------------------------------------------------------------------


class ConfigError(RetentionAgentError):
    error_id = "config-invalid"
    message = "The configuration file {file} is not valid: {problem}"
    hint = "Correct the key {key} in {file} (see docs/configuration.md), then start the agent again."


class ConfigSyntaxError(RetentionAgentError):
    error_id = "config-syntax"
    message = "The configuration file {file} cannot be read: {problem}"
    hint = "Fix the TOML syntax at the place mentioned, then start the agent again."


class HomeMissingError(RetentionAgentError):
    error_id = "home-missing"
    message = "There is no retention-agent home at {home}."
    hint = "Create it with 'retention-agent init --municipality NAME --officer ACCOUNT', or pass --home."


class HomeExistsError(RetentionAgentError):
    error_id = "home-exists"
    message = "A retention-agent home already exists at {home}; it was not changed."
    hint = "Use another --home, or remove the old home only after purging its deliveries."


class HomePermissionError(RetentionAgentError):
    error_id = "home-permissions"
    message = "{path} can be read or changed by other accounts (mode {mode})."
    hint = "Restrict it: chmod {wanted} '{path}' (the agent refuses to run with a home others can open)."


class HomeOwnerError(RetentionAgentError):
    error_id = "home-owner"
    message = "{path} belongs to another account (uid {uid}), not to the agent's account."
    hint = "Run the agent as the account that owns the home, or give it that home with chown."


class SchemaVersionError(RetentionAgentError):
    error_id = "schema-newer"
    message = (
        "The database {file} was written by a newer retention-agent "
        "(schema {found}, this one knows {known})."
    )
    hint = "Install the newer retention-agent version again; do not downgrade over an existing home."


class HomeDamagedError(RetentionAgentError):
    error_id = "home-damaged"
    exit_code = EXIT_INTEGRITY
    message = "The agent's database {file} is damaged ({problem}); the agent did not start and changed nothing."
    hint = ("Do not delete it or create a new home over it: the audit log, the staff list and every delivery's "
            "deadline are in it. Keep the home as it is and follow 'A damaged database' in "
            "docs/administrator.md.")


class AlreadyRunningError(RetentionAgentError):
    error_id = "agent-already-running"
    message = "An agent is already running on the home {home} (process {pid})."
    hint = "Use that agent, or stop it first ('systemctl stop', Task Manager or kill {pid})."


class AgentUnreachableError(RetentionAgentError):
    error_id = "agent-unreachable"
    message = "The retention-agent service is not running or cannot be reached at {socket}."
    hint = "Start it with 'retention-agent run' (or start the installed service), then try again."


class PointerInvalidError(RetentionAgentError):
    error_id = "home-pointer-invalid"
    message = "The file {file}, which tells this computer where the shared agent lives, cannot be used: {problem}."
    hint = ("An administrator writes it again with 'sudo retention-agent service install --mode shared' or removes "
            "it; until then, name the home with --home DIR.")
    translated_params = ("problem",)


class PointerUnsafeError(RetentionAgentError):
    error_id = "home-pointer-unsafe"
    message = ("The file {file}, which tells this computer where the shared agent lives, was not used: {path} "
               "{problem}.")
    hint = ("An administrator makes it safe: 'sudo chown root:root {path}' and 'sudo chmod go-w {path}' (or "
            "writes it again with 'sudo retention-agent service install --mode shared').")
    translated_params = ("problem",)


class SharedAgentPresentError(RetentionAgentError):
    error_id = "shared-agent-present"
    exit_code = EXIT_USAGE
    message = ("This computer has a shared agent in {shared} (named in {pointer}); an agent of your own in {home} "
               "would not be found by the other commands.")
    hint = ("Use the shared agent (leave out init and run), or name your own home with --home DIR in every "
            "command.")


class ProtocolError(RetentionAgentError):
    error_id = "protocol"
    message = "The agent and this command do not understand each other: {problem}"
    hint = "Make sure the command and the running agent are the same version."
    translated_params = ("problem",)


# ---- key store ---------------------------------------------------------------------------------------


class KeyStoreRefusedError(RetentionAgentError):
    error_id = "keystore-refused"
    message = "The key store backend {backend} is not safe for keys: {why}"
    hint = (
        "Install and unlock the OS key store this home was made with (Windows Credential Manager, macOS "
        "Keychain, GNOME Keyring or KWallet). Changing key_store in the configuration does not help: the "
        "keys of this home are in that key store."
    )
    translated_params = ("why",)


class KeyStoreChoiceError(RetentionAgentError):
    error_id = "keystore-choose-file"
    message = "This computer has no safe key store for the keys: {why}. Nothing was created."
    hint = ("Run the same command again with --key-store file: the keys are then kept in a private file in the "
            "home (see docs/administrator.md).")
    translated_params = ("why",)


class KeyStoreUnavailableError(RetentionAgentError):
    error_id = "keystore-unavailable"
    message = "The key store cannot be used right now: {problem}"
    hint = "Unlock the key store (log in to the desktop session) and try again; nothing was changed."


class KeyMissingError(RetentionAgentError):
    error_id = "key-missing"
    message = "The key {key} is not in the key store."
    hint = "If it was purged, this is expected. Otherwise restore the key store from its own backup."


# ---- access ------------------------------------------------------------------------------------------


class AccessDeniedError(RetentionAgentError):
    """A refused request. Its values come from ``access.refusal``: ``account``, ``action`` (a code, shown in
    words), ``who`` may do it (``roles``, ``officer``, ``roles-or-officer`` or ``staff``), ``roles`` and the
    names of the ``officers``. It says who can do it, never which right to hand out."""

    error_id = "access-denied"
    exit_code = EXIT_DENIED
    message = "The account {account} may not {action}."
    hint = "Only a staff member with the role {roles} can do this."
    hints: ClassVar[dict[str, str]] = {
        "roles": hint,
        "officer": N_("Only the privacy officer can do this: {officers}."),
        "roles-or-officer": N_("Only a staff member with the role {roles}, or the privacy officer ({officers}), "
                               "can do this."),
        "staff": N_("Only staff on the list of authorised persons can do this."),
    }

    def render(self, lang: str = "nl") -> str:
        from retention_agent.i18n.catalogue import people_params, translate
        from retention_agent.rules.access import ACTION_WORDS, UNKNOWN_ACTION_WORDS

        params = _Lenient(people_params(self.params, lang))
        params["action"] = translate(ACTION_WORDS.get(str(params.get("action")), UNKNOWN_ACTION_WORDS), lang)
        roles = params.get("roles")
        if isinstance(roles, list) and roles:  # "destroy", "read or modify", "read, modify or destroy"
            names = [str(r) for r in roles]
            params["roles"] = f" {translate('or', lang)} ".join([", ".join(names[:-1]), names[-1]] if names[1:]
                                                                else names)
        hint = self.hints.get(str(params.get("who")), self.hint)
        return (translate(self.message, lang).format_map(params) + "\n" + translate("hint:", lang) + " "
                + translate(hint, lang).format_map(params))


class LastOfficerError(RetentionAgentError):
    error_id = "last-officer"
    message = "{account} is the last privacy officer; the list must keep at least one."
    hint = "Add another account with the role officer first."


class UnknownStaffError(RetentionAgentError):
    error_id = "staff-unknown"
    message = "{account} is not on the staff list."
    hint = "See 'retention-agent staff list'."


class UnknownAccountError(RetentionAgentError):
    error_id = "account-unknown"
    message = "There is no operating-system account named {account} on this machine."
    hint = "Give the account name exactly as the system knows it (on Windows: DOMAIN\\name)."


class UsageError(RetentionAgentError):
    error_id = "usage"
    exit_code = EXIT_USAGE
    message = "{problem}"
    hint = "See 'retention-agent {command} --help'."
    translated_params = ("reason", "problem")  # a problem may hold a {reason} of its own


# ---- deliveries and vault ----------------------------------------------------------------------------


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


# ---- retention -----------------------------------------------------------------------------------------


class DateFormatError(RetentionAgentError):
    error_id = "date-format"
    exit_code = EXIT_USAGE
    message = "{value} is not a date in the form YYYY-MM-DD."
    hint = "Write the date as year-month-day, for example 2026-06-21."


class CeremonyBeforeReceiptError(RetentionAgentError):
    error_id = "ceremony-before-receipt"
    exit_code = EXIT_USAGE
    message = ("The ceremony date {date} is before delivery {delivery} was received ({received}): a ceremony "
               "for it cannot have taken place then.")
    hint = "Check the year and the month of the date; nothing was changed."


class CeremonyBeyondMaximumError(RetentionAgentError):
    error_id = "ceremony-beyond-maximum"
    exit_code = EXIT_USAGE
    message = ("The ceremony date {date} is more than {months} months after delivery {delivery} was received "
               "({received}); the data may not be kept that long.")
    hint = "Check the date: the latest ceremony date for this delivery is {latest}. Nothing was changed."


class EarlyDestructionUnconfirmedError(RetentionAgentError):
    error_id = "early-destruction-unconfirmed"
    exit_code = EXIT_USAGE
    message = ("With the ceremony date {date}, delivery {delivery} is due for destruction now (deadline "
               "{deadline}): recording it destroys the delivery at once, and that was not confirmed.")
    hint = ("Check the date. If the delivery must go, record the date with --reason TEXT and type the delivery id "
            "when asked (or add --yes in a script). Nothing was changed.")


class ReasonRequiredError(RetentionAgentError):
    error_id = "reason-required"
    exit_code = EXIT_USAGE
    message = "This change needs a reason."
    hint = "Add --reason TEXT (without personal data)."


class ConfirmationRequiredError(RetentionAgentError):
    error_id = "confirmation-required"
    exit_code = EXIT_USAGE
    message = "Purging is irreversible and needs confirmation."
    hint = "Type the delivery id when asked, or add --yes in a script."


class PurgeFailedError(RetentionAgentError):
    error_id = "purge-failed"
    message = "The purge of delivery {delivery} stopped at step {step}: {problem}"
    hint = "The agent retries on its next tick; if it keeps failing, see 'retention-agent status'."


# ---- integrity and verification ----------------------------------------------------------------------


class AuditIntegrityError(RetentionAgentError):
    error_id = "audit-integrity"
    exit_code = EXIT_INTEGRITY
    message = "The audit log does not verify: {finding}"
    hint = "Treat this as a security incident: keep the home as it is and inform the privacy officer and DPO."


class SignatureInvalidError(RetentionAgentError):
    error_id = "signature-invalid"
    exit_code = EXIT_INTEGRITY
    message = "The signature of {file} does not verify: {finding}"
    hint = "The document was changed or signed by another key; ask the sender for the original."
    translated_params = ("finding",)


class DocumentInvalidError(RetentionAgentError):
    error_id = "document-invalid"
    exit_code = EXIT_INTEGRITY
    message = "{file} is not a valid {kind}: {finding}"
    hint = "Ask the sender for the original file."
    translated_params = ("kind", "expected", "finding")


class FormatVersionError(RetentionAgentError):
    error_id = "format-newer"
    exit_code = EXIT_INTEGRITY
    message = "{file} uses format version {found}; this retention-agent reads up to version {known}."
    hint = "Install a newer retention-agent to read it."


# ---- intake problems (shown in status; a watcher keeps running and retries) ----------------------------


class IntakeProblem(RetentionAgentError):  # noqa: N818 - a reported condition, not raised
    """Problems a drop-folder or mailbox watcher reports in ``status``; it keeps running and retries."""

    error_id = "intake-problem"
    message = "Intake from {source} has a problem: {error}."
    hint = "See 'retention-agent status'; the file or message stays where it is until it can be taken."


class IntakeDeliverFailed(IntakeProblem):
    error_id = "intake-deliver-failed"
    message = "A file in {source} could not be stored in the vault; it stays in the folder."
    hint = "See the agent's log for the cause (disk space, key store); the agent retries by itself."


class IntakeSourceChanged(IntakeProblem):
    error_id = "intake-source-changed"
    message = "A file in {source} changed while it was being taken; it will be taken again when it is stable."
    hint = "Nothing to do, unless a program keeps writing to the file."


class IntakeRemoveFailed(IntakeProblem):
    error_id = "intake-remove-failed"
    message = "A file in {source} is safely in the vault but could not be removed from the folder yet."
    hint = "Close the program that holds the file; the agent removes it at its next attempt."


class IntakeFolderUnavailable(IntakeProblem):
    error_id = "intake-folder-unavailable"
    message = "The drop folder {source} cannot be read or watched."
    hint = "Check that the folder exists and that the agent's account may read and write it."


class IntakeObserverRestarted(IntakeProblem):
    error_id = "intake-observer-restarted"
    message = "Watching the drop folder {source} stopped and was restarted; a full scan was made."
    hint = "Nothing to do; if it repeats, set polling = true for this folder (network shares)."


class IntakeObserverPolling(IntakeProblem):
    error_id = "intake-observer-polling"
    message = "File events are not available for {source}; the folder is polled instead."
    hint = "Nothing to do; raise the inotify watch limit to get events back (fs.inotify.max_user_watches)."


class IntakeInternal(IntakeProblem):
    error_id = "intake-internal"
    message = "An unexpected error occurred while taking files from {source}; intake keeps running."
    hint = "Report the agent's log to the supplier."


class FolderSwapped(IntakeProblem):
    error_id = "folder-swapped"
    message = ("The drop folder {source} was replaced after the agent opened it (renamed away, or a link put in its "
               "place); no file is taken from it any more.")
    hint = ("Find out who changed it (audit log: intake.refused), put the real folder back at its path and restart "
            "the agent. The agent never follows the new path.")


class FolderLinkInPath(IntakeProblem):
    error_id = "folder-link-in-path"
    message = "The drop folder {source} is reached through a symbolic link (or junction), or is not a folder."
    hint = "Configure the real path of the folder, without links, in inbox.path."


class FolderInsideHome(IntakeProblem):
    error_id = "folder-inside-home"
    message = "The drop folder {source} lies inside the agent's home or its key store; it is not watched."
    hint = "Choose a drop folder outside the agent's home and key store."


class FolderUnsafeParent(IntakeProblem):
    error_id = "folder-unsafe-parent"
    message = ("A folder above the drop folder {source} may be changed by other accounts than root, the agent's "
               "and the drop folder's owner; the drop folder is not watched.")
    hint = "Take their write access away from that folder, or set its sticky bit (chmod +t); no restart is needed."


class SourceHardLink(IntakeProblem):
    error_id = "source-hard-link"
    message = "A file in {source} has more than one name (a hard link); it stays where it is."
    hint = "Put a copy of the file in the drop folder, not a link to it."


class SourceSparse(IntakeProblem):
    error_id = "source-sparse"
    message = "A file in {source} is sparse (mostly holes); it stays where it is."
    hint = "Find out where it came from and remove it; a real delivery is never sparse."


class SourceOwnedByAgent(IntakeProblem):
    error_id = "source-owned-by-agent"
    message = "A file in {source} belongs to the agent's own account; it stays where it is."
    hint = "Find out how it got there (nobody but the agent should own files as that account) and remove it."


class SourceTooLarge(IntakeProblem):
    error_id = "source-too-large"
    message = "A file in {source} is larger than intake.max_file_bytes; it stays where it is."
    hint = "Take it in with 'retention-agent ingest', or raise intake.max_file_bytes."


class SourceNotOverwritten(IntakeProblem):
    error_id = "source-not-overwritten"
    message = ("A plaintext file from {source} was removed without being overwritten first ({why}); its bytes may "
               "remain on that disk, and the proof of deletion will say so.")
    hint = ("Let the agent's account write the files of the drop folder (a default ACL), or keep the folder on a "
            "disk with full-disk encryption.")


class MailTooManyFiles(IntakeProblem):
    error_id = "mail-too-many-files"
    message = "A message in {source} had more files than intake.max_files_per_message; it was quarantined whole."
    hint = "Check the quarantined delivery; release it or purge it as quarantined."


class MailNotAuthenticated(IntakeProblem):
    error_id = "mail-not-authenticated"
    message = "The mail server did not vouch that a message in {source} came from AgII; its files were quarantined."
    hint = ("Check the quarantined deliveries. If genuine mail is quarantined, check authserv_id and agii_domain "
            "(docs/administrator.md).")


class ImapAuthFailed(IntakeProblem):
    error_id = "imap-auth"
    message = "The mailbox {source} refused the user name or password (or token)."
    hint = "Store the right secret with the key store entry secret/mailbox-{source}; messages stay on the server."


class ImapTlsFailed(IntakeProblem):
    error_id = "imap-tls"
    message = "The secure connection to the mailbox {source} failed (certificate or TLS)."
    hint = "Check the server name and certificate; set ca_file for an in-house certificate authority."


class ImapConnectFailed(IntakeProblem):
    error_id = "imap-connect"
    message = "The mailbox server of {source} cannot be reached."
    hint = "Check the network and the host and port in the configuration; the agent retries with back-off."


class ImapConnectionLost(IntakeProblem):
    error_id = "imap-connection-lost"
    message = "The connection to the mailbox {source} was lost; the work resumes at the next attempt."
    hint = "Nothing to do if it does not repeat."


class ImapServerError(IntakeProblem):
    error_id = "imap-server"
    message = "The mailbox server of {source} answered with an error."
    hint = "Check the folder name and the server's state; the agent retries with back-off."


class ImapSecretMissing(IntakeProblem):
    error_id = "imap-secret-missing"
    message = "There is no password or token for the mailbox {source} in the key store."
    hint = "Store it in the key store under secret/mailbox-{source}."


class ImapDeliverFailed(IntakeProblem):
    error_id = "imap-deliver"
    message = "An attachment from the mailbox {source} could not be stored; the message stays on the server."
    hint = "See the agent's log (disk space, key store); the agent retries."


class ImapMessageTooLarge(IntakeProblem):
    error_id = "imap-message-too-large"
    message = "A message in the mailbox {source} is larger than the configured limit and was left there."
    hint = "Handle that message by hand (save the attachment and run 'retention-agent ingest')."


class ImapNoAttachments(IntakeProblem):
    error_id = "imap-no-attachments"
    message = "A matching message in the mailbox {source} had no attachment; it was left there."
    hint = "Check the message by hand; it may be a notification without data."


class ImapOAuthRefused(IntakeProblem):
    error_id = "imap-oauth-refused"
    message = "The mailbox server of {source} refused the OAuth2 access token the agent obtained."
    hint = ("The application may not open this mailbox: in Exchange Online, check New-ServicePrincipal for the "
            "application and Add-MailboxPermission on the mailbox (docs/administrator.md); the agent retries.")


class OAuthCredentialRefused(IntakeProblem):
    error_id = "oauth-credential-refused"
    message = ("The identity provider refused the credentials of the mailbox {source} (client secret, certificate "
               "or application).")
    hint = ("Check the app registration in Entra ID: the certificate uploaded there must be the one in "
            "certificate_path, or store the current client secret with 'retention-agent secret set mailbox-{source}'; "
            "a revoked or expired credential must be replaced. The agent retries with back-off.")


class OAuthSignInRequired(IntakeProblem):
    error_id = "oauth-signin-required"
    message = "The mailbox {source} needs someone to sign in (no refresh token, or it expired or was revoked)."
    hint = "Run 'retention-agent mailbox signin {source}' and sign in with the mailbox's account."


class OAuthCertificateUnreadable(IntakeProblem):
    error_id = "oauth-certificate-unreadable"
    message = "The certificate file of the mailbox {source} cannot be used."
    hint = ("certificate_path must be a PEM file with the unencrypted private key and the certificate, readable by "
            "the agent's account and by no other account (chmod 600), not a link.")


class OAuthConfigurationError(IntakeProblem):
    error_id = "oauth-configuration"
    message = "The identity provider does not know the tenant configured for the mailbox {source}."
    hint = "Check tenant (the tenant's id or its onmicrosoft.com domain) and authority_host in the configuration."


class OAuthAuthorityUnreachable(IntakeProblem):
    error_id = "oauth-authority-unreachable"
    message = "The identity provider of the mailbox {source} cannot be reached (network, TLS or a server error)."
    hint = ("Check the connection to login.microsoftonline.com (a proxy, a firewall, ca_file for a TLS-inspecting "
            "proxy); the agent retries with back-off and messages stay on the server.")


class GraphConnectFailed(IntakeProblem):
    error_id = "graph-connect"
    message = "Microsoft Graph cannot be reached for the mailbox {source} (network or TLS)."
    hint = "Check the connection to graph.microsoft.com (a proxy, a firewall, ca_file); the agent retries."


class GraphAccessDenied(IntakeProblem):
    error_id = "graph-access-denied"
    message = "Microsoft Graph refused the agent access to the mailbox {source}."
    hint = ("Check that username is the mailbox's address, the application permission Mail.ReadWrite (with admin "
            "consent) and the application access policy that limits it to this mailbox (docs/administrator.md); "
            "the agent retries.")


class GraphServerError(IntakeProblem):
    error_id = "graph-server"
    message = "Microsoft Graph answered with an error for the mailbox {source} (or asked to slow down)."
    hint = "Nothing to do if it does not repeat: the agent retries with back-off; messages stay on the server."


class MailCopiesIncomplete(IntakeProblem):
    error_id = "mail-copies-incomplete"
    message = "The search for other copies of a taken message in the mailbox {source} could not finish."
    hint = "Nothing to do if it does not repeat: the agent searches again at its next cycle (see status)."


class ImapUnexpected(IntakeProblem):
    error_id = "imap-unexpected"
    message = "An unexpected error occurred with the mailbox {source}; intake keeps running."
    hint = "Report the agent's log to the supplier."


def catalogue() -> list[type[RetentionAgentError]]:
    """Every error class, in definition order (for documentation and the translation test)."""
    found: list[type[RetentionAgentError]] = []
    stack: list[type[RetentionAgentError]] = [RetentionAgentError]
    while stack:
        cls = stack.pop(0)
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return found


def by_id(error_id: str) -> type[RetentionAgentError]:
    for cls in catalogue():
        if cls.error_id == error_id:
            return cls
    return RetentionAgentError


# ---- signing in to a mailbox (delegated OAuth2) ----------------------------------------------------------


class MailboxNotDelegatedError(RetentionAgentError):
    error_id = "mailbox-not-delegated"
    message = "There is no mailbox {mailbox} with auth = \"oauth2-delegated\" in the configuration."
    hint = "Only a delegated mailbox needs someone to sign in; see 'retention-agent status' for the mailboxes."


class MailboxSignInFailedError(RetentionAgentError):
    error_id = "mailbox-signin-failed"
    message = "Signing in for the mailbox {mailbox} did not succeed ({reason})."
    hint = ("Run 'retention-agent mailbox signin {mailbox}' again, open the page it shows and type the code within "
            "15 minutes, signing in with the mailbox's account.")


# ---- status, reports and proofs for the privacy officer and the DPO -------------------------------------


class ReportPeriodError(RetentionAgentError):
    error_id = "report-period"
    exit_code = EXIT_USAGE
    message = "{period} is not a report period: {problem}"
    hint = "Write the period as YYYY-MM (a month) or YYYY-Qn (a quarter), for example 2026-10 or 2026-Q4."


class ReportOrderError(RetentionAgentError):
    error_id = "report-order"
    message = "The report for {period} cannot be made: {problem}"
    hint = "Reports are made in order, each continuing from the previous one; see 'retention-agent status'."


class ReportPersonalDataError(RetentionAgentError):
    error_id = "report-personal-data"
    exit_code = EXIT_INTEGRITY
    message = "The report for {period} was not signed: it may hold personal data at {where}."
    hint = "Nothing was written. Report this to the supplier with the agent's log."


class ReportNotSentError(RetentionAgentError):
    error_id = "report-not-sent"
    message = "The report for {period} was not sent: {problem}"
    hint = ("It stays queued in the agent's home and is retried automatically; check the [smtp] settings "
            "and the password ('retention-agent secret set smtp'), and see 'retention-agent status'.")


class ProofNotFoundError(RetentionAgentError):
    error_id = "proof-unknown"
    message = "There is no proof of deletion for {delivery}."
    hint = "See 'retention-agent proof list' for the deliveries that were purged."


# ---- service installation and the notifier -----------------------------------------------------------


class InboxMissingError(RetentionAgentError):
    error_id = "inbox-missing"
    message = "The drop folder {folder} does not exist, or this account cannot reach it; nothing was created."
    hint = ("Create the folder first (mkdir \"{folder}\"), then run the same command again; 'service install "
            "--mode shared' gives the service account access to it.")


class HomeNotEmptyError(RetentionAgentError):
    error_id = "home-not-empty"
    message = "{home} exists and is not empty; a new home needs a new or an empty folder."
    hint = "Choose another --home, or move the files in that folder elsewhere first."


class ServiceInstallError(RetentionAgentError):
    """``installer.steps.InstallError`` in the catalogue: a command of the installation failed."""

    error_id = "service-step-failed"
    message = "The installation step '{command}' failed with exit code {code}: {output}"
    hint = "Nothing after this step was done. Fix the cause, then run the same 'retention-agent service' command again."


class ServiceUninstallRefusedError(RetentionAgentError):
    """``installer.steps.UninstallRefusedError`` before any purge: the vault still holds deliveries."""

    error_id = "uninstall-refused"
    message = "The vault still holds {count} deliveries with personal data; nothing was uninstalled."
    hint = ("Purge them first, with deletion proofs (--purge), or keep the home for a later installation "
            "(--keep-home).")


class ServiceUninstallIncompleteError(RetentionAgentError):
    """``installer.steps.UninstallRefusedError`` after the purge: some deliveries could not be purged."""

    error_id = "uninstall-purge-incomplete"
    message = ("After the purge {count} deliveries are still in the vault (a legal hold is never lifted by an "
               "uninstallation); nothing was uninstalled.")
    hint = ("See 'retention-agent deliveries': end the holds with 'retention-agent release ID' or wait for "
            "them to end, then try again.")


class ServiceAdminRequiredError(RetentionAgentError):
    error_id = "service-admin-required"
    message = "Installing or removing the shared-mode service needs administrator rights."
    hint = "Run the command again as root ('sudo retention-agent …') or from an administrator prompt."


class ServiceExecutableError(RetentionAgentError):
    error_id = "service-executable"
    message = "The service account {account} cannot run {executable}."
    hint = ("Install retention-agent where every account can run it, with the system's Python: "
            "'/usr/bin/python3 -m venv /opt/retention-agent', then install the release's wheel into it "
            "(docs/administrator.md), and run that copy's 'service install'.")


class ServiceInitOptionsError(RetentionAgentError):
    error_id = "service-init-options"
    exit_code = EXIT_USAGE
    message = "There is no home at {home} yet, so the installation creates one, and that needs {missing}."
    hint = "Add --municipality NAME and --officer ACCOUNT (the account of the local privacy officer)."


class PurgeAllConfirmationError(RetentionAgentError):
    error_id = "purge-all-unconfirmed"
    exit_code = EXIT_USAGE
    message = "Purging all {count} deliveries before uninstalling is irreversible and was not confirmed."
    hint = "Type the number of deliveries when asked, or add --yes in a script; nothing was changed."


# ---- files a client writes for its caller (exports) --------------------------------------------------------


class ExportWriteError(RetentionAgentError):
    error_id = "export-write"
    message = "Cannot write in {folder}: {problem}"
    hint = "Choose a folder your account may write in, where these files do not exist yet; nothing was overwritten."


class AppUnavailableError(RetentionAgentError):
    error_id = "app-unavailable"
    message = "The desktop app cannot start: {problem}"
    hint = ("Install it with pip install \"retention-agent[app]\" (on Linux also Qt's xcb libraries, see "
            "docs/administrator.md), or use the command line.")
