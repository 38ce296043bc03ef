"""OAuth2 token sources without a mail server: MSAL against the local identity provider, the refresh token in the
key store, the certificate file's checks, and that no token reaches a log.

The whole path with Dovecot and the real agent process is in tests/integration/test_mail_oauth_agent.py.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from retention_agent.clock import ManualClock, SystemClock
from retention_agent.intake.credentials import CredentialError
from retention_agent.intake.oauth import (
    ERR_AUTHORITY,
    ERR_CERTIFICATE,
    ERR_CONFIGURATION,
    ERR_CREDENTIAL_REFUSED,
    ERR_SIGNIN_REQUIRED,
    IMAP_APP_SCOPE,
    IMAP_DELEGATED_SCOPE,
    AppTokens,
    DelegatedTokens,
    OAuthConfig,
    RefreshTokenStore,
    answer_error,
    read_certificate,
)
from retention_agent.vault.keys import FileKeyStore
from tests.support.oauth_server import TENANT, IdentityProvider
from tests.support.tls_ca import TestCA, make_ca, self_signed_client_certificate


@pytest.fixture
def ca() -> Iterator[TestCA]:
    root = Path(tempfile.mkdtemp(prefix="ra-oauth-unit-"))
    try:
        yield make_ca(root / "ca")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def idp(ca: TestCA) -> Iterator[IdentityProvider]:
    provider = IdentityProvider(*ca.server_certificate("idp"), token_lifetime_s=600).start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def keys(tmp_path: Path) -> FileKeyStore:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    return FileKeyStore(folder)


def app_config(idp: IdentityProvider, ca: TestCA, **overrides: object) -> OAuthConfig:
    values: dict[str, object] = {"mailbox": "agii", "flow": "app", "tenant": TENANT, "client_id": "app-1",
                                 "scopes": (IMAP_APP_SCOPE,), "credential": "secret", "authority_host": idp.host,
                                 "ca_file": str(ca.cert), "timeout_s": 5.0}
    values.update(overrides)
    return OAuthConfig(**values)  # type: ignore[arg-type]


# ---- the refresh token in the key store -----------------------------------------------------------------


def test_a_long_refresh_token_is_split_over_entries_and_read_back(keys: FileKeyStore) -> None:
    store = RefreshTokenStore(keys, "agii")
    assert store.load() is None
    token = "rt-" + "x" * 2500
    store.save(token)
    assert store.load() == token
    entries = sorted(p.name for p in keys.folder.iterdir())
    assert len([e for e in entries if ".key" in e and "refresh-" in e]) == 1 + 3  # a header and three chunks
    assert all(len(p.read_bytes()) <= 900 for p in keys.folder.iterdir() if "refresh-a." in p.name)


def test_a_crash_in_the_middle_of_a_save_leaves_the_previous_token(keys: FileKeyStore,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    store = RefreshTokenStore(keys, "agii")
    store.save("first-" + "a" * 2000)
    store.save("second-" + "b" * 2000)  # the other slot
    assert store.load() == "second-" + "b" * 2000
    written = {"n": 0}
    real_put = keys.put

    def crash_after_one_chunk(name: str, secret: bytes) -> None:
        written["n"] += 1
        if written["n"] > 1:
            raise OSError("power cut")
        real_put(name, secret)

    monkeypatch.setattr(keys, "put", crash_after_one_chunk)
    with pytest.raises(OSError):
        store.save("third-" + "c" * 2000)  # goes to the older slot, and is cut short
    monkeypatch.undo()
    assert store.load() == "second-" + "b" * 2000  # the newest complete one
    store.save("fourth")
    assert store.load() == "fourth"


def test_a_tampered_chunk_is_not_used(keys: FileKeyStore) -> None:
    store = RefreshTokenStore(keys, "agii")
    store.save("one-" + "1" * 1000)
    store.save("two-" + "2" * 1000)
    chunk = next(p for p in keys.folder.iterdir() if p.name.endswith("refresh-b.0.key"))
    chunk.write_bytes(b"X" * len(chunk.read_bytes()))
    assert store.load() == "one-" + "1" * 1000  # the other slot's, whose SHA-256 still matches


# ---- the certificate file --------------------------------------------------------------------------------


def test_the_certificate_file_must_be_private_and_hold_a_key_and_a_certificate(tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    self_signed_client_certificate(pem)
    found = read_certificate(str(pem))
    assert "PRIVATE KEY" in found["private_key"] and "BEGIN CERTIFICATE" in found["public_certificate"]
    for mode in (0o644, 0o604, 0o620):
        pem.chmod(mode)
        with pytest.raises(CredentialError) as refused:
            read_certificate(str(pem))
        assert refused.value.error_id == ERR_CERTIFICATE
    pem.chmod(0o640)  # a group the service account shares (ssl-cert) may read it
    assert read_certificate(str(pem))
    link = tmp_path / "link.pem"
    link.symlink_to(pem)
    cert_only = tmp_path / "cert-only.pem"
    cert_only.write_text(found["public_certificate"])
    cert_only.chmod(0o600)
    for bad in (link, cert_only, tmp_path / "missing.pem", tmp_path):
        with pytest.raises(CredentialError) as refused:
            read_certificate(str(bad))
        assert refused.value.error_id == ERR_CERTIFICATE, bad


# ---- client credentials against the local identity provider -----------------------------------------------


def test_app_tokens_with_a_secret_and_ca_file_winning_over_the_environment(
        idp: IdentityProvider, ca: TestCA, keys: FileKeyStore, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")  # no test CA in there
    caplog.set_level(logging.DEBUG)
    idp.register_app("app-1", "agii-intake", secret="s3cret-value")
    keys.put("secret/mailbox-agii", b"s3cret-value")
    clock = ManualClock()
    tokens = AppTokens(app_config(idp, ca), keys, clock)
    credential = tokens.current()
    assert credential.mechanism == "xoauth2" and credential.valid_for_s == 600.0
    assert credential.secret in idp.tokens and credential.secret not in repr(credential)
    assert tokens.status.expires_at is not None and tokens.status.last_failure is None
    assert tokens.current().secret == credential.secret  # MSAL's in-memory cache: one token while it lasts
    assert idp.grants("client_credentials") == 1
    tokens.invalidate()  # the server refused it: a new one next time
    assert tokens.current().secret != credential.secret
    for secret in (credential.secret, "s3cret-value"):
        assert secret not in caplog.text  # MSAL, urllib3 and ours: no token, no secret in any log


def test_every_failure_is_an_error_id(idp: IdentityProvider, ca: TestCA, keys: FileKeyStore) -> None:
    idp.register_app("app-1", "agii-intake", secret="right")
    keys.put("secret/mailbox-agii", b"wrong")

    def failure(config: OAuthConfig) -> str:
        with pytest.raises(CredentialError) as caught:
            AppTokens(config, keys, SystemClock()).current()
        return caught.value.error_id

    assert failure(app_config(idp, ca)) == ERR_CREDENTIAL_REFUSED
    assert failure(app_config(idp, ca, tenant="another-tenant")) == ERR_CONFIGURATION
    assert failure(app_config(idp, ca, ca_file=None)) == ERR_AUTHORITY  # the test CA is not trusted then
    assert failure(app_config(idp, ca, authority_host="127.0.0.1:1")) == ERR_AUTHORITY
    keys.delete("secret/mailbox-agii")
    assert failure(app_config(idp, ca)) == "imap-secret-missing"
    pem = Path(keys.folder.parent / "app.pem")
    cert = self_signed_client_certificate(pem)
    idp.register_app("app-1", "agii-intake", certificate_pem=cert.read_bytes())
    assert AppTokens(app_config(idp, ca, credential="certificate", certificate_path=str(pem)), keys,
                     SystemClock()).current().secret
    other = keys.folder.parent / "other.pem"
    self_signed_client_certificate(other)  # a certificate Entra ID never saw
    assert failure(app_config(idp, ca, credential="certificate", certificate_path=str(other))) == ERR_CREDENTIAL_REFUSED


def test_msal_answers_map_to_error_ids() -> None:
    assert answer_error({"access_token": "x", "expires_in": 3600}) is None
    assert answer_error({"error": "invalid_client"}) == ERR_CREDENTIAL_REFUSED
    assert answer_error({"error": "unauthorized_client"}) == ERR_CREDENTIAL_REFUSED
    assert answer_error({"error": "invalid_grant"}) == ERR_CREDENTIAL_REFUSED
    assert answer_error({"error": "invalid_grant"}, refresh=True) == ERR_SIGNIN_REQUIRED
    assert answer_error({"error": "temporarily_unavailable"}) == ERR_AUTHORITY
    assert answer_error({}) == ERR_AUTHORITY


# ---- delegated: device code, then the refresh token ----------------------------------------------------------


def test_a_device_code_sign_in_then_rotating_refresh_tokens(idp: IdentityProvider, ca: TestCA,
                                                            keys: FileKeyStore) -> None:
    idp.register_public("app-1")
    clock = ManualClock()
    config = app_config(idp, ca, flow="delegated", scopes=(IMAP_DELEGATED_SCOPE,))
    tokens = DelegatedTokens(config, keys, clock)
    with pytest.raises(CredentialError) as caught:
        tokens.current()
    assert caught.value.error_id == ERR_SIGNIN_REQUIRED and tokens.status.last_failure == ERR_SIGNIN_REQUIRED
    flow = tokens.start_sign_in()
    assert flow["verification_uri"].endswith("/devicelogin") and flow["user_code"]
    assert tokens.poll_sign_in(flow) is False  # nobody typed the code yet
    idp.approve(flow["user_code"], "agii@gemeente.example")
    assert tokens.poll_sign_in(flow) is True
    first_refresh = tokens.refresh_tokens.load()
    assert first_refresh in idp.refresh_tokens
    access = tokens.current().secret
    assert access in idp.tokens and idp.grants("refresh_token") == 0  # the sign-in's own token, from memory
    clock.advance(timedelta(seconds=590))  # the token is about to expire: the refresh token gets a new one
    renewed = tokens.current().secret
    assert renewed != access and idp.grants("refresh_token") == 1
    assert tokens.refresh_tokens.load() != first_refresh  # rotated, and the new one kept
    assert first_refresh not in idp.refresh_tokens
    idp.revoke_sessions("agii@gemeente.example")
    clock.advance(timedelta(seconds=590))
    with pytest.raises(CredentialError) as caught:
        tokens.current()
    assert caught.value.error_id == ERR_SIGNIN_REQUIRED


SIGN_IN = """
import sys
from retention_agent.clock import SystemClock
from retention_agent.intake.oauth import IMAP_DELEGATED_SCOPE, DelegatedTokens, OAuthConfig
from retention_agent.vault.keys import FileKeyStore
from pathlib import Path
host, ca, keys = sys.argv[1:4]
config = OAuthConfig(mailbox="agii", flow="delegated", tenant="gemeente-test", client_id="app-1",
                     scopes=(IMAP_DELEGATED_SCOPE,), authority_host=host, ca_file=ca)
tokens = DelegatedTokens(config, FileKeyStore(Path(keys)), SystemClock())
flow = tokens.start_sign_in()
assert tokens.poll_sign_in(flow)
tokens.invalidate()
print(len(tokens.current().secret))
"""


def test_tokens_leave_the_process_only_into_the_key_store(idp: IdentityProvider, ca: TestCA, tmp_path: Path) -> None:
    """A sign-in and a renewal in a process whose home, temporary folder and working folder are empty: afterwards
    the key store holds the refresh token, and nothing else was written anywhere (MSAL's cache is in memory)."""
    idp.register_public("app-1")
    idp.auto_approve = "agii@gemeente.example"
    places = {name: tmp_path / name for name in ("home", "tmp", "cwd", "keys")}
    for folder in places.values():
        folder.mkdir(mode=0o700)
    env = {**os.environ, "HOME": str(places["home"]), "TMPDIR": str(places["tmp"]),
           "XDG_CACHE_HOME": str(places["home"] / ".cache"), "XDG_DATA_HOME": str(places["home"] / ".local")}
    done = subprocess.run([sys.executable, "-c", SIGN_IN, idp.host, str(ca.cert), str(places["keys"])],
                          cwd=places["cwd"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert idp.grants("refresh_token") == 1  # signed in, then renewed with the refresh token
    for name in ("home", "tmp", "cwd"):
        assert list(places[name].rglob("*")) == [], name
    stored = b"".join(p.read_bytes() for p in places["keys"].iterdir())
    current = next(iter(idp.refresh_tokens))
    assert current[:900].encode() in stored
