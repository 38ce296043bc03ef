"""Key stores: the private file store, the OS key store through ``keyring``, and refusal of unsafe backends.

Needs ``keyrings.alt`` (in the test dependencies) to show that its plaintext backend is refused.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring.backend
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import keyrings.alt.file
import pytest
from jaraco.classes import properties

from retention_agent.errors import KeyStoreRefusedError, KeyStoreUnavailableError
from retention_agent.system.home import Home
from retention_agent.vault.keys import FileKeyStore, KeyringStore, KeyStore, check_backend, data_key_name
from tests.conftest import cli


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend that keeps passwords in a dict (what an OS key store does, minus the OS)."""

    @properties.classproperty
    def priority(cls) -> float:  # noqa: N805 - a class property, as keyring's own backends write it
        raise RuntimeError("test backend: never chosen by keyring's own discovery")

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.passwords[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("not found") from None


class LockedKeyring(MemoryKeyring):
    """A key store that is there but locked (a desktop session that is not unlocked)."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("locked")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("locked")


@pytest.fixture(params=["file", "keyring"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyStore]:
    if request.param == "file":
        folder = tmp_path / "keys"
        folder.mkdir(mode=0o700)
        yield FileKeyStore(folder)
    else:
        yield KeyringStore("0123456789abcdef", backend=MemoryKeyring())


# ---- the contract every key store keeps --------------------------------------------------------------


def test_put_get_delete(store: KeyStore) -> None:
    name = data_key_name("9f86d081884c7d65")
    secret = os.urandom(32)
    assert store.get(name) is None
    store.put(name, secret)
    assert store.get(name) == secret
    store.put("signing-key", b"\x00\xff" * 16)
    assert store.get("signing-key") == b"\x00\xff" * 16
    store.delete(name)
    assert store.get(name) is None
    assert store.get("signing-key") == b"\x00\xff" * 16


def test_delete_is_idempotent(store: KeyStore) -> None:
    store.put("data-key/abc", b"k" * 32)
    store.delete("data-key/abc")
    store.delete("data-key/abc")  # a purge retried after a crash deletes again
    store.delete("data-key/never-existed")
    assert store.get("data-key/abc") is None


def test_every_byte_value_survives(store: KeyStore) -> None:
    secret = bytes(range(256))
    store.put("secret/mailbox-agii", secret)
    assert store.get("secret/mailbox-agii") == secret


@pytest.mark.parametrize("name", ["../signing-key", "data-key/../../etc", "/abs", "", "UPPER", "a" * 200,
                                  "sp ace", "data-key/\x00"])
def test_unsafe_names_are_refused(store: KeyStore, name: str) -> None:
    with pytest.raises(ValueError, match="invalid key name"):
        store.put(name, b"x")
    with pytest.raises(ValueError, match="invalid key name"):
        store.get(name)


# ---- the file store ----------------------------------------------------------------------------------


def test_file_store_keys_are_private_files(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # even with a permissive umask
    try:
        FileKeyStore(tmp_path).put("data-key/k1", b"secret")
    finally:
        os.umask(previous)
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == ["data-key--k1.key"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_file_store_delete_overwrites_before_unlinking(tmp_path: Path) -> None:
    keys = FileKeyStore(tmp_path)
    secret = b"\xa5" * 32
    keys.put("data-key/k1", secret)
    path = tmp_path / "data-key--k1.key"
    witness = tmp_path.parent / "witness"  # a second name for the same inode shows what happened to its bytes
    os.link(path, witness)
    keys.delete("data-key/k1")
    assert not path.exists()
    assert witness.read_bytes() == b"\x00" * len(secret)


def test_file_store_never_replaces_a_key_silently(tmp_path: Path) -> None:
    """A data key put twice would make the first delivery undecryptable; the file store refuses."""
    keys = FileKeyStore(tmp_path)
    keys.put("data-key/k1", b"first")
    with pytest.raises(FileExistsError):
        keys.put("data-key/k1", b"second")
    assert keys.get("data-key/k1") == b"first"


def test_file_store_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "data-key--k1.key").symlink_to(target)
    with pytest.raises(OSError):
        FileKeyStore(folder).put("data-key/k1", b"secret")
    assert not target.exists()


# ---- the OS key store through keyring ----------------------------------------------------------------


def test_keyring_store_uses_one_service_per_installation() -> None:
    backend = MemoryKeyring()
    first, second = KeyringStore("aaaa", backend=backend), KeyringStore("bbbb", backend=backend)
    first.put("signing-key", b"one")
    second.put("signing-key", b"two")
    assert (first.get("signing-key"), second.get("signing-key")) == (b"one", b"two")
    assert set(backend.passwords) == {("retention-agent/aaaa", "signing-key"),
                                      ("retention-agent/bbbb", "signing-key")}
    assert first.backend_name == "tests.test_keystore.MemoryKeyring"


def test_a_locked_key_store_is_unavailable_not_a_crash() -> None:
    keys = KeyringStore("aaaa", backend=LockedKeyring())
    for call in (lambda: keys.get("signing-key"), lambda: keys.put("signing-key", b"x"),
                 lambda: keys.delete("signing-key")):
        with pytest.raises(KeyStoreUnavailableError) as caught:
            call()
        assert "KeyringLocked" in str(caught.value)
        assert "Unlock the key store" in str(caught.value)


def assert_refused(backend: keyring.backend.KeyringBackend, why: str) -> None:
    with pytest.raises(KeyStoreRefusedError) as caught:
        KeyringStore("aaaa", backend=backend)
    message = str(caught.value)
    assert why in message
    assert f"{type(backend).__module__}.{type(backend).__name__}" in message
    # the way out for an existing home: its own OS key store (init refuses earlier: test_home.py)
    for choice in ("Windows Credential Manager", "macOS Keychain", "GNOME Keyring", "KWallet"):
        assert choice in message


def test_the_fail_backend_is_refused() -> None:
    assert_refused(keyring.backends.fail.Keyring(), "no key store is available on this system")


def test_the_null_backend_is_refused() -> None:
    assert_refused(keyring.backends.null.Keyring(), "it throws keys away")


def test_the_plaintext_file_backend_of_keyrings_alt_is_refused(tmp_path: Path) -> None:
    backend = keyrings.alt.file.PlaintextKeyring()
    backend.file_path = str(tmp_path / "never-written.cfg")
    assert_refused(backend, "readable by anyone who can read the account's files")
    assert not (tmp_path / "never-written.cfg").exists()


class SomebodysPlaintextKeyring(keyrings.alt.file.PlaintextKeyring):
    """A plaintext backend under another module's name, as a third-party package could ship one."""


def test_a_subclass_of_a_plaintext_backend_is_refused_whatever_its_module(tmp_path: Path) -> None:
    backend = SomebodysPlaintextKeyring()
    backend.file_path = str(tmp_path / "never-written.cfg")
    assert type(backend).__module__ == __name__
    assert_refused(backend, "readable by anyone who can read the account's files")


def test_an_empty_chainer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.backend, "_limit", lambda _backend: False)  # keyring's own backend filter
    chainer = keyring.backends.chainer.ChainerBackend()
    assert list(chainer.backends) == []
    assert_refused(chainer, "no key store is available on this system")


def test_a_chainer_over_a_plaintext_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.backend, "_limit",
                        lambda backend: type(backend) is keyrings.alt.file.PlaintextKeyring)
    chainer = keyring.backends.chainer.ChainerBackend()
    assert [type(b).__name__ for b in chainer.backends] == ["PlaintextKeyring"]
    assert_refused(chainer, "readable by anyone")


def test_a_real_backend_passes_the_check() -> None:
    check_backend(MemoryKeyring())


# ---- through the real agent process -------------------------------------------------------------------


@pytest.mark.parametrize(("backend", "why"), [
    ("keyring.backends.fail.Keyring", "no key store is available on this system"),  # a headless machine
    ("keyrings.alt.file.PlaintextKeyring", "it keeps keys in a file readable by anyone who can read the account's"),
])
def test_the_agent_refuses_an_unsafe_key_store(home: Home, backend: str, why: str) -> None:
    text = home.config.read_text()
    home.config.write_text(text.replace('key_store = "file"', 'key_store = "keyring"'))
    result = cli(home.root, "run", env={"PYTHON_KEYRING_BACKEND": backend}, timeout=30)
    assert result.returncode == 1, result.stderr
    stderr = result.stderr.decode()
    assert f"The key store backend {backend} is not safe for keys: {why}" in stderr
    assert "Changing key_store in the configuration does not help" in stderr  # its keys are in that store
    assert "Traceback" not in stderr
    assert not home.socket.exists()
