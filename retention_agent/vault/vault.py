"""The vault on disk: one encrypted object per delivery, written crash-safely, erased by destroying its key.

An object is written to ``vault/tmp`` and fsynced, while a second thread reads it back behind the writer,
authenticating and decrypting it and comparing the plaintext with the bytes that were received; only then is
it renamed into ``vault/objects`` and the folder fsynced. Its data key lives only in the key store.
Overwriting the object at purge is done too, but on SSDs and copy-on-write filesystems that is not
sanitisation: the erase rests on destroying the key (NIST SP 800-88 cryptographic erase).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar, cast

from retention_agent.crypto import new_data_key
from retention_agent.errors import DiskFullError, FormatVersionError, KeyMissingError, VaultIntegrityError
from retention_agent.system.home import PRIVATE_FILE_MODE, Home, fsync_dir
from retention_agent.vault import format as vault_format
from retention_agent.vault.keys import KeyStore, data_key_name
from retention_agent.vault.streams import (
    BackgroundSha256,
    FileFollower,
    PlaintextMismatch,
    ReceivedChunks,
    ReportingWriter,
)

OBJECT_SUFFIX = ".rav"
_WIPE_BLOCK = 1 << 20
T = TypeVar("T")


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
        """Encrypt ``stream`` into the vault durably, and prove that the object decrypts back to it.

        The read-back follows the writer through the temporary file in a thread of its own: it authenticates
        each chunk once it is in the file (its GCM tag, its place, the object's end), compares the decrypted
        bytes with the received ones, which the writer holds for it (4 MiB at most), and hashes them.
        Comparing the bytes themselves is exact, and cheaper than hashing them twice. The object is renamed
        into ``vault/objects`` only when it is fsynced AND the read-back reached its end with every byte equal
        to the received bytes, none more, none fewer; the SHA-256 returned (and recorded) is of those bytes.
        """
        temp = self.temp_path(delivery_id)
        try:
            written = _write_and_read_back(stream, temp, key, bytes.fromhex(key_id))
            temp.replace(self.path(delivery_id))
            fsync_dir(self.home.objects)
        except OSError as exc:
            with contextlib.suppress(OSError):
                temp.unlink()
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(file=source_name) from exc
            raise
        except (vault_format.ObjectCorrupt, vault_format.UnsupportedVersion, PlaintextMismatch) as exc:  # the read-back
            raise VaultIntegrityError(delivery=delivery_id) from exc
        return written

    def read(self, delivery_id: str, key_id: str, dest: BinaryIO | None) -> vault_format.DecryptResult:
        """Decrypt and authenticate an object (hashing it in a second thread); ``dest=None`` only verifies."""

        def decrypt(source: BinaryIO, key: bytes) -> vault_format.DecryptResult:
            with BackgroundSha256() as digest:
                return vault_format.decrypt(source, dest, key, digest=digest)

        return self._with_object(delivery_id, key_id, decrypt)

    def authenticate(self, delivery_id: str, key_id: str, dest: BinaryIO | None = None) -> int:
        """Check that the whole object is authentic and complete, writing its plaintext to ``dest`` if given,
        without hashing it; returns the plaintext size."""
        return self._with_object(delivery_id, key_id, lambda source, key: vault_format.authenticate(source, key, dest))

    def _with_object(self, delivery_id: str, key_id: str, action: Callable[[BinaryIO, bytes], T]) -> T:
        """Run ``action`` on the open object and its key, with the format's errors turned into the catalogue's."""
        key = self.key(key_id)
        try:
            with open(self.path(delivery_id), "rb", buffering=0) as source:  # whole chunks: no buffer needed
                return action(source, key)
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


def _write_and_read_back(stream: BinaryIO, temp: Path, key: bytes, key_id: bytes) -> vault_format.EncryptResult:
    """Encrypt ``stream`` into ``temp`` and fsync it, while another thread decrypts ``temp`` back.

    This thread encrypts and writes; the other reads the file back behind it, authenticates every chunk,
    compares its plaintext with the chunk this thread received (held in memory until then) and hashes it.
    Hashing there, where the chunk was just decrypted, shortens the writer's work; what is hashed is the
    object's plaintext, proven equal to the received bytes. Returns the result of both; raises what either
    thread raised.
    """
    with _create_private(temp) as out:
        follower, received = FileFollower(temp), ReceivedChunks()
        read_back = _ReadBack(follower, received, key)
        try:
            chunks = 0
            for chunk in vault_format.seal(stream, cast(BinaryIO, ReportingWriter(out, follower)), key, key_id):
                received.put(chunk)
                chunks += 1
            received.end()
            follower.finish()
            os.fsync(out.fileno())  # meanwhile the read-back catches up
        except BaseException:
            received.abandon()
            follower.abandon()
            raise
        finally:
            read_back.join()
            follower.close()
    result = read_back.result()
    return vault_format.EncryptResult(result.plaintext_sha256, result.plaintext_size,
                                      vault_format.object_size(result.plaintext_size, chunks))


class _ReadBack:
    """The read-back check in a thread of its own: decrypts the object a :class:`FileFollower` reads (every tag,
    the object's end) into the :class:`ReceivedChunks`, which compare it with what was received (the bytes
    themselves, not a digest of them), and hashes it."""

    def __init__(self, source: FileFollower, received: ReceivedChunks, key: bytes) -> None:
        self._source, self._received, self._key = source, received, key
        self._result: vault_format.DecryptResult | None = None
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="vault-read-back", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            result = vault_format.decrypt(cast(BinaryIO, self._source), cast(BinaryIO, self._received), self._key)
            self._received.check_complete()
            self._result = result
        except Exception as exc:  # handed to the writer's thread by result()
            self._error = exc
        finally:
            self._received.close()

    def join(self) -> None:
        self._thread.join()

    def result(self) -> vault_format.DecryptResult:
        self.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


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
