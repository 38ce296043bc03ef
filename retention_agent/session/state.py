"""What a client holds of its agent: the home (found on first use) and the way to call the agent in it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from retention_agent.api.client import Client
from retention_agent.system.home import Home


class State:
    """What every command receives: the home (found on first use, so that ``--help`` and the offline
    commands never read the shared-agent pointer) and the way to call its agent."""

    def __init__(self, home: Home | Callable[[], Home]) -> None:
        self._home = home

    @property
    def home(self) -> Home:
        if not isinstance(self._home, Home):
            self._home = self._home()
        return self._home

    def known_home(self) -> Home | None:
        """The home if it was already found (for an error message), without looking for it now."""
        return self._home if isinstance(self._home, Home) else None

    def client(self) -> Client:
        return Client(self.home.socket)

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        with self.client() as client:
            return client.call(op, args)

    def all_pages(self, op: str, key: str, args: dict[str, Any] | None = None) -> list[Any]:
        with self.client() as client:
            return list(client.pages(op, key, args))
