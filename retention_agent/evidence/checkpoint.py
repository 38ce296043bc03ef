"""Signed audit-log checkpoints: C2SP ``tlog-checkpoint`` bodies in C2SP ``signed-note`` envelopes, Ed25519.

A checkpoint body (c2sp.org/tlog-checkpoint) is the origin, the tree size in decimal and the base64 RFC 6962
root hash, one per line, then optional extension lines::

    retention-agent.example/de-panne/audit
    8
    XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=

The signed note (c2sp.org/signed-note) appends a blank line and signature lines
``— <key name> base64(key ID || Ed25519 signature over the body)``, where the 4-byte key ID is
``SHA-256(key name || 0x0A || 0x01 || public key)[:4]``. Verifier keys are written
``<key name>+<key ID in hex>+base64(0x01 || public key)``, as Go's ``golang.org/x/mod/sumdb/note`` does,
so notes made here open with that package and its ecosystem (witnesses, monitors).

Parsing is strict: anything the specifications do not allow, and any non-canonical base64, is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from retention_agent.crypto import (
    ED25519_KEY_SIZE,
    ED25519_SIGNATURE_SIZE,
    AuthenticationFailed,
    SigningKey,
    verify_ed25519,
)

MAX_NOTE_SIZE: Final = 64 * 1024
ROOT_HASH_SIZE: Final = 32
KEY_ID_SIZE: Final = 4
ED25519_SIGNATURE_TYPE: Final = b"\x01"

_SIGNATURE_PREFIX: Final = "\u2014 "  # em dash, space
_CANONICAL_SIZE: Final = re.compile(r"0|[1-9][0-9]*")
_HEX_KEY_ID: Final = re.compile(r"[0-9a-f]{8}")
_MAX_TREE_SIZE: Final = (1 << 64) - 1


class CheckpointFormatError(ValueError):
    """The text is not a well-formed signed checkpoint (or a value cannot be written as one).

    A ``ValueError`` because it is bad input, not a failed check: a note that parses may still be forged,
    which only :func:`verify` can tell.
    """


class CheckpointSignatureError(AuthenticationFailed):
    """No signature on the checkpoint verifies with the expected key, or one from that key is invalid.

    An :class:`~retention_agent.crypto.AuthenticationFailed`, so callers treat it like every other failed
    verification: the checkpoint is not to be trusted, whatever the detail.
    """


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: ``size`` leaves hashing to ``root_hash`` in the log named ``origin``."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if not isinstance(self.extensions, tuple):
            raise CheckpointFormatError("the extension lines must be a tuple of strings")
        for extension in self.extensions:
            _check_line(extension, "extension line")
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size <= _MAX_TREE_SIZE
        ):
            raise CheckpointFormatError(f"the tree size must be an integer in 0..2**64-1, not {self.size!r}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != ROOT_HASH_SIZE:
            raise CheckpointFormatError(f"the root hash must be {ROOT_HASH_SIZE} bytes")

    def body(self) -> bytes:
        """The note text that is signed: origin, size, base64 root, extensions, each ending in a newline."""
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines).encode("utf-8")


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note, not yet verified."""

    key_name: str
    key_id: bytes
    signature: bytes


def key_id(key_name: str, public_key: bytes) -> bytes:
    """The signed-note key ID of an Ed25519 key: 4 bytes naming the key and the algorithm together."""
    _check_key_name(key_name)
    _check_public_key(public_key)
    hashed = key_name.encode("utf-8") + b"\n" + ED25519_SIGNATURE_TYPE + public_key
    return hashlib.sha256(hashed).digest()[:KEY_ID_SIZE]


def verifier_key(key_name: str, public_key: bytes) -> str:
    """The verifier key line, e.g. ``example.com/log+1a2b3c4d+AV...``, to hand to whoever checks our notes."""
    encoded = _b64encode(ED25519_SIGNATURE_TYPE + public_key)
    return f"{key_name}+{key_id(key_name, public_key).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, bytes]:
    """``(key name, Ed25519 public key)`` from a verifier key line; the key ID in it must match."""
    name, plus, rest = text.partition("+")
    hex_id, plus2, encoded = rest.partition("+")
    if not (plus and plus2 and _HEX_KEY_ID.fullmatch(hex_id)):
        raise CheckpointFormatError("a verifier key reads <name>+<8 hex digits>+<base64 key>")
    raw = _b64decode(encoded, "verifier key")
    if len(raw) != 1 + ED25519_KEY_SIZE or raw[:1] != ED25519_SIGNATURE_TYPE:
        raise CheckpointFormatError("the verifier key is not an Ed25519 key")
    public_key = raw[1:]
    if key_id(name, public_key).hex() != hex_id:
        raise CheckpointFormatError("the key ID in the verifier key does not match its name and key")
    return name, public_key


def sign(checkpoint: Checkpoint, key_name: str, signing_key: SigningKey) -> str:
    """The signed note: the checkpoint body, a blank line and one Ed25519 signature line."""
    body = checkpoint.body()
    signature = key_id(key_name, signing_key.public_bytes()) + signing_key.sign(body)
    return f"{body.decode('utf-8')}\n{_SIGNATURE_PREFIX}{key_name} {_b64encode(signature)}\n"


def parse(text: str | bytes) -> tuple[Checkpoint, list[NoteSignature]]:
    """Split a signed note into its checkpoint and signature lines, checking the form only, not signatures."""
    checkpoint, signatures, _ = _parse(text)
    return checkpoint, signatures


def verify(text: str | bytes, key_name: str, public_key: bytes) -> Checkpoint:
    """The checkpoint in ``text`` if ``key_name``'s ``public_key`` signed it.

    Signatures by other keys are ignored, as signed-note requires. Every signature with this key's name and
    ID must verify (a bad one rejects the note) and there must be at least one.
    """
    checkpoint, signatures, body = _parse(text)
    wanted = key_id(key_name, public_key)
    mine = [s for s in signatures if s.key_name == key_name and s.key_id == wanted]
    if not mine:
        raise CheckpointSignatureError()
    for signature in mine:
        if len(signature.signature) != ED25519_SIGNATURE_SIZE:
            raise CheckpointSignatureError()
        try:
            verify_ed25519(public_key, signature.signature, body)
        except AuthenticationFailed as exc:
            raise CheckpointSignatureError() from exc
    return checkpoint


# ---- private helpers ------------------------------------------------------------------------------------


def _parse(text: str | bytes) -> tuple[Checkpoint, list[NoteSignature], bytes]:
    """The checkpoint, the signature lines and the signed bytes exactly as they appear in ``text``."""
    note = _decode_note(text)
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointFormatError("a signed note needs a blank line before its signatures")
    body, signature_block = note[: split + 1], note[split + 2 :]
    return _parse_body(body), _parse_signatures(signature_block), body.encode("utf-8")


def _decode_note(text: str | bytes) -> str:
    if len(text) > MAX_NOTE_SIZE:
        raise CheckpointFormatError(f"a signed note is at most {MAX_NOTE_SIZE} bytes")
    try:
        raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        note = raw.decode("utf-8")
    except UnicodeError as exc:
        raise CheckpointFormatError("a signed note must be valid UTF-8") from exc
    if len(raw) > MAX_NOTE_SIZE:
        raise CheckpointFormatError(f"a signed note is at most {MAX_NOTE_SIZE} bytes")
    if any(ch < " " and ch != "\n" for ch in note):
        raise CheckpointFormatError("a signed note must not contain control characters other than newline")
    return note


def _parse_body(body: str) -> Checkpoint:
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointFormatError("a checkpoint has an origin, a size and a root hash line")
    origin, size_text, root_text, *extensions = lines
    if not _CANONICAL_SIZE.fullmatch(size_text) or len(size_text) > len(str(_MAX_TREE_SIZE)):
        raise CheckpointFormatError("the tree size must be a decimal number without leading zeros")
    root_hash = _b64decode(root_text, "root hash")
    return Checkpoint(origin, int(size_text), root_hash, tuple(extensions))


def _parse_signatures(block: str) -> list[NoteSignature]:
    if not block.endswith("\n"):
        raise CheckpointFormatError("a signed note needs at least one signature line, ending in a newline")
    return [_parse_signature_line(line) for line in block[:-1].split("\n")]


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise CheckpointFormatError("a signature line starts with an em dash and a space")
    name, space, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    if not space:
        raise CheckpointFormatError("a signature line reads: em dash, key name, base64 signature")
    _check_key_name(name)
    raw = _b64decode(encoded, "signature")
    if len(raw) <= KEY_ID_SIZE:
        raise CheckpointFormatError("a signature holds a 4-byte key ID and at least one byte more")
    return NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def _check_line(value: str, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise CheckpointFormatError(f"the {what} must be a non-empty string")
    if any(ch < " " for ch in value):
        raise CheckpointFormatError(f"the {what} must be one line without control characters")
    try:
        value.encode("utf-8")
    except UnicodeError as exc:
        raise CheckpointFormatError(f"the {what} must be valid Unicode text") from exc


def _check_key_name(name: str) -> None:
    _check_line(name, "key name")
    if "+" in name or any(ch.isspace() for ch in name):
        raise CheckpointFormatError("a key name must not contain spaces or '+'")


def _check_public_key(public_key: bytes) -> None:
    if not isinstance(public_key, bytes) or len(public_key) != ED25519_KEY_SIZE:
        raise CheckpointFormatError(f"an Ed25519 public key is {ED25519_KEY_SIZE} bytes")


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64: the decoded bytes must encode back to exactly ``text``.

    The round trip refuses stray characters, missing padding and non-zero padding bits, so each value has
    one spelling and a changed character can never leave the meaning unchanged.
    """
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeError, binascii.Error) as exc:
        raise CheckpointFormatError(f"the {what} is not base64") from exc
    if not data or _b64encode(data) != text:
        raise CheckpointFormatError(f"the {what} is not canonical base64")
    return data


def log_origin(slug: str, installation_id: str) -> str:
    """The audit log's checkpoint origin (and signed-note key name)."""
    return f"retention-agent/{slug}/{installation_id}"
