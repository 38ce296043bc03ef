"""The per-user notifier: shows a staff member the agent's notifications on their own desktop.

In shared mode the agent runs under its own account and cannot reach anybody's desktop session, so each
staff member runs this small process at logon (the systemd user unit / Task Scheduler logon task written by
``retention-agent service install --mode shared``). It asks the agent's API for the notifications after the
last one it showed (``notifications``: an officer gets the officer's and the staff's, other staff the staff's),
shows each with :func:`notify.show_desktop` in the user's language, and remembers the last id in the user's
own state folder. When no desktop toast can be shown the text is written to standard output instead.

It also sweeps the user's own folders for copies of deliveries (:mod:`retention_agent.copies.session`), with
the user's rights: every :data:`SWEEP_SECONDS`, and at once when the agent says a purge began whose copies this
user must erase (``copies_due`` in the answer); what it found or erased is shown like a notification.

It never ends because of the agent: an agent that is stopped, restarting or not yet installed is retried with
a growing pause (1 s doubling to 5 minutes); an account that is not (yet) on the staff list is asked again
every 15 minutes. Every poll is a request the agent audits, hence the unhurried default interval.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from retention_agent.api.client import Client
from retention_agent.errors import AccessDeniedError, AgentUnreachableError, ProtocolError, RetentionAgentError
from retention_agent.i18n import catalogue as i18n
from retention_agent.i18n.msgids import N_
from retention_agent.store import notifications as notify

log = logging.getLogger(__name__)

TITLE = "retention-agent"
POLL_SECONDS = 300.0
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0
DENIED_RETRY_SECONDS = 900.0
PER_POLL = 50
SWEEP_SECONDS = 3600.0
SHOWN_PER_POLL = 5  # more than this at once become four toasts and a summary

Show = Callable[[str, str], bool]
Echo = Callable[[str], None]


def state_file(socket: Path, state_dir: Path | None = None) -> Path:
    """Where this user keeps the last id shown, one file per agent (named after the socket's path)."""
    folder = state_dir or platformdirs.user_state_path("retention-agent", appauthor=False)
    digest = hashlib.sha256(str(socket).encode()).hexdigest()[:16]
    return folder / f"notifier-{digest}.json"


def load_last_id(path: Path) -> int:
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("last_id", 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return value if isinstance(value, int) and value >= 0 else 0


def save_last_id(path: Path, last_id: int) -> None:
    """Write, then rename: a crash leaves the old id (a toast shown twice), never a broken file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"last_id": last_id}) + "\n", encoding="utf-8")
    tmp.replace(path)


class LastShown:
    """The id of the last notification shown: kept in the user's state file, and in memory as well, so that
    an account whose state folder cannot be written (no home folder) is not shown the same toasts at every
    poll. ``problem`` names the file when it could not be written; the caller says so once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.in_memory: int | None = None
        self.problem: str = ""

    def get(self) -> int:
        return self.in_memory if self.in_memory is not None else load_last_id(self.path)

    def set(self, last_id: int) -> None:
        self.in_memory = last_id
        try:
            save_last_id(self.path, last_id)
        except OSError:
            if not self.problem:
                log.warning("cannot write %s; notifications are remembered only while this process runs",
                            self.path)
            self.problem = str(self.path)


def user_language(explicit: str | None = None) -> str:
    """``explicit`` (``--lang``) or ``RETENTION_AGENT_LANG`` when given, else the session's locale (nl or en),
    else nl."""
    if explicit in i18n.LANGUAGES:
        return str(explicit)
    if os.environ.get("RETENTION_AGENT_LANG"):
        return i18n.current_language()
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            code = value.split(".")[0].split("_")[0].lower()
            return code if code in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE
    return i18n.DEFAULT_LANGUAGE


@dataclass
class PollResult:
    texts: list[str]  # every new notification, rendered
    shown: int  # toasts shown on the desktop
    printed: int  # lines written instead (no desktop session)
    copies_due: int = 0  # copies of this user's that wait to be erased (a purge began)


def poll_once(socket: Path, state: Path | LastShown, *, show: Show = notify.show_desktop, echo: Echo | None = None,
              lang: str | None = None) -> PollResult:
    """Fetch and show what is new since the last id in ``state``; then remember the newest id.

    Raises the catalogue's errors (agent unreachable, access denied, protocol); :func:`run` handles them.
    """
    remembered = state if isinstance(state, LastShown) else LastShown(state)
    last_id = remembered.get()
    with Client(socket) as client:
        answer = client.call("notifications", {"after": last_id, "limit": PER_POLL})
    items = _items(answer)
    language = lang or user_language()
    texts = [notify.render(str(item["kind"]), dict(item["params"]), language) for item in items]
    result = PollResult(texts, 0, 0, int(answer.get("copies_due", 0) or 0) if isinstance(answer, dict) else 0)
    _present(_to_show(texts, language), result, show, echo)
    if items:
        remembered.set(int(items[-1]["id"]))
    return result


def _present(texts: list[str], result: PollResult, show: Show, echo: Echo | None) -> None:
    for text in texts:
        if show(TITLE, text):
            result.shown += 1
        elif echo is not None:
            echo(text)
            result.printed += 1


def sweep_copies(socket: Path, *, show: Show = notify.show_desktop, echo: Echo | None = None,
                 lang: str | None = None, home: Path | None = None, scheduled: bool = False) -> list[str]:
    """Sweep this user's folders for copies of deliveries and show what is new (found, erased, left)."""
    from retention_agent.copies.session import Sweeper, cache_path, messages
    from retention_agent.session.copies_link import ApiLink

    sweeper = Sweeper(ApiLink(socket), cache_path(socket), exclude=[home or socket.parent])
    try:
        swept = sweeper.run(scheduled=scheduled)
    except ValueError as exc:  # an answer this version does not understand
        raise ProtocolError(problem=N_("unexpected answer to copies.targets")) from exc
    texts = messages(swept, lang or user_language())
    _present(texts, PollResult(texts, 0, 0), show, echo)
    return texts


def _items(answer: Any) -> list[dict[str, Any]]:
    try:
        items = list(answer["notifications"])
        for item in items:
            int(item["id"]), str(item["kind"]), dict(item["params"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(problem=N_("unexpected answer to notifications")) from exc
    return items


def _to_show(texts: list[str], lang: str) -> list[str]:
    if len(texts) <= SHOWN_PER_POLL:
        return texts
    keep = SHOWN_PER_POLL - 1
    more = i18n.translate("And {n} more notifications from retention-agent.", lang).format(n=len(texts) - keep)
    return [*texts[:keep], more]


Wait = Callable[[float], bool]  # waits; True when the notifier should stop


def run(socket: Path, state: Path | LastShown, *, interval: float = POLL_SECONDS, show: Show = notify.show_desktop,
        echo: Echo | None = None, stop: threading.Event | None = None, wait: Wait | None = None,
        lang: str | None = None, sweep_every: float | None = SWEEP_SECONDS,
        clock: Callable[[], float] = time.monotonic) -> None:
    """Poll until ``stop`` is set (or forever), and sweep for copies (``sweep_every`` None: never). Never raises
    because of the agent or the connection."""
    remembered = state if isinstance(state, LastShown) else LastShown(state)
    stopping = stop or threading.Event()
    pause = wait or stopping.wait
    backoff = FIRST_BACKOFF_SECONDS
    denied_reported = False
    last_sweep: float | None = None
    while not stopping.is_set():
        delay = interval
        try:
            polled = poll_once(socket, remembered, show=show, echo=echo, lang=lang)
            backoff, denied_reported = FIRST_BACKOFF_SECONDS, False
            due = last_sweep is None or (sweep_every is not None and clock() - last_sweep >= sweep_every)
            if sweep_every is not None and (due or polled.copies_due):
                last_sweep = clock()
                try:
                    sweep_copies(socket, show=show, echo=echo, lang=lang, scheduled=True)
                except (RetentionAgentError, OSError) as exc:  # the next sweep tries again; notifications go on
                    log.warning("the sweep for copies failed (%s)", type(exc).__name__)
        except AccessDeniedError:
            if not denied_reported:
                log.warning("this account is not on the staff list; asking again every %d s", DENIED_RETRY_SECONDS)
                denied_reported = True
            delay = max(interval, DENIED_RETRY_SECONDS)
        except (AgentUnreachableError, ProtocolError, OSError) as exc:
            log.info("agent not reachable (%s); retrying in %.0f s", type(exc).__name__, backoff)
            delay, backoff = backoff, min(backoff * 2, MAX_BACKOFF_SECONDS)
        except RetentionAgentError as exc:  # anything else the agent answered: try again later
            log.warning("notifications refused: %s", exc.error_id)
        if pause(delay):
            return
