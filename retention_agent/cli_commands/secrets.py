"""The ``secret`` command: give the agent a mailbox or SMTP credential for its key store.

The value is read from a hidden prompt, or from standard input when that is not a terminal (a script, a
password manager's pipe); never from the command line, where every account on the machine could read it
in the process list.
"""

from __future__ import annotations

import sys

import click

from retention_agent.cli import State, handle_errors, main, pass_state
from retention_agent.errors import UsageError
from retention_agent.i18n import t

MAX_SECRET = 8192  # what the agent accepts


@main.group()
def secret() -> None:
    """Credentials the agent uses, kept in its key store (officer only).

    Example: retention-agent secret set mailbox-agii
    """


@secret.command("set")
@click.argument("name")
@pass_state
@handle_errors
def secret_set(state: State, name: str) -> None:
    """Store a mailbox password or OAuth2 token (mailbox-NAME) or the SMTP password (smtp). The value is
    asked for without showing it, or read from standard input (one line) when that is not a terminal, as in
    'pass show agii-imap | retention-agent secret set mailbox-agii'; never from the command line.

    Example: retention-agent secret set mailbox-agii
    """
    value = read_secret()
    state.call("secret.set", {"name": name, "value": value})
    click.echo(t("The secret {name} is stored in the agent's key store.", name=name))


def read_secret() -> str:
    if sys.stdin.isatty():
        value = str(click.prompt(t("Password or token"), hide_input=True, confirmation_prompt=True))
    else:
        value = sys.stdin.read(MAX_SECRET + 2)
        value = value.removesuffix("\n").removesuffix("\r")
        if len(value) > MAX_SECRET or "\n" in value:
            raise UsageError(problem=f"the secret on standard input must be one line of at most {MAX_SECRET} "
                                     "characters", command="secret set")
    if not value:
        raise UsageError(problem="no secret given: type it when asked, or pipe it to standard input",
                         command="secret set")
    return value
