"""A throwaway certificate authority for tests: a CA certificate and server certificates signed by it.

Made with the ``openssl`` command line (as ``tests/support/dovecot.py`` makes its self-signed certificate), so that the
agent verifies a real chain against ``ca_file`` exactly as it would an in-house CA's.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass(frozen=True)
class TestCA:
    __test__ = False  # not a test class, whatever pytest thinks of the name

    root: Path

    @property
    def cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def key(self) -> Path:
        return self.root / "ca-key.pem"

    def server_certificate(self, name: str) -> tuple[Path, Path]:
        """``(certificate, key)`` for ``localhost`` and ``127.0.0.1``, signed by this CA."""
        cert, key, request = (self.root / f"{name}.pem", self.root / f"{name}-key.pem",
                              self.root / f"{name}.csr")
        extensions = self.root / f"{name}.ext"
        extensions.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                              "basicConstraints=CA:FALSE\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                 "-out", request, "-subj", f"/CN={name}")
        _openssl("x509", "-req", "-in", request, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
                 "-out", cert, "-days", "2", "-extfile", extensions)
        for path in (cert, key):
            path.chmod(0o644)  # Dovecot's unprivileged processes read them
        return cert, key


def make_ca(root: Path) -> TestCA:
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    ca = TestCA(root)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             ca.key, "-out", ca.cert, "-days", "2", "-subj", "/CN=retention-agent test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ca.cert.chmod(0o644)
    return ca


def self_signed_client_certificate(path: Path) -> Path:
    """An RSA key and a self-signed certificate in one PEM file, as an app registration's credential is made:
    ``openssl req -x509 -newkey rsa:2048 ...`` (the certificate is uploaded to Entra ID, the file kept)."""
    key, cert = path.with_suffix(".key"), path.with_suffix(".crt")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
             "-subj", "/CN=retention-agent mailbox app")
    path.write_text(key.read_text() + cert.read_text())
    path.chmod(0o600)
    key.unlink()
    return cert


def _openssl(*args: object) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def serve_https(handler: type[BaseHTTPRequestHandler], cert: Path, key: Path, name: str) -> ThreadingHTTPServer:
    """An HTTPS server on a free loopback port, serving ``handler`` on a thread of its own (stop it with
    :func:`stop_https`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server


def stop_https(server: ThreadingHTTPServer | None) -> None:
    """Stop a server that :func:`serve_https` started (``None``: it never started)."""
    if server is not None:
        server.shutdown()
        server.server_close()
