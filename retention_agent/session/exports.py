"""Files a caller takes out of the agent (a proof for the DPO, a report), written by the client itself.

The agent never writes a path that a caller names: it would do so with its own rights, in places the caller
may not write. It answers with the bytes, and the client — the command line or the desktop app, running as
the caller — writes them into the caller's folder with the caller's permissions and umask.

Guarantees of every function here:

- a file is written under a temporary name next to it and renamed into place, so no half file is ever left
  under the real name (a failure removes the temporary file);
- an existing file is never overwritten (one with the very same bytes is left as it is, so exporting twice
  is fine); ``allowed_signers`` is a list of lines, and gains the installation's line only when it lacks it;
- a failure raises :class:`ExportWriteError` naming the folder and the reason.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from retention_agent.api.client import Client
from retention_agent.errors import ExportWriteError
from retention_agent.i18n import os_errors
from retention_agent.i18n.catalogue import t


def write_new(path: Path, data: bytes) -> Path:
    """Write ``data`` to the new file ``path`` (through a temporary file, linked into place so that an existing
    file is never replaced). A file already there with exactly these bytes is kept: exporting twice is fine."""
    temp = path.with_name(f".{path.name}.part")
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            if not _same_content(path, data):
                raise
    except OSError as exc:
        raise ExportWriteError(folder=str(path.parent), problem=_problem(exc, path)) from exc
    finally:
        temp.unlink(missing_ok=True)
    return path


def _same_content(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and not path.is_symlink() and path.read_bytes() == data
    except OSError:
        return False


def add_signer_line(path: Path, line: str) -> Path:
    """Make ``path`` an allowed-signers file that holds ``line``: create it, or append the line if missing."""
    line = line.strip()
    try:
        existing = path.read_text(encoding="utf-8") if path.is_file() else None
    except (OSError, UnicodeError) as exc:
        raise ExportWriteError(folder=str(path.parent), problem=_problem(exc, path)) from exc
    if existing is None:
        return write_new(path, (line + "\n").encode("utf-8"))
    if line in (known.strip() for known in existing.splitlines()):
        return path
    separator = "" if existing.endswith("\n") or not existing else "\n"
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(separator + line + "\n")
    except OSError as exc:
        raise ExportWriteError(folder=str(path.parent), problem=_problem(exc, path)) from exc
    return path


def export_proof(client: Client, delivery: str, folder: Path) -> list[Path]:
    """Fetch a proof of deletion through the API and write it for the DPO into ``folder``: the proof JSON, its
    ``.sig``, its PDF certificate and the ``allowed_signers`` line that verifies it with ``ssh-keygen``."""
    check_folder(folder)
    pdf = io.BytesIO()
    header, _trailer = client.download("proof.export", {"delivery": delivery}, pdf)
    return write_proof(folder, header, pdf.getvalue())


def write_proof(folder: Path, header: dict[str, Any], pdf: bytes) -> list[Path]:
    names = header["files"]
    written = [write_new(folder / _plain_name(names["json"]), header["json"].encode("ascii")),
               write_new(folder / _plain_name(names["sig"]), header["signature"].encode("ascii")),
               write_new(folder / _plain_name(names["pdf"]), pdf)]
    written.append(add_signer_line(folder / _plain_name(names["allowed_signers"]), header["allowed_signers"]))
    return written


def write_report(folder: Path, header: dict[str, Any], fmt: str, data: bytes) -> list[Path]:
    """A DPO report as the ``report`` operation streamed it: the chosen format, and with JSON its ``.sig``."""
    written = [write_new(folder / _plain_name(header["files"][fmt]), data)]
    if fmt == "json":
        written.append(write_new(folder / _plain_name(header["files"]["sig"]), header["signature"].encode("ascii")))
    return written


def check_folder(folder: Path) -> None:
    """Refuse early (before the agent is asked) a folder this account may not write in."""
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ExportWriteError(folder=str(folder), problem=t("not a folder you may write in"))


def _plain_name(name: str) -> str:
    """A name the agent sent, used only as a file name inside the chosen folder, never as a path."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ExportWriteError(folder="-", problem=f"unexpected file name {name[:80]!r}")
    return name


def _problem(exc: Exception, path: Path) -> str:
    reason = os_errors.describe(exc) if isinstance(exc, OSError) else type(exc).__name__
    return f"{path.name}: {reason}"
