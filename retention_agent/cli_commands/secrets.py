"""The ``secret`` command: give the agent a mailbox or SMTP credential for its key store."""

from __future__ import annotations

import click

from retention_agent.cli import State, handle_errors, main, pass_state
from retention_agent.i18n import t


@main.group()
def secret() -> None:
    """Credentials the agent uses, kept in its key store (officer only).

    Example: retention-agent secret set mailbox-agii
    """


@secret.command("set")
@click.argument("name")
@click.option("--value", prompt=True, hide_input=True, help="The password or token (asked for when left out).")
@pass_state
@handle_errors
def secret_set(state: State, name: str, value: str) -> None:
    """Store a mailbox password or OAuth2 token (mailbox-NAME) or the SMTP password (smtp).

    Example: retention-agent secret set mailbox-agii
    """
    state.call("secret.set", {"name": name, "value": value})
    click.echo(t("The secret {name} is stored in the agent's key store.", name=name))
