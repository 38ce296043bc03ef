"""Notifications for people: kept in the database, written to the log by kind and ids only.

The agent shows nothing on a desktop itself, in either deployment: each staff member's desktop app (started at
logon, in the tray) or, without Qt, the per-user ``notifier`` fetches them through the API and shows each once
(:func:`show_desktop` is their fallback toast, through plyer, never raising). One process shows them, so no
notification appears twice, and what a person sees is what the API lets that account see.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from typing import Any

from retention_agent.clock import Clock, utc_iso
from retention_agent.i18n.catalogue import count_of, for_people, translate
from retention_agent.i18n.msgids import N_
from retention_agent.store.database import Store

log = logging.getLogger(__name__)

# kind -> English template (Dutch in locale/nl.po); parameters are ids, dates and counts only. Written for people
# at their desktop (the app's tray, the notifier): what happened and what to do, never a command to type.
MESSAGES = {
    "delivery-received": "Delivery {delivery} arrived and is in the vault.",
    "delivery-quarantined": "A file that does not look like an AgII delivery was quarantined as {delivery}.",
    "message-received": "{count} deliveries arrived in one message and are in the vault (the first is {delivery}).",
    "message-quarantined": "{count} files of one message were quarantined (the first is {delivery}).",
    "message-too-many-files": "A message with more than {limit} files was quarantined whole as {delivery}; "
                              "the privacy officer decides what happens to it.",
    "purge-soon": "Delivery {delivery} will be purged on {deadline} ({days} days left).",
    "no-ceremony": "Delivery {delivery} has no ceremony date yet: record the date of its ceremony.",
    "legal-basis-lapsed": "Delivery {delivery} came by {channel}, for which the legal basis has lapsed.",
    "purged": "Delivery {delivery} was purged; its proof of deletion is ready.",
    "purge-failed": "The purge of delivery {delivery} failed and will be retried: {error}.",
    "clock-jump": "The system clock jumped {direction} by {hours} hours; due purges wait for confirmation.",
    "intake-failing": "Intake from {source} keeps failing ({error}); the status of the installation says what to do.",
}


CODES = {"forward": N_("forward"), "backward": N_("backward")}  # code values shown inside a sentence


def render(kind: str, params: dict[str, Any], lang: str | None = None) -> str:
    template = translate(MESSAGES.get(kind, kind), lang, count_of(params))
    shown = {k: translate(CODES[v], lang) if isinstance(v, str) and v in CODES else for_people(v, lang)
             for k, v in params.items()}
    try:
        return template.format(**shown)
    except (KeyError, IndexError, ValueError):
        return template


class Notifier:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def notify(self, audience: str, kind: str, **params: Any) -> None:
        with self.store.transaction():
            self.store.conn.execute(
                "INSERT INTO notifications(audience, kind, params, created_at) VALUES (?, ?, ?, ?)",
                (audience, kind, json.dumps(params, sort_keys=True), utc_iso(self.clock.now())))
        log.info("notification %s for %s: %s", kind, audience, ",".join(str(v) for v in params.values()))


def feed(store: Store, audiences: tuple[str, ...], *, after: int, limit: int) -> list[dict[str, Any]]:
    """Notifications after the id ``after`` for ``audiences``, oldest first, at most ``limit``; params decoded."""
    marks = ",".join("?" * len(audiences))
    rows = store.query(
        f"SELECT id, audience, kind, params, created_at FROM notifications WHERE id > ? AND audience IN ({marks}) "
        "ORDER BY id LIMIT ?", (after, *audiences, limit))
    return [{**row, "params": json.loads(row["params"])} for row in rows]


def show_desktop(title: str, message: str) -> bool:
    """A desktop toast via plyer; any failure (no backend, no session) is logged and swallowed.

    Without a desktop session plyer is not tried at all. Its own warnings ("dbus not installed",
    "notify-send not found") are silenced: they would be repeated to a person who cannot act on them; the
    caller falls back to printing, and the log says once why no toast was shown.
    """
    if not (_has_session() or os.environ.get("DBUS_SESSION_BUS_ADDRESS")):  # toasts go over the session bus
        _not_shown("no desktop session")
        return False
    try:
        warnings.filterwarnings("ignore", module="plyer")
        from plyer import notification

        notification.notify(title=title, message=message[:250], app_name="retention-agent", timeout=10)
    except Exception as exc:  # plyer raises anything from NotImplementedError to D-Bus errors
        _not_shown(type(exc).__name__)
        return False
    return True


_reasons_logged: set[str] = set()


def _not_shown(reason: str) -> None:
    if reason not in _reasons_logged:
        _reasons_logged.add(reason)
        log.info("desktop notifications not shown (%s); the text is printed or kept for status instead", reason)


def _has_session() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
