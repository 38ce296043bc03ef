"""Commands for the privacy officer and the DPO: status, checklist, reports, proofs of deletion, dpo verify.

``proof verify`` and ``dpo verify`` work offline: no agent, no home, only the files and the allowed-signers
line of the installation. Reports are copied to ``--out`` by this command, with the caller's permissions;
the agent only writes in its own home.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import click

from retention_agent.cli.main import echo_agent, emit_json, handle_errors, main, pass_state, table
from retention_agent.errors import (
    EXIT_INTEGRITY,
    DocumentInvalidError,
    ReportNotSentError,
    SignatureInvalidError,
    UsageError,
)
from retention_agent.i18n.catalogue import count_of, for_people, t, translate
from retention_agent.i18n.msgids import N_
from retention_agent.session.exports import check_folder, write_report
from retention_agent.session.state import State
from retention_agent.session.words import TRIGGERS, word


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")
@pass_state
@handle_errors
def status(state: State, as_json: bool) -> None:
    """The privacy officer's view: are we compliant right now? Problems in red (officer only).

    Example: retention-agent status
    """
    result = state.call("status")
    if as_json:
        emit_json(result)
        return
    from retention_agent.session.status_table import echo_status

    echo_agent(state)
    echo_status(result)


@main.group()
def checklist() -> None:
    """The organisational conditions of deliberation VCMP 05/2024 (officer only).

    Example: retention-agent checklist set commitment --done 2026-01-12 --evidence "brief 2026/33"
    """


@checklist.command("set")
@click.argument("item")
@click.option("--done", "done", required=True, help="The date on which it was done, YYYY-MM-DD.")
@click.option("--evidence", default="", help="Where the proof is kept, as a reference; never put personal data here.")
@pass_state
@handle_errors
def checklist_set(state: State, item: str, done: str, evidence: str) -> None:
    """Record that a condition is met: commitment, privacy-statement, website, processors, dpo,
    staff-informed or register.

    Example: retention-agent checklist set website --done 2026-02-01 --evidence "www.gemeente.be/privacy"
    """
    result = state.call("checklist.set", {"item": item, "done": done, "evidence": evidence})
    click.echo(t("{id}: done on {done_on}.", id=result["id"], done_on=result["done_on"]))


@main.command()
@click.option("--period", default="", help="YYYY-MM or YYYY-Qn (default: the last complete period; for the summary, "
              "the current one).")
@click.option("--format", "fmt", type=click.Choice(["json", "html", "pdf"]), default=None,
              help="What to print or copy: the signed JSON (with its .sig), HTML or the Dutch PDF.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Copy the report into this folder instead of printing it.")
@click.option("--send", is_flag=True, help="E-mail it now to the configured DPO and officer addresses.")
@click.option("--json", "as_json", is_flag=True, help="Print the signed report's JSON (the same as --format json).")
@pass_state
@handle_errors
def report(state: State, period: str, fmt: str | None, out: Path | None, send: bool, as_json: bool) -> None:
    """Make the signed report for the DPO (officer only); it stays in the agent's home until it was sent.
    Without options: a short summary of the current period so far.

    Example: retention-agent report --period 2026-10 --format pdf --out .
    """
    if as_json and fmt not in (None, "json"):
        raise click.UsageError(t("Choose --json or --format, not both."))
    summary = fmt is None and not as_json and out is None
    fmt = fmt or "json"
    if out is not None:
        check_folder(out)
    args = {"period": period, "format": fmt, "send": send, "current": summary and not send and not period}
    sink = io.BytesIO()
    with state.client() as client:
        header, _trailer = client.download("report", args, sink)
    data = sink.getvalue()
    if summary:
        echo_report_summary(json.loads(data), header)
    elif out is None:
        _print_report(data, fmt)
    else:
        for path in write_report(out, header, fmt, data):
            click.echo(t("Written: {path}", path=path))
    info = click.echo if out is not None or summary else _to_stderr
    number = header["sequence"] if header["complete"] else t("interim")
    info(t("Report {name} (no. {number}) is kept in the agent's home: {folder}", name=header["name"],
           number=number, folder=header["folder"]))
    if send and header["delivery"] == "sent":
        info(t("Sent by e-mail to the configured addresses."))
    elif send:
        raise ReportNotSentError(period=header["name"], problem=header["last_error"] or header["delivery"])


def echo_report_summary(doc: dict[str, Any], header: dict[str, Any]) -> None:
    """The report in a few lines: what a person checks first; the full report is one option away."""
    period, summary, current = doc["period"], doc["summary"], doc["current"]
    click.secho(t("Report for the DPO — {municipality}, {first} to {last}{interim}", municipality=doc["municipality"],
                  first=period["first_day"], last=period["last_day"],
                  interim="" if period["complete"] else " (" + t("so far") + ")"), bold=True)
    received, purges = summary["deliveries_received"], summary["purges"]
    lines = [
        t("Deliveries received: {count} ({quarantined} quarantined)", count=received["count"],
          quarantined=received["quarantined"]),
        t("Deliveries destroyed: {count} ({on_time} on time, {late} late)", count=purges["count"],
          on_time=purges["on_time"], late=purges["late"]),
        t("Openings: {count}; refused requests: {refused}", count=summary["openings"]["count"],
          refused=summary["refused_requests"]["count"]),
        t("Legal holds placed: {count}; incidents: {incidents}", count=len(summary["holds"]["placed"]),
          incidents=len(doc["incidents"])),
    ]
    for line in lines:
        click.echo("  " + line)
    compliant = current["compliant"]
    click.secho("  " + t("Compliant when the report was made: {answer}", answer=t("yes") if compliant else t("NO")),
                fg="green" if compliant else "red")
    click.echo(t("The whole report: retention-agent report --period {period} --format pdf --out FOLDER (or --json).",
                 period=period["label"]))


def _to_stderr(message: str) -> None:
    click.echo(message, err=True)


def _print_report(data: bytes, fmt: str) -> None:
    if fmt == "pdf":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        click.echo(data.decode("utf-8"), nl=False)


# ---- proofs of deletion -----------------------------------------------------------------------------------


@main.group()
def proof() -> None:
    """Proofs of deletion: list and show them (officer), verify one offline (anyone).

    Example: retention-agent proof verify 01JD5Z8K3Q4W7E2R9T6Y.json
    """


@proof.command("list")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")
@pass_state
@handle_errors
def proof_list(state: State, as_json: bool) -> None:
    """List the purged deliveries with the SHA-256 of their signed proof.

    Example: retention-agent proof list
    """
    rows = state.all_pages("proof.list", "proofs")
    if as_json:
        emit_json(rows)
        return
    table([t("delivery"), t("purged"), t("trigger"), t("proof (SHA-256)")],
          [(r["delivery"], r["purged_at"], word(TRIGGERS, r["trigger"]), r["proof_sha256"]) for r in rows])


@proof.command("show")
@click.argument("delivery")
@pass_state
@handle_errors
def proof_show(state: State, delivery: str) -> None:
    """Print the signed proof of deletion (JSON) of a delivery.

    Example: retention-agent proof show 01JD5Z8K3Q4W7E2R9T6Y > 01JD5Z8K3Q4W7E2R9T6Y.json
    """
    click.echo(state.call("proof.show", {"delivery": delivery})["json"], nl=False)


@proof.command("export")
@click.argument("delivery")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The folder to write into (with your own permissions); existing files are not overwritten.")
@pass_state
@handle_errors
def proof_export(state: State, delivery: str, out: Path) -> None:
    """Write a proof of deletion for the DPO into a folder: the proof (JSON), its signature (.sig), its PDF
    certificate and the allowed_signers line that 'ssh-keygen -Y verify' needs (officer only).

    Example: retention-agent proof export 01JD5Z8K3Q4W7E2R9T6Y --out "C:\\Users\\jdewit\\Documents\\voor-de-dpo"
    """
    from retention_agent.session.exports import export_proof

    with state.client() as client:
        for path in export_proof(client, delivery, out):
            click.echo(t("Written: {path}", path=path))


@proof.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--signature", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The signature file (default: FILE.sig).")
@click.option("--allowed-signers", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The installation's allowed-signers file (default: allowed_signers next to FILE).")
@click.option("--public-key", default=None, help="The installation's key, 'ssh-ed25519 AAAA…', or a file with it.")
@handle_errors
def proof_verify(file: Path, signature: Path | None, allowed_signers: Path | None, public_key: str | None) -> None:
    """Check a proof of deletion offline: its SSH signature, every check in it, and its audit-log proof.
    Exit 4 when it does not verify.

    Example: retention-agent proof verify 01JD5Z8K3Q4W7E2R9T6Y.json --allowed-signers allowed_signers
    """
    from retention_agent.evidence.proof_verify import verify_proof

    data = file.read_bytes()
    sig_path = signature or file.with_name(file.name + ".sig")
    try:
        armored = sig_path.read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise UsageError(problem=t("cannot read the signature {file}", file=sig_path), command="proof verify") from exc
    key = _proof_key(data, file, allowed_signers, public_key)
    doc = verify_proof(data, armored, key, file=str(file))
    click.echo(t("Proof verified: delivery {delivery} was destroyed on {purged_at}; signed by {signer}.",
                 delivery=doc["delivery_id"], purged_at=doc["purged_at"], signer=doc["signer"]))


def _unreadable(exc: ValueError, command: str) -> UsageError:
    """A key or allowed-signers file that cannot be read, said in the user's language."""
    from retention_agent.evidence.sshsig import KeyTextError

    if isinstance(exc, KeyTextError):
        return UsageError(problem=exc.template, command=command, **exc.values)
    if isinstance(exc, UnicodeError):
        return UsageError(problem=N_("the file is not UTF-8 text"), command=command)
    return UsageError(problem=str(exc)[:200], command=command)


def _proof_key(data: bytes, file: Path, allowed_signers: Path | None, public_key: str | None) -> bytes:
    from retention_agent.evidence import sshsig

    if public_key:
        text = Path(public_key).read_text(encoding="utf-8") if Path(public_key).is_file() else public_key
        try:
            return sshsig.parse_public_key_openssh(text.strip())
        except ValueError as exc:
            raise _unreadable(exc, "proof verify") from exc
    signers_file = allowed_signers or file.with_name("allowed_signers")
    if not signers_file.is_file():
        raise UsageError(problem=t("give --allowed-signers FILE or --public-key KEY"), command="proof verify")
    try:
        signers = sshsig.parse_allowed_signers(signers_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeError) as exc:
        raise _unreadable(exc, "proof verify") from exc
    try:  # the proof itself is unreadable: a verification failure (exit 4), not a usage error
        identity = str(json.loads(data).get("signer", ""))
    except (ValueError, UnicodeError, AttributeError) as exc:
        raise DocumentInvalidError(file=str(file), kind=N_("proof of deletion"),
                                   finding=t("it is not a readable proof")) from exc
    keys = [s.public_key for s in signers if identity in s.identity.split(",") and s.allows("deletion-proof")]
    if not keys:
        raise SignatureInvalidError(file=str(file), finding=t("{identity} is not in {file} for deletion-proof",
                                                              identity=identity[:128], file=signers_file))
    return keys[0]


# ---- the DPO's side ---------------------------------------------------------------------------------------


@main.group()
def dpo() -> None:
    """What the data protection officer runs on the reports received (offline).

    Example: retention-agent dpo verify rapporten/
    """


@dpo.command("verify")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--allowed-signers", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The installations' allowed-signers lines (default: FOLDER/allowed_signers).")
@click.option("--json", "as_json", is_flag=True, help="Stable JSON output.")
@handle_errors
def dpo_verify(folder: Path, allowed_signers: Path | None, as_json: bool) -> None:
    """Check a folder of reports: every signature, the audit-log proofs between consecutive reports (a
    truncated or rewritten log shows up), the attached proofs of deletion and gaps. Exit 4 on any finding.

    Example: retention-agent dpo verify rapporten/ --allowed-signers allowed_signers
    """
    from retention_agent.reports.dpo import verify_folder

    signers_file = allowed_signers or folder / "allowed_signers"
    if not signers_file.is_file():
        raise UsageError(problem=t("there is no allowed_signers file in {folder}; give --allowed-signers FILE",
                                   folder=folder), command="dpo verify")
    try:
        summary = verify_folder(folder, signers_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise _unreadable(exc, "dpo verify") from exc
    if as_json:
        emit_json(summary.to_json())
    else:
        _echo_summary(summary.to_json())
    if not summary.ok:
        sys.exit(EXIT_INTEGRITY)


def _mark(value: bool | None) -> str:
    return "-" if value is None else t("ok") if value else t("FAILED")


def _echo_summary(summary: dict[str, Any]) -> None:
    table([t("report"), t("municipality"), t("period"), t("no."), t("signature"), t("audit log"), t("proofs")],
          [(r["file"], r["municipality"] or "-", r["period"] or "-",
            r["sequence"] if r["complete"] else t("interim"), _mark(r["signature_ok"]), _mark(r["log_ok"]),
            f"{r['proofs_ok']}/{r['proofs_total']}") for r in summary["reports"]])
    for finding in summary["findings"]:
        params = {k: translate(v) if k == "what" else for_people(v) for k, v in finding["params"].items()}
        text = translate(finding["message"], count=count_of(params)).format(**params)
        click.secho(t("Finding: ") + f"{finding['file']}: {text}", fg="red", err=True)
    if summary["ok"]:
        click.secho(t("All {n} reports verified; no findings.", n=len(summary["reports"])), fg="green")
