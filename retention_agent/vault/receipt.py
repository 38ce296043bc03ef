"""What the vault answers when it has taken a file in: the receipt a watcher waits for before it removes the source.

The intake watchers call the vault (:class:`~retention_agent.vault.ingest.Ingest`) and read this answer; the vault
knows nothing of the watchers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeliverResult:
    delivery_id: str
    duplicate: bool
    """Same SHA-256 as a live delivery: nothing new was stored; the source may still be removed."""
    others: tuple[str, ...] = ()
    """Further deliveries made from the same source (the other attachments of an ``.eml`` file)."""

    @property
    def delivery_ids(self) -> tuple[str, ...]:
        return (self.delivery_id, *self.others)
