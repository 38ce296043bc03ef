"""Drop-folder intake latency: from a file's last write to "delivered and gone from the folder".

Writes a burst of N small files (default 200 × 100 KB) into a watched folder, then one large file (default
200 MB), and measures for each the time from closing it after its last write until the watcher has delivered
it and removed it from the folder (observed by listing the folder every 5 ms). ``deliver`` streams the bytes
to /dev/null while hashing them, so the figures are the watcher's cost plus a read of every byte, without
the vault's encryption. The stability wait (``--settle``) is part of every figure by design. A file's name
goes when it is claimed; its bytes are then overwritten with zeros and fsynced before the claim is unlinked:
``intake_200mb_overwritten_s`` is the time until that is done too (the folder is empty again).

    .venv/bin/python benchmarks/bench_intake_folder.py [--settle 1.0] [--files 200] [--size-kb 100]
        [--big-mb 200] [--polling] [--dir DIR]

Prints one JSON object: intake_latency_p50_s, intake_latency_p99_s, intake_200mb_s,
intake_200mb_overwritten_s, settle_seconds, and the parameters used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import BinaryIO

from retention_agent.clock import SystemClock
from retention_agent.intake.base import DeliverResult
from retention_agent.intake.folder import FolderWatcher
from retention_agent.intake.folder_rules import FolderConfig

CHUNK = 1024 * 1024


class NullDeliver:
    """Reads every byte, hashes it, writes it to /dev/null; idempotent by hash like the real deliver."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, stream: BinaryIO, *, channel: str, source: str, quarantine: bool,
                 reason: str = "") -> DeliverResult:
        digest = hashlib.sha256()
        with open(os.devnull, "wb") as sink:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                sink.write(chunk)
        hexdigest = digest.hexdigest()
        with self._lock:
            duplicate = hexdigest in self.seen
            self.seen.add(hexdigest)
            self.count += 1
        return DeliverResult(delivery_id=hexdigest[:16], duplicate=duplicate)


class GoneWatcher:
    """Notes the first moment each expected name is no longer listed in the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.expected: set[str] = set()
        self.gone_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def expect(self, name: str) -> None:
        with self._lock:
            self.expected.add(name)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def wait_for(self, names: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if names <= self.gone_at.keys():
                    return
            time.sleep(0.01)
        raise TimeoutError(f"{len(names - self.gone_at.keys())} files were not taken within {timeout} s")

    def _run(self) -> None:
        while not self._stop.is_set():
            listed = set(os.listdir(self.folder))
            now = time.monotonic()
            with self._lock:
                for name in self.expected - listed - self.gone_at.keys():
                    self.gone_at[name] = now
            time.sleep(0.005)


def write_file(path: Path, size: int, seed: int) -> float:
    """Write ``size`` bytes (unique per seed) and return the monotonic time right after the last write."""
    block = hashlib.sha256(str(seed).encode()).digest() * (CHUNK // 32)
    with path.open("wb") as f:
        remaining = size
        while remaining > 0:
            n = min(remaining, len(block))
            f.write(block[:n])
            remaining -= n
    return time.monotonic()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def run(args: argparse.Namespace) -> dict[str, object]:
    base = Path(tempfile.mkdtemp(prefix="bench-intake-", dir=args.dir))
    folder = base / "drop"
    folder.mkdir()
    deliver = NullDeliver()
    config = FolderConfig(
        name="bench", path=folder, settle_seconds=args.settle, polling=args.polling, scan_interval_s=30
    )
    watcher = FolderWatcher(config, deliver, SystemClock())
    gone = GoneWatcher(folder)
    gone.start()
    watcher.start()
    try:
        time.sleep(0.2)  # the initial scan of the empty folder
        written: dict[str, float] = {}
        for i in range(args.files):
            name = f"levering {i:04d}.xlsx"
            gone.expect(name)
            written[name] = write_file(folder / name, args.size_kb * 1024, i)
        gone.wait_for(set(written), timeout=60 + args.settle)
        small = [gone.gone_at[name] - written[name] for name in written]

        big = "groot.zip"
        gone.expect(big)
        big_written = write_file(folder / big, args.big_mb * 1024 * 1024, seed=10**6)
        gone.wait_for({big}, timeout=300 + args.settle)
        big_latency = gone.gone_at[big] - big_written
        deadline = time.monotonic() + 300
        while any(folder.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.005)
        big_overwritten = time.monotonic() - big_written
    finally:
        watcher.stop()
        gone.stop()
        shutil.rmtree(base, ignore_errors=True)
    return {
        "intake_latency_p50_s": round(percentile(small, 50), 3),
        "intake_latency_p99_s": round(percentile(small, 99), 3),
        "intake_200mb_s": round(big_latency, 3),
        "intake_200mb_overwritten_s": round(big_overwritten, 3),
        "settle_seconds": args.settle,
        "files": args.files,
        "file_size_kb": args.size_kb,
        "big_file_mb": args.big_mb,
        "polling": args.polling,
        "delivered": deliver.count,
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=1.0, help="stability wait in seconds (default 1)")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--size-kb", type=int, default=100)
    parser.add_argument("--big-mb", type=int, default=200)
    parser.add_argument("--polling", action="store_true", help="use the PollingObserver (network shares)")
    parser.add_argument("--dir", default=None, help="where to create the temporary drop folder")
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
