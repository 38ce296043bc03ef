"""Errors of integrity and verification: the audit log, signatures and stored formats."""

from __future__ import annotations

from retention_agent.errors.base import EXIT_INTEGRITY, RetentionAgentError


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
