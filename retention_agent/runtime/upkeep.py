"""Database upkeep off the request path: a full VACUUM only when it is needed, there is room, and nobody works.

A purge scrubs only what it deleted (``Store.scrub``), so the database never needs a full VACUUM to stay free
of residue. It needs one to switch to incremental auto-vacuum when it was created before the agent used it
(``auto_vacuum`` changes only on an empty database or by a VACUUM), or to give back a large share of free
pages. A VACUUM rewrites the whole file — it needs free space about twice its size — and holds the store's
lock meanwhile (about 19 s for a database of 1 GB), so this periodic duty runs it only when:

- it is needed (see above);
- there is room: free space of at least twice the database plus the free-space floor;
- it is quiet: no staff request for :data:`IDLE_S`.

Each VACUUM is audited (``database.vacuumed``, with its duration and what it left).
"""

from __future__ import annotations

import logging

from retention_agent.runtime.context import AgentContext
from retention_agent.store.database import INCREMENTAL

log = logging.getLogger(__name__)
IDLE_S = 600.0
MIN_PAGES = 1000  # below this (4 MB) free pages are not worth a VACUUM


def needs_vacuum(facts: dict[str, int]) -> bool:
    """Not yet on incremental auto-vacuum, or more than a quarter of a sizeable database is free pages."""
    lots_free = facts["pages"] >= MIN_PAGES and facts["free_pages"] * 4 > facts["pages"]
    return facts["auto_vacuum"] != INCREMENTAL or lots_free


class DatabaseUpkeep:
    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        if ctx.health.last_staff_request is None:  # quiet since the start
            ctx.health.last_staff_request = ctx.clock.monotonic()

    def __call__(self) -> bool:
        """Run a VACUUM if it is needed and allowed now; True if it ran."""
        facts = self.ctx.store.size_facts()
        if not needs_vacuum(facts):
            return False
        size = facts["pages"] * facts["page_size"]
        space = self.ctx.free_space.reading()
        if space.free < 2 * size + space.floor:
            if self.ctx.log_limits.allow("upkeep:room") is not None:
                log.info("database VACUUM postponed: %d MiB free, it needs %d MiB", space.free >> 20,
                         (2 * size + space.floor) >> 20)
            return False
        last_request = self.ctx.health.last_staff_request
        if last_request is not None and self.ctx.clock.monotonic() - last_request < IDLE_S:
            return False
        started = self.ctx.clock.monotonic()
        left = self.ctx.store.vacuum()
        seconds = round(self.ctx.clock.monotonic() - started, 3)
        log.info("database vacuumed in %.1f s (%d MiB)", seconds, size >> 20)
        self.ctx.audit.append("agent", "database.vacuumed", "ok", [],
                              {"seconds": seconds, "bytes_before": size, **left})
        return True
