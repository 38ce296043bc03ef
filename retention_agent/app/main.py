"""Starts the app: Qt's application object, the language, the main window, and the event loop."""

from __future__ import annotations

import sys

import PySide6
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from retention_agent.app.qt_models import binding_keeps_none_alive
from retention_agent.app.session import Session
from retention_agent.app.settings import choose_language
from retention_agent.app.window import MainWindow
from retention_agent.errors import AppUnavailableError
from retention_agent.system.home import Home


def run(home: Home, *, lang: str | None = None, minimized: bool = False) -> int:
    """Show the window (or only the tray icon with ``minimized``) until the user quits; the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    if not binding_keeps_none_alive():
        raise AppUnavailableError(problem=f"PySide6 {PySide6.__version__} has a known reference-counting fault "
                                          "(install PySide6-Essentials older than 6.12)")
    app.setApplicationName("retention-agent")
    app.setApplicationDisplayName("retention-agent")
    app.setDesktopFileName("retention-agent")
    window = MainWindow(Session(home), choose_language(lang))
    app.setQuitOnLastWindowClosed(not window.tray.available)
    QTimer.singleShot(0, window.tray.poll)  # what came while the user was away, and the first sweep for copies
    if minimized and window.tray.available:
        window.hide()
    elif minimized:
        window.showMinimized()
    else:
        window.show()
    return int(app.exec())
