"""Signed checkpoints: known answers from Go's note package, round trips, tampering, strict parsing.

Known answers come from golang.org/x/mod ``sumdb/note/note_test.go`` (keys and a signature) and
transparency-dev/formats ``log/note_test.go`` (a real sum.golang.org checkpoint and witness signatures on it),
so the notes written here are checked against another implementation, not only against themselves.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from retention_agent.crypto import AuthenticationFailed, SigningKey
from retention_agent.evidence.checkpoint import (
    MAX_NOTE_SIZE,
    Checkpoint,
    CheckpointFormatError,
    CheckpointSignatureError,
    NoteSignature,
    key_id,
    parse,
    parse_verifier_key,
    sign,
    verifier_key,
    verify,
)

# ---- known answers ---------------------------------------------------------------------------------------

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_TEXT = (
    b"If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
PETER_SIG = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH_SIG = "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="

# (verifier key, private key) pairs; the private key is base64(0x01 || Ed25519 seed).
KEY_PAIRS = [
    (PETER_VKEY, PETER_SKEY.split("+", 4)[4]),
    (
        "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
        "AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
    ),
    (
        "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
        "AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
    ),
    (
        "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj",
        "ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
    ),
    (
        "Unknown+fdbb2e08+AWgRIYZ+8x1Vl+1Q+sR8zciNHiYI1SdlBjNw+RV0rots",
        "Aav2knTC6orbhXX8pMWuNiWgO+Wwk2DB+h1eU2Q1W1nU",
    ),
]

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_BODY = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
SUMDB_NOTE = (
    SUMDB_BODY + "\n— sum.golang.org "
    "Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
)
WITNESS_VKEYS = [
    "monkeys+db4d9f7e+AULaJMvTtDLHPUcUrjdDad9vDlh/PTfC2VV60JUtCfWT",
    "bananas+cf639f13+AaPjhFnPCQnid/Ql32KWhmh+uk72FVRfK+2DLmO3BI3M",
    "witness+f13a86db+AdYV1Ztajd9BvyjP2HgpwrqYL6TjOwIjGMOq8Bu42xbN",
]
WITNESS_LINES = (
    "— monkeys 202ffh9ve46Mqbhuyb4wnC2Pwdan5EsXQym/tF1ggXJqhjGosU4T5intH4iKMRgDLxrnXuIjRaU2NbvAnaepM6Y+8ww=\n"
    "— bananas z2OfE+2bbsBZ7NLgfuslc0v7NFW2QyexJ7fhePpoL2N/P7N/COd5S+JNHbQEAlYzz2C5sg0E+x/MggS1mDR6t3/9rQw=\n"
    "— witness 8TqG25yWGFLdT7WPf/WoyeG3LwqtkXP+8S3yykOVm6EMh4hPgCke6eSVPU4BdtXNMPJBXKF+UpDbGgCdcpR8SVSoqAU=\n"
    "— random1 8TqG25yWGFLdT7WPf/WoyeG3LwqtkXP+8S3yykOVm6EMh4hPgCke6eSVPU4BdtXNMPJBXKF+UpDbGgCdcpR8SVSoqAU=\n"
)


def signing_key_from(private_b64: str) -> SigningKey:
    raw = base64.b64decode(private_b64)
    assert raw[0] == 1
    return SigningKey.from_private_bytes(raw[1:])


@pytest.mark.parametrize(("vkey", "skey"), KEY_PAIRS)
def test_known_verifier_keys(vkey: str, skey: str) -> None:
    name, public_key = parse_verifier_key(vkey)
    assert name == vkey.split("+")[0]
    assert key_id(name, public_key).hex() == vkey.split("+")[1]
    assert verifier_key(name, public_key) == vkey
    assert signing_key_from(skey).public_bytes() == public_key


def test_known_note_signature() -> None:
    key = signing_key_from(PETER_SKEY.split("+", 4)[4])
    raw = key_id("PeterNeumann", key.public_bytes()) + key.sign(PETER_TEXT)
    assert base64.b64encode(raw).decode() == PETER_SIG
    assert key_id(*parse_verifier_key(ENOCH_VKEY)) == base64.b64decode(ENOCH_SIG)[:4]


def test_real_sum_golang_org_checkpoint_verifies() -> None:
    name, public_key = parse_verifier_key(SUMDB_VKEY)
    checkpoint = verify(SUMDB_NOTE, name, public_key)
    assert checkpoint == Checkpoint(
        "go.sum database tree", 6476701, base64.b64decode("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=")
    )
    assert checkpoint.body() == SUMDB_BODY.encode()


@pytest.mark.parametrize("vkey", [SUMDB_VKEY, *WITNESS_VKEYS])
def test_cosigned_checkpoint_verifies_with_each_key_and_ignores_unknown_ones(vkey: str) -> None:
    note = SUMDB_NOTE + WITNESS_LINES
    checkpoint, signatures = parse(note)
    assert [s.key_name for s in signatures] == ["sum.golang.org", "monkeys", "bananas", "witness", "random1"]
    assert verify(note, *parse_verifier_key(vkey)) == checkpoint


def test_body_format() -> None:
    root_hash = hashlib.sha256(b"root").digest()
    encoded = base64.b64encode(root_hash).decode()
    assert Checkpoint("example.com/log", 0, root_hash).body() == f"example.com/log\n0\n{encoded}\n".encode()
    with_extensions = Checkpoint("o", 12, root_hash, ("ext one", "ext two"))
    assert with_extensions.body() == f"o\n12\n{encoded}\next one\next two\n".encode()


# ---- round trips -----------------------------------------------------------------------------------------

KEY = SigningKey.from_private_bytes(hashlib.sha256(b"test key").digest())
KEY_NAME = "retention-agent.example/de-panne/audit"
ROOT = hashlib.sha256(b"some tree").digest()
CHECKPOINT = Checkpoint(KEY_NAME, 1234, ROOT)


def test_sign_parse_verify_round_trip() -> None:
    note = sign(CHECKPOINT, KEY_NAME, KEY)
    body, rest = note.split("\n\n")
    assert body + "\n" == CHECKPOINT.body().decode()
    assert rest.startswith(f"\u2014 {KEY_NAME} ") and rest.endswith("\n")
    checkpoint, signatures = parse(note)
    assert checkpoint == CHECKPOINT
    assert signatures == [
        NoteSignature(KEY_NAME, key_id(KEY_NAME, KEY.public_bytes()), signatures[0].signature)
    ]
    assert len(signatures[0].signature) == 64
    assert verify(note, KEY_NAME, KEY.public_bytes()) == CHECKPOINT
    assert verify(note.encode(), KEY_NAME, KEY.public_bytes()) == CHECKPOINT
    assert verify(note, *parse_verifier_key(verifier_key(KEY_NAME, KEY.public_bytes()))) == CHECKPOINT


line_text = st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(
    origin=line_text,
    size=st.integers(min_value=0, max_value=(1 << 64) - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(line_text, max_size=4).map(tuple),
)
def test_round_trip_properties(origin: str, size: int, root_hash: bytes, extensions: tuple[str, ...]) -> None:
    checkpoint = Checkpoint(origin, size, root_hash, extensions)
    note = sign(checkpoint, KEY_NAME, KEY)
    assert parse(note)[0] == checkpoint
    assert verify(note, KEY_NAME, KEY.public_bytes()) == checkpoint


# ---- tampering -------------------------------------------------------------------------------------------


def test_every_flipped_bit_is_caught() -> None:
    note = sign(Checkpoint(KEY_NAME, 1234, ROOT, ("extension",)), KEY_NAME, KEY).encode()
    for i in range(len(note)):
        for bit in range(8):
            tampered = bytearray(note)
            tampered[i] ^= 1 << bit
            with pytest.raises((CheckpointFormatError, CheckpointSignatureError)):
                verify(bytes(tampered), KEY_NAME, KEY.public_bytes())


def test_every_truncation_and_extension_is_caught() -> None:
    note = sign(CHECKPOINT, KEY_NAME, KEY)
    for end in range(len(note)):
        with pytest.raises((CheckpointFormatError, CheckpointSignatureError)):
            verify(note[:end], KEY_NAME, KEY.public_bytes())
    for suffix in ("x", "\n", "\nx\n", "\u2014 x\n", "\u2014 x AAAA\n"):
        with pytest.raises((CheckpointFormatError, CheckpointSignatureError)):
            verify(note + suffix, KEY_NAME, KEY.public_bytes())
    # A well-formed signature line by some other key is an allowed addition (a witness cosignature).
    assert verify(note + "\u2014 x AAAAAAA=\n", KEY_NAME, KEY.public_bytes()) == CHECKPOINT


def test_wrong_key_or_name_is_refused() -> None:
    note = sign(CHECKPOINT, KEY_NAME, KEY)
    other = SigningKey.from_private_bytes(hashlib.sha256(b"other key").digest())
    for name, public_key in [
        (KEY_NAME, other.public_bytes()),
        ("someone.else/log", KEY.public_bytes()),
        (KEY_NAME + "x", KEY.public_bytes()),
    ]:
        with pytest.raises(CheckpointSignatureError):
            verify(note, name, public_key)


def test_same_name_and_key_id_with_a_bad_signature_rejects_the_note() -> None:
    note = sign(CHECKPOINT, KEY_NAME, KEY)
    bad = sign(Checkpoint(KEY_NAME, 1235, ROOT), KEY_NAME, KEY).split("\n\n")[1]
    with pytest.raises(CheckpointSignatureError):
        verify(note + bad, KEY_NAME, KEY.public_bytes())
    short = (
        "\u2014 " + KEY_NAME + " " + base64.b64encode(key_id(KEY_NAME, KEY.public_bytes()) + b"x").decode()
    )
    with pytest.raises(CheckpointSignatureError):
        verify(note + short + "\n", KEY_NAME, KEY.public_bytes())


def test_signature_error_is_an_authentication_failure() -> None:
    assert issubclass(CheckpointSignatureError, AuthenticationFailed)
    assert issubclass(CheckpointFormatError, ValueError)


def test_unknown_signatures_are_ignored() -> None:
    note = sign(CHECKPOINT, KEY_NAME, KEY)
    other = SigningKey.from_private_bytes(hashlib.sha256(b"other key").digest())
    witness_line = sign(CHECKPOINT, "witness.example", other).split("\n\n")[1]
    garbage_line = "\u2014 " + KEY_NAME + " " + base64.b64encode(b"\xff" * 4 + b"?" * 64).decode() + "\n"
    assert verify(note + witness_line + garbage_line, KEY_NAME, KEY.public_bytes()) == CHECKPOINT
    assert verify(note + witness_line, "witness.example", other.public_bytes()) == CHECKPOINT


# ---- strict parsing --------------------------------------------------------------------------------------

B64_ROOT = base64.b64encode(ROOT).decode()
SIG_LINE = sign(CHECKPOINT, KEY_NAME, KEY).split("\n\n")[1]
BODY = CHECKPOINT.body().decode()
URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xff" * 32).decode()


def malformed_root() -> str:
    # Same bytes, different spelling: the last character before '=' carries 2 padding bits.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    index = last.index(B64_ROOT[-2])
    return B64_ROOT[:-2] + last[index ^ 1] + "="


@pytest.mark.parametrize(
    "note",
    [
        "",
        BODY,
        BODY + "\n",
        BODY + "\n" + SIG_LINE[:-1],
        "\x01" + BODY + "\n" + SIG_LINE,
        BODY + "\n" + SIG_LINE + "Unexpected line.\n",
        BODY + "\n" + "\u2014 Bad Name " + SIG_LINE.split(" ")[2],
        BODY + "\n" + "\u2014 a+b " + SIG_LINE.split(" ")[2],
        BODY + "\n" + "\u2014  " + SIG_LINE.split(" ")[2],
        BODY + "\n" + "\u2014 " + KEY_NAME + "\n",
        BODY + "\n" + "- " + SIG_LINE[2:],
        BODY + "\n" + "\u2014" + SIG_LINE[2:],
        BODY + "\n" + SIG_LINE[:-3] + "\n",
        BODY + "\n" + SIG_LINE.replace(" ", "  ", 1),
        BODY + "\n" + "\u2014 " + KEY_NAME + " AAAAAA==\n",
        (BODY + "\n" + SIG_LINE).replace("\n", "\r\n"),
        f"{KEY_NAME}\n1234\n{B64_ROOT}\n\nextension\n\n{SIG_LINE}",
        f"{KEY_NAME}\n1234\n\n{SIG_LINE}",
        f"{KEY_NAME}\n\n{SIG_LINE}",
        f"\n1234\n{B64_ROOT}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n01234\n{B64_ROOT}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n+1234\n{B64_ROOT}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n-1\n{B64_ROOT}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n 1234\n{B64_ROOT}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n1234 \n{B64_ROOT}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n1_234\n{B64_ROOT}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n\u0661\u0662\n{B64_ROOT}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n18446744073709551616\n{B64_ROOT}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n{'9' * 5000}\n{B64_ROOT}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n1234\n{B64_ROOT[:-1]}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n1234\n{malformed_root()}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n1234\n{base64.b64encode(ROOT[:31]).decode()}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n1234\n{URLSAFE_ROOT}\n\n{SIG_LINE}",
        f"{KEY_NAME}\n1234\n{B64_ROOT} \n\n{SIG_LINE}",
        f"{KEY_NAME}\n1234\n{ROOT.hex()}\n\n{SIG_LINE}",
        f"{KEY_NAME}\t\n1234\n{B64_ROOT}\n\n{SIG_LINE}",
        f"{KEY_NAME}\ud800\n1234\n{B64_ROOT}\n\n{SIG_LINE}",
        BODY + "\n" + SIG_LINE + "\n" + SIG_LINE,
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(CheckpointFormatError):
        parse(note)
    with pytest.raises(CheckpointFormatError):
        verify(note, KEY_NAME, KEY.public_bytes())


def test_invalid_utf8_is_refused() -> None:
    for raw in (
        b"\xff" + BODY.encode() + b"\n" + SIG_LINE.encode(),
        BODY.encode() + b"\n\xe2\x80 x AAAAAAAA\n",
    ):
        with pytest.raises(CheckpointFormatError):
            parse(raw)


def test_size_bound() -> None:
    base = sign(CHECKPOINT, KEY_NAME, KEY)
    line = f"\u2014 other {base64.b64encode(bytes(68)).decode()}\n"
    fits = base + line * ((MAX_NOTE_SIZE - len(base.encode())) // len(line.encode()))
    assert len(fits.encode()) <= MAX_NOTE_SIZE
    assert verify(fits, KEY_NAME, KEY.public_bytes()) == CHECKPOINT
    too_big = fits + line
    assert len(too_big.encode()) > MAX_NOTE_SIZE
    for text in (too_big, too_big.encode()):
        with pytest.raises(CheckpointFormatError):
            parse(text)
    wide = sign(Checkpoint("\u00e9" * 33_000, 1, ROOT), KEY_NAME, KEY)  # fewer characters than bytes
    assert len(wide) < MAX_NOTE_SIZE < len(wide.encode())
    with pytest.raises(CheckpointFormatError):
        parse(wide)


def test_many_signatures_within_the_bound_are_accepted() -> None:
    lines = "".join(f"\u2014 other{i} {base64.b64encode(bytes(68)).decode()}\n" for i in range(100))
    note = sign(CHECKPOINT, KEY_NAME, KEY) + lines
    assert len(parse(note)[1]) == 101
    assert verify(note, KEY_NAME, KEY.public_bytes()) == CHECKPOINT


@pytest.mark.parametrize(
    ("origin", "size", "root_hash", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("two\nlines", 1, ROOT, ()),
        ("tab\there", 1, ROOT, ()),
        ("o", -1, ROOT, ()),
        ("o", 1 << 64, ROOT, ()),
        ("o", True, ROOT, ()),
        ("o", 1, ROOT[:31], ()),
        ("o", 1, ROOT + b"\x00", ()),
        ("o", 1, ROOT, ("",)),
        ("o", 1, ROOT, ("a\nb",)),
        ("\udc00", 1, ROOT, ()),
    ],
)
def test_checkpoint_values_are_checked(
    origin: str, size: int, root_hash: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(CheckpointFormatError):
        Checkpoint(origin, size, root_hash, extensions)


@pytest.mark.parametrize("name", ["", "a+b", "bad name", "tab\tname", "nbsp\u00a0name", "line\nname"])
def test_bad_key_names_are_refused(name: str) -> None:
    with pytest.raises(CheckpointFormatError):
        sign(CHECKPOINT, name, KEY)
    with pytest.raises(CheckpointFormatError):
        verifier_key(name, KEY.public_bytes())


def test_verifier_key_manglings_are_refused() -> None:
    # After Go's TestNewVerifier: every proper substring and every single-byte change must fail.
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(CheckpointFormatError):
                    parse_verifier_key(PETER_VKEY[i:j])
    for i in range(len(PETER_VKEY)):
        changed = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(CheckpointFormatError):
            parse_verifier_key(changed)
    for bad in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # wrong key length
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown algorithm
        PETER_VKEY.upper(),
        PETER_VKEY.replace("c74f20a3", "C74F20A3"),
        "",
        "++",
    ]:
        with pytest.raises(CheckpointFormatError):
            parse_verifier_key(bad)


# ---- fuzzing: only CheckpointFormatError may escape parse ------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
@example(BODY + "\n" + SIG_LINE)
@example("a\n0\n" + "A" * 43 + "=\n\n\u2014 k AAAAAAA=\n")
def test_parse_fuzz_text(text: str) -> None:
    try:
        checkpoint, signatures = parse(text)
    except CheckpointFormatError:
        return
    assert checkpoint.body().decode() + "\n" == text[: len(checkpoint.body().decode()) + 1]
    assert signatures


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_parse_fuzz_bytes(raw: bytes) -> None:
    try:
        parse(raw)
    except CheckpointFormatError:
        pass


NOTE = sign(CHECKPOINT, KEY_NAME, KEY)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=len(NOTE)),
    st.integers(min_value=0, max_value=8),
    st.text(max_size=8),
)
def test_verify_fuzz_edits_of_a_signed_note(position: int, removed: int, inserted: str) -> None:
    edited = NOTE[:position] + inserted + NOTE[position + removed :]
    try:
        checkpoint = verify(edited, KEY_NAME, KEY.public_bytes())
    except (CheckpointFormatError, CheckpointSignatureError):
        return
    # Only edits after the signature line (an extra unknown signature) may pass, with the content unchanged.
    assert checkpoint == CHECKPOINT
    assert edited.startswith(NOTE)
