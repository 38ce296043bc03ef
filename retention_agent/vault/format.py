"""Vault object format v1: a versioned header followed by chunked AES-256-GCM, streamed in constant memory.

Layout (big-endian; the full specification is ``docs/formats/vault-object.md``)::

    header  = magic(8) | version u8 | algorithm u8 | chunk_size u32 | key_id(16) | nonce_prefix(7)
    chunk_i = AES-256-GCM(key, nonce_i, plaintext_i, aad=header)        -> ciphertext_i || tag(16)
    nonce_i = nonce_prefix(7) | i u32 | last-flag u8 (0x00, or 0x01 for the final chunk)

Every chunk but the last holds exactly ``chunk_size`` plaintext bytes; the last holds fewer (possibly
none), so an empty file is one empty last chunk and a file of exactly ``n * chunk_size`` bytes ends with an
empty last chunk. The header is the associated data of every chunk, and the flag marks the end, so
truncation, extension, reordering and splicing chunks between objects all fail authentication.

Anything wrong with an object raises the one opaque :class:`ObjectCorrupt`; only a well-formed header of a
newer version or algorithm raises :class:`UnsupportedVersion`, so the user can be told to upgrade.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from retention_agent import crypto

MAGIC = b"RAVAULT\x00"
VERSION = 1
ALGORITHM_AES_256_GCM = 1
KEY_ID_SIZE = 16
NONCE_PREFIX_SIZE = 7
TAG_SIZE = crypto.GCM_TAG_SIZE
MIN_CHUNK_SIZE = 4 * 1024
MAX_CHUNK_SIZE = 16 * 1024 * 1024
# Each object records its own chunk size, so objects written with another default (64 KiB before) stay readable.
# 128 KiB: half the chunks, and still below the size from which glibc's malloc maps fresh (page-faulting)
# memory for every chunk; 1 MiB chunks cost more in page faults than they save.
DEFAULT_CHUNK_SIZE = 128 * 1024
MAX_CHUNKS = 2**32  # the chunk counter is a u32

_HEADER = struct.Struct(f">{len(MAGIC)}sBBI{KEY_ID_SIZE}s{NONCE_PREFIX_SIZE}s")
HEADER_SIZE = _HEADER.size  # 37
_PREAMBLE_SIZE = len(MAGIC) + 1  # magic and version: enough to tell "newer" from "not a vault object"
_COUNTER = struct.Struct(">I")
_LAST = b"\x01"
_NOT_LAST = b"\x00"


class ObjectCorrupt(Exception):  # noqa: N818 - a verdict, like Fernet's InvalidToken
    """The vault object is not authentic or not complete.

    Fernet-like: one deliberately uninformative error for a bad magic number, a malformed header, a failed
    tag, a wrong key, a truncated object or data after its last chunk. Neither the caller nor an attacker
    learns which.
    """

    def __init__(self) -> None:
        super().__init__("vault object is corrupt, truncated, altered or not for this key")


class UnsupportedVersion(Exception):  # noqa: N818 - reads as the situation it reports
    """The object's header is well-formed but written by a newer format version or algorithm."""

    def __init__(self, found: int, known: int, field: str = "version") -> None:
        self.found = found
        self.known = known
        self.field = field
        super().__init__(
            f"vault object {field} {found} is newer than this retention-agent reads (up to {known}); "
            "install a newer retention-agent"
        )


@dataclass(frozen=True)
class Header:
    """The fixed-size header of a v1 vault object; its bytes are the associated data of every chunk."""

    key_id: bytes
    nonce_prefix: bytes
    chunk_size: int = DEFAULT_CHUNK_SIZE
    version: int = VERSION
    algorithm: int = ALGORITHM_AES_256_GCM

    def __post_init__(self) -> None:
        if len(self.key_id) != KEY_ID_SIZE:
            raise ValueError(f"a key id is {KEY_ID_SIZE} bytes")
        if len(self.nonce_prefix) != NONCE_PREFIX_SIZE:
            raise ValueError(f"a nonce prefix is {NONCE_PREFIX_SIZE} bytes")
        if not MIN_CHUNK_SIZE <= self.chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"the chunk size must be {MIN_CHUNK_SIZE}..{MAX_CHUNK_SIZE} bytes")
        if self.version != VERSION or self.algorithm != ALGORITHM_AES_256_GCM:
            raise ValueError("only version 1 with AES-256-GCM can be written")

    @classmethod
    def new(
        cls, key_id: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE, *, nonce_prefix: bytes | None = None
    ) -> Header:
        """A header for a new object; the nonce prefix is random unless given (known-answer tests)."""
        prefix = crypto.random_bytes(NONCE_PREFIX_SIZE) if nonce_prefix is None else nonce_prefix
        return cls(key_id=key_id, nonce_prefix=prefix, chunk_size=chunk_size)

    def to_bytes(self) -> bytes:
        return _HEADER.pack(
            MAGIC, self.version, self.algorithm, self.chunk_size, self.key_id, self.nonce_prefix
        )

    @classmethod
    def parse(cls, data: bytes) -> Header:
        """Parse header bytes; :class:`ObjectCorrupt` if malformed, :class:`UnsupportedVersion` if newer."""
        if len(data) < _PREAMBLE_SIZE or data[: len(MAGIC)] != MAGIC:
            raise ObjectCorrupt()
        _check_known("version", data[len(MAGIC)], VERSION)
        if len(data) != HEADER_SIZE:
            raise ObjectCorrupt()
        _magic, version, algorithm, chunk_size, key_id, prefix = _HEADER.unpack(data)
        _check_known("algorithm", algorithm, ALGORITHM_AES_256_GCM)
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise ObjectCorrupt()
        return cls(
            key_id=key_id, nonce_prefix=prefix, chunk_size=chunk_size, version=version, algorithm=algorithm
        )

    def nonce(self, counter: int, *, last: bool) -> bytes:
        """The 12-byte GCM nonce of chunk ``counter``: prefix || counter u32 BE || last flag."""
        return self.nonce_prefix + _COUNTER.pack(counter) + (_LAST if last else _NOT_LAST)


class Digest(Protocol):
    """What :func:`decrypt` hashes the plaintext with: ``hashlib.sha256()`` or a stand-in that hashes in
    another thread (it is given each chunk once; a chunk never changes afterwards)."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


@dataclass(frozen=True)
class EncryptResult:
    plaintext_sha256: str
    plaintext_size: int
    object_size: int


@dataclass(frozen=True)
class DecryptResult:
    plaintext_sha256: str
    plaintext_size: int


def _check_known(field: str, value: int, known: int) -> None:
    """Newer than known: upgrade. Older or zero: no such format was ever written, so corrupt."""
    if value > known:
        raise UnsupportedVersion(value, known, field)
    if value != known:
        raise ObjectCorrupt()


def _read_exact(source: BinaryIO, size: int) -> bytes:
    """Read ``size`` bytes, fewer only at end of stream (tolerates short reads of raw streams)."""
    data = source.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    remaining = size - len(data)
    while remaining:
        more = source.read(remaining)
        if not more:
            break
        parts.append(more)
        remaining -= len(more)
    return b"".join(parts)


def read_header(source: BinaryIO) -> Header:
    """Read and parse the header at the stream's position (learns the key id without the key)."""
    return Header.parse(_read_exact(source, HEADER_SIZE))


def encrypt(
    source: BinaryIO,
    dest: BinaryIO,
    key: bytes,
    key_id: bytes,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    *,
    nonce_prefix: bytes | None = None,
) -> EncryptResult:
    """Encrypt ``source`` to ``dest`` as one vault object, hashing the plaintext on the way.

    ``nonce_prefix`` is for known-answer tests only; leave it ``None`` (random) everywhere else.
    """
    hasher = hashlib.sha256()
    plaintext_size = chunks = 0
    for chunk in seal(source, dest, key, key_id, chunk_size, nonce_prefix=nonce_prefix):
        hasher.update(chunk)
        plaintext_size += len(chunk)
        chunks += 1
    return EncryptResult(hasher.hexdigest(), plaintext_size, object_size(plaintext_size, chunks))


def seal(
    source: BinaryIO,
    dest: BinaryIO,
    key: bytes,
    key_id: bytes,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    *,
    nonce_prefix: bytes | None = None,
) -> Iterator[bytes]:
    """Encrypt ``source`` to ``dest`` as one vault object, yielding each plaintext chunk once it is sealed and
    written (for the caller to hash or compare); the object is complete when the iteration ends."""
    header = Header.new(key_id, chunk_size, nonce_prefix=nonce_prefix)
    cipher = crypto.ChunkCipher(key)
    aad = header.to_bytes()
    dest.write(aad)
    for counter in range(MAX_CHUNKS):
        chunk = _read_exact(source, chunk_size)
        last = len(chunk) < chunk_size
        dest.write(cipher.seal(header.nonce(counter, last=last), chunk, aad))
        yield chunk
        if last:
            return
    raise ValueError("the plaintext is too large for one vault object (2**32 chunks)")


def object_size(plaintext_size: int, chunks: int) -> int:
    """The size of an object of ``chunks`` chunks holding ``plaintext_size`` bytes: header, plaintext, tags."""
    return HEADER_SIZE + plaintext_size + chunks * TAG_SIZE


def decrypt(source: BinaryIO, dest: BinaryIO | None, key: bytes, *, digest: Digest | None = None) -> DecryptResult:
    """Decrypt and authenticate one vault object; ``dest=None`` only verifies (and hashes).

    A chunk reaches ``dest`` only after its tag verified, and the last one only after the end of the
    stream was confirmed. On :class:`ObjectCorrupt` the chunks already written are authentic but the
    object is incomplete or altered: discard ``dest`` (write to a temporary file, keep it on success).
    ``digest`` replaces the default ``hashlib.sha256()`` (e.g. to hash in another thread).
    """
    hasher = hashlib.sha256() if digest is None else digest
    plaintext_size = 0
    for chunk in _open_chunks(source, key):
        if dest is not None:
            dest.write(chunk)
        hasher.update(chunk)
        plaintext_size += len(chunk)
    return DecryptResult(hasher.hexdigest(), plaintext_size)


def authenticate(source: BinaryIO, key: bytes, dest: BinaryIO | None = None) -> int:
    """Like :func:`decrypt` without the SHA-256: checks every chunk's tag and the object's end, writes the
    plaintext to ``dest`` if given (under the same rules), and returns the plaintext size."""
    plaintext_size = 0
    for chunk in _open_chunks(source, key):
        if dest is not None:
            dest.write(chunk)
        plaintext_size += len(chunk)
    return plaintext_size


def _open_chunks(source: BinaryIO, key: bytes) -> Iterator[bytes]:
    """Yield the authenticated plaintext chunks; the last one only once the end of the stream is confirmed."""
    header = read_header(source)
    cipher = crypto.ChunkCipher(key)
    aad = header.to_bytes()
    sealed_size = header.chunk_size + TAG_SIZE
    for counter in range(MAX_CHUNKS):
        sealed = _read_exact(source, sealed_size)
        last = len(sealed) < sealed_size
        chunk = _open_chunk(cipher, header.nonce(counter, last=last), sealed, aad)
        if last and source.read(1):
            raise ObjectCorrupt()
        yield chunk
        if last:
            return
    raise ObjectCorrupt()


def _open_chunk(cipher: crypto.ChunkCipher, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    try:
        return cipher.open(nonce, sealed, aad)
    except crypto.AuthenticationFailed:
        raise ObjectCorrupt() from None
