"""The vault on disk: one encrypted object per delivery, written crash-safely, erased by destroying its key.

An object is written to ``vault/tmp`` first, fsynced, renamed into ``vault/objects`` and the folder fsynced;
then it is decrypted back and its SHA-256 compared with what was received. Its data key lives only in the
key store. Overwriting the object at purge is done too, but on SSDs and copy-on-write filesystems that is
not sanitisation: the erase rests on destroying the key (NIST SP 800-88 cryptographic erase).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from retention_agent.crypto import new_data_key
from retention_agent.errors import DiskFullError, FormatVersionError, KeyMissingError, VaultIntegrityError
from retention_agent.home import PRIVATE_FILE_MODE, Home, fsync_dir
from retention_agent.vault import format as vault_format
from retention_agent.vault.keys import KeyStore, data_key_name

OBJECT_SUFFIX = ".rav"
_WIPE_BLOCK = 1 << 20


class ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (a client's upload)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target: memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            try:
                self._buffer = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]  # a view: a large chunk is never copied again for each read
        return size


class Vault:
    def __init__(self, home: Home, keys: KeyStore) -> None:
        self.home = home
        self.keys = keys

    def path(self, delivery_id: str) -> Path:
        return self.home.objects / f"{delivery_id}{OBJECT_SUFFIX}"

    def temp_path(self, delivery_id: str) -> Path:
        return self.home.vault_tmp / f"{delivery_id}.part"

    def create_key(self, key_id: str) -> bytes:
        key = new_data_key()
        self.keys.put(data_key_name(key_id), key)
        return key

    def key(self, key_id: str) -> bytes:
        key = self.keys.get(data_key_name(key_id))
        if key is None:
            raise KeyMissingError(key=data_key_name(key_id))
        return key

    def write(self, stream: BinaryIO, delivery_id: str, key_id: str, key: bytes,
              source_name: str) -> vault_format.EncryptResult:
        """Encrypt ``stream`` into the vault durably, then read it back to prove it decrypts."""
        temp = self.temp_path(delivery_id)
        try:
            with _create_private(temp) as out:
                result = vault_format.encrypt(stream, out, key, bytes.fromhex(key_id))
                out.flush()
                os.fsync(out.fileno())
            temp.replace(self.path(delivery_id))
            fsync_dir(self.home.objects)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(file=source_name) from exc
            raise
        check = self.read(delivery_id, key_id, None)
        if check.plaintext_sha256 != result.plaintext_sha256:
            raise VaultIntegrityError(delivery=delivery_id)
        return result

    def read(self, delivery_id: str, key_id: str, dest: BinaryIO | None) -> vault_format.DecryptResult:
        """Decrypt and authenticate an object; ``dest=None`` only verifies."""
        key = self.key(key_id)
        try:
            with open(self.path(delivery_id), "rb") as source:
                return vault_format.decrypt(source, dest, key)
        except FileNotFoundError as exc:
            raise VaultIntegrityError(delivery=delivery_id) from exc
        except vault_format.ObjectCorrupt as exc:
            raise VaultIntegrityError(delivery=delivery_id) from exc
        except vault_format.UnsupportedVersion as exc:
            raise FormatVersionError(file=delivery_id, found=exc.found, known=exc.known) from exc

    def erase_object(self, delivery_id: str) -> bool:
        """Overwrite and unlink the object (and a leftover temporary). Returns whether it existed."""
        existed = False
        for path in (self.path(delivery_id), self.temp_path(delivery_id)):
            if path.exists():
                overwrite_and_unlink(path)
                existed = True
        fsync_dir(self.home.objects)
        return existed

    def destroy_key(self, key_id: str) -> None:
        self.keys.delete(data_key_name(key_id))

    def has_key(self, key_id: str) -> bool:
        return self.keys.get(data_key_name(key_id)) is not None

    def object_ids(self) -> set[str]:
        return {p.name[: -len(OBJECT_SUFFIX)] for p in self.home.objects.glob(f"*{OBJECT_SUFFIX}")}


def _create_private(path: Path) -> BinaryIO:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(path, flags, PRIVATE_FILE_MODE), "wb")


def overwrite_and_unlink(path: Path) -> None:
    """Overwrite a file's bytes with zeros, fsync, unlink. Not sanitisation on SSDs: see module docstring."""
    try:
        with open(path, "r+b", buffering=0) as handle:
            remaining = os.fstat(handle.fileno()).st_size
            block = b"\0" * _WIPE_BLOCK
            while remaining > 0:
                remaining -= handle.write(block[: min(remaining, _WIPE_BLOCK)]) or 0
            os.fsync(handle.fileno())
        path.unlink()
    except FileNotFoundError:
        return
