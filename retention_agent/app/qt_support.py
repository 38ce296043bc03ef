"""Small Qt pieces every view uses: accessible names, the message bar, table views, Qt's own translations."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, TypeVar

from PySide6.QtCore import QLibraryInfo, QLocale, Qt, QTranslator, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QAbstractItemView, QApplication, QHeaderView, QLabel, QTableView, QWidget

from retention_agent.errors import RetentionAgentError
from retention_agent.i18n.catalogue import translate
from retention_agent.i18n.msgids import N_

W = TypeVar("W", bound=QWidget)
QT_LOCALES = {"nl": "nl_BE", "en": "en_GB"}


def named(widget: W, name: str, description: str = "", lang: str | None = None) -> W:
    """Give ``widget`` an accessible name (and description), translated; ``&`` mnemonics are left out."""
    widget.setAccessibleName(translate(name, lang).replace("&", ""))
    if description:
        widget.setAccessibleDescription(translate(description, lang))
        widget.setToolTip(translate(description, lang))
    return widget


def open_with_system(path: Path) -> bool:
    """Hand a file to the platform's default program (a spreadsheet for an opened copy, a PDF reader for a
    report): the one place the app asks the operating system to open something."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))


def error_text(exc: BaseException, lang: str) -> str:
    """A catalogue error in the user's language, from its id and values (as the agent sent them)."""
    if isinstance(exc, RetentionAgentError):
        return exc.render(lang)
    return translate("Something went wrong.", lang) + f" ({type(exc).__name__})"


class MessageBar(QLabel):
    """One line at the top of the window that says what the last action did, or why it was refused."""

    COLOURS: ClassVar[dict[str, tuple[str, str]]] = {"info": ("#1b4d1e", "#e3f3e4"), "error": ("#7a0014", "#fde0e0")}

    def __init__(self, lang: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.kind = ""
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                     | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        named(self, N_("Message"), N_("What the last action did, or why it was refused."), lang)
        self.hide()

    def say(self, text: str, kind: str = "info") -> None:
        self.kind = kind
        fg, bg = self.COLOURS[kind]
        self.setStyleSheet(f"QLabel {{ color: {fg}; background: {bg}; padding: 6px; border-radius: 3px; }}")
        self.setText(text)
        self.setAccessibleDescription(text)
        self.show()

    def fail(self, exc: BaseException, lang: str) -> None:
        self.say(error_text(exc, lang), "error")


def table_view(proxy: Any, name: str, lang: str, description: str = "") -> QTableView:
    view = QTableView()
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setTabKeyNavigation(False)  # Tab leaves the table: the arrow keys move inside it
    view.verticalHeader().setVisible(False)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.horizontalHeader().setStretchLastSection(True)
    column, descending = proxy.sourceModel().table.sort
    view.sortByColumn(column, Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder)
    return named(view, name, description, lang)


def install_qt_translations(app: QApplication, lang: str) -> list[QTranslator]:
    """Qt's own translations (standard buttons, the file chooser, the calendar) for ``lang``; kept installed
    by holding the returned translators."""
    for old in getattr(app, "_retention_translators", []):
        app.removeTranslator(old)
    QLocale.setDefault(QLocale(QT_LOCALES.get(lang, "nl_BE")))
    folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    installed = []
    if lang != "en":
        for name in ("qtbase",):
            translator = QTranslator(app)
            if translator.load(f"{name}_{lang}", folder):
                app.installTranslator(translator)
                installed.append(translator)
    app._retention_translators = installed  # type: ignore[attr-defined]
    return installed
