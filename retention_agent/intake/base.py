"""What every intake watcher shares: the deliver-once boundary, the status it reports, and back-off.

The contract with the vault (provided by the ingest path, see ``retention_agent.vault``):

- ``deliver(stream, channel=..., source=..., quarantine=...)`` returns only after the bytes are committed
  (encrypted, fsynced, verified, recorded), or raises. A watcher removes its source (expunges the message,
  removes the file) only after ``deliver`` returned, and leaves the source untouched when it raised.
- ``deliver`` is idempotent by content hash: delivering the same bytes again after a crash returns
  ``duplicate=True`` and stores nothing new, so finishing an interrupted job is always safe.
- ``source`` is a configuration name such as ``"agii-inbox"``: never an address, a subject or a file name.
- ``reason`` (optional) is a code saying why a file is quarantined (``mail-too-many-files``,
  ``mail-not-authenticated``); the delivery records it and status shows it to the officer.

What a watcher reports back (both optional, wired by the composition root):

- a :class:`RefusalReport` once per refused item and episode (a folder that was swapped, a hard link left in
  place, a message too large): the agent audits it once, never once per scan;
- a :class:`SourceKept` when it removed a plaintext source without overwriting it first (the file system
  refused the write, the agent's account may not write the file): the deliveries record it *before* the
  source is unlinked, so a proof of deletion never claims more than was done.

Everything here is pure: time comes from the caller (an injected :class:`~retention_agent.clock.Clock`),
randomness for jitter from an injected function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import BinaryIO, Literal, Protocol

# The vault's receipt, re-exported: the watchers know it as part of this contract.
from retention_agent.vault.receipt import DeliverResult as DeliverResult

Channel = Literal["email", "zivver", "folder", "manual"]
IntakeState = Literal["ok", "retrying", "failing", "stopped"]

TOO_MANY_FILES = "mail-too-many-files"
"""Quarantine reason: a message (or ``.eml``) with more files than allowed, vaulted whole as one delivery."""
NOT_AUTHENTICATED = "mail-not-authenticated"
"""Quarantine reason: the municipality's mail server did not vouch that the message came from AgII."""

FAILING_AFTER = 3
"""Consecutive failed cycles after which a watcher reports ``failing`` instead of ``retrying``."""


class Deliver(Protocol):
    def __call__(self, stream: BinaryIO, *, channel: str, source: str, quarantine: bool,
                 reason: str = "") -> DeliverResult:
        """Commit the bytes of ``stream`` to the vault, or raise (then the source must stay untouched)."""
        ...


@dataclass(frozen=True)
class MessageFile:
    """One file of a mail message, held in memory (never written outside the vault)."""

    data: bytes
    quarantine: bool
    reason: str = ""


class DeliverMessage(Protocol):
    def __call__(self, files: Sequence[MessageFile], *, channel: str, source: str) -> list[DeliverResult]:
        """Deliver every file of one message as :class:`Deliver` would, then announce them once."""
        ...


class RefusalReport(Protocol):
    def __call__(self, source: str, code: str, item: str) -> None:
        """``source`` refused something for reason ``code``; ``item`` is a keyed hash of its name or ``""``.

        Must not raise: a refusal that cannot be recorded is still shown by the watcher's status."""
        ...


class SourceKept(Protocol):
    def __call__(self, delivery_ids: Sequence[str], why: str) -> None:
        """The plaintext source of these deliveries is about to be removed without being overwritten (``why``
        is a code); must be durable when it returns, and raise if it cannot be recorded."""
        ...


@dataclass(frozen=True)
class IntakeStatus:
    """A snapshot of one watcher's health, for ``retention-agent status``. No personal data in here.

    ``state`` is ``ok`` after a successful cycle, ``retrying`` after a few failed ones, ``failing`` after
    :data:`FAILING_AFTER` failures in a row (or at once for errors that will not heal by themselves, such as
    refused credentials), and ``stopped`` once the watcher was stopped.
    """

    state: IntakeState = "ok"
    last_success: datetime | None = None
    last_error_id: str | None = None
    consecutive_failures: int = 0
    next_retry: datetime | None = None
    refused: tuple[tuple[str, int], ...] = ()
    """What the watcher currently refuses, as (code, how many items), e.g. ``("source-hard-link", 2)``."""

    def succeeded(self, now: datetime) -> IntakeStatus:
        """The status after a successful cycle (the last error id is kept for the record)."""
        return replace(self, state="ok", last_success=now, consecutive_failures=0, next_retry=None)

    def failed(
        self, error_id: str, now: datetime, delay_s: float, *, permanent: bool = False
    ) -> IntakeStatus:
        """The status after a failed cycle; the next attempt is ``delay_s`` seconds after ``now``."""
        failures = self.consecutive_failures + 1
        state: IntakeState = "failing" if permanent or failures >= FAILING_AFTER else "retrying"
        return replace(
            self,
            state=state,
            last_error_id=error_id,
            consecutive_failures=failures,
            next_retry=now + timedelta(seconds=delay_s),
        )

    def noted(self, error_id: str) -> IntakeStatus:
        """Record an error id that did not fail the cycle (e.g. one message skipped)."""
        return replace(self, last_error_id=error_id)

    def stopped(self) -> IntakeStatus:
        return replace(self, state="stopped", next_retry=None)

    def refusing(self, counts: dict[str, int]) -> IntakeStatus:
        return replace(self, refused=tuple(sorted((c, n) for c, n in counts.items() if n)))
