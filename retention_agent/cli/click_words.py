"""The command line in the user's language: click's own words (usage, errors, help headings) and the
commands' help texts.

Click marks its messages ("Missing option", "No such option", "Usage:", …) with the standard library's
``gettext``, which would need a compiled ``.mo`` file in the global text domain; we read ``locale/nl.po``
directly, so :func:`install` points click's ``_`` and ``ngettext`` at our catalogue instead. The commands'
docstrings and ``help=`` texts stay English in the code (``docs/commands.md`` is generated from them);
:class:`TranslatedCommand` and :class:`TranslatedGroup` show them translated when help is printed.
``scripts/messages.py`` collects them, so ``tests/unit/test_i18n.py`` fails on one without Dutch.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from functools import cache
from typing import Any, TypeVar

import click

from retention_agent.i18n.catalogue import catalogue, current_language, plural_forms, translate
from retention_agent.i18n.msgids import N_

# the click modules whose messages a person can see (shell completion and the Windows console are not used)
CLICK_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "termui", "types", "utils")

# the metavar click derives from a parameter's type ("--limit INTEGER"), in words
TYPE_METAVARS = {"text": N_("TEXT"), "integer": N_("INTEGER"), "float": N_("NUMBER"), "path": N_("PATH"),
                 "directory": N_("FOLDER"), "file": N_("FILE"), "filename": N_("FILE"), "boolean": N_("BOOLEAN"),
                 "datetime": N_("DATE")}
# the placeholder of an argument in usage lines and errors ("open [OPTIONS] DELIVERY"), by parameter name
ARGUMENT_METAVARS = {"account": N_("ACCOUNT"), "deliveries": N_("DELIVERIES"), "delivery": N_("DELIVERY"),
                     "delivery_id": N_("DELIVERY"), "file": N_("FILE"), "folder": N_("FOLDER"), "item": N_("ITEM"),
                     "name": N_("NAME"), "paths": N_("FILES")}
USAGE_WORDS = (N_("[OPTIONS]"), N_("COMMAND [ARGS]..."), N_("required"))  # click's, not marked by click
PROMPTS = (N_("Value"),)  # what click asks for an option with prompt=True (from its name)


def source_of(text: str) -> str:
    """The English source of a text click made in Dutch when the commands were defined (the help of
    ``--version``, the name of a path type: made before ``--lang`` is read), so that it is translated again
    when shown; any other text as it is."""
    return _english_of_dutch().get(text, text)


@cache
def _english_of_dutch() -> dict[str, str]:
    return {dutch: english for english, dutch in catalogue("nl").items()}


def _gettext(message: str) -> str:
    return translate(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    if plural in plural_forms(current_language()):
        return translate(plural, count=n)
    return translate(singular if n == 1 else plural)


def install() -> None:
    """Let click's own messages follow the language of :mod:`retention_agent.i18n.catalogue` (chosen per call)."""
    for name in CLICK_MODULES:
        module = importlib.import_module(f"click.{name}")
        if hasattr(module, "_"):
            module._ = _gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = _ngettext  # type: ignore[attr-defined]


def help_text(command: click.Command) -> str:
    """A command's docstring as click shows it, in the current language."""
    return translate(inspect.cleandoc(command.help)) if command.help else ""


CommandT = TypeVar("CommandT", bound=click.Command)


def in_language(command: CommandT) -> CommandT:
    """A copy of ``command`` whose help and usage words are in the current language (its parameters are, as
    ``get_params`` gives them)."""
    shown = copy.copy(command)
    shown.help = help_text(command) or None
    if command.short_help:
        shown.short_help = translate(command.short_help)
    if shown.options_metavar:
        shown.options_metavar = translate(shown.options_metavar)
    if isinstance(shown, click.Group) and shown.subcommand_metavar:
        shown.subcommand_metavar = translate(shown.subcommand_metavar)
    return shown


def _param_in_language(param: click.Parameter) -> click.Parameter:
    shown = copy.copy(param)
    help_ = getattr(param, "help", None)
    if help_:
        shown.help = translate(source_of(help_))
    if isinstance(param, click.Option) and isinstance(param.prompt, str):
        shown.prompt = translate(param.prompt)  # type: ignore[attr-defined]
    if param.metavar is not None:  # "DELIVERY", when the parameter's own name is another
        shown.metavar = translate(param.metavar)
        return shown
    if isinstance(param, click.Argument) and param.name in ARGUMENT_METAVARS:
        metavar = translate(ARGUMENT_METAVARS[param.name])
        metavar = metavar if param.required else f"[{metavar}]"
        shown.metavar = metavar if param.nargs == 1 else metavar + "..."
    type_metavar = TYPE_METAVARS.get(source_of(getattr(param.type, "name", "")))
    if isinstance(param, click.Option) and type_metavar and not param.is_flag:
        shown.metavar = translate(type_metavar)
    return shown


def _params_in_language(command: click.Command, params: list[click.Parameter]) -> list[click.Parameter]:
    """The parameters as shown in the current language: the same copies for every call in one language, as
    click finds a parameter of its parser again among them (eager ones first, in the order typed)."""
    cache: dict[tuple[str, tuple[int, ...]], list[click.Parameter]] = command.__dict__.setdefault("_shown", {})
    key = (current_language(), tuple(map(id, params)))
    if key not in cache:
        cache[key] = [_param_in_language(param) for param in params]
    return cache[key]


class TranslatedCommand(click.Command):
    """A command whose ``--help``, usage line and entry in its group's list are in the current language (each
    shown from a translated copy, by the click class after this one: ``Command``, or ``Group`` for a group)."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return _params_in_language(self, super().get_params(ctx))

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super(TranslatedCommand, in_language(self)).format_help(ctx, formatter)

    def get_usage(self, ctx: click.Context) -> str:
        return super(TranslatedCommand, in_language(self)).get_usage(ctx)

    def get_short_help_str(self, limit: int = 45) -> str:
        return super(TranslatedCommand, in_language(self)).get_short_help_str(limit)


class TranslatedGroup(TranslatedCommand, click.Group):
    """A group of translated commands (and translated subgroups), translated itself."""

    command_class = TranslatedCommand
    group_class: Any = type  # subgroups are of this group's class
