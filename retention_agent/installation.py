"""``retention-agent init``: a new home with its configuration, database, signing key and first officer."""

from __future__ import annotations

import os
from pathlib import Path

from retention_agent import config as configuration
from retention_agent.audit import AuditLog
from retention_agent.clock import Clock, utc_iso
from retention_agent.context import log_origin
from retention_agent.crypto import SigningKey
from retention_agent.errors import HomeExistsError, HomeNotEmptyError, UnknownAccountError
from retention_agent.home import Home, create_layout, write_private
from retention_agent.ids import random_hex
from retention_agent.platform_accounts import account_exists
from retention_agent.staff import StaffList
from retention_agent.store import Store
from retention_agent.vault.keys import KeyStore, open_key_store

SIGNING_KEY = "signing-key"


def init_home(home: Home, *, municipality: str, officer: str, officer_name: str, key_store: str,
              inboxes: list[str], clock: Clock, language: str = "nl", deployment: str = "user") -> str:
    """Create a home; refuse to touch an existing one. Returns the installation id.

    The folder may already exist if it is empty: the shared-mode installer creates it for the service
    account (owner and mode set), then runs ``init`` as that account.
    """
    if home.exists() or home.database.exists():
        raise HomeExistsError(home=str(home.root))
    if home.root.is_dir() and any(home.root.iterdir()):
        raise HomeNotEmptyError(home=str(home.root))
    if not account_exists(officer):
        raise UnknownAccountError(account=officer)
    os.umask(0o077)  # the database's -wal and -shm files are created later with this mask
    create_layout(home)
    text = configuration.render_initial(municipality, key_store,
                                        [str(Path(p).absolute()) for p in inboxes], language, deployment)
    write_private(home.config, text.encode())
    config = configuration.load(home.config)  # what init wrote must be what run reads
    installation_id = random_hex(8)
    keys = open_key_store(config.key_store, home.keys, installation_id)
    signing_key = SigningKey.generate()
    keys.put(SIGNING_KEY, signing_key.private_bytes())
    store = Store.create(home.database)
    try:
        _record(store, config, installation_id, signing_key, clock, officer, officer_name)
    finally:
        store.close()
    return installation_id


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
