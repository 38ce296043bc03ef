"""Problems intake reports (drop folders, mailboxes) and errors of signing in to a mailbox."""

from __future__ import annotations

from retention_agent.errors.base import RetentionAgentError


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
