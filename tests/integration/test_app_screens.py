"""Screenshots of every view of the desktop app on the demo's data, under a real X server (Xvfb), and the check
that the Dutch views show no English word of the catalogue's source strings.

The PNGs are written to ``$SCREENSHOTS_DIR`` when set (``docs/images`` holds the ones the guides
show), else into the test's temporary folder. Each is taken from the X server itself (``QScreen.grabWindow``),
so it is what a person at that display would see.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from retention_agent.app.dialogs import CeremonyDialog, DestroyDialog, OpenDialog, ReleaseDialog
from retention_agent.demo import synthetic_delivery
from tests.support.accounts import needs_root
from tests.support.app import (
    App,
    World,
    app_world,
    english_in,
    english_only_words,
    run_app,
    screen_grab,
    shown_texts,
    xvfb,
)
from tests.support.retention import wait_for

pytestmark = needs_root
VIEWS = ("deliveries", "timeline", "status", "audit", "proofs", "reports", "staff")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with app_world() as found:
        yield found


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb() as name:
        yield name


def _settle(app: App) -> None:
    app.bot.wait(400)  # the X server draws what Qt sent; a grab right after a switch may catch a half frame
    QApplication.processEvents()


def _screens(app: App, world: World) -> dict[str, bytes]:
    shots: dict[str, bytes] = {}
    for key in VIEWS:
        view = app.view(key)
        if key == "deliveries":
            view.select(world.seed["needs_date"][0])
        if key == "proofs":
            view.view.selectRow(0)
        _settle(app)
        shots[f"app-{key}"] = screen_grab(app.window)
    deliveries = app.view("deliveries")
    for name, ask, kind, select in (("ceremony", deliveries.ask_ceremony, CeremonyDialog, "needs_date"),
                                    ("open", deliveries.ask_open, OpenDialog, "scheduled"),
                                    ("destroy", deliveries.ask_destroy, DestroyDialog, "scheduled")):
        deliveries.select(world.seed[select][0])
        ask()
        dialog = app.dialog(kind)
        if kind is DestroyDialog:  # the second step: the agent agreed to the reason, the id is to be typed
            dialog.reason.setText("dubbel ontvangen")
            dialog.ok.click()
            app.bot.waitUntil(lambda d=dialog: d.confirming)
            dialog.confirmation.setText(world.seed[select][0][:12])
        _settle(app)
        shots[f"app-dialog-{name}"] = screen_grab(dialog)
        dialog.reject()
    return shots


def test_screenshots_of_every_view_under_a_real_x_server(world: World, display: str, tmp_path: Path,
                                                         request: pytest.FixtureRequest) -> None:
    shots = run_app(world.officer, world.home, request, lambda app: _screens(app, world), platform="xcb",
                    display=display, size=(1280, 740))
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    assert set(shots) == {f"app-{k}" for k in VIEWS} | {"app-dialog-ceremony", "app-dialog-open", "app-dialog-destroy"}
    for name, data in shots.items():
        (folder / f"{name}.png").write_bytes(data)
        image = QImage(str(folder / f"{name}.png"))
        assert not image.isNull() and image.width() >= 300 and image.height() >= 120, name
        colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
        assert len(colours) > 20, f"{name} is (nearly) blank: the window was not drawn"


def _texts_of_every_view(app: App, world: World) -> dict[str, list[str]]:
    found = {}
    for key in app.window.views:
        app.view(key)
        found[key] = shown_texts(app.window)
    deliveries = app.view("deliveries")
    deliveries.select(world.seed["scheduled"][0])
    for ask, kind in ((deliveries.ask_ceremony, CeremonyDialog), (deliveries.ask_open, OpenDialog),
                      (deliveries.ask_destroy, DestroyDialog), (deliveries.ask_release, ReleaseDialog)):
        ask()
        dialog = app.dialog(kind)
        found[kind.__name__] = shown_texts(dialog)
        if kind is DestroyDialog:  # and its second step, after the agent's dry run
            dialog.reason.setText("dubbel ontvangen")
            dialog.ok.click()
            app.bot.waitUntil(lambda d=dialog: d.confirming)
            found["DestroyDialog (confirm)"] = shown_texts(dialog)
        dialog.reject()
    return found


def _english(found: dict[str, list[str]]) -> dict[str, Any]:
    vocabulary = english_only_words()
    return {view: hits for view, texts in found.items() if (hits := english_in(texts, vocabulary))}


def test_no_english_word_of_the_catalogue_in_a_dutch_view(world: World, request: pytest.FixtureRequest) -> None:
    found = run_app(world.officer, world.home, request, lambda app: _texts_of_every_view(app, world))
    assert set(found) >= {*VIEWS, "CeremonyDialog", "OpenDialog", "DestroyDialog", "DestroyDialog (confirm)",
                          "ReleaseDialog"}
    english = _english(found)
    assert english == {}, "\n".join(f"{view}: {hit}" for view, hits in english.items() for hit in hits)


def test_the_check_sees_english_when_there_is_english(world: World, request: pytest.FixtureRequest) -> None:
    found = run_app(world.officer, world.home, request, lambda app: _texts_of_every_view(app, world), lang="en")
    hits = _english(found)
    assert set(hits) >= set(VIEWS), "each English view holds English words: the check can fail"
    assert any("deliveries" in h for h in hits["deliveries"])


# ---- the tray icon in a real system tray ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tray_display() -> Iterator[str]:
    """An X server of its own with a real system tray in it (trayer, an XEmbed tray as desktop panels have)."""
    if shutil.which("trayer") is None:
        pytest.fail("trayer is missing: run scripts/test.sh, which installs it (package trayer)")
    with xvfb("800x600x24") as name:
        host = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                                 "--height", "32", "--SetDockType", "false"], env={**os.environ, "DISPLAY": name},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: '"panel": ("panel" "trayer")' in _windows(name), 60, "trayer's panel")
            yield name
        finally:
            host.terminate()
            host.wait(timeout=10)


def _windows(display: str) -> str:
    return subprocess.run(["xwininfo", "-root", "-tree", "-display", display], capture_output=True, text=True,
                          check=False).stdout


def _children_of_panel(tree: str) -> str:
    """The lines of ``xwininfo -tree`` below trayer's panel window (the icons it embeds)."""
    lines = tree.splitlines()
    start = next(i for i, line in enumerate(lines) if '"panel": ("panel" "trayer")' in line)
    indent = len(lines[start]) - len(lines[start].lstrip())
    block = []
    for line in lines[start + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        block.append(line)
    return "\n".join(block)


def test_the_tray_icon_sits_in_a_real_system_tray_with_its_badge_and_shows_a_notification(
        world: World, tray_display: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    def tray(app: App) -> dict[str, Any]:
        icon = app.window.tray
        available = QSystemTrayIcon.isSystemTrayAvailable()
        app.view("deliveries")  # the list counts the deliveries waiting for a ceremony date: the badge
        app.window.close()  # to the tray, as at logon (no window manager here keeps a window off the panel)
        [sys_tray] = [w for w in QApplication.topLevelWidgets() if w.metaObject().className() == "QSystemTrayIconSys"]
        app.bot.waitUntil(lambda: sys_tray.isVisible(), timeout=10000)
        icon_id = int(sys_tray.winId())
        app.bot.wait(400)  # the X server draws what Qt sent
        spot = _placed(_windows(tray_display), icon_id)  # where the tray put it (Qt knows it only in the panel)
        screen = QApplication.primaryScreen()
        badge = screen.grabWindow(0, spot.x(), spot.y(), spot.width(), spot.height()).toImage()
        red = sum(1 for x in range(badge.width()) for y in range(badge.height())
                  if QColor(badge.pixel(x, y)).red() > 150 and QColor(badge.pixel(x, y)).green() < 90)
        icon._show = icon._toast  # the real way to the desktop, as outside the tests: QSystemTrayIcon.showMessage
        icon.sweep_every = None
        icon.poll()
        app.toasts.clear()
        (world.inbox / "agii-tray-host.zip").write_bytes(synthetic_delivery(60))  # the clerk drops a file
        wait_for(lambda: icon.poll() > 0, 20, "the arrival notification")
        app.bot.waitUntil(lambda: any(w.metaObject().className() == "QBalloonTip" and w.isVisible()
                                      for w in QApplication.topLevelWidgets()), timeout=10000)
        [balloon] = [w for w in QApplication.topLevelWidgets() if w.metaObject().className() == "QBalloonTip"]
        app.bot.wait(400)  # the X server draws what Qt sent
        tree = _windows(tray_display)
        frame = balloon.frameGeometry()
        left, bottom = min(frame.left(), spot.left()) - 8, max(frame.bottom(), spot.bottom()) + 8
        shot = screen.grabWindow(0, left, 0, screen.geometry().width() - left, bottom)
        return {"available": available, "supports": icon.icon.supportsMessages() if icon.icon else False,
                "badge": icon.badge, "icon_id": icon_id, "tree": tree, "shown": list(icon.shown),
                "balloon": balloon_text(balloon), "png": png_bytes(shot), "red": red,
                "hidden": not app.window.isVisible()}

    seen = run_app(world.clerk, world.home, request, tray, platform="xcb", display=tray_display, size=(600, 400))
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app-tray.png").write_bytes(seen["png"])
    assert not QImage(str(folder / "app-tray.png")).isNull()
    assert seen["available"] and seen["supports"], "a system tray is there (trayer), and it takes messages"
    assert seen["hidden"], "closing the window leaves the app running in the tray"
    assert f"{seen['icon_id']:#x}" in _children_of_panel(seen["tree"]), "the icon is embedded in trayer's panel"
    assert seen["badge"] >= 3 and seen["red"] > 20, "the badge (red, with the count) is on the icon in the tray"
    arrival = [text for text in seen["shown"] if "is aangekomen en zit in de kluis" in text]
    assert len(arrival) == 1 and arrival[0] in seen["balloon"], (seen["shown"], seen["balloon"])


def _placed(tree: str, window: int) -> QRect:
    """A window's rectangle on the screen, from ``xwininfo -tree`` (``WxH+x+y  +absx+absy``)."""
    import re

    found = re.search(rf"{window:#x} .*?(\d+)x(\d+)[+-]\d+[+-]\d+\s+\+(-?\d+)\+(-?\d+)", tree)
    assert found, f"window {window:#x} is not on the screen"
    width, height, x, y = (int(v) for v in found.groups())
    return QRect(x, y, width, height)


def balloon_text(balloon: QWidget) -> str:
    from PySide6.QtWidgets import QLabel

    return "\n".join(label.text() for label in balloon.findChildren(QLabel))


def png_bytes(pixmap: Any) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    pixmap.save(buffer, "PNG")
    return bytes(data.data())
