"""What the running agent's parts share. Built once, by ``agent.py`` (the composition root).

The services that act (the purger, the schedule, the notifier) are not here: they hold this context, so the
composition root wires them afterwards into ``services.WiredContext``, which the API operations receive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from retention_agent.audit.log import AuditLog
from retention_agent.clock import Clock
from retention_agent.config import Config
from retention_agent.crypto import SigningKey
from retention_agent.evidence.checkpoint import log_origin as log_origin  # its home; named here for older importers
from retention_agent.store.database import Store
from retention_agent.store.diskspace import FreeSpace
from retention_agent.store.staff import StaffList
from retention_agent.system.home import Home
from retention_agent.system.log_limits import LogLimiter
from retention_agent.vault.ingest import Ingest
from retention_agent.vault.keys import KeyStore
from retention_agent.vault.vault import Vault


@dataclass
class Health:
    """What the running agent knows about itself right now (in memory: a restart starts afresh); status reads it."""

    last_tick: str | None = None  # the schedule's last run
    checkpoint_at: float | None = None  # monotonic: the periodic audit checkpoint's last run
    last_staff_request: float | None = None  # monotonic: the database is vacuumed only when staff are idle
    audit_verified: dict[str, Any] | None = None  # the last 'audit verify': at, ok, size
    vault_verified: dict[str, Any] | None = None  # the last 'vault verify': at, ok, checked
    integrity_failures: list[str] = field(default_factory=list)  # deliveries an opening found damaged
    # The running purger's deliveries: an id is added once its purge has started and stays, so an opening
    # that was mid-way cannot go on (the purge wins). The composition root points it at the purger's set.
    purging: set[str] = field(default_factory=set)
    # The intake watchers by name (folders, Downloads folders, mailboxes), for their state in the status.
    intake: Mapping[str, object] = field(default_factory=dict)


@dataclass
class AgentContext:
    home: Home
    config: Config
    clock: Clock
    store: Store
    keys: KeyStore
    signing_key: SigningKey
    audit: AuditLog
    staff: StaffList
    vault: Vault
    ingest: Ingest
    started_at: datetime
    installation_id: str
    subject_key: bytes  # keys the hashes of subjects the audit log does not keep as text (subjects.py)
    free_space: FreeSpace  # the floor below which storage stops growing for others' sake (diskspace.py)
    log_limits: LogLimiter  # what a caller can make the agent log, at most once a minute per kind
    health: Health = field(default_factory=Health)

    @property
    def identity(self) -> str:
        """The signer identity in allowed-signers files: ``retention-agent@<municipality-slug>``."""
        return f"retention-agent@{self.config.slug}"

    @property
    def origin(self) -> str:
        return self.audit.origin
