"""The copies sweep's link to the agent over the local API, called as the account this process runs as.

The sweep itself (:mod:`retention_agent.copies.session`) knows only its :class:`~retention_agent.copies.session.Link`;
the notifier, the command line and the desktop app hand it this one. The per-user agent hands it an in-process
link instead (``copies.records.LocalLink``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retention_agent.api.client import Client


class ApiLink:
    """The agent's local API, called as the account this process runs as."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def targets(self) -> dict[str, Any]:
        with Client(self.socket) as client:
            return dict(client.call("copies.targets"))

    def report(self, report: dict[str, Any]) -> dict[str, Any]:
        with Client(self.socket) as client:
            return dict(client.call("copies.report", report))
