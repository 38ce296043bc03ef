"""The ticker: the one thread that runs the agent's periodic duties."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("retention_agent")

Tick = Callable[[], None]


@dataclass
class Ticker:
    """Runs the periodic duties (due purges, reminders, checkpoints, wipes), each guarded on its own."""

    interval_s: float
    duties: list[tuple[str, Tick]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)

    def run_once(self) -> None:
        for name, duty in self.duties:
            try:
                duty()
            except Exception:
                log.exception("periodic duty %s failed; retried at the next tick", name)

    def loop(self) -> None:
        while not self.stop.is_set():
            self.run_once()
            self.wake.wait(self.interval_s)
            self.wake.clear()
