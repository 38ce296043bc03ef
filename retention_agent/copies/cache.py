"""The sweep's memory between runs, in the user's own profile: what need not be read again, and which copies
were found (so that they can still be erased after the purge destroyed the key their people were found with).

No file names of other files: an entry is keyed by a keyed hash of the file's path (BLAKE2b with a random key
kept in the same file; it hides names from a casual reader, nothing more) and holds the file's size, time and
identity, its SHA-256 when it was a candidate (its size was a delivery's), and for a document how many people of
which delivery it held. Found copies are kept with their location and path: erasing them later needs exactly
that. Written private (0600), by write-then-rename; a damaged or foreign file is started afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1
Signature = tuple[int, int, int]  # size, mtime_ns, inode (0 where the platform has none)


@dataclass
class Entry:
    signature: Signature
    sha256: str | None = None  # set when the file was hashed
    generation: str | None = None  # the set of fingerprint keys its people were counted against
    people: dict[str, int] = field(default_factory=dict)  # delivery -> people found (documents)


@dataclass(frozen=True)
class KnownCopy:
    delivery: str
    match: str
    kind: str
    root: str  # the location's folder
    path: str  # inside it, "/" between names (as the file system has them)
    signature: Signature
    people: int = 0


@dataclass
class Cache:
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    entries: dict[str, Entry] = field(default_factory=dict)
    copies: list[KnownCopy] = field(default_factory=list)

    def digest(self, path: str) -> str:
        return hashlib.blake2b(path.encode("utf-8", "surrogateescape"), key=self.key, digest_size=16).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "key": self.key.hex(),
                "entries": {k: [*e.signature, e.sha256, e.generation, e.people] for k, e in self.entries.items()},
                "copies": [{"delivery": c.delivery, "match": c.match, "kind": c.kind, "root": c.root, "path": c.path,
                            "signature": list(c.signature), "people": c.people} for c in self.copies]}

    @classmethod
    def from_json(cls, raw: Any) -> Cache:
        if not isinstance(raw, dict) or raw.get("version") != VERSION:
            raise ValueError("not a cache of this version")
        entries = {str(k): Entry((int(v[0]), int(v[1]), int(v[2])), v[3], v[4],
                                 {str(d): int(n) for d, n in v[5].items()}) for k, v in raw["entries"].items()}
        copies = [KnownCopy(str(c["delivery"]), str(c["match"]), str(c["kind"]), str(c["root"]), str(c["path"]),
                            (int(c["signature"][0]), int(c["signature"][1]), int(c["signature"][2])), int(c["people"]))
                  for c in raw["copies"]]
        return cls(bytes.fromhex(raw["key"]), entries, copies)


def load(path: Path) -> Cache:
    try:
        return Cache.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return Cache()


def save(path: Path, cache: Cache) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(cache.to_json(), out, separators=(",", ":"))
    try:
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
