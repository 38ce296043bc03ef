"""A real Dovecot IMAP server on loopback for tests and benchmarks, with a throwaway configuration.

The fixtures ``dovecot``, ``dovecot_trash`` and ``dovecot_tls`` are registered for every test by
tests/support/agent.py; or use :func:`run_dovecot` as a context manager (benchmarks). The server listens on a
free port on 127.0.0.1, has one passwd-file user with a known password, a ``Trash`` mailbox marked
``\\Trash`` (special-use), and keeps its mail in a Maildir under a temporary directory. Options:
``trash_on_expunge`` makes Dovecot copy expunged messages to Trash (its lazy_expunge plugin, like servers
that "move deleted mail to the trash");
``tls`` adds an IMAPS listener with a fresh self-signed certificate (``ca_file``), or with ``certificate``
(a certificate and key a test CA signed); ``oauth2`` (:class:`OAuth2Setup`) adds ``XOAUTH2`` and
``OAUTHBEARER`` with Dovecot's ``oauth2`` passdb, which asks an RFC 7662 introspection endpoint (over TLS,
trusting the given CA) whether each token is active and whose mailbox it opens. The password stays valid
for the tests' own client (``PLAIN``), as a second passdb.

Dovecot comes from Debian's ``dovecot-imapd`` package. When it is missing the fixture fails (it does not
skip): the README's test command installs it.

:class:`CuttingProxy` is a TCP relay that can drop every connection after a given number of bytes from the
server, to break a connection in the middle of a FETCH.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from imapclient import IMAPClient

DOVECOT = "/usr/sbin/dovecot"
MISSING = (
    "Dovecot is not installed (expected {binary}). The IMAP tests run against a real Dovecot on loopback: "
    "use the README's test command, which installs it (apt-get install -y dovecot-imapd)."
)
USER = "agii-intake"
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class OAuth2Setup:
    introspection_url: str
    ca_file: Path


@dataclass
class DovecotServer:
    host: str
    port: int
    user: str
    password: str
    maildir: Path
    root: Path
    conf: Path
    tls_port: int | None = None
    ca_file: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("dovecot is already running")
        log = (self.root / "stderr.log").open("ab")
        self._process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.conf)], stdout=log, stderr=log,
                                         start_new_session=True)
        log.close()
        self._wait_ready()

    def stop(self) -> None:
        """Kill the server's process group at once (a clean SIGTERM takes Dovecot a full second).

        Maildir is built to survive that, and to the agent it looks like a server crash, which is what the
        tests that restart the server want anyway.
        """
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        _wait_port_free(self.port)

    def restart(self) -> None:
        """Stop and start again on the same port and mail store: every open connection is dropped."""
        self.stop()
        self.start()

    def client(self) -> IMAPClient:
        """A logged-in plaintext client (the tests' own view of the mailbox)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                pytest.fail(f"dovecot exited with {self._process.returncode}:\n{self._logs()}")
            if _banner(self.host, self.port):
                return
            time.sleep(0.05)
        pytest.fail(f"dovecot did not accept connections within {timeout} s:\n{self._logs()}")

    def _logs(self) -> str:
        texts = [p.read_text(errors="replace") for p in (self.root / "stderr.log", self.root / "dovecot.log")
                 if p.exists()]
        return "\n".join(texts)[-4000:]


def _banner(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


def _wait_port_free(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return
            except OSError:
                time.sleep(0.05)


def _accounts() -> tuple[str, str]:
    """The system user and group Dovecot's unprivileged processes run as."""
    if os.geteuid() == 0:
        return "nobody", "nogroup"
    entry = pwd.getpwuid(os.geteuid())
    import grp

    return entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name


def _make_certificate(root: Path) -> tuple[Path, Path]:
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    key.chmod(0o600)
    return cert, key


def _oauth2_passdb(root: Path, oauth2: OAuth2Setup | None) -> tuple[str, str]:
    """The extra SASL mechanisms and the passdb block for OAuth2 tokens (with its own configuration file)."""
    if oauth2 is None:
        return "", ""
    settings = root / "dovecot-oauth2.conf.ext"
    settings.write_text(f"""\
introspection_mode = post
introspection_url = {oauth2.introspection_url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
tls_ca_cert_file = {oauth2.ca_file}
timeout_msecs = 5000
""")
    settings.chmod(0o644)
    passdb = f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {settings}
}}
"""
    return " xoauth2 oauthbearer", passdb


def _config(root: Path, port: int, *, tls_port: int | None, trash_on_expunge: bool,
            certificate: tuple[Path, Path] | None = None, oauth2: OAuth2Setup | None = None) -> str:
    user, group = _accounts()
    ssl = "no"
    ssl_lines = ""
    if tls_port is not None:
        cert, key = certificate or _make_certificate(root)
        ssl = "yes"
        ssl_lines = f"ssl_cert = <{cert}\nssl_key = <{key}\n"
    plugins = "mail_plugins = $mail_plugins lazy_expunge\nplugin {\n  lazy_expunge = Trash\n}\n"
    mechanisms, oauth_passdb = _oauth2_passdb(root, oauth2)
    return f"""\
protocols = imap
listen = 127.0.0.1
ssl = {ssl}
{ssl_lines}disable_plaintext_auth = no
auth_mechanisms = plain login{mechanisms}
# tests log in with wrong passwords on purpose: no failure delay, and no anvil penalty (below)
auth_failure_delay = 0
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 0
mail_location = maildir:{root}/mail/%u
{plugins if trash_on_expunge else ""}
{oauth_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
{{folders}}}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port or 0}
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


@contextlib.contextmanager
def run_dovecot(*, trash_on_expunge: bool = False, tls: bool = False, certificate: tuple[Path, Path] | None = None,
                oauth2: OAuth2Setup | None = None, folders: tuple[str, ...] = ()) -> Iterator[DovecotServer]:
    """Start a throwaway Dovecot; stop it and remove its files afterwards.

    ``folders``: extra mailboxes created (and subscribed) at start, e.g. ``("Archief", "Sent")``; a folder named
    ``Sent`` is marked ``\\Sent``."""
    if not Path(DOVECOT).exists():
        pytest.fail(MISSING.format(binary=DOVECOT))
    root = Path(tempfile.mkdtemp(prefix="ra-dovecot-"))
    root.chmod(0o755)  # Dovecot's unprivileged mail processes must reach the mail store
    try:
        server = _prepare(root, trash_on_expunge=trash_on_expunge, tls=tls or certificate is not None,
                          certificate=certificate, oauth2=oauth2, folders=folders)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _prepare(root: Path, *, trash_on_expunge: bool, tls: bool, certificate: tuple[Path, Path] | None = None,
             oauth2: OAuth2Setup | None = None, folders: tuple[str, ...] = ()) -> DovecotServer:
    # Modes are set explicitly: the agent code sets umask 077 in-process, and Dovecot's unprivileged
    # processes must still read the passwd-file and reach the mail store.
    user, group = _accounts()
    for name in ("run", "state", "mail"):
        (root / name).mkdir()
        (root / name).chmod(0o755)
    shutil.chown(root / "mail", user, group)
    users = root / "users"
    users.write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    users.chmod(0o644)
    port = free_port()
    tls_port = free_port() if tls else None
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, port, tls_port=tls_port, trash_on_expunge=trash_on_expunge,
                            certificate=certificate, oauth2=oauth2).replace("{folders}", _folders(folders)))
    conf.chmod(0o644)
    if tls and certificate is None:
        (root / "cert.pem").chmod(0o644)
    return DovecotServer(
        host="127.0.0.1", port=port, user=USER, password=PASSWORD, maildir=root / "mail" / USER, root=root,
        conf=conf, tls_port=tls_port, ca_file=root / "cert.pem" if tls and certificate is None else None,
    )


def _folders(names: tuple[str, ...]) -> str:
    blocks = []
    for name in names:
        use = "\n    special_use = \\Sent" if name == "Sent" else ""
        blocks.append(f'  mailbox "{name}" {{\n    auto = subscribe{use}\n  }}\n')
    return "".join(blocks)


@pytest.fixture(name="dovecot")
def dovecot_fixture() -> Iterator[DovecotServer]:
    """A fresh Dovecot per test (about a quarter of a second to start)."""
    with run_dovecot() as server:
        yield server


@pytest.fixture(name="dovecot_trash")
def dovecot_trash_fixture() -> Iterator[DovecotServer]:
    """Dovecot that copies expunged messages to Trash (lazy_expunge), like servers that keep deleted mail."""
    with run_dovecot(trash_on_expunge=True) as server:
        yield server


@pytest.fixture(name="dovecot_tls")
def dovecot_tls_fixture() -> Iterator[DovecotServer]:
    """Dovecot with an IMAPS listener (``tls_port``) and a self-signed certificate (``ca_file``)."""
    with run_dovecot(tls=True) as server:
        yield server


class CuttingProxy:
    """A TCP relay to ``(host, port)`` that can drop its connections after N bytes from the server."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._budget: int | None = None
        self._sockets: list[socket.socket] = []
        self.cuts = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, server_bytes: int) -> None:
        """Drop every connection once this many more bytes came from the server (once, then relay again)."""
        with self._lock:
            self._budget = server_bytes

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _shut(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_server: bool) -> None:
        try:
            while data := source.recv(16384):
                if from_server and self._spend(len(data)):
                    self._cut()
                    return
                sink.sendall(data)
        except OSError:
            pass
        _shut(sink)

    def _spend(self, size: int) -> bool:
        with self._lock:
            if self._budget is None:
                return False
            self._budget -= size
            if self._budget > 0:
                return False
            self._budget = None
            return True

    def _cut(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
            self.cuts += 1
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
