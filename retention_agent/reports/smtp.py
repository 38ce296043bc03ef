"""Sending a report by e-mail to the DPO and the officer: SMTP with STARTTLS, implicit TLS or (for a relay on
the same host) none, as ``[smtp] security`` says; the password comes from the key store entry ``secret/smtp``.

Certificates are checked against the system's trust store (``SSL_CERT_FILE`` points elsewhere, e.g. to an
in-house authority). A failure is recorded on the report (attempts, last error: the exception class and SMTP
code, never an address) and the report stays queued in the home; the report duty retries with back-off.
"""

from __future__ import annotations

import smtplib
import ssl
import threading
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from retention_agent.errors import ReportNotSentError
from retention_agent.i18n.catalogue import translate
from retention_agent.reports import outbox
from retention_agent.reports.generate import file_path
from retention_agent.runtime.context import AgentContext

SECRET_NAME = "secret/smtp"
TIMEOUT_S = 30.0
SECURITY = ("starttls", "tls", "none")
_sending = threading.Lock()
ATTACHMENTS = (("json", "application", "json"), ("sig", "text", "plain"), ("pdf", "application", "pdf"),
               ("html", "text", "html"))


def compose(ctx: AgentContext, meta: dict[str, Any], recipients: list[str]) -> EmailMessage:
    lang = ctx.config.language
    smtp = ctx.config.smtp
    message = EmailMessage()
    message["Subject"] = translate("DPO report {municipality} {period}", lang).format(
        municipality=ctx.config.municipality, period=meta["name"])
    message["From"] = smtp.sender or smtp.username
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(ctx.clock.now().timestamp(), localtime=False)
    message["Message-ID"] = make_msgid(domain="retention-agent.invalid")
    message.set_content(translate(
        "Attached is the report of the retention agent of {municipality} for {period}: the signed JSON file "
        "with its SSH signature, and a PDF and HTML version for reading. It holds no personal data of the "
        "people concerned. Check the signature with 'retention-agent dpo verify FOLDER' or with ssh-keygen "
        "(see the PDF).", lang).format(municipality=ctx.config.municipality, period=meta["name"]))
    for fmt, maintype, subtype in ATTACHMENTS:
        data = file_path(ctx, meta, fmt).read_bytes()
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=meta["files"][fmt])
    return message


def send(ctx: AgentContext, meta: dict[str, Any]) -> int:
    """Send the report to the configured addresses; returns how many. :class:`ReportNotSentError` if not."""
    smtp = ctx.config.smtp
    recipients = outbox.addresses(ctx.config)
    problem = _precondition(ctx, recipients)
    if problem:
        raise ReportNotSentError(period=meta["name"], problem=problem)
    password = ctx.keys.get(SECRET_NAME) if smtp.username else None
    if smtp.username and password is None:
        raise ReportNotSentError(period=meta["name"], problem=f"there is no password in the key store entry "
                                 f"{SECRET_NAME} (retention-agent secret set smtp)")
    message = compose(ctx, meta, recipients)
    try:
        with _connect(smtp.host, smtp.port, smtp.security) as client:
            if smtp.username and password is not None:
                client.login(smtp.username, password.decode("utf-8"))
            refused = client.send_message(message)
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        raise ReportNotSentError(period=meta["name"], problem=describe(exc)) from exc
    if refused:
        codes = sorted({str(code) for code, _ in refused.values()})
        raise ReportNotSentError(period=meta["name"], problem=f"{len(refused)} recipients refused ({', '.join(codes)})")
    return len(recipients)


def _precondition(ctx: AgentContext, recipients: list[str]) -> str:
    smtp = ctx.config.smtp
    if not recipients:
        return "no address is configured ([reports] dpo_email, officer_email)"
    if not smtp.host:
        return "no SMTP server is configured ([smtp] host)"
    if smtp.security not in SECURITY:
        return f"[smtp] security must be one of {', '.join(SECURITY)}"
    if not (smtp.sender or smtp.username):
        return "no sender is configured ([smtp] sender)"
    return ""


def _connect(host: str, port: int, security: str) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if security == "tls":
        return smtplib.SMTP_SSL(host, port, timeout=TIMEOUT_S, context=context)
    client = smtplib.SMTP(host, port, timeout=TIMEOUT_S)
    try:
        if security == "starttls":
            client.starttls(context=context)  # refuses to go on in plain text if the server cannot
    except BaseException:
        client.close()
        raise
    return client


def describe(exc: BaseException) -> str:
    """What went wrong, without addresses or server texts: the exception class and the SMTP code."""
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _ in exc.recipients.values()})
        return f"{name} ({', '.join(codes)})"
    code = getattr(exc, "smtp_code", None)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{name} (the server's certificate is not trusted)"
    return f"{name} ({code})" if code is not None else name


def deliver(ctx: AgentContext, name: str) -> dict[str, Any]:
    """Try to send the stored report ``name`` once; record the outcome. Returns the report's row."""
    with _sending:  # the duty and a '--send' request never send the same report twice
        meta = outbox.get(ctx, name)
        if meta is None:
            raise ReportNotSentError(period=name, problem="there is no such report")
        if meta["sent_at"]:
            return meta
        try:
            count = send(ctx, meta)
        except ReportNotSentError as exc:
            outbox.mark_failed(ctx, name, str(exc.params.get("problem", exc.error_id)))
        else:
            outbox.mark_sent(ctx, name, count)
        return outbox.get(ctx, name) or meta
