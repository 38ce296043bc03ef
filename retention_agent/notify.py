"""Notifications for people: kept in the database (status, the per-user notifier), written to the log
by kind and ids only, and shown on the desktop through plyer when a session is there — never raising."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from retention_agent.clock import Clock, utc_iso
from retention_agent.i18n import translate
from retention_agent.msgids import N_
from retention_agent.store import Store

log = logging.getLogger(__name__)

# kind -> English template (Dutch in locale/nl.po); parameters are ids, dates and counts only
MESSAGES = {
    "delivery-received": "Delivery {delivery} arrived and is in the vault.",
    "delivery-quarantined": "A file that does not look like an AgII delivery was quarantined as {delivery}.",
    "message-received": "{count} deliveries arrived in one message and are in the vault (the first is {delivery}).",
    "message-quarantined": "{count} files of one message were quarantined (the first is {delivery}).",
    "message-too-many-files": "A message with more than {limit} files was quarantined whole as {delivery}; "
                              "see 'retention-agent status'.",
    "purge-soon": "Delivery {delivery} will be purged on {deadline} ({days} days left).",
    "no-ceremony": "Delivery {delivery} has no ceremony date yet; record it with 'ceremony set'.",
    "legal-basis-lapsed": "Delivery {delivery} came by {channel}, for which the legal basis has lapsed.",
    "purged": "Delivery {delivery} was purged; its proof of deletion is ready.",
    "purge-failed": "The purge of delivery {delivery} failed and will be retried: {error}.",
    "clock-jump": "The system clock jumped {direction} by {hours} hours; due purges wait for confirmation.",
    "intake-failing": "Intake from {source} keeps failing ({error}); see 'retention-agent status'.",
}


CODES = {"forward": N_("forward"), "backward": N_("backward")}  # code values shown inside a sentence


def render(kind: str, params: dict[str, Any], lang: str | None = None) -> str:
    template = translate(MESSAGES.get(kind, kind), lang)
    shown = {k: translate(CODES[v], lang) if isinstance(v, str) and v in CODES else v for k, v in params.items()}
    try:
        return template.format(**shown)
    except (KeyError, IndexError, ValueError):
        return template


class Notifier:
    def __init__(self, store: Store, clock: Clock, *, desktop: bool = True) -> None:
        self.store = store
        self.clock = clock
        self.desktop = desktop and _has_session()

    def notify(self, audience: str, kind: str, **params: Any) -> None:
        with self.store.transaction():
            self.store.conn.execute(
                "INSERT INTO notifications(audience, kind, params, created_at) VALUES (?, ?, ?, ?)",
                (audience, kind, json.dumps(params, sort_keys=True), utc_iso(self.clock.now())))
        log.info("notification %s for %s: %s", kind, audience, ",".join(str(v) for v in params.values()))
        if self.desktop:
            show_desktop("retention-agent", render(kind, params))


def show_desktop(title: str, message: str) -> bool:
    """A desktop toast via plyer; any failure (no backend, no session) is logged and swallowed."""
    try:
        from plyer import notification

        notification.notify(title=title, message=message[:250], app_name="retention-agent", timeout=10)
    except Exception as exc:  # plyer raises anything from NotImplementedError to D-Bus errors
        log.info("desktop notification not shown (%s)", type(exc).__name__)
        return False
    return True


def _has_session() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
