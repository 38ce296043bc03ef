"""A real SMTP server on loopback for the report-delivery tests: aiosmtpd with STARTTLS (or implicit TLS) on a
self-signed certificate made here, AUTH LOGIN/PLAIN, and a switch to refuse every recipient."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "retention-agent", "s3cret-smtp"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1: ``(cert.pem, key.pem)``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    authenticated: bool

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def attachments(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for part in self.message.iter_attachments():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[str(part.get_filename())] = payload
        return found


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    refuse: bool = False

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if self.refuse:
            return "550 5.7.1 relaying refused"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content),
                                      bool(session.authenticated)))
        return "250 Message accepted"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


class SmtpServer:
    """``with SmtpServer(cert, key, security) as server:`` a server on ``server.port``."""

    def __init__(self, cert: Path, key: Path, security: str = "starttls", port: int | None = None) -> None:
        self.handler = Handler()
        self.port = port or free_port()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        kwargs: dict[str, Any] = {"authenticator": authenticator, "auth_required": True}
        if security == "starttls":
            kwargs |= {"tls_context": context, "require_starttls": True}
        elif security == "tls":
            kwargs |= {"ssl_context": context, "server_hostname": "localhost", "auth_require_tls": False}
        else:
            kwargs |= {"auth_require_tls": False}
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.handler.received


def smtp_config(port: int, security: str = "starttls", host: str = "localhost") -> str:
    return (f'[smtp]\nhost = "{host}"\nport = {port}\nsecurity = "{security}"\nusername = "{USER}"\n'
            'sender = "privacy@de-panne.example"\n\n'
            '[reports]\ndpo_email = "dpo@regio.example"\nofficer_email = "privacy@de-panne.example"\n')
