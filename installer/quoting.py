"""Escaping for each format the installer writes: systemd values, cmd.exe lines, Windows command lines, XML.

Pure functions; each one says which parser it escapes for, since the rules differ per consumer.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from xml.sax.saxutils import escape as _xml_escape

_SYSTEMD_BARE = re.compile(r"^[A-Za-z0-9_@+=:,./-]+$")
_CMD_BARE = re.compile(r"^[A-Za-z0-9_@+=:,./\\-]+$")


def systemd_word(value: str) -> str:
    """One word of a systemd setting (ExecStart=, ReadWritePaths=): quoted if needed, specifiers neutralised.

    systemd expands ``%`` specifiers and ``$VAR`` in ExecStart= and C-unescapes backslashes, so those are
    doubled; whitespace or anything unusual gets double quotes.
    """
    escaped = value.replace("\\", "\\\\").replace("%", "%%").replace("$", "$$")
    if _SYSTEMD_BARE.match(value):
        return escaped
    return '"' + escaped.replace('"', '\\"') + '"'


def systemd_line(words: Iterable[str]) -> str:
    return " ".join(systemd_word(word) for word in words)


def systemd_text(value: str) -> str:
    """A free-text value such as Description=: only the specifier character needs escaping."""
    return value.replace("%", "%%")


def windows_cmdline(args: Iterable[str]) -> str:
    """A Windows command line as the Microsoft C runtime (and so Python) splits it again: the stdlib's
    ``subprocess.list2cmdline`` implements exactly those rules."""
    return subprocess.list2cmdline(list(args))


def cmd_word(value: str) -> str:
    """One word of a line in a .cmd script: quoted so that ``& | < > ^ ( )`` stay literal.

    ``%`` is refused by parameter validation (cmd.exe expands it even inside quotes), ``!`` is literal because
    the scripts run with delayed expansion disabled.
    """
    if _CMD_BARE.match(value):
        return value
    trailing = len(value) - len(value.rstrip("\\"))
    return '"' + value + "\\" * trailing + '"'


def xml_text(value: str) -> str:
    """Text or attribute content for XML (``& < > "`` escaped)."""
    return _xml_escape(value, {'"': "&quot;"})


def toml_string(value: str) -> str:
    """A TOML basic string: backslash and double quote escaped (control characters are refused earlier)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
def desktop_exec(args: Iterable[str]) -> str:
    """The Exec= key of a .desktop file: each argument that needs it in double quotes, with ``" ` $ \\``
    escaped by a backslash, then every backslash and ``%`` doubled once more for the key's own unescaping."""
    words = []
    for arg in args:
        if re.fullmatch(r"[A-Za-z0-9_@+=:,./-]+", arg):
            words.append(arg)
        else:
            words.append('"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"')
    return " ".join(words).replace("\\", "\\\\").replace("%", "%%")


def shell_word(value: str) -> str:
    """One word of a POSIX shell script, single-quoted unless it is plain."""
    if re.fullmatch(r"[A-Za-z0-9_@+=:,./-]+", value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"
