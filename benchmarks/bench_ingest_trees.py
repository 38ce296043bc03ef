"""The agent's ingest of several source trees side by side, against age, in interleaved rounds.

Run: ``.venv/bin/python -m benchmarks.bench_ingest_trees [--size-mb 200] [--rounds 9] TREE...`` where each
TREE is a copy of retention-agent's source (``mkdir /tmp/before && git archive COMMIT | tar -x -C
/tmp/before``; ``.`` for this one). Prints JSON. Not part of the test suite.

Each tree's agent runs from its own checkout, on a home of its own, all at once; every round times
``age -e`` then ``age -d`` of the file, then each agent's ingest of a new variant of it (in a rotating order),
sent over the local API in the command line's frames until the agent's answer, as ``agent_ingest_mb_s`` in
``run.py``. On a machine whose load changes from one second to the next, the interleaving lets the rounds'
medians compare the trees where a best-of-3 in separate runs cannot; the CPU seconds each agent spent on an
ingest (all its threads, kernel time included) and age's (both commands) vary less than the times.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.run import MB, ME, ROLES, _variant, cpu_seconds, new_home, timed_upload, write_random
from retention_agent.api.client import Client


@contextlib.contextmanager
def agent_of(tree: Path, home: Path) -> Iterator[int]:
    """``retention-agent run`` from ``tree``'s own code (its folder first on the module path)."""
    env = {**os.environ, "RETENTION_AGENT_LANG": "en", "PYTHONPATH": str(tree)}
    process = subprocess.Popen([sys.executable, "-m", "retention_agent", "--home", str(home), "run"], cwd=tree,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(home / "agent.sock") as client:
                    client.call("staff.add", {"account": ME, "name": "Officer", "roles": ROLES})
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the agent of {tree} did not start") from None
                time.sleep(0.05)
        yield process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)


def age_round(work: Path, master: Path) -> tuple[float, float]:
    """Seconds and CPU seconds of ``age -e`` then ``age -d`` of ``master``."""
    key, sealed = work / "age.key", work / "master.age"
    if not key.exists():
        subprocess.run(["age-keygen", "-o", str(key)], capture_output=True, check=True)
    recipient = subprocess.run(["age-keygen", "-y", str(key)], capture_output=True, text=True,
                               check=True).stdout.strip()
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(["age", "-e", "-r", recipient, "-o", str(sealed), str(master)], check=True)
    subprocess.run(["age", "-d", "-i", str(key), "-o", os.devnull, str(sealed)], check=True)
    seconds = time.perf_counter() - started
    sealed.unlink()
    return seconds, _children_cpu() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=9)
    options = parser.parse_args()
    trees = [tree.resolve() for tree in options.trees]
    size = options.size_mb * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-trees-"))
    try:
        master = work / "master.bin"
        write_random(master, size)
        homes = [new_home(work / f"home-{n}") for n in range(len(trees))]
        times: dict[str, list[float]] = {"age": [], **{str(tree): [] for tree in trees}}
        cpu: dict[str, list[float]] = {name: [] for name in times}
        with contextlib.ExitStack() as agents:
            pids = [agents.enter_context(agent_of(tree, home)) for tree, home in zip(trees, homes, strict=True)]
            for round_ in range(options.rounds):
                seconds, age_cpu = age_round(work, master)
                times["age"].append(seconds)
                cpu["age"].append(age_cpu)
                order = list(range(len(trees)))
                order = order[round_ % len(order):] + order[:round_ % len(order)]
                for n in order:
                    upload = _variant(master, work / f"upload-{n}-{round_}.xlsx", f"tree {n} round {round_}")
                    before = cpu_seconds(pids[n])
                    times[str(trees[n])].append(timed_upload(homes[n], upload))
                    cpu[str(trees[n])].append(cpu_seconds(pids[n]) - before)
                    upload.unlink()
        age_median = statistics.median(times["age"])
        print(json.dumps({
            "file_mb": size / MB, "rounds": options.rounds, "age_e_then_d_median_s": round(age_median, 3),
            "age_e_then_d_median_cpu_s": round(statistics.median(cpu["age"]), 3),
            "trees": {tree: {"median_s": round(statistics.median(seconds), 3), "best_s": round(min(seconds), 3),
                             "agent_median_cpu_s": round(statistics.median(cpu[tree]), 3),
                             "vs_age_with_check_median": round(age_median / statistics.median(seconds), 2),
                             "vs_age_with_check_best": round(min(times["age"]) / min(seconds), 2)}
                      for tree, seconds in times.items() if tree != "age"},
            "load_average_after": os.getloadavg(),
        }, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
