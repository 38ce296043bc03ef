"""What the running agent's parts share. Built once, by ``agent.py`` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from retention_agent.api.budget import RequestBudget
from retention_agent.api.refusals import RefusalLedger
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
    refusals: RefusalLedger = field(default_factory=RefusalLedger)
    budget: RequestBudget = field(default_factory=RequestBudget)
    # filled in by the composition root as capabilities are wired; status reads them
    components: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        """The signer identity in allowed-signers files: ``retention-agent@<municipality-slug>``."""
        return f"retention-agent@{self.config.slug}"

    @property
    def origin(self) -> str:
        return self.audit.origin
