"""Adding a file to the vault from the caller's own session: sent to the agent, then removed with the caller's rights.

The command line's ``ingest`` and the desktop app's "add a file" both go through :func:`ingest_one`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from retention_agent.api.protocol import DATA_CHUNK
from retention_agent.errors import ProtocolError, SourceRefusedError, SourceUnreadableError
from retention_agent.i18n import os_errors
from retention_agent.i18n.catalogue import t, translate
from retention_agent.i18n.msgids import N_
from retention_agent.session import source_removal
from retention_agent.session.state import State

READ_BLOCK = DATA_CHUNK  # one data frame per block read


def ingest_one(state: State, path: Path) -> dict[str, Any]:
    """Send one file to the agent, then remove it — overwritten first, or the delivery records why not.
    The desktop app's session is a ``State`` too."""
    before = _lstat_regular(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise SourceUnreadableError(file=str(path), problem=os_errors.describe(exc)) from exc
    with os.fdopen(fd, "rb") as source:
        opened = os.fstat(source.fileno())
        if (opened.st_dev, opened.st_ino) != (before.st_dev, before.st_ino):
            raise SourceRefusedError(file=str(path), why=t("it was replaced while being read"))
        with state.client() as client:
            try:
                result = client.upload("ingest", {}, _blocks(source, path))
            except OSError as exc:  # the agent went away while the file was being sent
                raise ProtocolError(problem=N_("the agent closed the connection")) from exc
            result = dict(result)

            def record(why: str) -> None:
                client.call("ingest.source", {"delivery": result["delivery"], "why": why})

            removal = source_removal.remove(path, source, opened, record)
    result["removed"], result["kept_because"], result["not_overwritten"] = removal
    return result


def _lstat_regular(path: Path) -> os.stat_result:
    try:
        info = path.lstat()
    except OSError as exc:
        raise SourceUnreadableError(file=str(path), problem=os_errors.describe(exc)) from exc
    if stat.S_ISLNK(info.st_mode):
        raise SourceRefusedError(file=str(path), why=t("it is a symbolic link; give the file itself"))
    if stat.S_ISDIR(info.st_mode):
        raise SourceRefusedError(file=str(path), why=t("it is a folder; give the files in it"))
    if not stat.S_ISREG(info.st_mode):
        raise SourceRefusedError(file=str(path), why=t("it is not a regular file"))
    return info


def _blocks(source: BinaryIO, path: Path) -> Iterator[bytes]:
    while True:
        try:
            block = source.read(READ_BLOCK)
        except OSError as exc:  # raised inside the upload: the agent sees no end and discards what it got
            raise SourceUnreadableError(file=str(path), problem=os_errors.describe(exc)) from exc
        if not block:
            return
        yield block


# why a source was kept, or removed without being overwritten (codes of source_removal and wipe), in words
SOURCE_REASONS = {
    "not-recorded": N_("the agent could not note that it was not overwritten"),
    "no-write-permission": N_("your account may not write it"),
    "read-only-file-system": N_("the disk can only be read"),
    "hard-link": N_("the file has other names (hard links) that keep its bytes"),
    "write-failed": N_("writing over it failed"),
}


def _reason(code: str) -> str:
    return translate(SOURCE_REASONS[code]) if code in SOURCE_REASONS else os_errors.describe(code)


def ingest_message(path: Path, result: dict[str, Any]) -> str:
    """What became of one file, in the user's language (the command line and the desktop app say the same)."""
    said = _source_message(path, result)
    if result.get("quarantined"):
        said += " " + t("It does not look like an AgII delivery, so it is in quarantine: the privacy officer "
                        "decides what happens to it.")
    return said


def _source_message(path: Path, result: dict[str, Any]) -> str:
    values = {"file": path, "id": result["delivery"], "problem": _reason(result.get("kept_because", "")),
              "why": _reason(result.get("not_overwritten", ""))}
    if not result["removed"] and result["kept_because"] == "changed":
        return t("{file}: in the vault as {id}; the file changed meanwhile and was kept.", **values)
    if not result["removed"]:
        return t("{file}: in the vault as {id}; the source could not be removed ({problem}): "
                 "delete it yourself, or ask whoever manages that folder.", **values)
    if result["not_overwritten"]:
        return t("{file}: in the vault as {id}; the source was removed but could not be overwritten first "
                 "({why}): its bytes may remain on that disk, and the proof of deletion will say so.", **values)
    if result["duplicate"]:
        return t("{file}: already in the vault as {id}; the source was removed.", **values)
    return t("{file}: in the vault as {id}; the source was removed.", **values)
