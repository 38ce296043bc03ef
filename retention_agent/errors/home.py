"""Errors of the configuration, the agent's home and reaching the running agent."""

from __future__ import annotations

from retention_agent.errors.base import EXIT_INTEGRITY, EXIT_USAGE, RetentionAgentError


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
