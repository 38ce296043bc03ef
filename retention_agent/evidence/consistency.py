"""An RFC 6962 consistency proof without rereading the whole audit log.

Every node of a consistency proof from an old tree of ``m`` leaves to a new one of ``n`` is the root of a
subtree that lies either wholly inside the old tree — and then it is one of the perfect subtrees of the old
tree's compact range (the frontier the agent keeps) — or wholly after it. So the frontier saved with the
previous report plus the leaves appended since are enough: a month of entries instead of a million. The
result is the same list of hashes ``merkle.consistency_proof`` computes from all leaves (a test checks it for
every pair of sizes up to 130) and verifies with ``merkle.verify_consistency``.
"""

from __future__ import annotations

from collections.abc import Sequence

from retention_agent.evidence import merkle


def perfect_subtrees(size: int) -> list[tuple[int, int]]:
    """The ``[begin, end)`` ranges of a compact range over ``size`` leaves, largest (leftmost) first."""
    ranges, begin = [], 0
    for bit in reversed(range(size.bit_length())):
        width = 1 << bit
        if size & width:
            ranges.append((begin, begin + width))
            begin += width
    return ranges


def consistency_proof(old_size: int, old_frontier: Sequence[bytes], new_leaves: Sequence[bytes]) -> list[bytes]:
    """The proof that the ``old_size`` tree whose compact range is ``old_frontier`` is a prefix of that tree
    extended by ``new_leaves`` (the leaf hashes appended since). ``ValueError`` if the frontier does not fit."""
    ranges = perfect_subtrees(old_size)
    if len(ranges) != len(old_frontier):
        raise ValueError("the frontier does not match the old size")
    known = dict(zip(ranges, old_frontier, strict=True))
    new_size = old_size + len(new_leaves)

    def root(begin: int, end: int) -> bytes:
        if (begin, end) in known:
            return known[(begin, end)]
        if begin >= old_size:
            return merkle.root(new_leaves[begin - old_size:end - old_size])
        raise ValueError(f"the subtree [{begin}, {end}) is neither old nor new")

    def subproof(m: int, begin: int, end: int, *, complete: bool) -> list[bytes]:
        n = end - begin
        if m == n:
            return [] if complete else [root(begin, end)]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return [*subproof(m, begin, begin + k, complete=complete), root(begin + k, end)]
        return [*subproof(m - k, begin + k, end, complete=False), root(begin, begin + k)]

    if old_size in (0, new_size):
        return []
    return subproof(old_size, 0, new_size, complete=True)
