"""What the mailbox watcher needs from a mail server: a small interface, with IMAP and Microsoft Graph behind it.

The watcher (:mod:`.mailbox`) decides *what* to take and when; a driver only talks to the server. A driver
lists the messages of a folder, reads their envelope (``From``, ``Subject``, ``Message-ID``, size, arrival
time), fetches one message whole, deletes messages, lists the mailbox's folders and answers the three
questions the copy sweep (:mod:`.copies`) asks: which messages carry this ``Message-ID``, which are large
enough and recent enough to hold one of these files, and which files (size and SHA-256) a message carries.

Every failure is a :class:`DriverError` with a stable error id (the catalogue in ``errors/`` explains each
one to the officer); the watcher retries with back-off. Message references (:data:`MessageRef`) are only
meaningful within one :attr:`Listing.generation` of a folder (IMAP's ``UIDVALIDITY``).

Implementations: :class:`~.imap_driver.ImapDriver` (IMAP4rev1 with UIDPLUS, MOVE and IDLE where offered) and
:class:`~.graph_driver.GraphDriver` (Microsoft Graph v1.0, deleting with ``permanentDelete``).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol

MessageRef = int | str
"""An IMAP UID, or a Graph message id."""

WaitOutcome = Literal["mail", "quiet", "lost"]

REMOVAL_IMAP_EXPUNGE = "imap-expunge"
"""``\\Deleted`` and ``UID EXPUNGE``. Exchange Online keeps such a message in Recoverable Items, where the user
can restore it until the deleted-item retention ends (14 days by default, up to 30)."""
REMOVAL_GRAPH_PERMANENT = "graph-permanent-delete"
"""Graph ``permanentDelete``: Exchange moves the message to the Purges folder of Recoverable Items, which
Outlook and OWA cannot restore from; Exchange removes it when the deleted-item retention ends, unless a hold."""


class DriverError(Exception):
    """A server, network or credential failure, by stable error id (never the server's own text)."""

    def __init__(self, error_id: str, *, keep_connection: bool = False) -> None:
        super().__init__(error_id)
        self.error_id = error_id
        self.keep_connection = keep_connection


class FolderError(DriverError):
    """One folder refused an operation (the server answered NO or BAD); the connection is still good."""

    def __init__(self, error_id: str) -> None:
        super().__init__(error_id, keep_connection=True)


@dataclass(frozen=True)
class Listing:
    """The messages of a folder right now. ``generation`` changes when references are no longer valid."""

    generation: object
    refs: list[MessageRef]


@dataclass(frozen=True)
class Envelope:
    """What the watcher reads of a message before deciding to take it (nothing of its body)."""

    ref: MessageRef
    header: bytes
    """The raw ``From``, ``Subject`` and ``Message-ID`` header fields."""
    size: int
    received_at: datetime | None
    """When the server received it (IMAP ``INTERNALDATE``, Graph ``receivedDateTime``), timezone-aware."""


@dataclass(frozen=True)
class FolderInfo:
    """A folder of the mailbox: its name as the server gives it and its special use (RFC 6154), if any."""

    name: str
    special_use: str | None = None
    """``\\Trash``, ``\\Sent``, ``\\Drafts``, ``\\Junk``, ``\\Archive``, ``\\All`` or None."""


class MailboxDriver(Protocol):
    removal_method: str
    """How :meth:`delete` removes a message: :data:`REMOVAL_IMAP_EXPUNGE` or :data:`REMOVAL_GRAPH_PERMANENT`."""

    @property
    def connected(self) -> bool: ...

    def connect(self) -> None:
        """Connect and authenticate (a no-op when connected); :class:`DriverError` on failure."""
        ...

    def disconnect(self, *, graceful: bool = False) -> None: ...

    def abort(self) -> None:
        """Break a blocked read from another thread (stop)."""
        ...

    def session_ends_at(self) -> float | None:
        """Monotonic time after which the session must be renewed (its access token expires); None: never."""
        ...

    def listing(self, folder: str) -> Listing: ...

    def changed_since_listing(self, folder: str) -> bool:
        """Whether messages arrived since the last :meth:`listing` of ``folder``."""
        ...

    def envelopes(self, folder: str, refs: list[MessageRef]) -> dict[MessageRef, Envelope]:
        """Envelopes of ``refs``; a message expunged meanwhile is simply missing."""
        ...

    def fetch(self, folder: str, ref: MessageRef, limit: int) -> bytes | None:
        """The message's bytes, at most ``limit`` of them; None when it is gone."""
        ...

    def delete(self, folder: str, refs: Collection[MessageRef]) -> None:
        """Remove exactly these messages from the folder (see :attr:`removal_method`)."""
        ...

    def folders(self) -> list[FolderInfo]:
        """Every selectable folder of the mailbox."""
        ...

    def search_message_id(self, folder: str, message_id: str) -> list[MessageRef]:
        """Messages in ``folder`` whose ``Message-ID`` is exactly ``message_id`` (verified, not only searched)."""
        ...

    def search_larger(self, folder: str, min_size: int, since: date | None) -> list[MessageRef]:
        """Messages larger than ``min_size`` bytes that arrived on or after ``since`` (oldest first)."""
        ...

    def part_digests(self, folder: str, refs: Iterable[MessageRef],
                     sizes: Collection[int]) -> dict[MessageRef, set[tuple[int, str]]]:
        """For each message, ``(size, SHA-256)`` of every body part whose decoded size may be one of ``sizes``."""
        ...

    def can_wait(self) -> bool:
        """Whether :meth:`wait` is better than polling (IMAP IDLE)."""
        ...

    def wait(self, folder: str, until: float, stop: threading.Event) -> WaitOutcome:
        """Wait for new mail in ``folder`` until the monotonic time ``until`` or ``stop``."""
        ...
