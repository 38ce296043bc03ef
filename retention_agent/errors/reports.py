"""Errors of status, reports and proofs for the privacy officer and the DPO."""

from __future__ import annotations

from retention_agent.errors.base import EXIT_INTEGRITY, EXIT_USAGE, RetentionAgentError


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
