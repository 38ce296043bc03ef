"""Waiting longer after each failure: the back-off of mailbox connections and report deliveries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off: ``base_s * factor ** (failures - 1)``, capped at ``max_s``.

    With ``jitter`` (0..1) and a ``random`` function returning values in [0, 1), the delay is reduced by up
    to that fraction, so that many agents restarted together do not knock on the server at the same moment.
    """

    base_s: float = 2.0
    factor: float = 2.0
    max_s: float = 300.0
    jitter: float = 0.0
    random: Callable[[], float] | None = None

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.max_s < 0 or self.factor < 1:
            raise ValueError("Backoff needs base_s >= 0, max_s >= 0 and factor >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("Backoff jitter must be between 0 and 1")

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (0 failures: no wait)."""
        if failures <= 0:
            return 0.0
        exponent = min(failures - 1, 64)
        delay = min(self.base_s * self.factor**exponent, self.max_s)
        if self.jitter and self.random is not None:
            delay *= 1.0 - self.jitter * min(max(self.random(), 0.0), 1.0)
        return delay
