"""The ``secret`` and ``mailbox`` commands: credentials for the agent's key store, and signing in to a mailbox."""

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
    """Store a mailbox password, an OAuth2 client secret (mailbox-NAME) or the SMTP password (smtp).

    Example: retention-agent secret set mailbox-agii
    """
    state.call("secret.set", {"name": name, "value": value})
    click.echo(t("The secret {name} is stored in the agent's key store.", name=name))


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
                 uri=safe_text(started["verification_uri"]), code=safe_text(started["user_code"]), name=name))
    click.echo(t("Waiting for the sign-in (at most {minutes} minutes)…", minutes=int(started["expires_in"]) // 60))
    while True:
        answer = state.call("mailbox.signin", {"mailbox": name, "step": "poll", "handle": started["handle"]})
        if answer.get("state") == "done":
            break
    click.echo(t("Signed in: the agent now reads the mailbox {name} by itself.", name=name))


def safe_text(value: object) -> str:
    """Text from the identity provider, without control characters (it reaches the terminal)."""
    return "".join(c for c in str(value) if c.isprintable())[:300]
