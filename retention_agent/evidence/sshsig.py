"""OpenSSH SSHSIG signatures with Ed25519, so anyone can verify our documents with ``ssh-keygen -Y verify``.

Follows OpenSSH ``PROTOCOL.sshsig``. The signed data is::

    "SSHSIG" | string namespace | string reserved | string hash_algorithm | string H(message)

and the armored signature wraps, in base64 lines of 70 characters::

    "SSHSIG" | uint32 1 | string public_key | string namespace | string reserved
             | string hash_algorithm | string signature

``sign`` produces exactly what ``ssh-keygen -Y sign -f KEY -n NAMESPACE`` writes for the same key (Ed25519
is deterministic). ``verify`` raises the one :class:`SignatureMismatch` for every problem. The format is
described for users in ``docs/formats/signatures.md``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

from retention_agent import crypto
from retention_agent.i18n.msgids import N_

KEY_TYPE = "ssh-ed25519"
HASH_ALGORITHM = "sha512"  # what we write; ssh-keygen's default
ACCEPTED_HASH_ALGORITHMS = {"sha512": hashlib.sha512, "sha256": hashlib.sha256}  # PROTOCOL.sshsig
NAMESPACE_DELETION_PROOF = "deletion-proof"
NAMESPACE_DPO_REPORT = "dpo-report"
MAX_ARMORED_CHARS = 8192  # a real Ed25519 signature is ~300 characters

_MAGIC = b"SSHSIG"
_SIG_VERSION = 1
_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_END = "-----END SSH SIGNATURE-----"
_LINE_WIDTH = 70
_U32 = struct.Struct(">I")
_TOKEN = re.compile(r"[A-Za-z0-9@._+-]{1,128}")  # identities and namespaces we write


class SignatureMismatch(Exception):  # noqa: N818 - a verdict, like Fernet's InvalidToken
    """The signature does not verify: bad armor or encoding, wrong namespace, key or algorithm, or an
    altered message. Deliberately uninformative."""

    def __init__(self) -> None:
        super().__init__("the SSH signature does not verify for this message, namespace and key")


class AllowedSigner(NamedTuple):
    """One ``ssh-ed25519`` line of an allowed-signers file; ``namespaces`` None means unrestricted."""

    identity: str
    namespaces: tuple[str, ...] | None
    public_key: bytes

    def allows(self, namespace: str) -> bool:
        return self.namespaces is None or namespace in self.namespaces


# ---- SSH wire encoding (RFC 4251 "string") -------------------------------------------------------------


def _string(data: bytes) -> bytes:
    return _U32.pack(len(data)) + data


class _Reader:
    """Reads SSH wire fields; any shortfall raises :class:`SignatureMismatch`."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, size: int) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise SignatureMismatch()
        chunk, self._pos = self._data[self._pos : end], end
        return chunk

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(_U32.size))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.u32())

    def end(self) -> None:
        if self._pos != len(self._data):
            raise SignatureMismatch()


def _key_blob(public_key: bytes) -> bytes:
    return _string(KEY_TYPE.encode()) + _string(public_key)


def _parse_ed25519(blob: bytes, size: int) -> bytes:
    """The raw key or signature inside ``string "ssh-ed25519" || string raw``; exact size and nothing more."""
    reader = _Reader(blob)
    if reader.string() != KEY_TYPE.encode():
        raise SignatureMismatch()
    raw = reader.string()
    reader.end()
    if len(raw) != size:
        raise SignatureMismatch()
    return raw


def _signed_data(namespace: bytes, reserved: bytes, hash_algorithm: bytes, digest: bytes) -> bytes:
    return _MAGIC + _string(namespace) + _string(reserved) + _string(hash_algorithm) + _string(digest)


# ---- signing -------------------------------------------------------------------------------------------


def sign(signing_key: crypto.SigningKey, namespace: str, message: bytes) -> str:
    """Sign ``message`` in ``namespace``; the armored text ``ssh-keygen -Y sign`` would write."""
    _check_token(namespace, "namespace")
    ns = namespace.encode()
    algorithm = HASH_ALGORITHM.encode()
    digest = hashlib.sha512(message).digest()
    signature = signing_key.sign(_signed_data(ns, b"", algorithm, digest))
    blob = (
        _MAGIC
        + _U32.pack(_SIG_VERSION)
        + _string(_key_blob(signing_key.public_bytes()))
        + _string(ns)
        + _string(b"")
        + _string(algorithm)
        + _string(_string(KEY_TYPE.encode()) + _string(signature))
    )
    return _armor(blob)


def _armor(blob: bytes) -> str:
    text = base64.b64encode(blob).decode("ascii")
    lines = [text[i : i + _LINE_WIDTH] for i in range(0, len(text), _LINE_WIDTH)]
    return "\n".join([_BEGIN, *lines, _END]) + "\n"


# ---- verification --------------------------------------------------------------------------------------


class _Parsed(NamedTuple):
    public_key: bytes
    namespace: bytes
    reserved: bytes
    hash_algorithm: bytes
    signature: bytes


def verify(armored: str, namespace: str, message: bytes, public_key: bytes) -> None:
    """Return if ``armored`` is ``public_key``'s signature of ``message`` in ``namespace``.

    Raises :class:`SignatureMismatch` for anything else, including malformed or oversized input.
    """
    parsed = _parse_blob(_dearmor(armored))
    try:
        expected_ns = namespace.encode()
    except UnicodeError:
        raise SignatureMismatch() from None
    if parsed.namespace != expected_ns or parsed.public_key != public_key:
        raise SignatureMismatch()
    hash_function = ACCEPTED_HASH_ALGORITHMS[parsed.hash_algorithm.decode()]
    digest = hash_function(message).digest()
    data = _signed_data(parsed.namespace, parsed.reserved, parsed.hash_algorithm, digest)
    try:
        crypto.verify_ed25519(parsed.public_key, parsed.signature, data)
    except crypto.AuthenticationFailed:
        raise SignatureMismatch() from None


def _dearmor(armored: str) -> bytes:
    if not isinstance(armored, str) or len(armored) > MAX_ARMORED_CHARS:
        raise SignatureMismatch()
    lines = [line.rstrip("\r") for line in armored.strip(" \t\r\n").split("\n")]
    if len(lines) < 3 or lines[0] != _BEGIN or lines[-1] != _END:
        raise SignatureMismatch()
    body = "".join(lines[1:-1])
    try:
        return base64.b64decode(body.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeError, ValueError):
        raise SignatureMismatch() from None


def _parse_blob(blob: bytes) -> _Parsed:
    reader = _Reader(blob)
    if reader.take(len(_MAGIC)) != _MAGIC or reader.u32() != _SIG_VERSION:
        raise SignatureMismatch()
    public_key = _parse_ed25519(reader.string(), crypto.ED25519_KEY_SIZE)
    namespace, reserved, algorithm = reader.string(), reader.string(), reader.string()
    signature = _parse_ed25519(reader.string(), crypto.ED25519_SIGNATURE_SIZE)
    reader.end()
    if not namespace or reserved or algorithm not in {a.encode() for a in ACCEPTED_HASH_ALGORITHMS}:
        raise SignatureMismatch()
    return _Parsed(public_key, namespace, reserved, algorithm, signature)


# ---- OpenSSH public keys and allowed-signers files ------------------------------------------------------


class KeyTextError(ValueError):
    """A public key or an allowed-signers line that cannot be read. ``template`` is an English text of the
    catalogue (``locale/nl.po``) and ``values`` fill it, so that a command says it in its user's language."""

    def __init__(self, template: str, **values: Any) -> None:
        super().__init__(template.format(**values))
        self.template = template
        self.values = values


def public_key_openssh(public_key: bytes) -> str:
    """``ssh-ed25519 AAAA…`` for a raw 32-byte Ed25519 public key."""
    if len(public_key) != crypto.ED25519_KEY_SIZE:
        raise ValueError(f"an Ed25519 public key is {crypto.ED25519_KEY_SIZE} bytes")
    return f"{KEY_TYPE} {base64.b64encode(_key_blob(public_key)).decode('ascii')}"


def parse_public_key_openssh(text: str) -> bytes:
    """The raw key of ``ssh-ed25519 AAAA… [comment]``; ``ValueError`` for anything else."""
    fields = text.split()
    if len(fields) < 2 or fields[0] != KEY_TYPE:
        raise KeyTextError(N_("not an OpenSSH {kind} public key"), kind=KEY_TYPE)
    return _decode_key_field(fields[1])


def _decode_key_field(field: str) -> bytes:
    try:
        return _parse_ed25519(base64.b64decode(field, validate=True), crypto.ED25519_KEY_SIZE)
    except (SignatureMismatch, binascii.Error, ValueError):
        raise KeyTextError(N_("not a valid base64 {kind} public key"), kind=KEY_TYPE) from None


def allowed_signers_line(identity: str, namespaces: Sequence[str], public_key: bytes) -> str:
    """``<identity> namespaces="a,b" ssh-ed25519 AAAA…`` for ``ssh-keygen -Y verify -f``."""
    _check_token(identity, "identity")
    if not namespaces or isinstance(namespaces, str):
        raise ValueError("give at least one namespace, as a sequence")
    for namespace in namespaces:
        _check_token(namespace, "namespace")
    return f'{identity} namespaces="{",".join(namespaces)}" {public_key_openssh(public_key)}'


def parse_allowed_signers(text: str) -> list[AllowedSigner]:
    """The ``ssh-ed25519`` entries of an allowed-signers file (see ``ssh-keygen(1)``, ALLOWED SIGNERS).

    Blank lines and ``#`` comments are skipped, and so are lines with other key types and
    ``cert-authority`` lines (we never sign with certificates). ``ValueError`` names the line for anything
    malformed, and for ``valid-after``/``valid-before``, which we would otherwise silently ignore.
    """
    signers: list[AllowedSigner] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            signer = _parse_signer_line(line)
        except ValueError as exc:
            reason, values = (exc.template, exc.values) if isinstance(exc, KeyTextError) else (str(exc), {})
            raise KeyTextError(N_("allowed signers line {number}: {reason}"), number=number, reason=reason,
                               **values) from None
        if signer is not None:
            signers.append(signer)
    return signers


def _parse_signer_line(line: str) -> AllowedSigner | None:
    fields = _split_outside_quotes(line, " \t")
    if len(fields) < 3:
        raise KeyTextError(N_("expected: principals [options] key-type base64-key"))
    identity, rest = fields[0].strip('"'), fields[1:]
    options: dict[str, str] = {}
    if not _is_key_type(rest[0]):
        options = _parse_options(rest[0])
        rest = rest[1:]
    if not rest or not _is_key_type(rest[0]):
        raise KeyTextError(N_("no key type after the options"))
    if rest[0] != KEY_TYPE or "cert-authority" in options:
        return None
    if len(rest) < 2:
        raise KeyTextError(N_("the key is missing"))
    public_key = _decode_key_field(rest[1])
    namespaces = options.get("namespaces")
    allowed = None if namespaces is None else tuple(n for n in namespaces.split(",") if n)
    return AllowedSigner(identity, allowed, public_key)


def _is_key_type(field: str) -> bool:
    return field.startswith(("ssh-", "ecdsa-", "sk-", "rsa-"))


def _parse_options(field: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for option in _split_outside_quotes(field, ","):
        name, _, value = option.partition("=")
        name = name.lower()
        if name in {"valid-after", "valid-before"}:
            raise KeyTextError(N_("the option {option} is not supported"), option=name)
        if name not in {"namespaces", "cert-authority"}:
            raise KeyTextError(N_("unknown option {option}"), option=name)
        options[name] = value.strip('"')
    return options


def _split_outside_quotes(text: str, separators: str) -> list[str]:
    """Split on any of ``separators`` outside double quotes, dropping empty pieces."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char in separators and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise KeyTextError(N_("unbalanced quotes"))
    pieces.append("".join(current))
    return [piece for piece in pieces if piece]


def _check_token(value: str, what: str) -> None:
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"the {what} {value!r} must be 1-128 characters of A-Z a-z 0-9 @ . _ + -")
