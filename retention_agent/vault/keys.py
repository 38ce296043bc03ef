"""Where keys live: the OS key store through ``keyring``, or a private file store when configured.

Keys never touch the database or the vault. A data key destroyed here is the cryptographic erase of its
delivery. Names used: ``signing-key`` (the installation's Ed25519 key), ``data-key/<key id>`` (one per
delivery), ``secret/<name>`` (mailbox and SMTP credentials).
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Protocol

import keyring
import keyring.backend
import keyring.errors

from retention_agent.errors import KeyStoreRefusedError, KeyStoreUnavailableError
from retention_agent.i18n.msgids import N_
from retention_agent.system.home import PRIVATE_FILE_MODE, fsync_dir

_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9/._-]{0,120}$")


class KeyStore(Protocol):
    backend_name: str

    def get(self, name: str) -> bytes | None: ...

    def put(self, name: str, secret: bytes) -> None: ...

    def delete(self, name: str) -> None:
        """Destroy the key; deleting an absent key is not an error (purges are retried)."""
        ...


def data_key_name(key_id: str) -> str:
    return f"data-key/{key_id}"


def _check_name(name: str) -> str:
    if not _SAFE_NAME.match(name) or ".." in name:
        raise ValueError(f"invalid key name {name!r}")
    return name


class FileKeyStore:
    """Keys as files of their own in ``HOME/keys``, readable only by the agent's account.

    One file per key, so destroying a key overwrites and unlinks exactly that file. Weaker than an OS key
    store (a backup of the home carries the keys along with the vault), which is why status warns about it.
    """

    backend_name = "file"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, name: str) -> Path:
        return self.folder / (_check_name(name).replace("/", "--") + ".key")

    def get(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, name: str, secret: bytes) -> None:
        path = self._path(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     PRIVATE_FILE_MODE)
        try:
            os.write(fd, secret)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(self.folder)

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        with open(path, "r+b", buffering=0) as handle:
            handle.write(b"\0" * size)
            os.fsync(handle.fileno())
        path.unlink()
        fsync_dir(self.folder)


class KeyringStore:
    """Keys in the OS key store through ``keyring``, under the service ``retention-agent/<installation>``."""

    def __init__(self, installation_id: str, backend: keyring.backend.KeyringBackend | None = None) -> None:
        self.backend = backend or keyring.get_keyring()
        check_backend(self.backend)
        self.service = f"retention-agent/{installation_id}"
        self.backend_name = backend_description(self.backend)

    def get(self, name: str) -> bytes | None:
        try:
            value = self.backend.get_password(self.service, _check_name(name))
        except keyring.errors.KeyringError as exc:
            raise KeyStoreUnavailableError(problem=type(exc).__name__) from exc
        return None if value is None else base64.b64decode(value)

    def put(self, name: str, secret: bytes) -> None:
        try:
            self.backend.set_password(self.service, _check_name(name), base64.b64encode(secret).decode())
        except keyring.errors.KeyringError as exc:
            raise KeyStoreUnavailableError(problem=type(exc).__name__) from exc

    def delete(self, name: str) -> None:
        try:
            self.backend.delete_password(self.service, _check_name(name))
        except keyring.errors.PasswordDeleteError:
            return
        except keyring.errors.KeyringError as exc:
            raise KeyStoreUnavailableError(problem=type(exc).__name__) from exc


def backend_description(backend: keyring.backend.KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def check_backend(backend: keyring.backend.KeyringBackend) -> None:
    """Refuse backends that would store keys in plaintext, drop them, or fail (FIELD-NOTES: keyring)."""
    why = _unsafe_reason(backend)
    if why:
        raise KeyStoreRefusedError(backend=backend_description(backend), why=why)


_UNSAFE = (("keyring.backends.fail.", N_("no key store is available on this system")),
           ("keyring.backends.null.", N_("it throws keys away")),
           ("keyrings.alt.", N_("it keeps keys in a file readable by anyone who can read the account's files")))


def _unsafe_reason(backend: keyring.backend.KeyringBackend) -> str:
    # Every class the backend is made of counts: a subclass of a plaintext backend, defined elsewhere, is one.
    lineage = [f"{cls.__module__}." for cls in type(backend).__mro__]
    for prefix, why in _UNSAFE:
        if any(module.startswith(prefix) for module in lineage):
            return why
    if any(module.startswith("keyring.backends.chainer.") for module in lineage):
        children = getattr(backend, "backends", [])
        if not children:
            return N_("no key store is available on this system")
        for child in children:
            reason = _unsafe_reason(child)
            if reason:
                return reason
    return ""


def key_store_folders(kind: str, keys_folder: Path) -> list[Path]:
    """The folders that hold the agent's keys, which a drop folder may never lie in.

    The file store's folder; for ``keyring``, where the OS key stores of this platform keep their files
    (Secret Service and KWallet on Linux, the Keychains on macOS, Credential Manager and the DPAPI master keys
    on Windows). Folders that do not exist are harmless and skipped by the caller.
    """
    if kind == "file":
        return [keys_folder]
    home = Path.home()
    if os.name == "nt":  # pragma: no cover - Windows
        roots = [Path(os.environ[v]) for v in ("APPDATA", "LOCALAPPDATA") if os.environ.get(v)]
        return [root / "Microsoft" / leaf for root in roots for leaf in ("Credentials", "Protect", "Vault")]
    return [home / ".local" / "share" / "keyrings", home / ".local" / "share" / "kwalletd",
            home / "Library" / "Keychains"]


def open_key_store(kind: str, keys_folder: Path, installation_id: str) -> KeyStore:
    if kind == "file":
        return FileKeyStore(keys_folder)
    return KeyringStore(installation_id)
