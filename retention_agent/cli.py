"""The ``retention-agent`` command: parses arguments, calls the agent's local API, renders the answer.

Every command's docstring carries an example; ``docs/commands.md`` is generated from them and a test
fails when a command is undocumented. Exit codes: 0 ok, 1 error, 2 usage, 3 access denied,
4 integrity or verification failure.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from retention_agent import i18n
from retention_agent.api.client import Client
from retention_agent.errors import EXIT_INTEGRITY, RetentionAgentError
from retention_agent.home import Home, resolve_home
from retention_agent.terminal import safe, safe_json

F = TypeVar("F", bound=Callable[..., Any])


class State:
    def __init__(self, home: Home) -> None:
        self.home = home

    def client(self) -> Client:
        return Client(self.home.socket)

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        with self.client() as client:
            return client.call(op, args)

    def all_pages(self, op: str, key: str, args: dict[str, Any] | None = None) -> list[Any]:
        with self.client() as client:
            return list(client.pages(op, key, args))


def handle_errors(fn: F) -> F:
    """Turn the catalogue's errors into one clear message on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RetentionAgentError as exc:
            click.echo(f"retention-agent: {exc.render(i18n.current_language())}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def emit_json(value: Any) -> None:
    click.echo(safe_json(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print aligned columns; every cell is shown with its control characters escaped (terminal.safe)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else safe(str(c)) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


pass_state = click.make_pass_decorator(State)


# command -> the module under cli_commands that defines it; imported only when the command is used, so that
# ``retention-agent status`` does not pay for the PDF, installer and notifier code (CLI round trip < 150 ms).
COMMAND_MODULES = {
    "init": "admin", "run": "admin", "demo": "admin", "staff": "admin", "audit": "admin", "keys": "admin",
    "whoami": "admin", "ingest": "vault", "deliveries": "vault", "open": "vault", "vault": "vault",
    "ceremony": "retention", "hold": "retention", "release": "retention", "purge": "retention",
    "quarantine": "retention",
    "status": "reports", "checklist": "reports", "report": "reports", "proof": "reports", "dpo": "reports",
    "service": "service", "notifier": "notifier", "secret": "secrets", "mailbox": "secrets", "delivery": "copies",
    "copies": "copies",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (click's documented lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module and cmd_name not in self.commands:
            importlib.import_module(f"retention_agent.cli_commands.{module}")
        return self.commands.get(cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False, readable=False, path_type=Path), default=None,
              help="The agent's home (default: $RETENTION_AGENT_HOME or the platform's data folder).")
@click.option("--lang", type=click.Choice(i18n.LANGUAGES), default=None,
              help="Language of messages: nl (default) or en; also $RETENTION_AGENT_LANG.")
@click.version_option(package_name="retention-agent")
@click.pass_context
def main(ctx: click.Context, home: Path | None, lang: str | None) -> None:
    """retention-agent keeps AgII civic-integration deliveries in an encrypted vault, lets named staff
    open them for a stated purpose, and purges them one month after the ceremony with a signed proof.

    Example: retention-agent status
    """
    i18n.set_language(lang)
    ctx.obj = State(resolve_home(home))


def register_commands() -> None:
    """Import every command module (documentation generation walks the whole tree)."""
    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"retention_agent.cli_commands.{module}")


def die_integrity(message: str) -> None:
    click.echo(f"retention-agent: {message}", err=True)
    sys.exit(EXIT_INTEGRITY)
