"""What one caller may cost the agent: requests per second and connections at once (pure, thread-safe).

- :class:`RequestBudget`: a token bucket per account that is not on the staff list. Such an account can do
  nothing but be refused; each refusal still costs a little (parsing, a count, now and then an audit entry),
  so it gets :data:`RATE` requests a second with bursts of :data:`BURST`. A request over budget waits for
  its token when that comes soon, and is refused otherwise.
- :class:`ConnectionSlots`: so many connections in all and so many per account, with slots kept back for
  staff and for the privacy officer, so that accounts outside the list — four of them holding eight
  connections each — cannot lock the officer out.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

RATE = 2.0  # requests a second, for accounts that are not on the staff list
BURST = 20.0
MAX_WAIT_S = 1.0  # a request that would wait longer for its token is refused instead
REFUSAL_PAUSE_S = 0.5  # and answered only after this pause, so that refusals cannot be had in a tight loop

MAX_CONNECTIONS = 32
MAX_CONNECTIONS_PER_ACCOUNT = 8
# Connection classes: whoever is not on the staff list ("other") may use the slots left after the reserves;
# staff may use every slot but the officer's reserve; an officer, all of them.
OFFICER, STAFF, OTHER = "officer", "staff", "other"
RESERVED: Mapping[str, int] = {OFFICER: 4, STAFF: 8}


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float, max_wait: float) -> float | None:
        """Take a token: 0 if one is there, the seconds to wait for it if at most ``max_wait``, else None
        (and nothing taken)."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        wait = (1 - self.tokens) / self.rate
        if wait > max_wait:
            return None
        self.tokens -= 1  # in debt: the next token is this request's
        return wait


class RequestBudget:
    def __init__(self, rate: float = RATE, burst: float = BURST, max_wait: float = MAX_WAIT_S) -> None:
        self.rate, self.burst, self.max_wait = rate, burst, max_wait
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def take(self, account: str, now: float) -> float | None:
        """The wait before ``account``'s request may go on (0: at once), or None: refuse it."""
        with self._lock:
            bucket = self._buckets.get(account)
            if bucket is None:
                bucket = self._buckets[account] = TokenBucket(self.rate, self.burst, self.burst, now)
            return bucket.take(now, self.max_wait)


class ConnectionSlots:
    """How many connections the agent serves at once: in all, per account, and per class of caller.

    A class is admitted while fewer connections are held in all than its limit: whoever is not on the staff
    list up to ``total`` minus every reserve, staff up to ``total`` minus the officer's reserve, an officer
    up to ``total``. So the reserves stay free for those they are kept for.
    """

    def __init__(self, total: int = MAX_CONNECTIONS, per_account: int = MAX_CONNECTIONS_PER_ACCOUNT,
                 reserved: Mapping[str, int] = RESERVED) -> None:
        self.total = total
        self.per_account = per_account
        self.limits = {OFFICER: total, STAFF: total - reserved.get(OFFICER, 0),
                       OTHER: total - sum(reserved.values())}
        self._held: dict[int, int] = {}
        self._lock = threading.Lock()

    def take(self, uid: int, kind: str = OTHER) -> bool:
        with self._lock:
            if sum(self._held.values()) >= self.limits[kind] or self._held.get(uid, 0) >= self.per_account:
                return False
            self._held[uid] = self._held.get(uid, 0) + 1
            return True

    def give_back(self, uid: int) -> None:
        with self._lock:
            self._held[uid] -= 1
            if not self._held[uid]:
                del self._held[uid]
