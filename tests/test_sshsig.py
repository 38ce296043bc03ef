"""SSHSIG signatures checked against the real ssh-keygen, both ways, plus mutations and garbage."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from retention_agent import crypto
from retention_agent.evidence import sshsig

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.usefixtures("require_ssh_keygen")

IDENTITY = "retention-agent@de-panne"
NS = sshsig.NAMESPACE_DELETION_PROOF
KEY = crypto.SigningKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = crypto.SigningKey.from_private_bytes(bytes(range(32, 64)))
KEY_TEXT = sshsig.public_key_openssh(KEY.public_bytes())
MESSAGES = [b"", b"{}", b'{"delivery":"01JD8Z","purged":true}\n', bytes(range(256)) * 40]


# ---- helpers around the real ssh-keygen --------------------------------------------------------------------


def _write_private_key(key: crypto.SigningKey, path: Path) -> Path:
    """Export the key as an OpenSSH private key file, the way ssh-keygen expects it."""
    pem = Ed25519PrivateKey.from_private_bytes(key.private_bytes()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def _keygen_sign(tmp_path: Path, key: crypto.SigningKey, namespace: str, message: bytes, *extra: str) -> str:
    key_file = _write_private_key(key, tmp_path / f"id_{key.public_bytes().hex()[:8]}")
    done = subprocess.run(
        [SSH_KEYGEN or "ssh-keygen", "-Y", "sign", "-f", str(key_file), "-n", namespace, *extra],
        input=message,
        capture_output=True,
        check=True,
    )
    return done.stdout.decode("ascii")


def _keygen_verify(
    tmp_path: Path, armored: str, message: bytes, namespace: str = NS, allowed: str | None = None
) -> int:
    """``ssh-keygen -Y verify -f allowed_signers -I id -n ns -s sig < msg``; returns its exit code."""
    signers = tmp_path / "allowed_signers"
    signers.write_text(
        allowed or sshsig.allowed_signers_line(IDENTITY, [NS, "dpo-report"], KEY.public_bytes())
    )
    sig, msg = tmp_path / "doc.sig", tmp_path / "doc"
    sig.write_text(armored)
    msg.write_bytes(message)
    with msg.open("rb") as stdin:
        done = subprocess.run(
            [
                SSH_KEYGEN or "ssh-keygen",
                "-Y",
                "verify",
                "-f",
                str(signers),
                "-I",
                IDENTITY,
                "-n",
                namespace,
                "-s",
                str(sig),
            ],
            stdin=stdin,
            capture_output=True,
            check=False,
        )
    return done.returncode


def _blob(armored: str) -> bytes:
    return base64.b64decode("".join(armored.strip().splitlines()[1:-1]))


def _armor(blob: bytes) -> str:
    text = base64.b64encode(blob).decode()
    lines = [text[i : i + 70] for i in range(0, len(text), 70)]
    return "\n".join(["-----BEGIN SSH SIGNATURE-----", *lines, "-----END SSH SIGNATURE-----"]) + "\n"


def _s(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _custom_signature(
    *,
    namespace: bytes = NS.encode(),
    reserved: bytes = b"",
    algorithm: bytes = b"sha512",
    digest: bytes | None = None,
    key_type: bytes = b"ssh-ed25519",
    version: int = 1,
) -> str:
    """A correctly signed blob with one field chosen by the test (to prove verify checks it)."""
    message_digest = digest if digest is not None else hashlib.sha512(b"msg").digest()
    signed = b"SSHSIG" + _s(namespace) + _s(reserved) + _s(algorithm) + _s(message_digest)
    signature = KEY.sign(signed)
    blob = (
        b"SSHSIG"
        + struct.pack(">I", version)
        + _s(_s(b"ssh-ed25519") + _s(KEY.public_bytes()))
        + _s(namespace)
        + _s(reserved)
        + _s(algorithm)
        + _s(_s(key_type) + _s(signature))
    )
    return _armor(blob)


# ---- agreement with ssh-keygen -----------------------------------------------------------------------------


@needs_ssh_keygen
@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize("namespace", [NS, sshsig.NAMESPACE_DPO_REPORT, "file"])
def test_sign_is_byte_identical_to_ssh_keygen(tmp_path: Path, namespace: str, message: bytes) -> None:
    assert sshsig.sign(KEY, namespace, message) == _keygen_sign(tmp_path, KEY, namespace, message)


@needs_ssh_keygen
def test_sign_is_byte_identical_for_fresh_keys(tmp_path: Path) -> None:
    for _ in range(5):
        key = crypto.SigningKey.generate()
        message = os.urandom(100)
        assert sshsig.sign(key, NS, message) == _keygen_sign(tmp_path, key, NS, message)


@needs_ssh_keygen
@pytest.mark.parametrize("message", MESSAGES)
def test_ssh_keygen_verifies_ours(tmp_path: Path, message: bytes) -> None:
    armored = sshsig.sign(KEY, NS, message)
    assert _keygen_verify(tmp_path, armored, message) == 0
    sshsig.verify(armored, NS, message, KEY.public_bytes())


@needs_ssh_keygen
@pytest.mark.parametrize("hashalg", ["sha512", "sha256"])
def test_ours_verifies_ssh_keygen_signatures(tmp_path: Path, hashalg: str) -> None:
    message = MESSAGES[2]
    armored = _keygen_sign(tmp_path, KEY, NS, message, "-O", f"hashalg={hashalg}")
    sshsig.verify(armored, NS, message, KEY.public_bytes())
    with pytest.raises(sshsig.SignatureMismatch):
        sshsig.verify(armored, NS, message + b" ", KEY.public_bytes())
    with pytest.raises(sshsig.SignatureMismatch):
        sshsig.verify(armored, "dpo-report", message, KEY.public_bytes())


@needs_ssh_keygen
@pytest.mark.parametrize("position", [0, 17, -1])
def test_one_changed_byte_fails_both(tmp_path: Path, position: int) -> None:
    message = bytearray(MESSAGES[2])
    armored = sshsig.sign(KEY, NS, bytes(message))
    message[position] ^= 0x01
    assert _keygen_verify(tmp_path, armored, bytes(message)) != 0
    with pytest.raises(sshsig.SignatureMismatch):
        sshsig.verify(armored, NS, bytes(message), KEY.public_bytes())


@needs_ssh_keygen
def test_wrong_namespace_fails_both(tmp_path: Path) -> None:
    message = MESSAGES[2]
    armored = sshsig.sign(KEY, "dpo-report", message)
    assert _keygen_verify(tmp_path, armored, message, namespace=NS) != 0
    with pytest.raises(sshsig.SignatureMismatch):
        sshsig.verify(armored, NS, message, KEY.public_bytes())
    only_reports = sshsig.allowed_signers_line(IDENTITY, ["dpo-report"], KEY.public_bytes())
    proof = sshsig.sign(KEY, NS, message)
    assert _keygen_verify(tmp_path, proof, message, namespace=NS, allowed=only_reports) != 0


@needs_ssh_keygen
def test_other_key_fails_both(tmp_path: Path) -> None:
    message = MESSAGES[2]
    armored = sshsig.sign(OTHER_KEY, NS, message)
    assert _keygen_verify(tmp_path, armored, message) != 0
    with pytest.raises(sshsig.SignatureMismatch):
        sshsig.verify(armored, NS, message, KEY.public_bytes())


# ---- our verify on its own ---------------------------------------------------------------------------------


def test_armor_shape() -> None:
    armored = sshsig.sign(KEY, NS, b"x")
    lines = armored.split("\n")
    assert lines[0] == "-----BEGIN SSH SIGNATURE-----"
    assert lines[-2:] == ["-----END SSH SIGNATURE-----", ""]
    assert all(len(line) == 70 for line in lines[1:-3]) and 0 < len(lines[-3]) <= 70


def test_crlf_line_endings_still_verify() -> None:
    armored = sshsig.sign(KEY, NS, b"x").replace("\n", "\r\n")
    sshsig.verify(armored, NS, b"x", KEY.public_bytes())


def test_every_flipped_byte_of_the_blob_fails() -> None:
    blob = _blob(sshsig.sign(KEY, NS, b"msg"))
    for position in range(len(blob)):
        for mask in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[position] ^= mask
            with pytest.raises(sshsig.SignatureMismatch):
                sshsig.verify(_armor(bytes(tampered)), NS, b"msg", KEY.public_bytes())


def test_truncated_or_extended_blob_fails() -> None:
    blob = _blob(sshsig.sign(KEY, NS, b"msg"))
    for length in range(len(blob)):
        with pytest.raises(sshsig.SignatureMismatch):
            sshsig.verify(_armor(blob[:length]), NS, b"msg", KEY.public_bytes())
    with pytest.raises(sshsig.SignatureMismatch):
        sshsig.verify(_armor(blob + b"\x00"), NS, b"msg", KEY.public_bytes())


@pytest.mark.parametrize(
    ("signature", "namespace"),
    [
        (_custom_signature(algorithm=b"sha384", digest=hashlib.sha384(b"msg").digest()), NS),
        (_custom_signature(algorithm=b"md5", digest=hashlib.md5(b"msg").digest()), NS),
        (_custom_signature(reserved=b"x"), NS),
        (_custom_signature(key_type=b"ssh-rsa"), NS),
        (_custom_signature(version=2), NS),
        (_custom_signature(namespace=b""), ""),
    ],
    ids=["sha384", "md5", "reserved", "key-type", "version", "empty-namespace"],
)
def test_correctly_signed_but_unacceptable_fields_fail(signature: str, namespace: str) -> None:
    with pytest.raises(sshsig.SignatureMismatch):
        sshsig.verify(signature, namespace, b"msg", KEY.public_bytes())


def test_custom_signature_helper_is_sound() -> None:
    sshsig.verify(_custom_signature(), NS, b"msg", KEY.public_bytes())
    digest = hashlib.sha256(b"msg").digest()
    sshsig.verify(_custom_signature(algorithm=b"sha256", digest=digest), NS, b"msg", KEY.public_bytes())


@pytest.mark.parametrize(
    "armored",
    [
        "",
        "-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n",
        "-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----\n",
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
        "-----BEGIN PGP SIGNATURE-----\nU1NIU0lH\n-----END PGP SIGNATURE-----\n",
        "-----BEGIN SSH SIGNATURE-----\n" + "A" * 9000 + "\n-----END SSH SIGNATURE-----\n",
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHé\n-----END SSH SIGNATURE-----\n",
    ],
)
def test_malformed_armor_fails(armored: str) -> None:
    with pytest.raises(sshsig.SignatureMismatch):
        sshsig.verify(armored, NS, b"msg", KEY.public_bytes())


def test_wrong_public_key_argument_fails() -> None:
    armored = sshsig.sign(KEY, NS, b"msg")
    for public_key in (b"", bytes(32), KEY.public_bytes()[:31], OTHER_KEY.public_bytes()):
        with pytest.raises(sshsig.SignatureMismatch):
            sshsig.verify(armored, NS, b"msg", public_key)


@settings(max_examples=300, deadline=None)
@given(armored=st.text(max_size=600), message=st.binary(max_size=64), namespace=st.text(max_size=20))
def test_garbage_text_only_raises_signature_mismatch(armored: str, message: bytes, namespace: str) -> None:
    with pytest.raises(sshsig.SignatureMismatch):
        sshsig.verify(armored, namespace, message, KEY.public_bytes())


@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=400) | st.binary(max_size=300).map(lambda b: b"SSHSIG\x00\x00\x00\x01" + b))
def test_garbage_blobs_only_raise_signature_mismatch(blob: bytes) -> None:
    with pytest.raises(sshsig.SignatureMismatch):
        sshsig.verify(_armor(blob), NS, b"msg", KEY.public_bytes())


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_signatures_only_raise_signature_mismatch(data: st.DataObject) -> None:
    blob = bytearray(_blob(sshsig.sign(KEY, NS, b"msg")))
    position = data.draw(st.integers(0, len(blob) - 1))
    replacement = data.draw(st.binary(min_size=1, max_size=8))
    mutated = bytes(blob[:position]) + replacement + bytes(blob[position + len(replacement) :])
    if mutated == bytes(blob):
        return
    with pytest.raises(sshsig.SignatureMismatch):
        sshsig.verify(_armor(mutated), NS, b"msg", KEY.public_bytes())


@pytest.mark.parametrize("namespace", ["", "a b", "a,b", 'quote"', "x" * 129, "ünicode"])
def test_sign_refuses_namespaces_that_break_allowed_signers(namespace: str) -> None:
    with pytest.raises(ValueError):
        sshsig.sign(KEY, namespace, b"msg")


# ---- public keys and allowed signers -----------------------------------------------------------------------


def test_public_key_openssh_matches_cryptography_and_round_trips() -> None:
    expected = (
        Ed25519PrivateKey.from_private_bytes(KEY.private_bytes())
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    assert sshsig.public_key_openssh(KEY.public_bytes()) == expected
    assert sshsig.parse_public_key_openssh(expected) == KEY.public_bytes()
    assert sshsig.parse_public_key_openssh(expected + " comment here\n") == KEY.public_bytes()


@needs_ssh_keygen
def test_public_key_openssh_matches_ssh_keygen(tmp_path: Path) -> None:
    key_file = _write_private_key(KEY, tmp_path / "id")
    done = subprocess.run(
        [SSH_KEYGEN or "ssh-keygen", "-y", "-f", str(key_file)], capture_output=True, check=True, text=True
    )
    assert done.stdout.split()[:2] == sshsig.public_key_openssh(KEY.public_bytes()).split()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ssh-ed25519",
        "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
        "ssh-ed25519 not-base64!",
        "ssh-ed25519 " + base64.b64encode(_s(b"ssh-ed25519") + _s(bytes(31))).decode(),
        "ssh-ed25519 " + base64.b64encode(_s(b"ssh-rsa") + _s(bytes(32))).decode(),
    ],
)
def test_parse_public_key_refuses_others(text: str) -> None:
    with pytest.raises(ValueError):
        sshsig.parse_public_key_openssh(text)


def test_allowed_signers_line_and_parse() -> None:
    line = sshsig.allowed_signers_line(IDENTITY, [NS, "dpo-report"], KEY.public_bytes())
    assert line == (
        'retention-agent@de-panne namespaces="deletion-proof,dpo-report" '
        + sshsig.public_key_openssh(KEY.public_bytes())
    )
    other = sshsig.public_key_openssh(OTHER_KEY.public_bytes())
    text = "\n".join(
        [
            "# DPO's allowed signers",
            "",
            line,
            f"   other@x   {other}   a comment",
            '"quoted@x" cert-authority,namespaces="file" ' + other,
            "rsa@x ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC",
            f'both@x namespaces="dpo-report" {other}',
        ]
    )
    assert sshsig.parse_allowed_signers(text) == [
        (IDENTITY, (NS, "dpo-report"), KEY.public_bytes()),
        ("other@x", None, OTHER_KEY.public_bytes()),
        ("both@x", ("dpo-report",), OTHER_KEY.public_bytes()),
    ]
    signer = sshsig.parse_allowed_signers(text)[2]
    assert signer.allows("dpo-report") and not signer.allows(NS)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("# ok\nalone", 2),
        ('x@y namespaces="a ssh-ed25519 AAAA', 1),
        (f"x@y unknown-option {KEY_TEXT}", 1),
        (f'x@y valid-before="20300101" {KEY_TEXT}', 1),
        ("\n\nx@y ssh-ed25519 AAAA", 3),
        ("x@y ssh-ed25519", 1),
    ],
)
def test_parse_allowed_signers_names_the_bad_line(text: str, line: int) -> None:
    with pytest.raises(ValueError, match=f"line {line}:"):
        sshsig.parse_allowed_signers(text)


@pytest.mark.parametrize(
    ("identity", "namespaces"),
    [("", [NS]), ("two words", [NS]), ("a,b", [NS]), (IDENTITY, []), (IDENTITY, ["a,b"]), (IDENTITY, NS)],
)
def test_allowed_signers_line_refuses_what_would_change_meaning(identity: str, namespaces: list[str]) -> None:
    with pytest.raises(ValueError):
        sshsig.allowed_signers_line(identity, namespaces, KEY.public_bytes())
