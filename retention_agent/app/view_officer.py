"""The privacy officer's views: Status, Audit (filters and a verify button), Bewijzen (export for the DPO),
Rapporten (make, view, send, export) and Medewerkers (add and remove, with the agent's own rules)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from retention_agent.app import qt_support, status_page
from retention_agent.app.audit_rows import AuditFilter, accounts_in, audit_table, newest_first
from retention_agent.app.dialogs import StaffDialog
from retention_agent.app.qt_models import FilterProxy, TableModel
from retention_agent.app.qt_support import MessageBar, named, table_view
from retention_agent.app.rows import Table, proofs_table, reports_table, staff_table
from retention_agent.app.session import Session, brussels_today
from retention_agent.errors import RetentionAgentError
from retention_agent.i18n.catalogue import fill, translate
from retention_agent.i18n.msgids import N_
from retention_agent.rules.access import PURPOSES
from retention_agent.session.words import OUTCOMES, PURPOSES_SHORT


class _OfficerView(QWidget):
    def __init__(self, session: Session, message: MessageBar, lang: str, name: str) -> None:
        super().__init__()
        self.session, self.message, self.lang = session, message, lang
        self.dialog: Any = None
        named(self, name, lang=lang)
        self.layout_ = QVBoxLayout(self)

    def tr_(self, text: str) -> str:
        return translate(text, self.lang)

    def button(self, text: str, description: str, slot: Callable[[], None]) -> QPushButton:
        button = named(QPushButton(self.tr_(text)), text, description, self.lang)
        button.clicked.connect(slot)
        return button

    def labelled(self, row: QHBoxLayout, label: str, widget: QWidget) -> None:
        caption = QLabel(self.tr_(label))
        caption.setBuddy(widget)
        named(widget, label, lang=self.lang)
        row.addWidget(caption)
        row.addWidget(widget)

    def attempt(self, action: Callable[[], Any]) -> Any:
        """Run an API call; a refusal or failure is shown in the message bar (None is returned)."""
        try:
            return action()
        except RetentionAgentError as exc:
            self.message.fail(exc, self.lang)
            return None

    def choose_folder(self, title: str, then: Callable[[Path], None]) -> None:
        self.dialog = QFileDialog(self, self.tr_(title))
        self.dialog.setFileMode(QFileDialog.FileMode.Directory)
        self.dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        self.dialog.fileSelected.connect(lambda folder: then(Path(folder)))
        self.dialog.open()

    def table(self, table: Table, name: str) -> tuple[TableModel, FilterProxy, QTableView]:
        model = TableModel(table, self.lang)
        proxy = FilterProxy(model)
        view = table_view(proxy, name, self.lang)
        return model, proxy, view

    def selected(self, view: QTableView) -> dict[str, Any] | None:
        rows = view.selectionModel().selectedRows(0)
        proxy = view.model()
        assert isinstance(proxy, FilterProxy)
        if not rows:
            self.message.say(self.tr_("Select a row first."), "error")
            return None
        return proxy.row_at(rows[0].row())


class StatusView(_OfficerView):
    def __init__(self, session: Session, message: MessageBar, lang: str) -> None:
        super().__init__(session, message, lang, N_("Status"))
        self.page = named(QTextBrowser(), N_("Status of the installation"), lang=lang)
        self.page.setOpenLinks(False)
        self.layout_.addWidget(self.page)

    def refresh(self) -> None:
        status = self.attempt(self.session.status)
        if status is not None:
            self.status = status
            self.page.setHtml(status_page.render(status, self.lang))


class AuditView(_OfficerView):
    def __init__(self, session: Session, message: MessageBar, lang: str) -> None:
        super().__init__(session, message, lang, N_("Audit"))
        self.entries: list[dict[str, Any]] = []
        self.log_size = 0
        filters = QHBoxLayout()
        self.delivery = QLineEdit()
        self.delivery.setPlaceholderText(self.tr_("part of an id"))
        self.account = QComboBox()
        self.purpose = QComboBox()
        self.purpose.addItem(self.tr_("all"), "")
        for code in PURPOSES:
            self.purpose.addItem(self.tr_(PURPOSES_SHORT[code]), code)
        self.outcome = QComboBox()
        self.outcome.addItem(self.tr_("all"), "")
        for code, text in OUTCOMES.items():
            self.outcome.addItem(self.tr_(text), code)
        self.period = QCheckBox(self.tr_("&Period"))
        named(self.period, N_("&Period"), N_("Show only entries between the two dates."), lang)
        day = brussels_today()
        today = QDate(day.year, day.month, day.day)
        self.since, self.until = QDateEdit(today.addDays(-30)), QDateEdit(today)
        for label, widget in ((N_("Deli&very"), self.delivery), (N_("Accou&nt"), self.account),
                              (N_("Purpos&e"), self.purpose), (N_("Outco&me"), self.outcome)):
            self.labelled(filters, label, widget)
        filters.addWidget(self.period)
        for label, edit in ((N_("&from"), self.since), (N_("t&o"), self.until)):
            edit.setCalendarPopup(True)
            edit.setEnabled(False)
            self.labelled(filters, label, edit)
        filters.addStretch(1)
        self.layout_.addLayout(filters)
        self.model, self.proxy, self.view = self.table(audit_table(), N_("Audit log, newest first"))
        self.layout_.addWidget(self.view, 1)
        bottom = QHBoxLayout()
        self.count = QLabel()
        bottom.addWidget(self.count, 1)
        self.verify_button = self.button(
            N_("&Verify the audit log"), N_("Check that no entry was edited, inserted, reordered or removed."),
            self.verify)
        bottom.addWidget(self.verify_button)
        self.layout_.addLayout(bottom)
        for signal in (self.delivery.textChanged, self.account.currentIndexChanged, self.purpose.currentIndexChanged,
                       self.outcome.currentIndexChanged, self.period.toggled, self.since.dateChanged,
                       self.until.dateChanged):
            signal.connect(self._refilter)
        self.period.toggled.connect(self.since.setEnabled)
        self.period.toggled.connect(self.until.setEnabled)

    def current_filter(self) -> AuditFilter:
        def day(edit: QDateEdit) -> date:
            chosen = edit.date()
            return date(chosen.year(), chosen.month(), chosen.day())

        period = self.period.isChecked()
        return AuditFilter(self.delivery.text(), str(self.account.currentData() or ""),
                           str(self.purpose.currentData() or ""), str(self.outcome.currentData() or ""),
                           day(self.since) if period else None, day(self.until) if period else None)

    def _refilter(self) -> None:
        chosen = self.current_filter()
        self.proxy.set_filter(chosen.matches)
        self.count.setText(self.tr_("{shown} of the {total} newest entries shown; the log has {size}.").format(
            shown=self.proxy.rowCount(), total=len(self.entries), size=self.log_size))

    def refresh(self) -> None:
        answer = self.attempt(self.session.audit_entries)
        if answer is None:
            return
        self.log_size, entries = answer
        self.entries = newest_first(entries)
        self.model.set_rows(self.entries)
        chosen = self.account.currentData()
        self.account.blockSignals(True)
        self.account.clear()
        self.account.addItem(self.tr_("all"), "")
        for account in accounts_in(self.entries):
            self.account.addItem(account, account)
        self.account.setCurrentIndex(max(self.account.findData(chosen), 0))
        self.account.blockSignals(False)
        self._refilter()

    def verify(self) -> None:
        result = self.attempt(self.session.verify_audit)
        if result is None:
            return
        if result["ok"]:
            self.message.say(self.tr_("Audit log verified: {size} entries, {n} checkpoints checked.").format(
                size=result["size"], n=result["checkpoints_checked"]))
        else:
            self.message.say("\n".join(self.tr_("Finding: ") + fill(f["message"], f["params"], self.lang)
                                       for f in result["findings"]), "error")


class ProofsView(_OfficerView):
    def __init__(self, session: Session, message: MessageBar, lang: str) -> None:
        super().__init__(session, message, lang, N_("Proofs"))
        intro = QLabel(self.tr_("Each destroyed delivery has a signed proof of deletion. Export it for the DPO: "
                                "the proof, its signature, its PDF and the line that verifies it with ssh-keygen."))
        intro.setWordWrap(True)
        self.layout_.addWidget(intro)
        self.model, self.proxy, self.view = self.table(proofs_table(), N_("Proofs of deletion"))
        self.layout_.addWidget(self.view, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        self.export_button = self.button(
            N_("&Export for the DPO…"), N_("Write the selected proof into a folder you choose."), self.ask_export)
        row.addWidget(self.export_button)
        self.layout_.addLayout(row)

    def refresh(self) -> None:
        rows = self.attempt(self.session.proofs)
        if rows is not None:
            self.model.set_rows(sorted(rows, key=lambda r: str(r.get("purged_at")), reverse=True))

    def ask_export(self) -> None:
        row = self.selected(self.view)
        if row is not None:
            self.choose_folder(N_("Folder for the DPO"), lambda folder: self.export(str(row["delivery"]), folder))

    def export(self, delivery: str, folder: Path) -> None:
        written = self.attempt(lambda: self.session.export_proof(delivery, folder))
        if written is not None:
            self.message.say("\n".join(self.tr_("Written: {path}").format(path=p) for p in written))


class ReportsView(_OfficerView):
    def __init__(self, session: Session, message: MessageBar, lang: str) -> None:
        super().__init__(session, message, lang, N_("Reports"))
        intro = QLabel(self.tr_("Signed reports for the DPO. Leave the period empty for the last complete month "
                                "or quarter; write 2026-10 for a month, 2026-Q4 for a quarter."))
        intro.setWordWrap(True)
        self.layout_.addWidget(intro)
        row = QHBoxLayout()
        self.period = QLineEdit()
        self.period.setPlaceholderText("2026-10")
        self.labelled(row, N_("&Period"), self.period)
        self.format = QComboBox()
        for code, text in (("pdf", N_("PDF (to read and print)")), ("json", N_("signed JSON with its .sig")),
                           ("html", N_("HTML (a web page)"))):
            self.format.addItem(self.tr_(text), code)
        self.labelled(row, N_("&Format"), self.format)
        for text, description, slot in (
                (N_("&Make"), N_("Make the report (or fetch it when it exists)."), self.make),
                (N_("&View"), N_("Open the report's PDF."), self.view_pdf),
                (N_("&Send"), N_("E-mail it now to the configured DPO and officer addresses."), self.send),
                (N_("E&xport…"), N_("Write the report into a folder you choose."), self.ask_export)):
            row.addWidget(self.button(text, description, slot))
        row.addStretch(1)
        self.layout_.addLayout(row)
        self.model, self.proxy, self.view = self.table(reports_table(), N_("Reports made"))
        self.layout_.addWidget(self.view, 1)

    def refresh(self) -> None:
        status = self.attempt(self.session.status)
        if status is not None:
            self.model.set_rows(status["reports"]["recent"])

    def _done(self, header: dict[str, Any]) -> None:
        number = header["sequence"] if header.get("complete") else self.tr_("interim")
        self.message.say(self.tr_("Report {name} (no. {number}) is kept in the agent's home: {folder}").format(
            name=header["name"], number=number, folder=header.get("folder", "")))
        self.refresh()

    def make(self) -> None:
        header = self.attempt(lambda: self.session.make_report(self.period.text().strip()))
        if header is not None:
            self._done(header)

    def send(self) -> None:
        header = self.attempt(lambda: self.session.make_report(self.period.text().strip(), send=True))
        if header is None:
            return
        if header.get("delivery") == "sent":
            self.message.say(self.tr_("Sent by e-mail to the configured addresses."))
        else:
            self.message.say(self.tr_("The report for {period} was not sent: {problem}").format(
                period=header["name"], problem=header.get("last_error") or header.get("delivery")), "error")
        self.refresh()

    def view_pdf(self) -> None:
        path = self.attempt(lambda: self.session.report_for_viewing(self.period.text().strip()))
        if path is not None:
            qt_support.open_with_system(path)
            self.message.say(self.tr_("Written: {path}").format(path=path))

    def ask_export(self) -> None:
        self.choose_folder(N_("Folder for the report"), self.export)

    def export(self, folder: Path) -> None:
        fmt = str(self.format.currentData())
        written = self.attempt(lambda: self.session.export_report(self.period.text().strip(), fmt, folder))
        if written is not None:
            self.message.say("\n".join(self.tr_("Written: {path}").format(path=p) for p in written))


class StaffView(_OfficerView):
    def __init__(self, session: Session, message: MessageBar, lang: str) -> None:
        super().__init__(session, message, lang, N_("Staff"))
        intro = QLabel(self.tr_("The list of authorised persons (deliberation nrs. 45 and 64). People are known by "
                                "the account they log on with; at least one privacy officer stays on the list."))
        intro.setWordWrap(True)
        self.layout_.addWidget(intro)
        self.model, self.proxy, self.view = self.table(staff_table(), N_("Staff list"))
        self.layout_.addWidget(self.view, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.button(N_("&Add or change…"), N_("Put a person on the list, or change their roles."),
                                  self.ask_add))
        row.addWidget(self.button(N_("&Remove"), N_("Take the selected person off the list."),
                                  self.remove_selected))
        self.layout_.addLayout(row)

    def refresh(self) -> None:
        rows = self.attempt(self.session.staff)
        if rows is not None:
            self.model.set_rows(rows)

    def ask_add(self) -> None:
        rows = self.view.selectionModel().selectedRows(0)
        current = self.proxy.row_at(rows[0].row()) if rows else None
        self.dialog = StaffDialog(self, self.lang, current)
        self.dialog.accepted.connect(lambda d=self.dialog: self.add(d.account.text().strip(), d.name.text().strip(),
                                                                    d.chosen_roles()))
        self.dialog.open()

    def add(self, account: str, name: str, roles: list[str]) -> None:
        result = self.attempt(lambda: self.session.add_staff(account, name, roles))
        if result is not None:
            self.message.say(self.tr_("{account} is on the staff list.").format(account=result["account"]))
            self.refresh()

    def remove_selected(self) -> None:
        row = self.selected(self.view)
        if row is None:
            return
        if self.attempt(lambda: self.session.remove_staff(str(row["account"]))) is not None:
            self.message.say(self.tr_("{account} was removed from the staff list.").format(account=row["account"]))
            self.refresh()
