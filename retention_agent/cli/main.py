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

from retention_agent.cli.click_words import TranslatedGroup, install
from retention_agent.errors import EXIT_INTEGRITY, AgentUnreachableError, RetentionAgentError
from retention_agent.i18n import catalogue as i18n
from retention_agent.i18n.safe_text import safe, safe_json
from retention_agent.session.state import State
from retention_agent.system.home import describe_origin, resolve_home

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn the catalogue's errors into one clear message on stderr and the documented exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RetentionAgentError as exc:
            click.echo(f"retention-agent: {exc.render(i18n.current_language())}", err=True)
            if isinstance(exc, AgentUnreachableError):
                _say_where_the_agent_was_looked_for()
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


def _say_where_the_agent_was_looked_for() -> None:
    context = click.get_current_context(silent=True)
    state = context.find_object(State) if context is not None else None
    home = state.known_home() if state is not None else None
    if home is not None:
        click.echo(i18n.t("The agent was looked for in {home} ({origin}).", home=home.root,
                          origin=describe_origin(home)), err=True)


def echo_agent(state: State) -> None:
    """Which agent answered: its home, and how this command found it."""
    click.echo(i18n.t("Agent: {home} ({origin})", home=state.home.root, origin=describe_origin(state.home)))


def emit_json(value: Any) -> None:
    click.echo(safe_json(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print aligned columns; every cell as people read it (dates in local time) and with its control characters
    escaped (terminal.safe)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else safe(str(i18n.for_people(c))) for c in row]
                                           for row in rows]
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
    "service": "service", "notifier": "notifier", "secret": "secrets", "mailbox": "secrets", "app": "app",
    "delivery": "copies",
    "copies": "copies",
}


install()  # click's own messages ("Missing option", "Usage:") in the user's language


class LazyGroup(TranslatedGroup):
    """A group whose commands are imported on first use (click's documented lazy-loading pattern)."""

    group_class = TranslatedGroup

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module and cmd_name not in self.commands:
            importlib.import_module(f"retention_agent.cli.commands.{module}")
        return self.commands.get(cmd_name)


def _choose_language(lang: str | None) -> str | None:
    """``--lang`` is eager: typed before ``--help`` or a mistake, the help or the error is in that language."""
    i18n.set_language(lang)
    return lang


# Commands that make or run an agent in a home of the caller's own choosing: they never follow the shared-agent
# pointer (root running the agent in the service account's home would leave root-owned files there).
OWN_HOME_COMMANDS = frozenset({"init", "run"})


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False, readable=False, path_type=Path), default=None,
              help="The agent's home (default: $RETENTION_AGENT_HOME, else the shared agent this computer's "
                   "administrator set up, else your own data folder).")
@click.option("--lang", type=click.Choice(i18n.LANGUAGES), default=None, is_eager=True,
              callback=lambda _ctx, _param, lang: _choose_language(lang),
              help="Language of messages: nl (default) or en; also $RETENTION_AGENT_LANG.")
@click.version_option(package_name="retention-agent")
@click.pass_context
def main(ctx: click.Context, home: Path | None, lang: str | None) -> None:
    """retention-agent keeps AgII civic-integration deliveries in an encrypted vault, lets named staff
    open them for a stated purpose, and purges them one month after the ceremony with a signed proof.

    Example: retention-agent status
    """
    i18n.set_language(lang)
    follow_pointer = ctx.invoked_subcommand not in OWN_HOME_COMMANDS
    ctx.obj = State(lambda: resolve_home(home, follow_pointer=follow_pointer))


def register_commands() -> None:
    """Import every command module (documentation generation walks the whole tree)."""
    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"retention_agent.cli.commands.{module}")


def die_integrity(message: str) -> None:
    click.echo(f"retention-agent: {message}", err=True)
    sys.exit(EXIT_INTEGRITY)
