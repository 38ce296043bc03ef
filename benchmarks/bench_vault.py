"""Vault object throughput: encrypt and decrypt a temporary file through retention_agent.vault.format.

Usage: ``python benchmarks/bench_vault.py [--size-mb 200] [--chunk-size 65536]``

Prints one JSON object: ``{"encrypt_mb_s": …, "decrypt_mb_s": …, "peak_rss_mb": …, …}``. MB is 10**6 bytes
per second of wall time, file I/O included (the page cache usually holds the files). ``peak_rss_mb`` is the
whole process's peak resident set size, interpreter included; the point is that it does not grow with
``--size-mb``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from retention_agent.vault import format as vault_format

_BLOCK = 1024 * 1024


def _write_plaintext(path: Path, size: int) -> None:
    """``size`` deterministic, incompressible-looking bytes, written block by block."""
    block = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(_BLOCK // 32))
    with path.open("wb") as out:
        remaining = size
        while remaining:
            piece = block[: min(remaining, _BLOCK)]
            out.write(piece)
            remaining -= len(piece)


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def _timed(action: str, source: Path, dest: Path, key: bytes, chunk_size: int) -> float:
    started = time.perf_counter()
    with source.open("rb") as src, dest.open("wb") as dst:
        if action == "encrypt":
            vault_format.encrypt(src, dst, key, os.urandom(16), chunk_size)
        else:
            vault_format.decrypt(src, dst, key)
        dst.flush()
    return time.perf_counter() - started


def run(size_mb: int, chunk_size: int) -> dict[str, float | int]:
    size = size_mb * 1024 * 1024
    key = os.urandom(32)
    with tempfile.TemporaryDirectory(prefix="bench-vault-") as tmp:
        plain, obj, back = Path(tmp) / "plain", Path(tmp) / "object", Path(tmp) / "back"
        _write_plaintext(plain, size)
        encrypt_s = _timed("encrypt", plain, obj, key, chunk_size)
        decrypt_s = _timed("decrypt", obj, back, key, chunk_size)
        if back.stat().st_size != size:
            raise SystemExit("round trip lost bytes")
    return {
        "size_mib": size_mb,
        "chunk_size": chunk_size,
        "encrypt_mb_s": round(size / 1e6 / encrypt_s, 1),
        "decrypt_mb_s": round(size / 1e6 / decrypt_s, 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200, help="plaintext size in MiB (default 200)")
    parser.add_argument("--chunk-size", type=int, default=vault_format.DEFAULT_CHUNK_SIZE)
    args = parser.parse_args()
    print(json.dumps(run(args.size_mb, args.chunk_size)))


if __name__ == "__main__":
    main()
