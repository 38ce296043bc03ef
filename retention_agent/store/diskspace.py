"""A floor of free space on the disk that holds the home, below which the agent stops growing its storage.

Another account on the same file system can fill it. Before the disk is full, at the floor
(``[disk] free_space_floor_mib`` or ``free_space_floor_percent`` of the volume, whichever is smaller), the
agent refuses what would make its storage grow for others' sake — new deliveries (intake calls
:meth:`FreeSpace.require_room`) and any request from an account that is not on the staff list — while
purges, proofs of deletion and status go on: they need little room (a purge scrubs only what it touched,
see ``store.Store.scrub``), and they are what the room is kept for. ``status`` shows the floor as a problem.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from retention_agent.errors import DiskSpaceLowError

MIB = 1 << 20
CACHE_S = 1.0  # statvfs at most once a second, however many requests ask


def floor_bytes(total: int, floor_mib: float, floor_percent: float) -> int:
    """The smaller of the two floors (0 switches the floor off)."""
    return int(min(floor_mib * MIB, total * floor_percent / 100))


@dataclass(frozen=True)
class Reading:
    free: int
    total: int
    floor: int

    @property
    def low(self) -> bool:
        return self.free < self.floor

    def to_wire(self) -> dict[str, int | bool]:
        return {"free_bytes": self.free, "total_bytes": self.total, "floor_bytes": self.floor, "low": self.low}


class FreeSpace:
    def __init__(self, folder: Path, floor_mib: float, floor_percent: float,
                 monotonic: Callable[[], float]) -> None:
        self.folder = folder
        self.floor_mib = floor_mib
        self.floor_percent = floor_percent
        self.monotonic = monotonic
        self._cached: tuple[float, Reading] | None = None
        self._lock = threading.Lock()

    def reading(self) -> Reading:
        now = self.monotonic()
        with self._lock:
            if self._cached is None or now - self._cached[0] >= CACHE_S:
                usage = shutil.disk_usage(self.folder)
                self._cached = (now, Reading(usage.free, usage.total,
                                             floor_bytes(usage.total, self.floor_mib, self.floor_percent)))
            return self._cached[1]

    def low(self) -> bool:
        return self.reading().low

    def require_room(self) -> None:
        """Raise the named error when the disk is below the floor (intake asks before taking a file)."""
        found = self.reading()
        if found.low:
            raise DiskSpaceLowError(folder=str(self.folder), free_mib=found.free // MIB,
                                    floor_mib=-(-found.floor // MIB))
