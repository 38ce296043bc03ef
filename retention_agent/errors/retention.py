"""Errors of retention decisions: ceremony dates, early destruction, confirmations and purges."""

from __future__ import annotations

from retention_agent.errors.base import EXIT_USAGE, RetentionAgentError


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
