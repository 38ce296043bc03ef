"""Errors of the key store that holds the vault's keys."""

from __future__ import annotations

from retention_agent.errors.base import RetentionAgentError


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
