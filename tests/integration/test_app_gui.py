"""The desktop app, driven as a user would (pytest-qt), as real non-root accounts against the real agent.

Every action goes through the real local API: the agent identifies each account by the socket's peer
credentials and decides; the app shows its answer. Qt runs on its ``offscreen`` platform here (the screenshot
tests use a real X server). See ``tests/support/app.py`` for how the app runs as another account.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QDate, QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QAccessible, QDropEvent
from PySide6.QtWidgets import QAbstractButton, QApplication, QComboBox, QLabel, QLineEdit, QWidget

from retention_agent.api.client import Client
from retention_agent.app.dialogs import CeremonyDialog, DestroyDialog, OpenDialog, ReleaseDialog, StaffDialog
from retention_agent.app.session import brussels_today
from retention_agent.demo import synthetic_delivery
from retention_agent.errors import SourceUnreadableError, UnknownAccountError
from retention_agent.i18n.catalogue import format_day
from tests.support.accounts import needs_root
from tests.support.agent import ME
from tests.support.app import App, World, app_world, no_operation_code, refusal_text, run_app, visible_widgets
from tests.support.retention import all_deliveries, api, audit_entries, pages, wait_for

pytestmark = needs_root


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with app_world() as found:
        yield found


def _entries(world: World, action: str) -> list[dict[str, Any]]:
    return audit_entries(world.agent.home, action)


def _row(world: World, delivery: str) -> dict[str, Any]:
    return next(r for r in all_deliveries(world.agent.home) if r["id"] == delivery)


def _dropped(world: World, variant: int) -> str:
    """The importer drops a file in the watched drop folder (shared mode: a file of the agent's own account would
    stay there); the agent takes it and notifies the staff."""
    known = {r["id"] for r in all_deliveries(world.agent.home)}
    entry = pwd.getpwnam(world.importer)
    staged = world.inbox.parent / f"agii-{variant}.zip"
    staged.write_bytes(synthetic_delivery(variant))
    os.chown(staged, entry.pw_uid, entry.pw_gid)
    staged.rename(world.inbox / staged.name)
    wait_for(lambda: {r["id"] for r in all_deliveries(world.agent.home)} - known, 20, "the agent to take the file")
    [new] = {r["id"] for r in all_deliveries(world.agent.home)} - known
    return str(new)


def _fresh_delivery(world: World, variant: int) -> str:
    with Client(world.home.socket) as client:
        return str(client.upload("ingest", {}, [synthetic_delivery(variant)])["delivery"])


def _calendar(app: App, delivery: str, day: date) -> CeremonyDialog:
    """The ceremony dialog of ``delivery``, opened from the deliveries view, with ``day`` chosen on the calendar."""
    view = app.view("deliveries")
    assert view.select(delivery)
    view.ask_ceremony()
    dialog: CeremonyDialog = app.dialog(CeremonyDialog)
    dialog.calendar.setSelectedDate(QDate(day.year, day.month, day.day))
    return dialog


# ---- who sees what ----------------------------------------------------------------------------------------


def test_each_account_sees_only_the_views_its_roles_allow(world: World, request: pytest.FixtureRequest) -> None:
    def tabs(app: App) -> list[str]:
        return [app.window.tabs.tabText(i).replace("&", "") for i in range(app.window.tabs.count())]

    assert run_app(world.clerk, world.home, request, tabs) == ["Leveringen", "Tijdlijn"]
    assert run_app(world.officer, world.home, request, tabs) == [
        "Leveringen", "Tijdlijn", "Status", "Audit", "Bewijzen", "Rapporten", "Medewerkers"]

    def importer(app: App) -> tuple[list[str], bool, bool]:
        view = app.window.views["deliveries"]
        return tabs(app), view.add_button.isVisible(), view.others_box.isVisible()

    assert run_app(world.importer, world.home, request, importer) == (["Leveringen"], True, False)

    def outsider(app: App) -> tuple[int, str, str]:
        kind, text = app.message()
        return app.window.tabs.count(), kind, text

    count, kind, text = run_app(world.outsider, world.home, request, outsider)
    assert count == 0 and kind == "error"
    assert text == refusal_text(world, world.outsider, "whoami") and no_operation_code(text)


def test_the_clerk_sees_the_deliveries_that_need_a_ceremony_date_on_top(world: World,
                                                                         request: pytest.FixtureRequest) -> None:
    def group(app: App) -> tuple[set[str], str, set[str]]:
        view = app.view("deliveries")
        proxy = view.waiting_proxy
        waiting = {proxy.row_at(r)["id"] for r in range(proxy.rowCount())}
        others = {view.other_proxy.row_at(r)["id"] for r in range(view.other_proxy.rowCount())}
        return waiting, view.waiting_box.title(), others

    waiting, title, others = run_app(world.clerk, world.home, request, group)
    assert set(world.seed["needs_date"]) <= waiting
    assert title.startswith("Wacht op een ceremoniedatum (")
    assert set(world.seed["scheduled"]) <= others and not waiting & others
    assert world.seed["destroyed"] not in others  # only deliveries with data, unless asked


# ---- set a date ---------------------------------------------------------------------------------------------


def test_a_clerk_sets_the_ceremony_date_on_the_calendar(world: World, request: pytest.FixtureRequest) -> None:
    delivery = _fresh_delivery(world, 11)
    ceremony = brussels_today() + timedelta(days=30)

    def set_date(app: App) -> tuple[str, str, bool]:
        view = app.view("deliveries")
        assert view.select(delivery)
        app.bot.mouseClick(view.ceremony_button, Qt.MouseButton.LeftButton)
        dialog = app.dialog(CeremonyDialog)
        dialog.calendar.setSelectedDate(QDate(ceremony.year, ceremony.month, ceremony.day))
        app.bot.keyClick(dialog.calendar, Qt.Key.Key_Return)  # Enter on the calendar confirms
        app.bot.waitUntil(lambda: not dialog.isVisible())
        kind, text = app.message()
        still_waiting = any(view.waiting_proxy.row_at(r)["id"] == delivery
                            for r in range(view.waiting_proxy.rowCount()))
        return kind, text, still_waiting

    kind, text, still_waiting = run_app(world.clerk, world.home, request, set_date)
    deadline = _row(world, delivery)["deadline"]
    assert _row(world, delivery)["ceremony_date"] == ceremony.isoformat()
    assert kind == "info" and ceremony.strftime("%d/%m/%Y").lstrip("0") in text
    assert f"wordt uiterlijk op {format_day(deadline, 'nl')} vernietigd" in text
    assert not still_waiting
    [entry] = [e for e in _entries(world, "ceremony.set") if e["actor"] == world.clerk and delivery in e["subject"]
               and e["outcome"] == "ok"]
    assert entry["details"]["new_date"] == ceremony.isoformat()


def test_a_later_date_is_refused_for_the_clerk_as_the_agent_decides(world: World,
                                                                     request: pytest.FixtureRequest) -> None:
    delivery = world.seed["scheduled"][0]
    before = _row(world, delivery)["ceremony_date"]
    later = date.fromisoformat(before) + timedelta(days=60)

    def move_later(app: App) -> tuple[str, str]:
        dialog = _calendar(app, delivery, later)
        app.bot.keyClicks(dialog.reason, "ceremonie uitgesteld")
        app.bot.keyClick(dialog.reason, Qt.Key.Key_Return)
        app.bot.waitUntil(lambda: app.window.message.kind == "error")
        return app.message()

    kind, text = run_app(world.clerk, world.home, request, move_later)
    assert kind == "error" and text == refusal_text(world, world.clerk, "ceremony.extend") and no_operation_code(text)
    assert "Jan De Wit" in text, "the refusal names the privacy officer"
    assert _row(world, delivery)["ceremony_date"] == before
    assert any(e["actor"] == world.clerk and e["outcome"] == "denied" for e in _entries(world, "ceremony.extend"))


# ---- open with a purpose -------------------------------------------------------------------------------------


def test_open_with_a_purpose_gives_the_user_a_tracked_copy(world: World, request: pytest.FixtureRequest) -> None:
    delivery = world.seed["needs_date"][0]

    def open_it(app: App) -> tuple[str, list[str], bool, bytes]:
        view = app.view("deliveries")
        assert view.select(delivery)
        app.bot.mouseClick(view.open_button, Qt.MouseButton.LeftButton)
        dialog = app.dialog(OpenDialog)
        dialog.purpose_box.setCurrentIndex(dialog.purpose_box.findData("other"))
        other_without_note = dialog.ok.isEnabled()
        dialog.purpose_box.setCurrentIndex(dialog.purpose_box.findData("phone"))
        app.bot.keyClick(dialog.purpose_box, Qt.Key.Key_Return)
        app.bot.waitUntil(lambda: bool(app.launched))
        copy = app.launched[0]
        return app.message()[1], [str(p) for p in app.launched], other_without_note, copy.read_bytes()

    text, launched, other_without_note, content = run_app(world.clerk, world.home, request, open_it)
    assert not other_without_note, "'something else' needs a note before OK is possible"
    assert text.startswith("Geopende kopie: ") and "automatisch gewist" in text
    assert len(launched) == 1 and delivery in launched[0]
    assert content == synthetic_delivery(1), "the copy the clerk's app read (as the clerk) is the delivery"
    [opened] = [e for e in _entries(world, "delivery.opened") if e["actor"] == world.clerk]
    assert opened["details"]["purpose"] == "phone" and opened["subject"] == [delivery]


# ---- add a file ------------------------------------------------------------------------------------------------


def test_dropped_files_are_read_as_the_user_then_removed_as_ingest_does(world: World,
                                                                         request: pytest.FixtureRequest) -> None:
    entry = pwd.getpwnam(world.clerk)
    folder = Path(entry.pw_dir) / "Downloads"
    folder.mkdir(exist_ok=True)
    plain, linked, link = folder / "agii-november.zip", folder / "agii-december.zip", folder / "second-name"
    plain.write_bytes(synthetic_delivery(21))
    linked.write_bytes(synthetic_delivery(23))
    os.link(linked, link)  # a file with another name is removed, not overwritten (that would wipe the other)
    secret = Path(entry.pw_dir) / "not-mine.zip"  # root's, unreadable for the clerk (the agent could read it)
    secret.write_bytes(synthetic_delivery(22))
    secret.chmod(0o600)
    for path in (folder, plain, linked):
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def drop(app: App) -> tuple[str, str]:
        view = app.view("deliveries")
        data = QMimeData()
        data.setUrls([QUrl.fromLocalFile(str(p)) for p in (plain, linked, secret)])
        event = QDropEvent(QPoint(20, 20), Qt.DropAction.CopyAction, data, Qt.MouseButton.NoButton,
                           Qt.KeyboardModifier.NoModifier)
        view.dropEvent(event)
        return app.message()

    kind, text = run_app(world.clerk, world.home, request, drop)
    assert kind == "error"  # one of the three could not be read
    first, second, third = text.split("\n", 2)
    assert first.startswith(f"{plain}: in de kluis als ") and first.endswith("het bronbestand werd verwijderd.")
    assert "kon niet eerst overschreven worden" in second and "bewijs van vernietiging" in second
    assert not plain.exists() and not linked.exists() and link.read_bytes() == synthetic_delivery(23)
    assert third.startswith(SourceUnreadableError(file=str(secret), problem="Permission denied").render("nl")[:40])
    assert secret.exists()
    added = [e for e in _entries(world, "delivery.received") if e["actor"] == world.clerk]
    assert len(added) == 2


# ---- destroy early ---------------------------------------------------------------------------------------------


def test_early_destruction_needs_the_role_a_reason_the_agents_yes_and_then_the_typed_id(
        world: World, request: pytest.FixtureRequest) -> None:
    delivery = _fresh_delivery(world, 12)

    def clerk(app: App) -> bool:
        return bool(app.view("deliveries").destroy_button.isVisible())

    assert run_app(world.clerk, world.home, request, clerk) is False

    def officer(app: App) -> list[Any]:
        view = app.view("deliveries")
        view.search.setText(delivery[-6:])
        assert view.select(delivery)
        view.ask_destroy()
        dialog = app.dialog(DestroyDialog)
        steps: list[Any] = [dialog.ok.isEnabled(), dialog.confirmation.isVisible()]  # first the reason only
        app.bot.keyClicks(dialog.reason, "dubbel ontvangen")
        steps.append(dialog.ok.isEnabled())
        app.bot.keyClick(dialog.reason, Qt.Key.Key_Return)  # "Verder": the agent's dry run
        app.bot.waitUntil(lambda: dialog.confirmation.isVisible())
        steps += [dialog.reason.isReadOnly(), dialog.ok.isEnabled()]
        app.bot.keyClicks(dialog.confirmation, delivery[:-1])
        steps.append(dialog.ok.isEnabled())
        app.bot.keyClick(dialog.confirmation, Qt.Key.Key_Return)  # the default button is Cancel now: nothing happens
        app.bot.waitUntil(lambda: not dialog.isVisible())
        steps.append(_row(world, delivery)["state"])
        view.ask_destroy()
        dialog = app.dialog(DestroyDialog)
        app.bot.keyClicks(dialog.reason, "dubbel ontvangen")
        app.bot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
        app.bot.waitUntil(lambda: dialog.confirmation.isVisible())
        app.bot.keyClicks(dialog.confirmation, delivery)
        steps.append(dialog.ok.isEnabled())
        app.bot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
        app.bot.waitUntil(lambda: app.window.message.isVisible(), timeout=30000)
        return [*steps, app.message()]

    *steps, (kind, text) = run_app(world.officer, world.home, request, officer)
    assert steps == [False, False, True, True, False, False, "vaulted", True]
    assert kind == "info" and text.startswith(f"{delivery} werd vernietigd op "), text
    assert _row(world, delivery)["state"] == "purged"
    assert any(p["delivery"] == delivery for p in pages(world.agent.home, "proof.list", "proofs"))
    dry_runs = [e for e in _entries(world, "purge.early") if e["actor"] == world.officer and delivery in e["subject"]]
    assert len(dry_runs) == 3, "two dry runs (one cancelled at the typed id) and the destruction, each audited"


def test_a_hold_refuses_the_destruction_before_anyone_types_the_id(world: World,
                                                                   request: pytest.FixtureRequest) -> None:
    held = world.seed["held"]

    def officer(app: App) -> tuple[bool, str, str]:
        view = app.view("deliveries")
        assert view.select(held)
        view.ask_destroy()
        dialog = app.dialog(DestroyDialog)
        app.bot.keyClicks(dialog.reason, "dubbel ontvangen")
        app.bot.keyClick(dialog.reason, Qt.Key.Key_Return)
        app.bot.waitUntil(lambda: not dialog.isVisible())
        return dialog.confirming, *app.message()

    confirming, kind, text = run_app(world.officer, world.home, request, officer)
    assert not confirming, "the typed confirmation was never asked"
    assert kind == "error" and text.startswith(f"Levering {held} valt onder een juridische blokkering"), text
    assert _row(world, held)["state"] == "held"


# ---- a ceremony date that destroys ------------------------------------------------------------------------------


def test_a_date_that_would_destroy_is_refused_to_the_clerk_without_asking_for_a_confirmation(
        world: World, request: pytest.FixtureRequest) -> None:
    delivery = world.old[0]
    long_ago = brussels_today() - timedelta(days=40)  # after the receipt; its month is over: due at once

    def clerk(app: App) -> tuple[str, str, bool]:
        dialog = _calendar(app, delivery, long_ago)
        app.bot.keyClicks(dialog.reason, "ceremonie was al")
        app.bot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
        app.bot.waitUntil(lambda: app.window.message.kind == "error")
        asked = any(d.isVisible() for d in app.window.findChildren(DestroyDialog))
        return *app.message(), asked

    kind, text, asked = run_app(world.clerk, world.home, request, clerk)
    assert not asked
    assert kind == "error" and text == refusal_text(world, world.clerk, "ceremony.early") and no_operation_code(text)
    assert "meteen vernietigd wordt" in text and "de rol destroy" in text, text
    assert _row(world, delivery)["ceremony_date"] is None and _row(world, delivery)["state"] == "vaulted"


def test_a_date_that_destroys_is_confirmed_by_the_destroyer_after_the_agents_dry_run(
        world: World, request: pytest.FixtureRequest) -> None:
    delivery = world.old[1]
    long_ago = brussels_today() - timedelta(days=40)

    def officer(app: App) -> dict[str, Any]:
        calendar = _calendar(app, delivery, long_ago)
        app.bot.mouseClick(calendar.ok, Qt.MouseButton.LeftButton)  # no reason yet: the agent asks for one
        seen: dict[str, Any] = {"problem": calendar.problem.text(), "still_open": calendar.isVisible()}
        app.bot.keyClicks(calendar.reason, "ceremonie was al in oktober")
        app.bot.mouseClick(calendar.ok, Qt.MouseButton.LeftButton)
        confirm = app.dialog(DestroyDialog)
        seen |= {"calendar_closed": not calendar.isVisible(), "confirming": confirm.confirming,
                 "reason": confirm.reason.text(), "ok_before": confirm.ok.isEnabled(),
                 "texts": [label.text() for label in confirm.findChildren(QLabel)]}
        seen["state_before"] = _row(world, delivery)["state"]
        app.bot.keyClicks(confirm.confirmation, delivery)
        app.bot.mouseClick(confirm.ok, Qt.MouseButton.LeftButton)
        app.bot.waitUntil(lambda: app.window.message.isVisible(), timeout=30000)
        seen["message"] = app.message()
        return seen

    seen = run_app(world.officer, world.home, request, officer)
    assert seen["still_open"] and seen["problem"].startswith("Voor deze wijziging is een reden nodig."), seen["problem"]
    assert seen["calendar_closed"] and seen["confirming"] and seen["reason"] == "ceremonie was al in oktober"
    assert not seen["ok_before"] and seen["state_before"] == "vaulted"
    assert any("vernietigt de levering nu (ceremonie achteraf geregistreerd)" in t for t in seen["texts"]), seen
    kind, text = seen["message"]
    assert kind == "info" and "; de levering is vernietigd, bewijs van vernietiging: " in text, text
    assert _row(world, delivery)["state"] == "purged"
    [proof] = [p for p in pages(world.agent.home, "proof.list", "proofs") if p["delivery"] == delivery]
    assert proof["trigger"] == "early"


# ---- quarantine ----------------------------------------------------------------------------------------------


def test_a_quarantined_file_is_opened_only_by_the_officer_who_releases_it(world: World,
                                                                          request: pytest.FixtureRequest) -> None:
    delivery = world.quarantined

    def clerk(app: App) -> tuple[bool, str, str]:
        view = app.view("deliveries")
        view.state_choice.setCurrentIndex(view.state_choice.findData("quarantined"))
        assert view.select(delivery)
        view.ask_open()
        dialog = app.dialog(OpenDialog)
        app.bot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
        app.bot.waitUntil(lambda: app.window.message.kind == "error")
        return view.release_button.isVisible(), *app.message()

    release_shown, kind, text = run_app(world.clerk, world.home, request, clerk)
    assert not release_shown and kind == "error"
    assert text == refusal_text(world, world.clerk, "open.quarantined") and no_operation_code(text)
    assert "Jan De Wit" in text

    def officer(app: App) -> tuple[bool, str, str]:
        view = app.view("deliveries")
        view.state_choice.setCurrentIndex(view.state_choice.findData("quarantined"))
        assert view.select(delivery)
        app.bot.mouseClick(view.release_button, Qt.MouseButton.LeftButton)
        dialog = app.dialog(ReleaseDialog)
        without_reason = dialog.ok.isEnabled()
        app.bot.keyClicks(dialog.reason, "nieuw bestandsformaat van AgII")
        app.bot.keyClick(dialog.reason, Qt.Key.Key_Return)
        app.bot.waitUntil(lambda: app.window.message.kind == "info")
        return without_reason, *app.message()

    without_reason, kind, text = run_app(world.officer, world.home, request, officer)
    assert not without_reason and kind == "info"
    assert text.startswith(f"{delivery} is uit quarantaine vrijgegeven: nu een gewone levering"), text
    assert _row(world, delivery)["state"] == "vaulted"
    [entry] = _entries(world, "quarantine.released")
    assert entry["actor"] == world.officer and entry["subject"] == [delivery]


# ---- the officer's views --------------------------------------------------------------------------------------


def test_the_officer_exports_a_proof_that_ssh_keygen_accepts(world: World, request: pytest.FixtureRequest,
                                                             require_ssh_keygen: None) -> None:
    delivery = world.seed["destroyed"]
    entry = pwd.getpwnam(world.officer)
    folder = Path(entry.pw_dir) / "voor-de-dpo"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chown(folder, entry.pw_uid, entry.pw_gid)

    def export(app: App) -> str:
        view = app.view("proofs")
        proxy = view.proxy
        row = next(r for r in range(proxy.rowCount()) if proxy.row_at(r)["delivery"] == delivery)
        view.view.selectRow(row)
        app.bot.mouseClick(view.export_button, Qt.MouseButton.LeftButton)
        app.choose_folder(folder)
        app.bot.waitUntil(lambda: "allowed_signers" in app.window.message.text())
        return app.message()[1]

    text = run_app(world.officer, world.home, request, export)
    assert text.count("Geschreven: ") == 4
    assert all(p.stat().st_uid == entry.pw_uid for p in folder.iterdir())
    identity = api(world.agent.home, "keys.public")["identity"]
    with open(folder / f"{delivery}.json", "rb") as data:
        done = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(folder / "allowed_signers"), "-I", identity,
                               "-n", "deletion-proof", "-s", str(folder / f"{delivery}.json.sig")],
                              stdin=data, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_audit_filters_and_the_verify_button(world: World, request: pytest.FixtureRequest) -> None:
    def audit(app: App) -> dict[str, Any]:
        view = app.view("audit")
        total = view.proxy.rowCount()
        seqs = [view.proxy.row_at(r)["seq"] for r in range(view.proxy.rowCount())]
        view.account.setCurrentIndex(view.account.findData(ME))
        view.purpose.setCurrentIndex(view.purpose.findData("invite"))
        opened = [view.proxy.row_at(r) for r in range(view.proxy.rowCount())]
        view.purpose.setCurrentIndex(0)
        view.account.setCurrentIndex(0)
        view.outcome.setCurrentIndex(view.outcome.findData("denied"))
        denied = {view.proxy.row_at(r)["actor"] for r in range(view.proxy.rowCount())}
        view.outcome.setCurrentIndex(0)
        app.bot.keyClicks(view.delivery, world.seed["held"][-8:])
        subjects = [view.proxy.row_at(r)["subject"] for r in range(view.proxy.rowCount())]
        view.period.setChecked(True)
        today = brussels_today()  # the agent's days are Brussels days, not the test machine's
        view.since.setDate(QDate(today.year, today.month, today.day).addDays(1))
        view.until.setDate(QDate(today.year, today.month, today.day).addDays(2))
        tomorrow = view.proxy.rowCount()
        app.bot.mouseClick(view.verify_button, Qt.MouseButton.LeftButton)
        return {"total": total, "seqs": seqs, "opened": opened, "denied": denied, "subjects": subjects,
                "tomorrow": tomorrow, "message": app.message(), "what": view.model.index(0, 2).data()}

    seen = run_app(world.officer, world.home, request, audit)
    assert seen["total"] > 20 and seen["seqs"] == sorted(seen["seqs"], reverse=True), "newest first"
    assert seen["opened"] and all(e["actor"] == ME and e["details"].get("purpose") == "invite" for e in seen["opened"])
    assert world.clerk in seen["denied"], "the refused later date of the clerk is there"
    assert seen["subjects"] and all(world.seed["held"] in s for s in seen["subjects"])
    assert seen["tomorrow"] == 0
    kind, text = seen["message"]
    assert kind == "info" and text.startswith("Auditlog gecontroleerd: "), text


def test_staff_changes_follow_the_agents_rules(world: World, request: pytest.FixtureRequest) -> None:
    def staff(app: App) -> list[tuple[str, str]]:
        view = app.view("staff")
        said = []
        view.ask_add()
        dialog = app.dialog(StaffDialog)
        app.bot.keyClicks(dialog.account, "geen-account-zo")
        app.bot.keyClicks(dialog.name, "Niemand")
        dialog.roles["read"].setChecked(True)
        app.bot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
        said.append(app.message())
        view.view.clearSelection()
        view.ask_add()
        dialog = app.dialog(StaffDialog)
        app.bot.keyClicks(dialog.account, world.outsider)
        app.bot.keyClicks(dialog.name, "Sara Janssens")
        dialog.roles["read"].setChecked(True)
        app.bot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
        said.append(app.message())
        proxy = view.proxy
        row = next(r for r in range(proxy.rowCount()) if proxy.row_at(r)["account"] == world.outsider)
        view.view.selectRow(row)
        view.remove_selected()
        said.append(app.message())
        return said

    unknown, added, removed = run_app(world.officer, world.home, request, staff)
    assert unknown == ("error", UnknownAccountError(account="geen-account-zo").render("nl"))
    assert added == ("info", f"{world.outsider} staat op de lijst van gemachtigden.")
    assert removed[0] == "info" and world.outsider in removed[1]
    assert world.outsider not in {m["account"] for m in api(world.agent.home, "staff.list")}


def test_status_and_reports(world: World, request: pytest.FixtureRequest) -> None:
    entry = pwd.getpwnam(world.officer)
    folder = Path(entry.pw_dir) / "rapporten"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chown(folder, entry.pw_uid, entry.pw_gid)

    def officer(app: App) -> dict[str, Any]:
        status = app.view("status").page.toPlainText()
        reports = app.view("reports")
        names = [reports.proxy.row_at(r)["name"] for r in range(reports.proxy.rowCount())]
        reports.format.setCurrentIndex(reports.format.findData("json"))
        reports.ask_export()
        app.choose_folder(folder)
        app.bot.waitUntil(lambda: "Geschreven" in app.window.message.text())
        return {"status": status, "names": names, "export": app.message()}

    seen = run_app(world.officer, world.home, request, officer)
    assert seen["status"].startswith("In orde: NEE")
    assert "Voorwaarden van de beraadslaging" in seen["status"] and "brief 2026/33" in seen["status"]
    assert world.seed["report"] in seen["names"]
    written = sorted(p.name for p in folder.iterdir())
    assert len(written) == 2 and written[0].endswith(".json") and written[1].endswith(".json.sig")


def test_reports_are_sent_to_a_real_mail_server_and_viewed_as_the_agent_made_them(
        world: World, request: pytest.FixtureRequest, require_ssh_keygen: None) -> None:
    period = brussels_today().strftime("%Y-%m")  # this month: an interim report, sent only when asked
    before = len(world.smtp.received)

    def officer(app: App) -> dict[str, Any]:
        reports = app.view("reports")
        app.bot.keyClicks(reports.period, period)
        send = next(b for b in reports.findChildren(QAbstractButton) if b.text() == "Verst&uren")
        view = next(b for b in reports.findChildren(QAbstractButton) if b.text() == "B&ekijken")
        app.bot.mouseClick(send, Qt.MouseButton.LeftButton)
        app.bot.waitUntil(lambda: app.window.message.isVisible())
        sent = app.message()
        app.bot.mouseClick(view, Qt.MouseButton.LeftButton)
        app.bot.waitUntil(lambda: bool(app.launched))
        opened = app.launched[0]
        return {"sent": sent, "viewed": app.message(), "opened": str(opened), "pdf": opened.read_bytes(),
                "owner": opened.stat().st_uid, "mode": opened.parent.stat().st_mode & 0o777}

    seen = run_app(world.officer, world.home, request, officer)
    assert seen["sent"] == ("info", "Per e-mail verstuurd naar de ingestelde adressen.")
    [mail] = world.smtp.received[before:]
    assert sorted(mail.rcpt_tos) == ["dpo@regio.example", "privacy@de-panne.example"] and mail.authenticated
    attachments = mail.attachments()
    [name] = [n for n in attachments if n.endswith(".json")]
    signed = attachments[name]
    folder = world.home.root.parent / "dpo-check"
    folder.mkdir()
    (folder / "allowed_signers").write_text(api(world.agent.home, "keys.public")["allowed_signers"] + "\n")
    (folder / "report.json.sig").write_bytes(attachments[name + ".sig"])
    (folder / "report.json").write_bytes(signed)
    identity = api(world.agent.home, "keys.public")["identity"]
    with (folder / "report.json").open("rb") as data:
        checked = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(folder / "allowed_signers"), "-I", identity,
                                  "-n", "dpo-report", "-s", str(folder / "report.json.sig")],
                                 stdin=data, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    # "View" opened (through the operating system's opener, intercepted in tests/support/app.py) the PDF that the
    # agent made together with the report it signed and sent: the very bytes in its home, a copy of the officer's
    opened = Path(seen["opened"])
    assert opened.name == name.replace(".json", ".pdf"), "the PDF of the report that was signed and sent"
    assert seen["pdf"].startswith(b"%PDF-") and seen["pdf"] == (world.home.reports / opened.name).read_bytes()
    assert seen["owner"] == pwd.getpwnam(world.officer).pw_uid and seen["mode"] == 0o700
    assert seen["viewed"] == ("info", f"Geschreven: {seen['opened']}")


# ---- tray, language, keyboard, accessibility ---------------------------------------------------------------


def test_the_tray_shows_each_notification_once_and_counts_the_waiting_deliveries(
        world: World, request: pytest.FixtureRequest) -> None:
    earlier = _dropped(world, 15)

    def tray(app: App) -> dict[str, Any]:
        app.window.tray.sweep_every = None  # notifications only (the sweep for copies has its own test)
        first = app.window.tray.poll()  # everything since the start: each shown once
        (world.inbox / "agii-tray.zip").write_bytes(synthetic_delivery(13))  # dropped by the clerk
        wait_for(lambda: app.window.tray.poll() > 0, 20, "the arrival notification")
        delivery = next(r["id"] for r in all_deliveries(world.agent.home)
                        if r["channel"] == "folder" and r["id"] != earlier)
        again = app.window.tray.poll()
        waiting = app.view("deliveries").waiting_proxy.rowCount()
        return {"first": first, "again": again, "toasts": app.toasts, "delivery": delivery,
                "badge": app.window.tray.badge, "waiting": waiting}

    seen = run_app(world.clerk, world.home, request, tray)
    texts = [text for _title, text in seen["toasts"]]
    assert seen["again"] == 0
    assert len(texts) == len(set(texts)) == seen["first"] + 1
    assert f"Levering {seen['delivery']} is aangekomen en zit in de kluis." in texts
    assert f"Levering {earlier} is aangekomen en zit in de kluis." in texts
    assert seen["badge"] == seen["waiting"] >= 3


def test_each_notification_is_shown_once_by_the_app_and_never_by_the_agent(
        world: World, request: pytest.FixtureRequest) -> None:
    """Per-user mode: the agent runs as the very account whose app is in the tray (here root, as the test's agent),
    in a session with a display and a notify-send. The app shows each notification; the agent shows none."""

    def tray(app: App) -> tuple[str, list[str], int]:
        app.window.tray.sweep_every = None  # root's own folders are not the test's to sweep
        app.window.tray.poll()  # what came before
        app.toasts.clear()
        arrived = _dropped(world, 16)
        wait_for(lambda: app.window.tray.poll() > 0, 20, "the arrival notification")
        return arrived, [text for _title, text in app.toasts], app.window.tray.poll()

    arrived, texts, again = run_app(ME, world.home, request, tray)
    assert texts.count(f"Levering {arrived} is aangekomen en zit in de kluis.") == 1 and again == 0
    assert not world.agent_toasts.exists(), world.agent_toasts.read_text()


def test_the_tray_sweeps_for_copies_and_erases_them_when_the_delivery_is_purged(
        world: World, request: pytest.FixtureRequest) -> None:
    """Shared mode: the app the logon starts replaces the notifier, so it sweeps the account's folders for copies
    (with the account's rights) and erases them as soon as the agent says the delivery's purge began."""
    delivery = _fresh_delivery(world, 50)
    entry = pwd.getpwnam(world.clerk)
    downloads = Path(entry.pw_dir) / "Downloads"
    downloads.mkdir(exist_ok=True)
    copy = downloads / "lijst voor de drukker.zip"
    copy.write_bytes(synthetic_delivery(50))
    for path in (downloads, copy):
        os.chown(path, entry.pw_uid, entry.pw_gid)

    def sweep(app: App) -> list[str]:
        app.window.tray.poll()
        app.bot.waitUntil(lambda: any(delivery in text for _title, text in app.toasts), timeout=30000)
        return [text for _title, text in app.toasts if delivery in text]

    [found] = run_app(world.clerk, world.home, request, sweep)
    assert found.startswith(f"Kopieën van levering {delivery} op deze computer: ") and "drukker" in found
    assert copy.exists()
    api(world.agent.home, "purge.one", {"delivery": delivery, "reason": "dubbel ontvangen"})

    def erase(app: App) -> list[str]:
        app.window.tray.poll()  # the agent answers that this account has copies to erase: a sweep at once
        app.bot.waitUntil(lambda: any("gewist" in text for _title, text in app.toasts), timeout=30000)
        return [text for _title, text in app.toasts if delivery in text]

    erased = run_app(world.clerk, world.home, request, erase)
    assert f"1 kopie van de vernietigde levering {delivery} is van deze computer gewist." in erased
    assert not copy.exists()


def test_english_on_request(world: World, request: pytest.FixtureRequest) -> None:
    def english(app: App) -> tuple[list[str], list[str]]:
        app.window.set_language("en")
        tabs = [app.window.tabs.tabText(i).replace("&", "") for i in range(app.window.tabs.count())]
        view = app.view("deliveries")
        return tabs, view.model.table.headers("en")

    tabs, headers = run_app(world.clerk, world.home, request, english)
    assert tabs == ["Deliveries", "Timeline"]
    assert headers[:3] == ["Delivery", "Received", "Source"]


def test_keyboard_only_from_the_list_to_a_recorded_date(world: World, request: pytest.FixtureRequest) -> None:
    delivery = _fresh_delivery(world, 14)
    alt, tab = Qt.KeyboardModifier.AltModifier, Qt.Key.Key_Tab

    def keyboard(app: App) -> list[str]:
        view = app.view("deliveries")
        focus: list[str] = []
        app.press(Qt.Key.Key_Z, alt)  # "&Zoeken": the search field
        focus.append(type(QApplication.focusWidget()).__name__)
        app.type(delivery[-10:])
        app.press(tab)  # Tab leaves the field for the list below it
        focus.append(type(QApplication.focusWidget()).__name__)
        view.waiting.setFocus()  # the group on top (Shift+Tab from the buttons gets there as well)
        app.press(Qt.Key.Key_Home)
        for _ in range(view.waiting_proxy.rowCount()):
            if view.selected_ids() == [delivery]:
                break
            app.press(Qt.Key.Key_Down)
        focus.append(type(QApplication.focusWidget()).__name__)
        assert view.selected_ids() == [delivery], (view.selected_ids(), QApplication.focusWidget())
        app.press(Qt.Key.Key_D, alt)  # "Ceremonie&datum…"
        dialog = app.dialog(CeremonyDialog)
        app.press(Qt.Key.Key_Right, window=dialog)  # tomorrow, on the calendar that has the focus
        app.press(Qt.Key.Key_Return, window=dialog)
        app.bot.waitUntil(lambda: not dialog.isVisible())
        assert view.select(delivery)  # now in the lower list, with its date
        app.press(Qt.Key.Key_P, alt)  # "O&penen…"
        dialog = app.dialog(OpenDialog)
        app.press(Qt.Key.Key_Escape, window=dialog)  # Escape cancels: nothing is opened
        app.bot.waitUntil(lambda: not dialog.isVisible())
        return focus

    focus = run_app(world.clerk, world.home, request, keyboard)
    assert focus == ["QLineEdit", "QTableView", "QTableView"]
    tomorrow = brussels_today() + timedelta(days=1)
    assert _row(world, delivery)["ceremony_date"] == tomorrow.isoformat()
    assert not [e for e in _entries(world, "delivery.opened") if e["subject"] == [delivery]]


def _unnamed(root: QWidget) -> list[str]:
    controls = (QAbstractButton, QLineEdit, QComboBox)
    missing = []
    for widget in visible_widgets(root):
        if not isinstance(widget, controls) and type(widget).__name__ not in (
                "QTableView", "QCalendarWidget", "QDateEdit", "QTextBrowser", "TimelineCanvas", "QTabWidget"):
            continue
        if widget.parent() is not None and type(widget.parent()).__name__ in ("QCalendarWidget", "QDateEdit",
                                                                             "QComboBox"):
            continue  # parts of a composite control, named by it
        accessible = QAccessible.queryAccessibleInterface(widget)
        name = accessible.text(QAccessible.Text.Name) if accessible else ""
        if not name.strip():
            missing.append(f"{type(widget).__name__} {widget.objectName()!r}")
    return missing


def test_every_control_has_an_accessible_name(world: World, request: pytest.FixtureRequest) -> None:
    def walk(app: App) -> list[str]:
        missing = []
        for key in list(app.window.views):
            missing += [f"{key}: {m}" for m in _unnamed(app.view(key))]
        view = app.view("deliveries")
        assert view.select(world.seed["scheduled"][1])
        for ask, kind in ((view.ask_ceremony, CeremonyDialog), (view.ask_open, OpenDialog),
                          (view.ask_destroy, DestroyDialog), (view.ask_release, ReleaseDialog)):
            ask()
            dialog = app.dialog(kind)
            missing += [f"{kind.__name__}: {m}" for m in _unnamed(dialog)]
            dialog.reject()
        staff = app.view("staff")
        staff.ask_add()
        dialog = app.dialog(StaffDialog)
        missing += [f"StaffDialog: {m}" for m in _unnamed(dialog)]
        dialog.reject()
        return missing

    assert run_app(world.officer, world.home, request, walk) == []
