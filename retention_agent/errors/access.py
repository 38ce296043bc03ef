"""Errors of who may do what: access decisions, the staff list and command usage."""

from __future__ import annotations

from typing import ClassVar

from retention_agent.errors.base import EXIT_DENIED, EXIT_USAGE, RetentionAgentError, _Lenient
from retention_agent.i18n.msgids import N_


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
        from retention_agent.i18n.actions import ACTION_WORDS, UNKNOWN_ACTION_WORDS
        from retention_agent.i18n.catalogue import people_params, translate

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
