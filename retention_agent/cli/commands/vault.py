"""Commands for deliveries and the vault: ingest, list, open for a purpose, verify."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from retention_agent.api.protocol import ConnectionClosed, ProtocolViolation
from retention_agent.cli.main import emit_json, handle_errors, main, pass_state, table
from retention_agent.errors import (
    EXIT_INTEGRITY,
    ProtocolError,
    RetentionAgentError,
)
from retention_agent.i18n import os_errors
from retention_agent.i18n.catalogue import current_language, t
from retention_agent.i18n.msgids import N_
from retention_agent.rules.access import OPEN_MODES, PURPOSES
from retention_agent.session.ingest import ingest_message, ingest_one
from retention_agent.session.state import State
from retention_agent.session.words import CHANNELS, word


@main.command()
# readable=False: the check is ours (ingest_one), so an unreadable file gets the catalogue error and exit 1
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, readable=False))
@pass_state
@handle_errors
def ingest(state: State, paths: tuple[Path, ...]) -> None:
    """Move files into the vault now. Each file is read with your own permissions and removed only after
    the vault holds a verified copy.

    Example: retention-agent ingest "C:\\Users\\mia\\Downloads\\inburgeraars-2026-11.xlsx"
    """
    state.home  # noqa: B018 - found first: an error finding the agent is not about any of the files
    worst = 0
    for path in paths:
        try:
            result = ingest_one(state, path)
        except RetentionAgentError as exc:
            exc.params["file"] = str(path)  # the agent only knows the stream as "manual"; the user knows the path
            click.echo(f"retention-agent: {exc.render(current_language())}", err=True)
            worst = max(worst, exc.exit_code)
            continue
        click.echo(ingest_message(path, result))
    sys.exit(worst)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")
@pass_state
@handle_errors
def deliveries(state: State, as_json: bool) -> None:
    """List deliveries: id, state, received, channel, size, SHA-256, ceremony date and deadline.

    Example: retention-agent deliveries --json
    """
    rows = state.all_pages("deliveries", "deliveries")
    if as_json:
        emit_json(rows)
        return
    table([t("id"), t("state"), t("received"), t("channel"), t("size"), t("ceremony"), t("deadline")],
          [(r["id"], t(r["state"]), r["received_at"], word(CHANNELS, r["channel"]), r["size"],
            r["ceremony_date"] or "-", r["deadline"] or "-") for r in rows])


@main.command("open")
@click.argument("delivery")
@click.option("--purpose", required=True, type=click.Choice(PURPOSES),
              help="Why you open it: invite, phone, attendance, correction or other.")
@click.option("--note", default="", help="Short note (required with 'other'); never put personal data here.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Write the file to standard output.")
@click.option("--to", "to_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Save a copy in this folder (written with your permissions; shown in reports).")
@click.option("--no-launch", is_flag=True, help="Do not open the workspace copy with the default program.")
@pass_state
@handle_errors
def open_command(state: State, delivery: str, purpose: str, note: str, to_stdout: bool, to_dir: Path | None,
                 no_launch: bool) -> None:
    """Open a delivery for a stated purpose; every opening is logged with who, when, why and what.

    Example: retention-agent open 01JD5Z8K3Q4W7E2R9T6Y --purpose invite
    """
    if to_stdout and to_dir:
        raise click.UsageError(t("Choose --stdout or --to, not both."))
    mode = "stdout" if to_stdout else "to-dir" if to_dir else "workspace"
    assert mode in OPEN_MODES
    args = {"delivery": delivery, "purpose": purpose, "note": note, "mode": mode}
    if mode == "workspace":
        result = state.call("open", args)
        click.echo(t("Opened copy: {path} (wiped automatically at {wipe_at}).", **result))
        if not no_launch:
            launch(Path(result["path"]))
    elif mode == "stdout":
        with state.client() as client:
            try:
                client.download("open", args, sys.stdout.buffer)
            except (OSError, ConnectionClosed, ProtocolViolation) as exc:  # the agent went away mid-stream
                raise ProtocolError(problem=N_("the agent closed the connection")) from exc
        sys.stdout.flush()
    else:
        assert to_dir is not None
        click.echo(t("Saved: {path}", path=_download_to(state, args, to_dir, delivery)))


def _download_to(state: State, args: dict[str, Any], folder: Path, delivery: str) -> Path:
    """Write into a private temporary file in ``folder``; keep it only when the stream completed, named after the
    delivery with the extension of its type (``.xlsx``, ``.pdf``…; ``.bin`` when the agent does not know it)."""
    temp = folder / f".{delivery}.part"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError as exc:  # checked before the agent is asked, so no opening is recorded for nothing
        raise click.ClickException(t("Cannot write in {folder}: {problem}", folder=folder,
                                     problem=os_errors.describe(exc))) from exc
    try:
        with os.fdopen(fd, "wb") as out, state.client() as client:
            try:
                header, trailer = client.download("open", args, out)
            except (OSError, ConnectionClosed, ProtocolViolation) as exc:  # the agent went away mid-stream
                raise ProtocolError(problem=N_("the agent closed the connection")) from exc
        if trailer is None:
            raise click.ClickException(t("The agent sent no data."))
        target = folder / f"{delivery}{_extension(header)}"
        temp.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return target


def _extension(header: Any) -> str:
    extension = header.get("extension") if isinstance(header, dict) else None
    known = isinstance(extension, str) and re.fullmatch(r"\.[a-z0-9]{1,5}", extension)
    return str(extension) if known else ".bin"  # never a name the agent chose beyond a short suffix


def launch(path: Path) -> None:
    """Open the copy with the platform's default program; never fail the command because of it."""
    with contextlib.suppress(OSError):
        if sys.platform == "win32":
            os.startfile(path)  # type: ignore[attr-defined]
        elif sys.platform == "darwin":
            subprocess.Popen(["open", str(path)])
        else:
            subprocess.Popen(["xdg-open", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@main.group()
def vault() -> None:
    """The encrypted vault (officer only).

    Example: retention-agent vault verify
    """


@vault.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")
@pass_state
@handle_errors
def vault_verify(state: State, as_json: bool) -> None:
    """Check that every object decrypts and matches its SHA-256; list missing, extra, corrupt, key-less ones.

    Example: retention-agent vault verify
    """
    result = state.call("vault.verify")
    if as_json:
        emit_json(result)
    else:
        click.echo(t("Vault checked: {checked} objects.", checked=result["checked"]))
        for kind in ("missing", "corrupt", "keyless", "mismatch", "extra"):
            for item in result[kind]:
                click.echo(t("Problem: ") + f"{t(kind)}: {item}", err=True)
    if not result["ok"]:
        sys.exit(EXIT_INTEGRITY)
