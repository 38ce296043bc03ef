"""The ``secret`` and ``mailbox`` commands: credentials for the agent's key store, and signing in to a mailbox.

A secret is read from a hidden prompt, or from standard input when that is not a terminal (a script, a
password manager's pipe); never from the command line, where every account on the machine could read it
in the process list.
"""

from __future__ import annotations

import sys

import click

from retention_agent.cli.main import handle_errors, main, pass_state
from retention_agent.errors import UsageError
from retention_agent.i18n.catalogue import t
from retention_agent.i18n.safe_text import safe
from retention_agent.session.state import State

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
    """Store a mailbox password, an OAuth2 client secret (mailbox-NAME) or the SMTP password (smtp). The value
    is asked for without showing it, or read from standard input (one line) when that is not a terminal, as in
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


@main.group()
def mailbox() -> None:
    """Mailboxes the agent takes AgII's messages from (officer only).

    Example: retention-agent mailbox signin agii
    """


@mailbox.command("signin")
@click.argument("name")
@pass_state
@handle_errors
def mailbox_signin(state: State, name: str) -> None:
    """Sign in once for a mailbox with auth = "oauth2-delegated" (Microsoft's device-code sign-in).

    The agent asks Microsoft for a code; open the page shown, type the code and sign in with the mailbox's
    account. The agent keeps the refresh token in its key store and renews its access by itself from then on.
    Needed again only when the sign-in was revoked or expired (status says so: oauth-signin-required).

    Example: retention-agent mailbox signin agii
    """
    started = state.call("mailbox.signin", {"mailbox": name, "step": "start"})
    click.echo(t("Open {uri} in a browser and type the code {code}. Sign in with the account of the mailbox {name}.",
                 uri=safe_text(started["verification_uri"]), code=safe_text(started["user_code"]),
                 name=safe(name)))
    click.echo(t("Waiting for the sign-in (at most {minutes} minutes)…", minutes=int(started["expires_in"]) // 60))
    while True:
        answer = state.call("mailbox.signin", {"mailbox": name, "step": "poll", "handle": started["handle"]})
        if answer.get("state") == "done":
            break
    click.echo(t("Signed in: the agent now reads the mailbox {name} by itself.", name=safe(name)))


def safe_text(value: object) -> str:
    """Text from the identity provider, shown safely and not too long (it reaches the terminal)."""
    return safe(str(value)[:300])
