"""What crosses the API between the agent and a sweeping session, and the checks on both sides (pure).

``copies.targets`` (agent → session): per delivery its size and SHA-256 (``exact``); for unlocked deliveries and
callers who may open them, its people's fingerprints and their key (``derived``); the deliveries whose purge has
begun, whose copies the session must erase now (``erase``); the sweep's limits.

``copies.report`` (session → agent): which location kinds were swept and how many files each had, counts of
what was looked at, and for found copies only: delivery, match, location kind, path inside the location,
people count; for erased or remaining copies the outcome and a code saying why. Every field is checked by
:func:`parse_report` before anything is stored: ids and codes by pattern, paths as one printable line of bounded
length, numbers as bounded integers, lists bounded.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from retention_agent.system import wipe

MATCHES: Final = ("exact", "derived")
LOCATION_KINDS: Final = ("desktop", "documents", "downloads", "outlook-cache", "office-autorecover",
                         "office-unsaved", "temp", "onedrive", "trash", "configured")
LOCATION_STATES: Final = ("swept", "partial", "missing", "link", "denied")
OUTCOMES: Final = ("erased", "gone", "remaining")
# Why a copy remains: the wipe codes, and the sweep's own.
CHANGED = "changed"  # the file is no longer the copy that was found: it was left alone
NOT_OWNER = "not-owner"  # the file belongs to another account
NOT_A_FILE = "not-a-file"  # a link, a folder or a special file took its place
AWAITING_SESSION = "awaiting-session"  # found by a session that has not reported since the purge began
REMAIN_REASONS: Final = (*wipe.REASONS, CHANGED, NOT_OWNER, NOT_A_FILE, AWAITING_SESSION)
STATS: Final = ("files", "hashed", "documents", "too_large", "unreadable", "denied", "foreign", "links", "cached")

MAX_PATH: Final = 400
MAX_ITEMS: Final = 1000
MAX_COUNT: Final = 10**12
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Settings:
    """The sweep's limits, from the agent's ``[copies]`` configuration."""

    max_document_bytes: int = 20 * 1024 * 1024
    document_seconds: float = 5.0
    sweep_seconds: float = 900.0
    locations: tuple[str, ...] = ()  # extra folders: absolute, or starting with ~/
    defaults: bool = True
    enabled: bool = True  # false: the officer switched sweeping off ([copies] sweep = false)
    agent_sweeps: bool = False  # true: the agent runs as this account and sweeps it itself (per-user mode)

    def to_wire(self) -> dict[str, Any]:
        return {"max_document_bytes": self.max_document_bytes, "document_seconds": self.document_seconds,
                "sweep_seconds": self.sweep_seconds, "locations": list(self.locations), "defaults": self.defaults,
                "enabled": self.enabled, "agent_sweeps": self.agent_sweeps}


@dataclass(frozen=True)
class Exact:
    delivery: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Derived:
    delivery: str
    key: bytes = field(repr=False)
    fingerprints: frozenset[bytes] = field(repr=False)


@dataclass(frozen=True)
class Targets:
    exact: tuple[Exact, ...] = ()
    derived: tuple[Derived, ...] = ()
    erase: tuple[str, ...] = ()  # deliveries whose purge has begun: erase their copies now
    settings: Settings = Settings()


def targets_to_wire(targets: Targets) -> dict[str, Any]:
    return {
        "exact": [{"delivery": t.delivery, "size": t.size, "sha256": t.sha256} for t in targets.exact],
        "derived": [{"delivery": t.delivery, "key": base64.b64encode(t.key).decode(),
                     "fingerprints": base64.b64encode(b"".join(sorted(t.fingerprints))).decode()}
                    for t in targets.derived],
        "erase": list(targets.erase),
        "settings": targets.settings.to_wire(),
    }


def parse_targets(raw: Any, fingerprint_size: int = 16) -> Targets:
    """The agent's answer, checked (``ValueError`` naming the field when it is not what this client knows)."""
    data = _mapping(raw, "targets")
    exact = tuple(Exact(_id(e, "delivery"), _int(e, "size"), _hex(e, "sha256"))
                  for e in _list(data, "exact"))
    derived = []
    for item in _list(data, "derived"):
        blob = base64.b64decode(_str(item, "fingerprints", 1 << 24), validate=True)
        prints = frozenset(blob[i:i + fingerprint_size] for i in range(0, len(blob), fingerprint_size))
        derived.append(Derived(_id(item, "delivery"), base64.b64decode(_str(item, "key", 200), validate=True),
                               prints))
    erase = tuple(_check_id(value, "erase") for value in _list(data, "erase", items=str))
    raw_settings = _mapping(data.get("settings", {}), "settings")
    settings = Settings(
        max_document_bytes=_int(raw_settings, "max_document_bytes", Settings.max_document_bytes),
        document_seconds=float(raw_settings.get("document_seconds", Settings.document_seconds)),
        sweep_seconds=float(raw_settings.get("sweep_seconds", Settings.sweep_seconds)),
        locations=tuple(str(p) for p in _list(raw_settings, "locations", items=str)),
        defaults=bool(raw_settings.get("defaults", True)), enabled=raw_settings.get("enabled", True) is True,
        agent_sweeps=raw_settings.get("agent_sweeps", False) is True)
    return Targets(exact, tuple(derived), erase, settings)


# ---- the report -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocationResult:
    kind: str
    state: str
    files: int


@dataclass(frozen=True)
class Found:
    delivery: str
    match: str
    kind: str
    path: str  # inside the location, "/" between folders
    people: int = 0  # derived: how many of the delivery's people the file holds


@dataclass(frozen=True)
class Settled:
    delivery: str
    match: str
    kind: str
    path: str
    outcome: str
    why: str = ""


@dataclass(frozen=True)
class Report:
    complete: bool
    locations: tuple[LocationResult, ...]
    stats: Mapping[str, int]
    found: tuple[Found, ...] = ()
    settled: tuple[Settled, ...] = ()


def report_to_wire(report: Report) -> dict[str, Any]:
    return {
        "complete": report.complete,
        "locations": [{"kind": r.kind, "state": r.state, "files": r.files} for r in report.locations],
        "stats": dict(report.stats),
        "found": [{"delivery": f.delivery, "match": f.match, "kind": f.kind, "path": f.path, "people": f.people}
                  for f in report.found],
        "settled": [{"delivery": s.delivery, "match": s.match, "kind": s.kind, "path": s.path,
                     "outcome": s.outcome, "why": s.why} for s in report.settled],
    }


def parse_report(raw: Any) -> Report:
    """A session's report, every value checked; ``ValueError`` naming the first field that is not right."""
    data = _mapping(raw, "report")
    if not isinstance(data.get("complete"), bool):
        raise ValueError("complete must be true or false")
    locations = tuple(LocationResult(_one_of(r, "kind", LOCATION_KINDS), _one_of(r, "state", LOCATION_STATES),
                                     _int(r, "files")) for r in _list(data, "locations"))
    stats_raw = _mapping(data.get("stats", {}), "stats")
    unknown = set(stats_raw) - set(STATS)
    if unknown:
        raise ValueError("stats has unknown counts")
    stats = {name: _int(stats_raw, name, 0) for name in STATS}
    found = tuple(Found(_id(f, "delivery"), _one_of(f, "match", MATCHES), _one_of(f, "kind", LOCATION_KINDS),
                        _path(f), _int(f, "people", 0)) for f in _list(data, "found"))
    settled = []
    for item in _list(data, "settled"):
        outcome = _one_of(item, "outcome", OUTCOMES)
        why = item.get("why", "")
        if why not in ("", *REMAIN_REASONS):
            raise ValueError("settled.why must be one of " + ", ".join(REMAIN_REASONS))
        settled.append(Settled(_id(item, "delivery"), _one_of(item, "match", MATCHES),
                               _one_of(item, "kind", LOCATION_KINDS), _path(item), outcome, str(why)))
    return Report(data["complete"], locations, stats, found, tuple(settled))


def printable_path(parts: Sequence[str]) -> str:
    """A path inside a location as one printable line: ``/`` between parts, anything unprintable as ``?``,
    cut to :data:`MAX_PATH` characters (the session sends this, the agent stores it as it is)."""
    text = "/".join("".join(ch if ch.isprintable() else "?" for ch in part) for part in parts)
    return text if len(text) <= MAX_PATH else text[: MAX_PATH - 1] + "…"


# ---- checks ---------------------------------------------------------------------------------------------


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be an object")
    return value


def _list(data: Mapping[str, Any], name: str, items: type = dict) -> list[Any]:
    value = data.get(name, [])
    if not isinstance(value, list) or len(value) > MAX_ITEMS or not all(isinstance(v, items) for v in value):
        raise ValueError(f"{name} must be a list of at most {MAX_ITEMS} items")
    return value


def _int(data: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        raise ValueError(f"{name} must be a whole number")
    return value


def _str(data: Mapping[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{name} must be a text of at most {limit} characters")
    return value


def _check_id(value: str, name: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError(f"{name} must be a delivery id")
    return value


def _id(data: Mapping[str, Any], name: str) -> str:
    return _check_id(_str(data, name, 64), name)


def _hex(data: Mapping[str, Any], name: str) -> str:
    value = _str(data, name, 64)
    if not _HEX64.fullmatch(value):
        raise ValueError(f"{name} must be 64 lowercase hex digits")
    return value


def _one_of(data: Mapping[str, Any], name: str, values: Sequence[str]) -> str:
    value = data.get(name)
    if value not in values:
        raise ValueError(f"{name} must be one of " + ", ".join(values))
    return str(value)


def _path(data: Mapping[str, Any]) -> str:
    value = _str(data, "path", MAX_PATH)
    if not value or not value.isprintable() or value.startswith("/"):
        raise ValueError("path must be one printable line inside its location")
    return value
