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
import shutil
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import PySide6
import pytest
from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QWidget
from pytestqt.qtbot import QtBot

import retention_agent.app.main
import retention_agent.cli.commands.vault  # noqa: F401
from retention_agent.api.client import Client
from retention_agent.app.session import Session
from retention_agent.app.window import MainWindow, brussels_today
from retention_agent.demo import seed_app_demo, synthetic_delivery
from retention_agent.system.home import Home
from retention_agent.vault.keys import FileKeyStore
from tests.accounts import as_account, in_child_as
from tests.conftest import ME, AgentProcess, make_home
from tests.english_check import english_in, english_only_words  # noqa: F401 - the app's tests import them here
from tests.helpers_accounts import TempAccount, hermetic, traversable_folder
from tests.report_support import write_config
from tests.retention_support import api, fast_ticks, received_days_ago

if TYPE_CHECKING:
    from tests.smtp_support import SmtpServer

ALL_ROLES = ["officer", "import", "read", "modify", "destroy"]


def _warm_up() -> None:
    """Load now what would otherwise be loaded lazily from the stdlib under /root, which the child cannot read:
    the catalogue reader (importlib.readers), Babel's formats, the Dutch catalogue itself."""
    import _strptime  # noqa: F401
    import importlib.readers  # noqa: F401
    from datetime import UTC, datetime

    from retention_agent.i18n import catalogue as i18n

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
            self.bot.waitUntil(lambda: window.focusWidget() is not None, timeout=5000)  # its focus is set
            self.bot.keyClick(window.focusWidget(), key, modifier)
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


def _user_environment(account: str, *, platform: str, display: str | None, settings: Path | None) -> None:
    """The account's session: its home and runtime folder; ``settings`` (for root, whose home is the machine's)
    holds its configuration and state instead of the home."""
    entry = pwd.getpwnam(account)
    runtime = Path(tempfile.gettempdir()) / f"runtime-{entry.pw_uid}"
    os.environ.update({"HOME": entry.pw_dir, "USER": account, "LOGNAME": account, "QT_QPA_PLATFORM": platform,
                       "XDG_RUNTIME_DIR": str(runtime)})
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "DBUS_SESSION_BUS_ADDRESS"):
        os.environ.pop(name, None)
    if settings is not None:
        os.environ.update({"XDG_CONFIG_HOME": str(settings / "config"), "XDG_STATE_HOME": str(settings / "state")})
    if display:
        os.environ["DISPLAY"] = display
    runtime.mkdir(mode=0o700, exist_ok=True)


class SystemOpener(QObject):
    """Stands in for the platform's default program (a spreadsheet, a PDF reader). Qt hands it every ``file:``
    URL that the app asks it to open (``QDesktopServices.setUrlHandler``), so the app's own code runs up to the
    one place where it asks the operating system to open a file (``qt_support.open_with_system``)."""

    def __init__(self, launched: list[Path]) -> None:
        super().__init__()
        self.launched = launched

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.launched.append(Path(url.toLocalFile()))


def run_app(account: str, home: Home, request: pytest.FixtureRequest, scenario: Callable[[App], Any], *,
            lang: str = "nl", platform: str = "offscreen", display: str | None = None,
            size: tuple[int, int] = (1280, 800)) -> Any:
    """Start the app as ``account`` on ``home`` (its agent must be running), run ``scenario``, return its value."""
    check_qt_readable(account)
    settings = Path(tempfile.mkdtemp(prefix="app-settings-")) if pwd.getpwnam(account).pw_uid == 0 else None

    def in_app() -> Any:
        try:
            _user_environment(account, platform=platform, display=display, settings=settings)
            app = QApplication([sys.argv[0], "-platform", platform])
            toasts: list[tuple[str, str]] = []

            def toast(title: str, text: str) -> bool:
                toasts.append((title, text))
                return True

            launched: list[Path] = []
            opener = SystemOpener(launched)
            QDesktopServices.setUrlHandler("file", opener, "open")
            window = MainWindow(Session(home), lang, show=toast, remember_language=False)
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

    try:
        return as_account(account, in_app)
    finally:
        if settings is not None:
            shutil.rmtree(settings, ignore_errors=True)


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
    old: list[str]  # received 60 days ago: a ceremony date can make these due now
    quarantined: str  # a file the agent did not recognise as AgII's
    smtp: SmtpServer  # the DPO's mail server, on loopback
    agent_toasts: Path  # every desktop toast the agent process tried to show (there must be none)


NOTIFY_SEND = """#!/bin/sh
# stands in for the desktop's notify-send (what plyer runs on Linux): records who tried to show what
printf '%s\\n' "$*" >> {log}
"""


@contextlib.contextmanager
def app_world() -> Iterator[World]:
    """A real agent in shared mode watching a drop folder, the demo's deliveries, two old deliveries and a
    quarantined file, a real SMTP server for the reports, and four real accounts with their roles (each app sweeps
    its account's ~/Downloads for copies). The agent runs with a desktop session's ``DISPLAY`` and a recording
    ``notify-send`` on its ``PATH``: it would show its toasts there."""
    from tests.smtp_support import PASSWORD, SmtpServer, make_certificate, smtp_config

    with traversable_folder() as folder, hermetic(), TempAccount() as clerk, TempAccount() as officer, \
            TempAccount() as importer, TempAccount() as outsider:
        inbox = folder / "inbox"
        inbox.mkdir()
        inbox.chmod(0o1733)  # staff may drop files in it, not list it
        home = make_home(folder / "home", inboxes=[str(inbox)])
        # shared mode, as on a terminal server: each account's own app sweeps its Downloads for copies
        text = home.config.read_text(encoding="utf-8")
        home.config.write_text('deployment = "shared"\n' + text.replace(
            "[copies]\nsweep = false\n", '[copies]\nsweep = true\ndefaults = false\nlocations = ["~/Downloads"]\n', 1),
            encoding="utf-8")
        tools = folder / "tools"
        tools.mkdir()
        toasts = folder / "agent-toasts.log"
        (tools / "notify-send").write_text(NOTIFY_SEND.format(log=toasts))
        (tools / "notify-send").chmod(0o755)
        certificate = make_certificate(folder)
        with SmtpServer(*certificate) as smtp:
            write_config(home, smtp_config(smtp.port))
            FileKeyStore(home.keys).put("secret/smtp", PASSWORD.encode())
            fast_ticks(home.root)
            old = [received_days_ago(home.root, 60, synthetic_delivery(40 + n)) for n in range(2)]
            quarantined = received_days_ago(home.root, 1, b"PK\x03\x04 an unknown format", quarantine=True)
            agent = AgentProcess(home.root, env={"SSL_CERT_FILE": str(certificate[0]), "DISPLAY": ":99",
                                                 "PATH": f"{tools}:{os.environ.get('PATH', '')}"}).start()
            try:
                api(agent.home, "staff.add", {"account": ME, "name": "Beheerder", "roles": ALL_ROLES})
                for account, name, roles in ((clerk, "Mia Peeters", ["import", "read", "modify"]),
                                             (officer, "Jan De Wit", ["officer", "read", "destroy"]),
                                             (importer, "Ali Vermeulen", ["import"])):
                    api(agent.home, "staff.add", {"account": account.name, "name": name, "roles": roles})
                with Client(home.socket) as client:
                    seed = seed_app_demo(client, brussels_today())
                yield World(agent, home, inbox, clerk.name, officer.name, importer.name, outsider.name, seed, old,
                            quarantined, smtp, toasts)
            finally:
                agent.stop()


def refusal_text(world: World, account: str, action: str, lang: str = "nl") -> str:
    """The refusal the agent gives ``account`` for ``action`` today, in words (``access.refusal``)."""
    from retention_agent.errors import AccessDeniedError
    from retention_agent.rules.access import StaffMember, refusal

    members = {m["account"]: StaffMember(m["account"], m["name"], frozenset(m["roles"]))
               for m in api(world.agent.home, "staff.list")}
    return AccessDeniedError(**refusal(members, account, action)).render(lang)


def no_operation_code(text: str) -> bool:
    """Whether ``text`` names no operation of the API (``ceremony.extend``, ``purge.early``, …)."""
    from retention_agent.rules.access import REQUIRED_ROLES

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
