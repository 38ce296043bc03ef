"""The only module that touches ``cryptography.hazmat``: small recipes for the rest of the tree.

- AES-256-GCM sealing of one chunk (the vault format builds its stream on it).
- Ed25519 installation key: generate, serialise, sign, verify, and derive purpose-bound secrets from it.

Every failed decryption or verification raises the one opaque :class:`AuthenticationFailed`, whatever
the cause (bad tag, wrong key, truncated input), like Fernet's ``InvalidToken``.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DATA_KEY_SIZE = 32  # AES-256
GCM_NONCE_SIZE = 12
GCM_TAG_SIZE = 16
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64


class AuthenticationFailed(Exception):  # noqa: N818 - named like Fernet's InvalidToken: a verdict, not a bug
    """The ciphertext or signature is not authentic (or the key is wrong). Deliberately uninformative."""


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


class ChunkCipher:
    """AES-256-GCM with one key, reused for every chunk of one vault object."""

    def __init__(self, key: bytes) -> None:
        if len(key) != DATA_KEY_SIZE:
            raise ValueError("a data key is 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
        return self._aead.encrypt(nonce, plaintext, associated_data)

    def open(self, nonce: bytes, ciphertext: bytes, associated_data: bytes) -> bytes:
        try:
            return self._aead.decrypt(nonce, ciphertext, associated_data)
        except (InvalidTag, ValueError) as exc:
            raise AuthenticationFailed() from exc


class SigningKey:
    """The installation's Ed25519 key."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> SigningKey:
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def private_bytes(self) -> bytes:
        return self._private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def public_bytes(self) -> bytes:
        return self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def derive(self, purpose: str) -> bytes:
        """A 32-byte secret for one ``purpose`` (HKDF-SHA256 over the private key, the purpose as its info):
        whoever holds the signing key can recompute it, nobody else can."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=purpose.encode()).derive(self.private_bytes())


def verify_ed25519(public_key: bytes, signature: bytes, data: bytes) -> None:
    """Raise :class:`AuthenticationFailed` unless ``signature`` is ``public_key``'s over ``data``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError) as exc:
        raise AuthenticationFailed() from exc
