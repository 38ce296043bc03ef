"""Checking the whole vault: every live object is there, decrypts, and matches its recorded hash."""

from __future__ import annotations

from typing import Any

from retention_agent.clock import Clock, utc_iso
from retention_agent.errors import FormatVersionError, VaultIntegrityError
from retention_agent.rules.delivery_states import LIVE, PURGING
from retention_agent.store import deliveries
from retention_agent.store.database import Store
from retention_agent.store.deliveries import state_of
from retention_agent.vault.ingest import pending_objects
from retention_agent.vault.vault import Vault


def verify_vault(store: Store, vault: Vault, clock: Clock) -> dict[str, Any]:
    """Every live object decrypts and matches its hash; report missing, extra, corrupt and key-less ones.

    Ingests and purges go on meanwhile: the listing and the rows are one view (taken under the store's lock),
    an object whose ingest is in progress or whose purge has started is not "extra", and a problem found with
    a delivery that a purge took meanwhile is not reported (its key and object go on purpose).
    """
    with store.lock:
        rows = deliveries.live_objects(store)
        pending = pending_objects(store)
        purging = set(deliveries.ids_in_state(store, PURGING))
        on_disk = vault.object_ids()
    problems: dict[str, list[str]] = {"missing": [], "corrupt": [], "keyless": [], "mismatch": []}
    for row in rows:
        problem = _check_object(vault, row, on_disk)
        if problem and state_of(store, row["id"]) in LIVE:
            problems[problem].append(row["id"])
    extra = sorted(on_disk - {r["id"] for r in rows} - pending - purging)
    return {"checked": len(rows), "ok": not any(problems.values()) and not extra, "extra": extra, **problems,
            "at": utc_iso(clock.now())}


def _check_object(vault: Vault, row: dict[str, Any], on_disk: set[str]) -> str:
    if row["id"] not in on_disk:
        return "missing"
    if not vault.has_key(row["key_id"]):
        return "keyless"
    try:
        result = vault.read(row["id"], row["key_id"], None)
    except (VaultIntegrityError, FormatVersionError):  # this agent wrote it: a "newer" header was altered
        return "corrupt"
    return "" if result.plaintext_sha256 == row["sha256"] else "mismatch"
