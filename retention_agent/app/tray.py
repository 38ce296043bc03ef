"""The tray icon: a badge with the number of deliveries waiting for a ceremony date, and the agent's
notifications (arrival, T-7 and T-1 reminders, purge done, problems) — the very ones the notifier shows.

Notifications come from the same ``notifications`` operation and the same per-user state file as the
``notifier`` command (``notifier.poll_once``), so each is shown once, whichever of the two showed it. The agent
itself never shows anything on a desktop, in either deployment: the app that the logon starts for each staff
member (or the notifier, where Qt is not installed) is the one place a notification appears. Without a system
tray the toast goes through plyer, as the notifier's does.

Like the notifier it replaces, the tray also sweeps this user's folders for copies of deliveries, with the
user's rights (``notifier.sweep_copies``): at start, every ``notifier.SWEEP_SECONDS``, and at once when the
agent says a purge began whose copies this user must erase. The sweep walks folders and hashes files, so it
runs in a thread of its own; what it found or erased is shown like a notification. (Where the agent runs as
this user it sweeps the account itself, and says so in ``copies.targets``: the tray then leaves it to the agent.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from retention_agent.app.session import Session
from retention_agent.errors import AccessDeniedError, RetentionAgentError
from retention_agent.i18n.catalogue import fill, translate
from retention_agent.session import notifier
from retention_agent.store import notifications as notify

log = logging.getLogger(__name__)
Show = Callable[[str, str], bool]


def app_icon(badge: int = 0) -> QIcon:
    """The app's icon (a vault door), with a red badge carrying ``badge`` when it is not zero."""
    pixmap = QPixmap(64, 64)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor("#1f3a5f"))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawRoundedRect(QRectF(4, 4, 56, 56), 10, 10)
    painter.setBrush(QColor("#f2c94c"))
    painter.drawEllipse(QRectF(18, 18, 28, 28))
    painter.setBrush(QColor("#1f3a5f"))
    painter.drawEllipse(QRectF(27, 27, 10, 10))
    if badge:
        painter.setBrush(QColor("#c62828"))
        painter.drawEllipse(QRectF(30, 0, 34, 34))
        painter.setPen(QColor("#ffffff"))
        font = QFont()
        font.setBold(True)
        font.setPixelSize(20 if badge < 10 else 15)
        painter.setFont(font)
        painter.drawText(QRectF(30, 0, 34, 34), Qt.AlignmentFlag.AlignCenter, str(badge) if badge < 100 else "99+")
    painter.end()
    return QIcon(pixmap)


class Tray(QObject):
    swept = Signal(list)  # the sweep's texts, handed from its thread to the window's

    def __init__(self, session: Session, lang: str, *, on_news: Callable[[], None], show_window: Callable[[], None],
                 quit_app: Callable[[], None], show: Show | None = None, interval_s: float = notifier.POLL_SECONDS,
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.session, self.lang, self.on_news = session, lang, on_news
        self.badge = 0
        self.shown: list[str] = []  # every notification text this app showed
        self.state_file = notifier.state_file(session.home.socket)
        self.icon: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.icon = QSystemTrayIcon(app_icon(), self)
            menu = QMenu()
            menu.addAction(translate("&Show the window", lang), show_window)
            menu.addAction(translate("&Quit", lang), quit_app)
            self.menu = menu
            self.icon.setContextMenu(menu)
            self.icon.activated.connect(lambda _reason: show_window())
            self.icon.show()
        self._show = show or self._toast
        self.timer = QTimer(self)
        self.timer.setInterval(int(interval_s * 1000))
        self.timer.timeout.connect(self.poll)
        self.timer.start()
        self.sweep_every: float | None = notifier.SWEEP_SECONDS
        self.last_sweep: float | None = None
        self.sweeper: threading.Thread | None = None
        self.swept.connect(self._show_swept)
        self.set_badge(0)

    @property
    def available(self) -> bool:
        return self.icon is not None

    def set_badge(self, count: int) -> None:
        self.badge = count
        text = fill("retention-agent: {count} deliveries need a ceremony date", {"count": count}, self.lang)
        self.tooltip = text
        if self.icon is not None:
            self.icon.setIcon(app_icon(count))
            self.icon.setToolTip(text)

    def _toast(self, title: str, text: str) -> bool:
        if self.icon is not None and self.icon.supportsMessages():
            self.icon.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 10000)
            return True
        return notify.show_desktop(title, text)

    def _present(self, title: str, text: str) -> bool:
        self.shown.append(text)
        return self._show(title, text)

    def poll(self) -> int:
        """Show what is new since the last notification shown, and sweep for copies when it is time; returns how
        many notifications there were."""
        try:
            result = notifier.poll_once(self.session.home.socket, self.state_file, show=self._present, lang=self.lang)
        except AccessDeniedError:
            return 0  # not (yet) on the staff list: the window says so
        except (RetentionAgentError, OSError) as exc:
            log.info("notifications not fetched (%s)", type(exc).__name__)
            return 0
        if result.texts:
            self.on_news()
        self.sweep(urgent=result.copies_due > 0)
        return len(result.texts)

    def sweep(self, *, urgent: bool = False) -> bool:
        """Start a sweep for copies in its own thread when one is due (or ``urgent``: a purge began whose copies
        this user must erase) and none is running; whether one started."""
        now = time.monotonic()
        due = self.last_sweep is None or (self.sweep_every is not None and now - self.last_sweep >= self.sweep_every)
        if self.sweep_every is None or not (due or urgent) or (self.sweeper and self.sweeper.is_alive()):
            return False
        self.last_sweep = now
        self.sweeper = threading.Thread(target=self._sweep, name="copies-sweep", daemon=True)
        self.sweeper.start()
        return True

    def _sweep(self) -> None:
        texts: list[str] = []

        def keep(_title: str, text: str) -> bool:  # shown afterwards, by the window's thread
            texts.append(text)
            return True

        try:
            notifier.sweep_copies(self.session.home.socket, show=keep, lang=self.lang, home=self.session.home.root,
                                  scheduled=True)
        except (RetentionAgentError, OSError) as exc:  # the next sweep tries again; notifications go on
            log.warning("the sweep for copies failed (%s)", type(exc).__name__)
        self.swept.emit(texts)

    def _show_swept(self, texts: list[str]) -> None:
        for text in texts:
            self._present(notifier.TITLE, text)
