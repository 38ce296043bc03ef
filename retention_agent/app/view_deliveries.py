"""Leveringen: every delivery, with the ones that need a ceremony date in a group on top; add a file (chooser
or drag and drop), set the ceremony date on a calendar, open with a purpose, destroy early, release a file from
quarantine (privacy officer).

Which buttons show depends on the user's roles (``roles.py``); what happens is decided by the agent, and its
answer — a confirmation or a refusal — is shown in the message bar as the agent sent it. Whatever can destroy
a delivery (a ceremony date that makes it due now, an early destruction) is first asked of the agent as a dry
run: only when the agent says it would do it is the person asked to type the delivery id; anyone else sees the
agent's refusal, which says who may do it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from retention_agent.app import qt_support
from retention_agent.app import roles as role_rules
from retention_agent.app.dialogs import CeremonyDialog, DestroyDialog, OpenDialog, ReleaseDialog
from retention_agent.app.qt_models import FilterProxy, TableModel
from retention_agent.app.qt_support import MessageBar, named, table_view
from retention_agent.app.rows import STATE_CHOICES, DeliveryFilter, Row, deliveries_table, needs_ceremony_date
from retention_agent.app.session import Session
from retention_agent.errors import (
    CeremonyBeforeReceiptError,
    CeremonyBeyondMaximumError,
    DateFormatError,
    ReasonRequiredError,
    RetentionAgentError,
)
from retention_agent.i18n.catalogue import format_day, format_moment, translate
from retention_agent.i18n.msgids import N_

# what a ceremony date that makes a delivery due now does, as the agent's dry run said it (the command line's words)
EARLY_BY_DATE = {
    True: N_("{delivery}: with the ceremony date {ceremony_date} its deadline is {deadline}: recording it destroys "
             "the delivery now (ceremony recorded after the fact)."),
    False: N_("{delivery}: with the ceremony date {ceremony_date} its deadline is {deadline}, within 24 hours: "
              "recording it destroys the delivery now."),
}
# answers of a dry run the person can put right in the calendar dialog itself
FIXABLE_IN_DIALOG = (ReasonRequiredError, CeremonyBeforeReceiptError, CeremonyBeyondMaximumError, DateFormatError)


class DeliveriesView(QWidget):
    def __init__(self, session: Session, roles: frozenset[str], message: MessageBar, lang: str,
                 today: Callable[[], date], on_change: Callable[[], None]) -> None:
        super().__init__()
        self.session, self.lang, self.message, self.today = session, lang, message, today
        self.on_change = on_change
        self.allowed = role_rules.delivery_actions(roles)
        self.rows: list[Row] = []
        self.dialog: Any = None
        self.setAcceptDrops(self.allowed["add"])
        named(self, N_("Deliveries"), lang=lang)
        layout = QVBoxLayout(self)
        layout.addLayout(self._actions())
        self.model = TableModel(deliveries_table(today()), lang)
        self.waiting_proxy = FilterProxy(self.model, needs_ceremony_date)
        self.other_proxy = FilterProxy(self.model, self._shown)
        self.waiting = table_view(self.waiting_proxy, N_("Deliveries that need a ceremony date"), lang)
        self.others = table_view(self.other_proxy, N_("Deliveries"), lang)
        self.current: QTableView = self.waiting
        for view in (self.waiting, self.others):
            view.doubleClicked.connect(lambda _i, v=view: self._use(v))
            view.clicked.connect(lambda _i, v=view: self._use(v))
        self.waiting_box = QGroupBox()
        QVBoxLayout(self.waiting_box).addWidget(self.waiting)
        self.others_box = QGroupBox(self.tr_("Deliveries"))
        box_layout = QVBoxLayout(self.others_box)
        box_layout.addLayout(self._filters())
        box_layout.addWidget(self.others)
        self.hidden_list = QLabel(self.tr_("Your roles let you add files, not see the list of deliveries."))
        layout.addWidget(self.hidden_list)
        layout.addWidget(self.waiting_box, 2)
        layout.addWidget(self.others_box, 3)
        self.hidden_list.setVisible(not self.allowed["list"])
        self.waiting_box.setVisible(self.allowed["list"])
        self.others_box.setVisible(self.allowed["list"])
        self._update_counts()

    def tr_(self, text: str) -> str:
        return translate(text, self.lang)

    # ---- building ---------------------------------------------------------------------------------------

    def _button(self, text: str, description: str, slot: Callable[[], None], *,
                allowed: bool) -> QPushButton:
        button = named(QPushButton(self.tr_(text)), text, description, self.lang)
        button.clicked.connect(slot)
        button.setVisible(allowed)
        return button

    def _actions(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.add_button = self._button(N_("Add f&ile…"),
                                       N_("Put a file you received into the vault (or drop it here)."),
                                       self.choose_files, allowed=self.allowed["add"])
        listed = self.allowed["list"]
        self.ceremony_button = self._button(N_("Cere&mony date…"), N_("Record the date of the ceremony."),
                                            self.ask_ceremony, allowed=self.allowed["ceremony"] and listed)
        self.open_button = self._button(N_("&Open…"), N_("Open the selected delivery for a purpose."),
                                        self.ask_open, allowed=self.allowed["open"] and self.allowed["list"])
        self.destroy_button = self._button(N_("Destroy &early…"),
                                           N_("Destroy the selected delivery before its deadline."),
                                           self.ask_destroy, allowed=self.allowed["destroy"] and self.allowed["list"])
        self.release_button = self._button(N_("Release from &quarantine…"),
                                           N_("Make the selected quarantined file an ordinary delivery."),
                                           self.ask_release, allowed=self.allowed["release"] and listed)
        for widget in (self.add_button, self.ceremony_button, self.open_button, self.destroy_button,
                       self.release_button):
            row.addWidget(widget)
        row.addStretch(1)
        return row

    def _filters(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.state_choice = QComboBox()
        for code, text in STATE_CHOICES:
            self.state_choice.addItem(self.tr_(text), code)
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.tr_("part of a delivery id"))
        for label, widget in ((N_("Sho&w"), self.state_choice), (N_("Searc&h"), self.search)):
            caption = QLabel(self.tr_(label))
            caption.setBuddy(widget)
            named(widget, label, lang=self.lang)
            row.addWidget(caption)
            row.addWidget(widget)
        row.addStretch(1)
        self.state_choice.currentIndexChanged.connect(self._refilter)
        self.search.textChanged.connect(self._refilter)
        return row

    def _shown(self, row: Row) -> bool:
        if needs_ceremony_date(row):
            return False
        choice = DeliveryFilter(str(self.state_choice.currentData() or "live"), self.search.text())
        return choice.matches(row)

    def _refilter(self) -> None:
        self.other_proxy.set_filter(self._shown)
        self._update_counts()

    def _update_counts(self) -> None:
        waiting = self.waiting_proxy.rowCount()
        self.waiting_box.setTitle(self.tr_("Needs a ceremony date ({count})").format(count=waiting))
        named(self.waiting_box, self.waiting_box.title(), lang=self.lang)

    # ---- data -------------------------------------------------------------------------------------------

    def refresh(self) -> None:
        if not self.allowed["list"]:
            return
        try:
            self.rows = self.session.deliveries()
        except RetentionAgentError as exc:
            self.message.fail(exc, self.lang)
            return
        self.model.set_rows(self.rows, deliveries_table(self.today()))
        for view in (self.waiting, self.others):
            header = view.horizontalHeader()
            view.sortByColumn(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self._update_counts()

    def _use(self, view: QTableView) -> None:
        self.current = view

    def selected_ids(self) -> list[str]:
        for view in (self.current, self.others if self.current is self.waiting else self.waiting):
            proxy = view.model()
            assert isinstance(proxy, FilterProxy)
            rows = sorted({index.row() for index in view.selectionModel().selectedRows(0)})
            if rows:
                return [str(proxy.row_at(r)["id"]) for r in rows]
        return []

    def select(self, delivery: str) -> bool:
        """Select a delivery by id in whichever table shows it (for keyboard users: also the search field)."""
        for view in (self.waiting, self.others):
            proxy = view.model()
            assert isinstance(proxy, FilterProxy)
            for row in range(proxy.rowCount()):
                if proxy.row_at(row).get("id") == delivery:
                    view.selectRow(row)
                    view.setFocus()
                    self.current = view
                    return True
        return False

    def _one_selected(self) -> str | None:
        ids = self.selected_ids()
        if len(ids) != 1:
            self.message.say(self.tr_("Select one delivery first."), "error")
            return None
        return ids[0]

    # ---- adding files -----------------------------------------------------------------------------------

    def choose_files(self) -> None:
        self.dialog = QFileDialog(self, self.tr_("Add files to the vault"))
        self.dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
        self.dialog.filesSelected.connect(lambda files: self.add_files([Path(f) for f in files]))
        self.dialog.open()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if self.allowed["add"] and event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_files(paths)

    def add_files(self, paths: list[Path]) -> None:
        """Read each file with this user's permissions, stream it into the vault, then remove the source,
        overwritten first (or the delivery records why it could not be)."""
        from retention_agent.session.ingest import ingest_message

        said, failed = [], False
        for path in paths:
            try:
                result = self.session.add_file(path)
            except RetentionAgentError as exc:
                exc.params["file"] = str(path)
                said.append(exc.render(self.lang))
                failed = True
                continue
            said.append(ingest_message(path, result))
        self.message.say("\n".join(said), "error" if failed else "info")
        self.refresh()
        self.on_change()

    # ---- ceremony, open, destroy ------------------------------------------------------------------------

    def ask_ceremony(self) -> None:
        ids = self.selected_ids()
        if not ids:
            self.message.say(self.tr_("Select one or more deliveries first."), "error")
            return
        current = next((r.get("ceremony_date") for r in self.rows if r["id"] == ids[0]), None)
        dialog = CeremonyDialog(self, ids, date.fromisoformat(current) if current else None, self.today(), self.lang)
        dialog.checker = lambda: self._ceremony_checked(dialog)
        self.dialog = dialog
        dialog.open()

    def _ceremony_checked(self, dialog: CeremonyDialog) -> bool:
        """OK on the calendar: the agent's dry run decides. A reason or a date the person can correct keeps the
        dialog open with the agent's answer; a refusal closes it and shows who may do it; a date that destroys
        deliveries asks for the typed confirmation; any other date is recorded at once."""
        ids, day, reason = dialog.deliveries, dialog.day(), dialog.reason.text().strip()
        try:
            planned = self.session.set_ceremony(ids, day, reason, dry_run=True)
        except ReasonRequiredError as exc:
            dialog.say_problem(translate(exc.message, self.lang) + " "
                               + self.tr_("Write it in the field Reason, without personal data."))
            dialog.reason.setFocus()
            return False
        except FIXABLE_IN_DIALOG as exc:
            dialog.say_problem(exc.render(self.lang))
            return False
        except RetentionAgentError as exc:
            self.message.fail(exc, self.lang)
            dialog.reject()
            return False
        early = [row for row in planned if row.get("early")]
        if early:
            dialog.reject()  # the calendar closes; the confirmation of the destruction takes over
            self.ask_destroy_by_date(ids, day, reason, early)
            return False
        self.set_ceremony(ids, day, reason)
        return True

    def ask_destroy_by_date(self, ids: list[str], day: date, reason: str, early: list[Row]) -> None:
        intro = "\n".join(translate(EARLY_BY_DATE[bool(row.get("after_the_fact"))], self.lang).format(
            delivery=row["delivery"], ceremony_date=format_day(row["ceremony_date"], self.lang),
            deadline=format_day(row["deadline"], self.lang)) for row in early)
        dialog = DestroyDialog(self, [str(row["delivery"]) for row in early], self.lang, intro=intro, reason=reason)
        dialog.accepted.connect(lambda: self.set_ceremony(ids, day, reason, confirm=dialog.deliveries))
        self.dialog = dialog
        dialog.open()

    def set_ceremony(self, ids: list[str], day: date, reason: str, confirm: list[str] | None = None) -> None:
        try:
            changed = self.session.set_ceremony(ids, day, reason, confirm_destroy=confirm)
        except RetentionAgentError as exc:
            self.message.fail(exc, self.lang)
            return
        lines = []
        for row in changed:
            text = (N_("{delivery}: ceremony {ceremony_date} recorded; the delivery was destroyed, proof of deletion: "
                       "{proof}") if row.get("destroyed")
                    else N_("{delivery}: ceremony {ceremony_date}; purged on {deadline} at the latest."))
            lines.append(translate(text, self.lang).format(
                delivery=row["delivery"], ceremony_date=format_day(row["ceremony_date"], self.lang),
                deadline=format_day(row["deadline"], self.lang), proof=row.get("proof", "")))
        self.message.say("\n".join(lines))
        self.refresh()
        self.on_change()

    def ask_open(self) -> None:
        delivery = self._one_selected()
        if delivery is None:
            return
        self.dialog = OpenDialog(self, delivery, self.lang)
        self.dialog.accepted.connect(
            lambda d=self.dialog: self.open_delivery(d.delivery, d.purpose(), d.note.text().strip()))
        self.dialog.open()

    def open_delivery(self, delivery: str, purpose: str, note: str) -> None:
        try:
            result = self.session.open_copy(delivery, purpose, note)
        except RetentionAgentError as exc:
            self.message.fail(exc, self.lang)
            return
        self.message.say(translate("Opened copy: {path} (wiped automatically at {wipe_at}).", self.lang).format(
            path=result["path"], wipe_at=format_moment(result["wipe_at"], self.lang)))
        qt_support.open_with_system(Path(result["path"]))
        self.refresh()

    def ask_destroy(self) -> None:
        delivery = self._one_selected()
        if delivery is None:
            return
        dialog = DestroyDialog(self, [delivery], self.lang)
        dialog.checker = lambda: self._destroy_checked(dialog)
        self.dialog = dialog
        dialog.open()

    def _destroy_checked(self, dialog: DestroyDialog) -> bool:
        """First OK: the agent's dry run with the reason (a refusal closes the dialog and says who may do it);
        second OK, once the id is typed: the destruction."""
        delivery, reason = dialog.deliveries[0], dialog.reason.text().strip()
        if dialog.confirming:
            self.destroy_delivery(delivery, reason)
            return True
        try:
            self.session.destroy_early(delivery, reason, dry_run=True)
        except RetentionAgentError as exc:
            self.message.fail(exc, self.lang)
            dialog.reject()
            return False
        dialog.confirm()
        return False

    def destroy_delivery(self, delivery: str, reason: str) -> None:
        try:
            result = self.session.destroy_early(delivery, reason)
        except RetentionAgentError as exc:
            self.message.fail(exc, self.lang)
            return
        self.message.say(translate("{delivery} was destroyed at {at}; its signed proof of deletion is ready.",
                                   self.lang).format(delivery=delivery,
                                                     at=format_moment(result.get("purged_at"), self.lang)))
        self.refresh()
        self.on_change()

    def ask_release(self) -> None:
        delivery = self._one_selected()
        if delivery is None:
            return
        dialog = ReleaseDialog(self, delivery, self.lang)
        dialog.accepted.connect(lambda: self.release(delivery, dialog.reason.text().strip()))
        self.dialog = dialog
        dialog.open()

    def release(self, delivery: str, reason: str) -> None:
        try:
            result = self.session.release_quarantine(delivery, reason)
        except RetentionAgentError as exc:
            self.message.fail(exc, self.lang)
            return
        self.message.say(translate("{delivery} is released from quarantine: an ordinary delivery now, purged on "
                                   "{deadline} at the latest unless a ceremony date is recorded.", self.lang).format(
            delivery=delivery, deadline=format_day(result.get("deadline"), self.lang)))
        self.refresh()
        self.on_change()
