"""``retention-agent init``: a new home with its configuration, database, signing key and first officer."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

from retention_agent import config as configuration
from retention_agent.audit.log import AuditLog
from retention_agent.clock import Clock, utc_iso
from retention_agent.crypto import SigningKey
from retention_agent.errors import (
    HomeExistsError,
    HomeNotEmptyError,
    InboxMissingError,
    KeyStoreChoiceError,
    KeyStoreRefusedError,
    UnknownAccountError,
)
from retention_agent.evidence.checkpoint import log_origin
from retention_agent.ids import random_hex
from retention_agent.store.database import Store
from retention_agent.store.staff import StaffList
from retention_agent.system.accounts import account_exists
from retention_agent.system.home import Home, create_layout, write_private
from retention_agent.vault.keys import KeyStore, open_key_store

log = logging.getLogger(__name__)

SIGNING_KEY = "signing-key"


def init_home(home: Home, *, municipality: str, officer: str, officer_name: str, key_store: str,
              inboxes: list[str], clock: Clock, language: str = "nl", deployment: str = "user") -> str:
    """Create a home; refuse to touch an existing one. Returns the installation id.

    All or nothing. Everything that can be checked is checked before anything is created: no home there yet,
    the officer's account, the drop folders, a key store that is safe to use. A failure after that (a key store
    that refuses the key, a full disk, Ctrl+C) removes what was made — the files and the signing key put into
    the key store — and leaves a folder that existed before (empty: the shared-mode installer creates it for
    the service account, owner and mode set) as it was. The configuration file is written last, since it is
    what makes a folder a home.
    """
    if home.exists() or home.database.exists():
        raise HomeExistsError(home=str(home.root))
    if home.root.is_dir() and any(home.root.iterdir()):
        raise HomeNotEmptyError(home=str(home.root))
    if not account_exists(officer):
        raise UnknownAccountError(account=officer)
    folders = [Path(p).absolute() for p in inboxes]
    for folder in folders:
        if not folder.is_dir():
            raise InboxMissingError(folder=str(folder))
    installation_id = random_hex(8)
    keys = _usable_key_store(key_store, home, installation_id)
    text = configuration.render_initial(municipality, key_store, [str(f) for f in folders], language, deployment)
    config = configuration.parse(text, home.config)
    undo = _Undo(home)
    try:
        os.umask(0o077)  # the database's -wal and -shm files are created later with this mask
        create_layout(home)
        signing_key = SigningKey.generate()
        keys.put(SIGNING_KEY, signing_key.private_bytes())
        undo.key_store = keys
        store = Store.create(home.database)
        try:
            _record(store, config, installation_id, signing_key, clock, officer, officer_name)
        finally:
            store.close()
        write_private(home.config, text.encode())
        configuration.load(home.config)  # what init wrote must be what run reads
    except BaseException:
        undo.run()
        raise
    return installation_id


def _usable_key_store(kind: str, home: Home, installation_id: str) -> KeyStore:
    """The key store ``init`` will use, refused before anything is created when it is not safe."""
    try:
        return open_key_store(kind, home.keys, installation_id)
    except KeyStoreRefusedError as exc:
        raise KeyStoreChoiceError(why=exc.params.get("why", "")) from exc


class _Undo:
    """What a failed ``init`` removes: the signing key from the key store, and the folders and files it made
    (the topmost folder it created; in a folder that existed, everything inside it and its mode restored)."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.key_store: KeyStore | None = None
        missing = [p for p in (home.root, *home.root.parents) if not p.exists()]
        self.created_top = missing[-1] if missing else None
        self.before = None if missing else home.root.stat()

    def run(self) -> None:
        if self.key_store is not None:
            try:
                self.key_store.delete(SIGNING_KEY)
            except Exception:  # the original failure matters more; say what may be left
                log.warning("a failed init could not remove its signing key from the key store %s",
                            self.key_store.backend_name)
        if self.created_top is not None:
            shutil.rmtree(self.created_top, ignore_errors=True)
            return
        for entry in self.home.root.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        if self.before is not None:
            self.home.root.chmod(stat.S_IMODE(self.before.st_mode))
            os.utime(self.home.root, ns=(self.before.st_atime_ns, self.before.st_mtime_ns))


def _record(store: Store, config: configuration.Config, installation_id: str, signing_key: SigningKey,
            clock: Clock, officer: str, officer_name: str) -> None:
    audit = AuditLog(store, clock, signing_key, log_origin(config.slug, installation_id))
    with store.transaction():
        for key, value in (("installation_id", installation_id), ("municipality", config.municipality),
                           ("created_at", utc_iso(clock.now())),
                           ("public_key", signing_key.public_bytes().hex())):
            store.set_meta(key, value)
        StaffList(store, clock).put(officer, officer_name, ["officer"])
        audit.append(officer, "installation.created", "ok", [installation_id],
                     {"key_store": config.key_store})
        audit.append(officer, "staff.changed", "ok", [officer], {"before": [], "after": ["officer"]})
    audit.checkpoint()


def load_signing_key(keys: KeyStore) -> SigningKey:
    from retention_agent.errors import KeyMissingError

    raw = keys.get(SIGNING_KEY)
    if raw is None:
        raise KeyMissingError(key=SIGNING_KEY)
    return SigningKey.from_private_bytes(raw)
