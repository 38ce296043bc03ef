"""The main window: a message bar, one tab per view the user's roles allow, the menus, and the tray icon.

The agent is asked who the user is (``whoami``) when the window is built; an account that is not on the staff
list sees the agent's answer and nothing else. Data is fetched when a view is shown, after each action, when a
notification arrives and on F5 — never on a fast timer, since the agent audits every request.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QTabWidget, QVBoxLayout, QWidget

from retention_agent.app import roles as role_rules
from retention_agent.app.qt_support import MessageBar, install_qt_translations, named
from retention_agent.app.rows import Row, count_needing_date
from retention_agent.app.session import Identity, Session, brussels_today
from retention_agent.app.settings import save_language
from retention_agent.app.tray import Show, Tray, app_icon
from retention_agent.app.view_deliveries import DeliveriesView
from retention_agent.app.view_officer import AuditView, ProofsView, ReportsView, StaffView, StatusView
from retention_agent.app.view_timeline import TimelineView
from retention_agent.errors import RetentionAgentError
from retention_agent.i18n import catalogue as i18n
from retention_agent.i18n.catalogue import translate
from retention_agent.i18n.msgids import N_

LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English"}


class MainWindow(QMainWindow):
    def __init__(self, session: Session, lang: str, *, today: Callable[[], date] = brussels_today,
                 show: Show | None = None, remember_language: bool = True) -> None:
        super().__init__()
        self.session, self.today, self.remember_language = session, today, remember_language
        self.lang = lang
        self.identity: Identity | None = None
        self.views: dict[str, Any] = {}
        self.setWindowIcon(app_icon())
        self.resize(1200, 760)
        self.tray = Tray(session, lang, on_news=self.refresh_all, show_window=self.bring_up, quit_app=self.quit,
                         show=show, parent=self)
        self.build()

    def tr_(self, text: str) -> str:
        return translate(text, self.lang)

    # ---- building (again, when the language changes) -----------------------------------------------------

    def build(self) -> None:
        i18n.set_language(self.lang)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            install_qt_translations(app, self.lang)
        self.tray.lang = self.lang
        self.views = {}
        self.menuBar().clear()
        central = QWidget()
        layout = QVBoxLayout(central)
        self.message = MessageBar(self.lang)
        layout.addWidget(self.message)
        try:
            self.identity = self.session.identity()
        except RetentionAgentError as exc:
            self.identity = None
            self.message.fail(exc, self.lang)
        roles = self.identity.roles if self.identity else frozenset()
        self.setWindowTitle(self._title())
        named(self, self._title(), lang=self.lang)
        self.tabs = QTabWidget()
        named(self.tabs, N_("Views"), N_("Switch with Ctrl+Tab, or Alt and the underlined letter."), self.lang)
        for view in role_rules.views_for(roles):
            widget = self._make_view(view.key, roles)
            self.views[view.key] = widget
            self.tabs.addTab(widget, self.tr_(view.title))
        if self.identity and not self.views:
            self.message.say(self.tr_("The account {account} is not on the staff list. Ask the privacy officer to add "
                                      "it.").format(account=self.identity.account), "error")
        if not self.views:
            layout.addWidget(QLabel(self.tr_("There is nothing this account may see.")), 1)
        layout.addWidget(self.tabs, 1)
        self.tabs.setVisible(bool(self.views))
        self.tabs.currentChanged.connect(self._shown)
        self.setCentralWidget(central)
        self._menus()
        self._shown(self.tabs.currentIndex())

    def _title(self) -> str:
        account = self.identity.account if self.identity else "?"
        return self.tr_("retention-agent — {account}").format(account=account)

    def _make_view(self, key: str, roles: frozenset[str]) -> QWidget:
        if key == "deliveries":
            return DeliveriesView(self.session, roles, self.message, self.lang, self.today,
                                  on_change=self._deliveries_changed)
        if key == "timeline":
            return TimelineView(self.lang, self._delivery_rows, self.today)
        officer = {"status": StatusView, "audit": AuditView, "proofs": ProofsView, "reports": ReportsView,
                   "staff": StaffView}[key]
        return officer(self.session, self.message, self.lang)

    def _menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu(self.tr_("&File"))
        refresh = QAction(self.tr_("&Refresh"), self)
        refresh.setShortcut(QKeySequence.StandardKey.Refresh)
        refresh.triggered.connect(self.refresh_all)
        file_menu.addAction(refresh)
        hide = QAction(self.tr_("&Hide in the tray"), self)
        hide.triggered.connect(self.hide)
        hide.setEnabled(self.tray.available)
        file_menu.addAction(hide)
        quit_action = QAction(self.tr_("&Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.quit)
        file_menu.addAction(quit_action)
        language_menu = bar.addMenu(self.tr_("&Language"))
        group = QActionGroup(self)
        for code, name in LANGUAGE_NAMES.items():
            action = QAction(name, self, checkable=True)
            action.setChecked(code == self.lang)
            action.triggered.connect(lambda _checked=False, c=code: self.set_language(c))
            group.addAction(action)
            language_menu.addAction(action)

    # ---- data ---------------------------------------------------------------------------------------------

    def _shown(self, index: int) -> None:
        widget = self.tabs.widget(index) if index >= 0 else None
        if widget is not None and hasattr(widget, "refresh"):
            widget.refresh()
        if isinstance(widget, DeliveriesView):
            self._deliveries_changed()

    def _delivery_rows(self) -> list[Row] | None:
        try:
            rows = self.session.deliveries()
        except RetentionAgentError as exc:
            self.message.fail(exc, self.lang)
            return None
        self.tray.set_badge(count_needing_date(rows))
        return rows

    def _deliveries_changed(self) -> None:
        view = self.views.get("deliveries")
        if isinstance(view, DeliveriesView) and view.allowed["list"]:
            self.tray.set_badge(count_needing_date(view.rows))

    def refresh_all(self) -> None:
        """Refresh the view on screen (and the badge); the others refresh when they are shown."""
        self._shown(self.tabs.currentIndex())
        if not isinstance(self.tabs.currentWidget(), DeliveriesView) and "timeline" in self.views:
            self._delivery_rows()

    def show_view(self, key: str) -> QWidget:
        widget = self.views[key]
        self.tabs.setCurrentWidget(widget)
        return widget

    # ---- language, tray, closing --------------------------------------------------------------------------

    def set_language(self, lang: str) -> None:
        if lang == self.lang:
            return
        current = next((k for k, w in self.views.items() if w is self.tabs.currentWidget()), None)
        self.lang = lang
        if self.remember_language:
            save_language(lang)
        self.build()
        if current in self.views:
            self.show_view(current)

    def bring_up(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def quit(self) -> None:
        self.tray.timer.stop()
        QApplication.quit()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.tray.available:  # keeps running in the tray, with its badge and notifications
            event.ignore()
            self.hide()
            return
        self.tray.timer.stop()
        event.accept()

