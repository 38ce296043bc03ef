"""Errors of installing and uninstalling the service, and of the notifier."""

from __future__ import annotations

from retention_agent.errors.base import EXIT_USAGE, RetentionAgentError


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
