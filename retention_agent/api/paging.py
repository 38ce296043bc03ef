"""Long lists over the API in pages, so that any number of rows fits the protocol's 1 MiB frames.

``deliveries``, ``audit.show`` and ``proof.list`` take ``limit`` (rows per page) and ``cursor`` (the
``next`` of the previous page, opaque to the client) and answer ``next``: the cursor of the following page,
or null after the last one. A page also ends when its rows reach :data:`PAGE_BYTES`, however large they are.
Filters and an order (``audit.show`` already has ``order``) are further arguments; the cursor stays a
position in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
PAGE_BYTES = 512 * 1024  # well under protocol.MAX_FRAME, whatever the JSON around the rows
MAX_LIMIT = 1000


def fill(rows: Iterable[T], limit: int, size: Callable[[T], int], budget: int = PAGE_BYTES) -> tuple[list[T], bool]:
    """The first rows that fit ``limit`` and ``budget`` bytes (at least one), and whether rows were left.

    ``rows`` should yield one row more than ``limit`` when there are more, so that the last page says so.
    """
    page: list[T] = []
    used = 0
    for row in rows:
        cost = size(row)
        if len(page) >= limit or (page and used + cost > budget):
            return page, True
        page.append(row)
        used += cost
    return page, False
