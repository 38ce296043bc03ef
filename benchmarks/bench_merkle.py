"""Time :func:`retention_agent.evidence.merkle.root` over one million leaf hashes and print the result as JSON.

Run: ``.venv/bin/python benchmarks/bench_merkle.py``. Not part of the test suite: timings depend on the
machine and its load. Takes the best of a few runs, since the minimum is the least noisy estimate.
"""

from __future__ import annotations

import hashlib
import json
import time

from retention_agent.evidence.merkle import CompactRange, root

LEAVES = 1_000_000
RUNS = 3


def main() -> None:
    leaves = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(LEAVES)]
    best = min(_time_root(leaves) for _ in range(RUNS))
    compact = CompactRange()
    start = time.perf_counter()
    for leaf in leaves:
        compact.append(leaf)
    append_s = time.perf_counter() - start
    if compact.root() != root(leaves):
        raise SystemExit("CompactRange and root() disagree")
    print(
        json.dumps(
            {
                "merkle_root_1m_leaves_s": round(best, 3),
                "leaves_per_s": round(LEAVES / best),
                "compact_range_append_1m_leaves_s": round(append_s, 3),
            }
        )
    )


def _time_root(leaves: list[bytes]) -> float:
    start = time.perf_counter()
    root(leaves)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
