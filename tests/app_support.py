"""The desktop app as a real non-root OS account, against the real agent, driven with pytest-qt's ``QtBot``.

The venv's Python lives under /root (0700): another account cannot start it. So, as ``tests/accounts.py`` does,
a child of the test process — forked after every import, Qt's and the app's included — drops to the account
with setuid() and only *then* creates Qt's application object and the window. Everything the app does from
there (connect to the agent, which reads the uid from the socket; read the user's files; write exports) it
does as that account. Qt loads its platform plugin after the switch, so the account must be able to read the
PySide6 folder of the venv: :func:`check_qt_readable` fails with the reason when it cannot (a venv under /root).

The scenario runs in the child; whatever it returns (plain data) comes back, an assertion failing in it fails
the test with its traceback on stderr.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import PySide6
import pytest
from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QWidget
from pytestqt.qtbot import QtBot

import retention_agent.app.main
import retention_agent.cli_commands.vault  # noqa: F401
from retention_agent.api.client import Client
from retention_agent.app.session import Session
from retention_agent.app.window import MainWindow, brussels_today
from retention_agent.demo import seed_app_demo
from retention_agent.home import Home
from tests.accounts import as_account, in_child_as
from tests.conftest import ME, AgentProcess, make_home
from tests.helpers_accounts import TempAccount, hermetic, traversable_folder
from tests.retention_support import api, fast_ticks

ALL_ROLES = ["officer", "import", "read", "modify", "destroy"]


def _warm_up() -> None:
    """Load now what would otherwise be loaded lazily from the stdlib under /root, which the child cannot read:
    the catalogue reader (importlib.readers), Babel's formats, the Dutch catalogue itself."""
    import _strptime  # noqa: F401
    import importlib.readers  # noqa: F401
    from datetime import UTC, datetime

    from retention_agent import i18n

    for lang in i18n.LANGUAGES:
        i18n.catalogue(lang)
        i18n.format_day(datetime.now(UTC).date(), lang, long=True)
        i18n.format_moment("2026-11-28T13:05:00Z", lang)


_warm_up()


@dataclass
class App:
    """What a scenario gets: Qt's application, the window, the bot, and what the app showed or launched."""

    app: QApplication
    window: MainWindow
    bot: QtBot
    toasts: list[tuple[str, str]] = field(default_factory=list)
    launched: list[Path] = field(default_factory=list)

    def view(self, key: str) -> Any:
        return self.window.show_view(key)

    def message(self) -> tuple[str, str]:
        bar = self.window.message
        return bar.kind, bar.text()

    def dialog(self, kind: type[QDialog]) -> Any:
        """The dialog of that kind the window opened (window-modal, so the test goes on driving it)."""
        self.bot.waitUntil(lambda: any(d.isVisible() for d in self.window.findChildren(kind)), timeout=5000)
        return next(d for d in self.window.findChildren(kind) if d.isVisible())

    def press(self, key: Qt.Key, modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier, *,
              window: QWidget | None = None) -> None:
        """A key pressed on the keyboard: it goes to the focused widget of the window in front — ``window`` (a
        dialog just opened), or else the active window once activation has settled (a dialog that just closed
        hands it back to the main window a moment later). Qt's offscreen platform may still be moving the
        activation when a dialog opens; a person would be typing into the dialog they see."""
        if window is not None:
            self.bot.keyClick(window.focusWidget() or window, key, modifier)
            return

        def settled() -> bool:
            focus, active = QApplication.focusWidget(), QApplication.activeWindow()
            return focus is not None and active is not None and focus.window() is active

        self.bot.waitUntil(settled, timeout=5000)
        self.bot.keyClick(QApplication.focusWidget(), key, modifier)

    def type(self, text: str) -> None:
        self.bot.keyClicks(QApplication.focusWidget(), text)

    def choose_folder(self, folder: Path) -> None:
        """Answer the open folder chooser with ``folder``, as a user would by typing it and pressing Enter."""
        chooser = self.dialog(QFileDialog)
        chooser.setDirectory(str(folder))
        chooser.selectFile(str(folder))
        chooser.accept()


def check_qt_readable(account: str) -> None:
    """Fail (never skip) when the account cannot read Qt's plugins: the app could not start as that account."""
    plugins = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms"
    entry = pwd.getpwnam(account)

    def probe() -> bytes:
        return b"yes" if os.access(plugins, os.R_OK | os.X_OK) else b"no"

    if in_child_as(entry.pw_uid, entry.pw_gid, probe) != b"yes":
        pytest.fail(f"the account {account} cannot read {plugins}: create the venv in a folder other accounts may "
                    "read (the work tree, not /root), as scripts/setup-venv.sh does")


def _user_environment(account: str, *, platform: str, display: str | None) -> None:
    entry = pwd.getpwnam(account)
    runtime = Path(tempfile.gettempdir()) / f"runtime-{entry.pw_uid}"
    os.environ.update({"HOME": entry.pw_dir, "USER": account, "LOGNAME": account, "QT_QPA_PLATFORM": platform,
                       "XDG_RUNTIME_DIR": str(runtime)})
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        os.environ.pop(name, None)
    if display:
        os.environ["DISPLAY"] = display
    runtime.mkdir(mode=0o700, exist_ok=True)


def run_app(account: str, home: Home, request: pytest.FixtureRequest, scenario: Callable[[App], Any], *,
            lang: str = "nl", platform: str = "offscreen", display: str | None = None,
            size: tuple[int, int] = (1280, 800), agent_toasts: bool | None = None) -> Any:
    """Start the app as ``account`` on ``home`` (its agent must be running), run ``scenario``, return its value."""
    check_qt_readable(account)

    def in_app() -> Any:
        try:
            _user_environment(account, platform=platform, display=display)
            app = QApplication([sys.argv[0], "-platform", platform])
            toasts: list[tuple[str, str]] = []

            def toast(title: str, text: str) -> bool:
                toasts.append((title, text))
                return True

            launched: list[Path] = []
            from retention_agent.app.view_deliveries import DeliveriesView

            DeliveriesView.launcher = staticmethod(lambda path: launched.append(path) or True)  # type: ignore[assignment]
            window = MainWindow(Session(home), lang, show=toast, remember_language=False)
            if agent_toasts is not None:
                window.tray.agent_shows_toasts = agent_toasts
            window.resize(*size)
            window.show()
            bot = QtBot(request)
            assert QTest.qWaitForWindowExposed(window, 5000)
            window.activateWindow()
            assert QTest.qWaitForWindowActive(window, 5000), "the window never became active (mnemonics need it)"
            try:
                return scenario(App(app, window, bot, toasts, launched))
            finally:
                window.tray.timer.stop()
                QTimer.singleShot(0, app.quit)
                QCoreApplication.processEvents()
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            raise

    return as_account(account, in_app)


def visible_widgets(root: QWidget) -> Iterator[QWidget]:
    for widget in [root, *root.findChildren(QWidget)]:
        if widget.isVisibleTo(root) or widget is root:
            yield widget


def screen_grab(window: QWidget) -> bytes:
    """The window's pixels as the X server has them (under Xvfb), as PNG bytes."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    screen = QGuiApplication.primaryScreen()
    frame = window.frameGeometry()
    pixmap = screen.grabWindow(0, frame.x(), frame.y(), frame.width(), frame.height())
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    pixmap.save(buffer, "PNG")
    return bytes(data.data())


# ---- a world to run the app in ----------------------------------------------------------------------------


@dataclass
class World:
    agent: AgentProcess
    home: Home
    inbox: Path  # a drop folder the agent watches
    clerk: str  # import, read, modify
    officer: str  # officer, read, destroy
    importer: str  # import only
    outsider: str  # not on the staff list
    seed: dict[str, Any]


@contextlib.contextmanager
def app_world() -> Iterator[World]:
    """A real agent watching a drop folder, the demo's deliveries, and four real accounts with their roles."""
    with traversable_folder() as folder, hermetic(), TempAccount() as clerk, TempAccount() as officer, \
            TempAccount() as importer, TempAccount() as outsider:
        inbox = folder / "inbox"
        inbox.mkdir()
        inbox.chmod(0o1733)  # staff may drop files in it, not list it
        home = make_home(folder / "home", inboxes=[str(inbox)])
        fast_ticks(home.root)
        agent = AgentProcess(home.root).start()
        api(agent.home, "staff.add", {"account": ME, "name": "Beheerder", "roles": ALL_ROLES})
        for account, name, roles in ((clerk, "Mia Peeters", ["import", "read", "modify"]),
                                     (officer, "Jan De Wit", ["officer", "read", "destroy"]),
                                     (importer, "Ali Vermeulen", ["import"])):
            api(agent.home, "staff.add", {"account": account.name, "name": name, "roles": roles})
        try:
            with Client(home.socket) as client:
                seed = seed_app_demo(client, brussels_today())
            yield World(agent, home, inbox, clerk.name, officer.name, importer.name, outsider.name, seed)
        finally:
            agent.stop()


def refusal_text(world: World, account: str, action: str, lang: str = "nl") -> str:
    """The refusal the agent gives ``account`` for ``action`` today, in words (``access.refusal``)."""
    from retention_agent.access import StaffMember, refusal
    from retention_agent.errors import AccessDeniedError

    members = {m["account"]: StaffMember(m["account"], m["name"], frozenset(m["roles"]))
               for m in api(world.agent.home, "staff.list")}
    return AccessDeniedError(**refusal(members, account, action)).render(lang)


def no_operation_code(text: str) -> bool:
    """Whether ``text`` names no operation of the API (``ceremony.extend``, ``purge.early``, …)."""
    from retention_agent.access import REQUIRED_ROLES

    return not [code for code in REQUIRED_ROLES if "." in code and code in text]


# ---- what a view shows, and the English words it must not show in Dutch -----------------------------------


def shown_texts(root: QWidget) -> list[str]:
    """Every text a person sees or a screen reader reads in ``root``: labels, buttons, tabs, menus, list items,
    placeholders, table headers and cells, pages, tooltips, accessible names and descriptions."""
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QComboBox,
        QGroupBox,
        QLabel,
        QLineEdit,
        QMainWindow,
        QTabBar,
        QTextBrowser,
    )

    texts: list[str] = [root.windowTitle()]
    for widget in visible_widgets(root):
        texts += [widget.toolTip(), widget.accessibleName(), widget.accessibleDescription()]
        if isinstance(widget, QLabel | QAbstractButton):
            texts.append(widget.text())
        elif isinstance(widget, QGroupBox):
            texts.append(widget.title())
        elif isinstance(widget, QLineEdit):
            texts.append(widget.placeholderText())
        elif isinstance(widget, QComboBox):
            texts += [widget.itemText(i) for i in range(widget.count())]
        elif isinstance(widget, QTabBar):
            texts += [widget.tabText(i) for i in range(widget.count())]
        elif isinstance(widget, QTextBrowser):
            texts.append(widget.toPlainText())
        elif isinstance(widget, QAbstractItemView) and widget.model() is not None:
            model = widget.model()
            texts += [str(model.headerData(c, Qt.Orientation.Horizontal)) for c in range(model.columnCount())]
            texts += [str(model.index(r, c).data()) for r in range(min(model.rowCount(), 200))
                      for c in range(model.columnCount())]
        if isinstance(widget, QMainWindow):
            for action in widget.menuBar().actions():
                texts.append(action.text())
                if action.menu() is not None:
                    texts += [a.text() for a in action.menu().actions()]
    return [t.replace("&", "") for t in texts if t]


def english_only_words() -> set[str]:
    """Words of the catalogue's English source strings that no Dutch translation uses: in a Dutch view, each
    of them is an untranslated English text."""
    import re

    from babel.messages.pofile import read_po

    from retention_agent.i18n import catalogue  # noqa: F401 - the file is the package's own catalogue

    po_file = Path(__file__).resolve().parents[1] / "retention_agent" / "locale" / "nl.po"
    with po_file.open("rb") as handle:
        entries = [(str(m.id), str(m.string)) for m in read_po(handle, locale="nl") if m.id]

    def words(text: str) -> set[str]:
        text = re.sub(r"\{[^}]*\}", " ", text)
        return {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]*[A-Za-z]", text) if len(w) >= 3}

    english = set().union(*(words(msgid) for msgid, _ in entries))
    dutch = set().union(*(words(msgstr) for _, msgstr in entries))
    return english - dutch


def english_in(texts: list[str], vocabulary: set[str]) -> list[str]:
    """The texts that hold a word of ``vocabulary``, each with those words."""
    import re

    found = []
    for text in texts:
        text = re.sub(r"\S*[/\\]\S*", " ", text)  # paths and web addresses are what someone typed or chose
        hits = sorted({w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]*[A-Za-z]", text)} & vocabulary)
        if hits:
            found.append(f"{hits}: {text[:120]!r}")
    return found


# ---- a real X server ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def xvfb(size: str = "1366x768x24") -> Iterator[str]:
    """A real X server (Xvfb) on a free display; yields its name (``:N``). Fails when Xvfb is not installed."""
    import shutil
    import subprocess

    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is missing: run scripts/test.sh, which installs it (package xvfb)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", size, "-nolisten", "tcp"],
                              pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as answer:
            number = answer.readline().strip().decode()
        if not number:
            raise AssertionError("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)
