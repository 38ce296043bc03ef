"""OAuth2 that keeps working: the real agent process, a real Dovecot that accepts only OAuth2 tokens it
introspects, and a local identity provider (``tests/support/oauth_server.py``) that MSAL talks to over TLS.

Everything is real but the identity provider, which is a small server written for these tests following the
Entra ID v2.0 endpoints (OpenID configuration, token, device code) and RFC 7662 introspection: Dovecot's
``oauth2`` passdb asks it whether each token is active, MSAL gets its tokens from it, a test CA made here signs
the certificates of both servers. Tokens live a few seconds, so a test sees several of them expire.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_intake_agent import _zip_bytes
from tests.support.agent import ME, AgentProcess, make_home
from tests.support.dovecot import DovecotServer, OAuth2Setup, run_dovecot
from tests.support.oauth_server import TENANT, IdentityProvider
from tests.support.retention import wait_for
from tests.support.tls_ca import TestCA, make_ca, self_signed_client_certificate

LIFETIME_S = 6
APP = "3f1c0a4e-retention-agent"


@dataclass
class World:
    ca: TestCA
    idp: IdentityProvider
    dovecot: DovecotServer
    client_pem: Path


@pytest.fixture
def world() -> Iterator[World]:
    root = Path(tempfile.mkdtemp(prefix="ra-oauth-"))
    root.chmod(0o755)  # Dovecot's auth process reads the CA file
    try:
        ca = make_ca(root / "ca")
        idp = IdentityProvider(*ca.server_certificate("idp"), token_lifetime_s=LIFETIME_S).start()
        client_pem = root / "app.pem"
        client_cert = self_signed_client_certificate(client_pem)
        idp.register_app(APP, "agii-intake", certificate_pem=client_cert.read_bytes())
        setup = OAuth2Setup(f"https://127.0.0.1:{idp.port}/introspect", ca.cert)
        try:
            with run_dovecot(certificate=ca.server_certificate("imap"), oauth2=setup) as dovecot:
                yield World(ca, idp, dovecot, client_pem)
        finally:
            idp.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def mailbox_config(world: World, auth: str, **extra: str) -> str:
    lines = [
        "[[mailbox]]", 'name = "agii"', 'host = "127.0.0.1"', f"port = {world.dovecot.tls_port}",
        f'username = "{world.dovecot.user}"', 'tls = "tls"', f'ca_file = "{world.ca.cert}"', f'auth = "{auth}"',
        f'tenant = "{TENANT}"', f'client_id = "{APP}"', f'authority_host = "{world.idp.host}"',
        "poll_interval_seconds = 1.0", 'senders = ["*@integratie-inburgering.be"]',
        *(f'{key} = "{value}"' for key, value in extra.items()),
    ]
    return "\n" + "\n".join(lines) + "\n"


def start_agent(tmp_path: Path, config: str) -> AgentProcess:
    home = make_home(tmp_path / "home")
    home.config.write_text(home.config.read_text() + config)
    agent = AgentProcess(home.root).start()
    assert agent.cli("staff", "add", ME, "--name", "O", "--role", "officer", "--role", "read").returncode == 0
    return agent


def agii_message(tag: str) -> bytes:
    message = EmailMessage()
    message["From"] = "AgII <agii@integratie-inburgering.be>"
    message["To"] = "gemeente@example.invalid"
    message["Subject"] = f"Inburgeraars {tag}"
    message.set_content("Zie bijlage.")
    message.add_attachment(_zip_bytes(tag), maintype="application", subtype="zip", filename="lijst.zip")
    return message.as_bytes()


def deliveries(agent: AgentProcess) -> list[dict[str, Any]]:
    done = agent.cli("deliveries", "--json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def status(agent: AgentProcess) -> dict[str, Any]:
    done = agent.cli("status", "--json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def inbox_count(server: DovecotServer) -> int:
    with server.client() as imap:
        imap.select_folder("INBOX", readonly=True)
        return len(imap.search("ALL"))


def home_bytes(home: Path, *, keys: bool) -> bytes:
    """Every file of the home (the file key store only when ``keys``), and the agent's own output."""
    found = b""
    for path in sorted(home.rglob("*")):
        if path.is_file() and (keys or "keys" not in path.relative_to(home).parts):
            found += path.read_bytes()
    output = home.parent / f"{home.name}-agent-output.txt"
    return found + (output.read_bytes() if output.exists() else b"")


def test_app_only_tokens_expire_and_intake_goes_on_unattended(world: World, tmp_path: Path) -> None:
    """Certificate credential; tokens live 6 s; three messages arrive over more than three token lifetimes."""
    agent = start_agent(tmp_path, mailbox_config(world, "oauth2-app", credential="certificate",
                                                 certificate_path=str(world.client_pem)))
    try:
        for n in range(3):
            world.dovecot.client().append("INBOX", agii_message(f"m{n}"))
            wait_for(lambda n=n: len(deliveries(agent)) == n + 1 and inbox_count(world.dovecot) == 0, 30,
                     f"message {n} taken")
            if n < 2:  # the token the agent used expires before the next message arrives
                used = world.idp.tokens[world.idp.issued()[-1]]
                wait_for(lambda used=used: used.expires_at < time.monotonic(), 2 * LIFETIME_S, "the token's expiry")
        tokens = world.idp.issued()
        assert len(tokens) >= 3  # one per session: renewed before it expired, never pasted by a person
        assert world.idp.grants("client_credentials") == len(tokens)
        used = [(token, active) for token, active in world.idp.introspected if token in tokens]
        assert used and all(active for _, active in used), "the agent logged in with an expired token"
        assert {row["channel"] for row in deliveries(agent)} == {"email"}
        oauth = status(agent)["health"]["oauth"]
        assert oauth[0]["mailbox"] == "agii" and oauth[0]["flow"] == "app"
        assert oauth[0]["credential"] == "certificate" and oauth[0]["expires_at"] and not oauth[0]["last_failure"]
        for token in tokens:  # never written anywhere but memory: not in the home, the log or the output
            assert token.encode() not in home_bytes(agent.home, keys=True)
    finally:
        agent.stop()


def test_oauthbearer_works_as_well_as_xoauth2(world: World, tmp_path: Path) -> None:
    """``sasl = "oauthbearer"`` (RFC 7628) logs in with the same tokens through the other mechanism."""
    agent = start_agent(tmp_path, mailbox_config(world, "oauth2-app", credential="certificate",
                                                 certificate_path=str(world.client_pem), sasl="oauthbearer"))
    try:
        world.dovecot.client().append("INBOX", agii_message("bearer"))
        wait_for(lambda: len(deliveries(agent)) == 1 and inbox_count(world.dovecot) == 0, 30, "the message taken")
        logins = (world.dovecot.root / "dovecot.log").read_text(errors="replace")
        assert "method=OAUTHBEARER" in logins and "method=XOAUTH2" not in logins
        assert any(token in world.idp.issued() for token, active in world.idp.introspected if active)
    finally:
        agent.stop()


def test_a_revoked_credential_is_a_status_problem_with_back_off_not_a_crash_loop(world: World,
                                                                                 tmp_path: Path) -> None:
    agent = start_agent(tmp_path, mailbox_config(world, "oauth2-app", credential="certificate",
                                                 certificate_path=str(world.client_pem)))
    try:
        world.dovecot.client().append("INBOX", agii_message("before"))
        wait_for(lambda: len(deliveries(agent)) == 1, 30, "the first message")
        world.idp.revoke_client(APP)  # the administrator deletes the certificate in Entra ID

        def refused() -> bool:
            found = status(agent)
            return any(p["code"] == "oauth-credential-refused" for p in found["problems"])

        wait_for(refused, 3 * LIFETIME_S, "the refusal in status")  # when the session had to be renewed
        world.dovecot.client().append("INBOX", agii_message("after"))
        attempts = world.idp.grants("client_credentials")
        time.sleep(8)  # measuring the retry rate over a fixed span, not waiting for something
        assert world.idp.grants("client_credentials") - attempts <= 3  # 2 s, 4 s, 8 s apart: back-off
        assert agent.proc is not None and agent.proc.poll() is None  # still running
        found = status(agent)
        assert found["compliant"] is False
        problem = next(p for p in found["problems"] if p["code"] == "oauth-credential-refused")
        assert problem["params"] == {"name": "agii"}
        assert "secret set mailbox-{name}" in problem["message"]  # the fix, not only the failure
        oauth = found["health"]["oauth"][0]
        assert oauth["last_failure"] == "oauth-credential-refused" and oauth["last_failure_at"]
        watcher = next(w for w in found["health"]["intake"] if w["name"] == "mailbox:agii")
        assert watcher["state"] == "failing"
        assert inbox_count(world.dovecot) == 1 and len(deliveries(agent)) == 1  # the message waits on the server
        shown = agent.cli("status")
        assert b"secret set mailbox-agii" in shown.stdout  # the officer's table names the fix too
    finally:
        agent.stop()


def test_a_client_secret_from_the_key_store_works_and_a_new_one_is_picked_up(world: World,
                                                                               tmp_path: Path) -> None:
    world.idp.register_app(APP, "agii-intake", secret="first-secret-value")
    agent = start_agent(tmp_path, mailbox_config(world, "oauth2-app", credential="secret"))
    try:
        stored = agent.cli("secret", "set", "mailbox-agii", input=b"wrong-secret-value\n")
        assert stored.returncode == 0, stored.stderr

        def problem_codes() -> set[str]:
            return {p["code"] for p in status(agent)["problems"]}

        wait_for(lambda: "oauth-credential-refused" in problem_codes(), 30, "the wrong secret refused")
        assert agent.cli("secret", "set", "mailbox-agii", input=b"first-secret-value\n").returncode == 0
        world.dovecot.client().append("INBOX", agii_message("secret"))
        wait_for(lambda: len(deliveries(agent)) == 1, 60, "intake with the right secret")
        wait_for(lambda: "oauth-credential-refused" not in problem_codes(), 30, "the problem gone")
        for secret in (b"first-secret-value", b"wrong-secret-value"):
            assert secret not in home_bytes(agent.home, keys=False)  # only in the key store
    finally:
        agent.stop()


def test_delegated_sign_in_once_then_refresh_tokens_rotate_unattended(world: World, tmp_path: Path) -> None:
    world.idp.register_public(APP)
    agent = start_agent(tmp_path, mailbox_config(world, "oauth2-delegated"))
    try:
        def codes() -> set[str]:
            return {p["code"] for p in status(agent)["problems"]}

        wait_for(lambda: "oauth-signin-required" in codes(), 30, "status asks for a sign-in")
        signin = subprocess.Popen([sys.executable, "-m", "retention_agent", "--home", str(agent.home), "--lang",
                                   "en", "mailbox", "signin", "agii"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        try:
            assert signin.stdout is not None
            first_line = signin.stdout.readline().decode()
            assert f"https://{world.idp.host}/devicelogin" in first_line
            code = first_line.split("the code ")[1].split(".")[0]
            world.idp.approve(code, world.dovecot.user)  # the person signs in at the page
            out, err = signin.communicate(timeout=60)
        finally:
            if signin.poll() is None:
                signin.kill()
        assert signin.returncode == 0, err
        assert b"Signed in" in out
        for n in range(2):
            world.dovecot.client().append("INBOX", agii_message(f"d{n}"))
            wait_for(lambda n=n: len(deliveries(agent)) == n + 1, 40, f"message {n} taken")
            if n == 0:
                refreshed = world.idp.grants("refresh_token")
                wait_for(lambda r=refreshed: world.idp.grants("refresh_token") > r, 3 * LIFETIME_S,
                         "the access token renewed with the (rotating) refresh token")
        assert "oauth-signin-required" not in codes()
        oauth = status(agent)["health"]["oauth"][0]
        assert (oauth["flow"], oauth["credential"]) == ("delegated", "refresh-token")
        current = next(iter(world.idp.refresh_tokens))  # the newest: the old ones were used up
        assert current.encode() not in home_bytes(agent.home, keys=False)
        assert current[:900].encode() in home_bytes(agent.home, keys=True)  # in the key store, in chunks
        audit = agent.cli("audit", "show", "--json")
        assert b"mailbox.signed-in" in audit.stdout and world.dovecot.user.encode() not in audit.stdout

        world.idp.revoke_sessions(world.dovecot.user)  # Revoke-MgUserSignInSession
        wait_for(lambda: "oauth-signin-required" in codes(), 4 * LIFETIME_S, "the revoked sign-in in status")
    finally:
        agent.stop()
