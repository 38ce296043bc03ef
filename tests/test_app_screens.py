"""Screenshots of every view of the desktop app on the demo's data, under a real X server (Xvfb), and the check
that the Dutch views show no English word of the catalogue's source strings.

The PNGs are written to ``$SCREENSHOTS_DIR`` when set (``docs/images`` holds the ones the guides
show), else into the test's temporary folder. Each is taken from the X server itself (``QScreen.grabWindow``),
so it is what a person at that display would see.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from retention_agent.app.dialogs import CeremonyDialog, DestroyDialog, OpenDialog
from tests.app_support import (
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
from tests.helpers_accounts import NEEDS_ROOT

pytestmark = NEEDS_ROOT
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
                      (deliveries.ask_destroy, DestroyDialog)):
        ask()
        dialog = app.dialog(kind)
        found[kind.__name__] = shown_texts(dialog)
        dialog.reject()
    return found


def _english(found: dict[str, list[str]]) -> dict[str, Any]:
    vocabulary = english_only_words()
    return {view: hits for view, texts in found.items() if (hits := english_in(texts, vocabulary))}


def test_no_english_word_of_the_catalogue_in_a_dutch_view(world: World, request: pytest.FixtureRequest) -> None:
    found = run_app(world.officer, world.home, request, lambda app: _texts_of_every_view(app, world))
    assert set(found) >= {*VIEWS, "CeremonyDialog", "OpenDialog", "DestroyDialog"}
    english = _english(found)
    assert english == {}, "\n".join(f"{view}: {hit}" for view, hits in english.items() for hit in hits)


def test_the_check_sees_english_when_there_is_english(world: World, request: pytest.FixtureRequest) -> None:
    found = run_app(world.officer, world.home, request, lambda app: _texts_of_every_view(app, world), lang="en")
    hits = _english(found)
    assert set(hits) >= set(VIEWS), "each English view holds English words: the check can fail"
    assert any("deliveries" in h for h in hits["deliveries"])
