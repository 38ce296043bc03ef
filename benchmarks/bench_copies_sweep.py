"""The copy sweep over a realistic profile of 100,000 files with nothing to find: first sweep, and again.

    .venv/bin/python -m benchmarks.bench_copies_sweep [--files 100000]

A profile like a municipal clerk's (Documents, Downloads, Desktop, AppData-like caches): about 20 files per
folder, nested up to 6 deep; 95 % other files (photos, caches, program files; 0.5–8 KB here, since only their size
is looked at, and none of a delivery's size) and 5 % documents the sweep reads for national register numbers (CSV
and text, .xlsx, .docx, PDF of people who are not in the deliveries). The targets: three deliveries (sizes and
SHA-256) of which one is unlocked with 212 people. Goals: the first sweep under 60 s, a sweep with nothing changed
under 5 s.

The files are written just before the first sweep, so they are in the page cache: the figure is the sweep's own
cost, not the disk's (a cold disk adds its read time for the documents and candidates only).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retention_agent.copies import wire, workbook
from retention_agent.copies.cache import Cache, load, save
from retention_agent.copies.locations import Location
from retention_agent.copies.sweep import Matcher, sweep
from tests import copies_support as fixtures

KEY = bytes(range(32))


def make_profile(root: Path, files: int, rng: random.Random) -> dict[str, int]:
    others = fixtures.people(400, first_serial=600)
    documents = {
        ".csv": fixtures.mail_merge_csv(others[:50]),
        ".txt": ("\n".join(f"notitie {i} voor de dienst" for i in range(200))).encode(),
        ".xlsx": fixtures.xlsx(fixtures.rows(others[:40])),
        ".docx": fixtures.docx([f"Beste, uw dossier {i}" for i in range(60)]),
        ".pdf": fixtures.pdf([f"Pagina met tekst {i}" for i in range(40)]),
    }
    kinds = [".jpg", ".png", ".dll", ".json", ".log", ".html", ".js", ".bin", ".msg", ".tmp"]
    counts: dict[str, int] = {}
    folder, made = root, 0
    while made < files:
        if made % 20 == 0:
            depth = rng.randint(1, 6)
            folder = root.joinpath(*(f"map{rng.randint(0, 30)}" for _ in range(depth)))
            folder.mkdir(parents=True, exist_ok=True)
        if rng.random() < 0.05:
            suffix = rng.choice(sorted(documents))
            data = documents[suffix]
        else:
            suffix = rng.choice(kinds)
            data = os.urandom(rng.randint(500, 8000))  # their size is all the sweep looks at
        (folder / f"bestand-{made}{suffix}").write_bytes(data)
        counts[suffix] = counts.get(suffix, 0) + 1
        made += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    options = parser.parse_args()
    rng = random.Random(19)
    work = Path(tempfile.mkdtemp(prefix="ra-bench-copies-"))
    try:
        started = time.perf_counter()
        counts = make_profile(work / "profile", options.files, rng)
        made_s = time.perf_counter() - started
        people = fixtures.people(212)
        targets = wire.Targets(
            exact=tuple(wire.Exact(f"D{i}", 48_213 + i * 7919, f"{i:064x}") for i in range(3)),
            derived=(wire.Derived("D0", KEY, frozenset(workbook.fingerprint(KEY, d) for d in people)),))
        locations = [Location("documents", work / "profile")]
        cache_file = work / "state" / "cache.json"
        first_started = time.perf_counter()
        cache = Cache()
        first = sweep(locations, Matcher(targets), cache)
        save(cache_file, cache)
        first_s = time.perf_counter() - first_started
        again_started = time.perf_counter()
        cache = load(cache_file)
        again = sweep(locations, Matcher(targets), cache)
        save(cache_file, cache)
        again_s = time.perf_counter() - again_started
        print(json.dumps({
            "files": options.files, "profile_written_s": round(made_s, 1), "by_suffix": counts,
            "copies_first_sweep_s": round(first_s, 2), "copies_first_goal": "< 60 s",
            "copies_unchanged_sweep_s": round(again_s, 2), "copies_unchanged_goal": "< 5 s",
            "first_stats": dict(first.stats), "unchanged_stats": dict(again.stats),
            "found": len(first.found) + len(again.found), "cache_bytes": cache_file.stat().st_size,
        }, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
