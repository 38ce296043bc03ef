"""The dialogs of the deliveries and staff views: ceremony date, open with a purpose, early destruction, release
from quarantine, staff.

Each is opened window-modal with ``open()`` (never a blocking ``exec()``), so the event loop keeps running;
the caller acts on ``accepted``. Enter accepts (the OK button is the default, except where it destroys),
Escape cancels; every field has a label with a mnemonic and an accessible name. The dialogs only collect the
input: the agent decides. A dialog can be given a ``checker``, run when OK is pressed: it asks the agent (a dry
run) and keeps the dialog open, with the agent's answer in it, until the agent agrees.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from PySide6.QtCore import QDate
from PySide6.QtWidgets import (
    QCalendarWidget,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from retention_agent.app.qt_support import named
from retention_agent.i18n.catalogue import format_day, translate
from retention_agent.i18n.msgids import N_
from retention_agent.rules.access import PURPOSES, ROLES
from retention_agent.session.words import PURPOSES_SHOWN
from retention_agent.session.words import ROLES as ROLE_WORDS

MAX_NOTE = 200  # as the agent accepts (api.ops_vault.MAX_NOTE)
MAX_REASON = 500


class _Dialog(QDialog):
    def __init__(self, parent: QWidget, title: str, lang: str) -> None:
        super().__init__(parent)
        self.lang = lang
        self.setWindowTitle(self.tr_(title))
        named(self, title, lang=lang)
        self.checker: Callable[[], bool] | None = None
        self.setMinimumWidth(540)  # room for the explanations, which wrap
        self.layout_ = QVBoxLayout(self)
        self.form = QFormLayout()
        self.layout_.addLayout(self.form)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("QLabel { color: #7a0014; background: #fde0e0; padding: 4px; }")
        self.problem.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        # back to the window the dialog came from, keyboard focus included (not every platform does it)
        self.finished.connect(lambda _result: parent.window().activateWindow())
        self.ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        named(self.ok, N_("OK"), lang=lang)
        named(self.buttons.button(QDialogButtonBox.StandardButton.Cancel), N_("Cancel"), lang=lang)

    def tr_(self, text: str) -> str:
        return translate(text, self.lang)

    def field(self, label: str, widget: QWidget, description: str = "") -> QWidget:
        caption = QLabel(self.tr_(label))
        caption.setBuddy(widget)
        named(widget, label, description, self.lang)
        self.form.addRow(caption, widget)
        return widget

    def finish(self, *, default_ok: bool = True) -> None:
        """Add the problem line and the buttons; Enter presses OK, or Cancel with ``default_ok=False``."""
        self.layout_.addWidget(self.problem)
        self.layout_.addWidget(self.buttons)
        self.set_default(ok=default_ok)

    def set_default(self, *, ok: bool) -> None:
        """The button Enter presses (set once the buttons are in the dialog, where Qt keeps track of it)."""
        cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.ok.setAutoDefault(ok)
        cancel.setAutoDefault(not ok)
        (self.ok if ok else cancel).setDefault(True)

    def say_problem(self, text: str) -> None:
        """Why OK did not go through (the agent's answer), shown in the dialog, which stays open."""
        self.problem.setText(text)
        self.problem.setAccessibleName(text)
        self.problem.show()

    def accept(self) -> None:
        if self.checker is None or self.checker():
            super().accept()


class CeremonyDialog(_Dialog):
    """The ceremony date on a calendar, and a reason: the agent wants one when the new date keeps the data longer
    (privacy officer) or makes a delivery due now, which destroys it (role destroy)."""

    def __init__(self, parent: QWidget, deliveries: list[str], current: date | None, today: date, lang: str) -> None:
        super().__init__(parent, N_("Ceremony date"), lang)
        self.deliveries = deliveries
        intro = QLabel(self.tr_("The data is destroyed one calendar month after the ceremony.") + "\n"
                       + self.tr_("Deliveries: {ids}").format(ids=", ".join(deliveries)))
        intro.setWordWrap(True)
        self.form.addRow(intro)
        self.calendar = QCalendarWidget()
        self.calendar.setGridVisible(True)
        for part, text in (("qt_calendar_prevmonth", N_("Previous month")),
                           ("qt_calendar_nextmonth", N_("Next month"))):
            button = self.calendar.findChild(QToolButton, part)
            if button is not None:  # Qt leaves the arrows unnamed: a screen reader would say "button"
                named(button, text, lang=lang)
        start = current or today
        self.calendar.setSelectedDate(QDate(start.year, start.month, start.day))
        self.field(N_("&Date of the ceremony"), self.calendar,
                   N_("Choose the date with the arrow keys, Page Up and Page Down; Enter confirms."))
        self.reason = QLineEdit()
        self.reason.setMaxLength(MAX_REASON)
        self.reason.setPlaceholderText(self.tr_("needed to keep the data longer or to destroy it now"))
        self.field(N_("&Reason"), self.reason, N_("Needed when the new date keeps the data longer, or makes a delivery "
                                                  "due now so that it is destroyed; no personal data."))
        self.chosen = QLabel()
        self.form.addRow(self.chosen)
        self.calendar.selectionChanged.connect(self._show_choice)
        self.calendar.activated.connect(lambda _d: self.accept())
        self._show_choice()
        self.finish()

    def _show_choice(self) -> None:
        self.chosen.setText(self.tr_("Chosen: {day}").format(day=format_day(self.day(), self.lang, long=True)))

    def day(self) -> date:
        chosen = self.calendar.selectedDate()
        return date(chosen.year(), chosen.month(), chosen.day())


class OpenDialog(_Dialog):
    """Why the delivery is opened: a purpose from the list, and a note (required for "something else")."""

    def __init__(self, parent: QWidget, delivery: str, lang: str) -> None:
        super().__init__(parent, N_("Open a delivery"), lang)
        self.delivery = delivery
        intro = QLabel(self.tr_("Every opening is recorded: who, when, why and which delivery.") + "\n"
                       + self.tr_("Delivery: {id}").format(id=delivery))
        intro.setWordWrap(True)
        self.form.addRow(intro)
        self.purpose_box = QComboBox()
        for code in PURPOSES:
            self.purpose_box.addItem(self.tr_(PURPOSES_SHOWN[code]), code)
        self.field(N_("&Purpose"), self.purpose_box, N_("Why you open the data."))
        self.note = QLineEdit()
        self.note.setMaxLength(MAX_NOTE)
        self.note.setPlaceholderText(self.tr_("short, without names or numbers"))
        self.field(N_("&Note"), self.note, N_("Required with 'something else'; never personal data."))
        self.purpose_box.currentIndexChanged.connect(self._check)
        self.note.textChanged.connect(self._check)
        self._check()
        self.finish()

    def purpose(self) -> str:
        return str(self.purpose_box.currentData())

    def _check(self) -> None:
        self.ok.setEnabled(self.purpose() != "other" or bool(self.note.text().strip()))


class DestroyDialog(_Dialog):
    """Early destruction, irreversible, in two steps: first the reason, which the agent checks with everything
    else (a dry run: roles, holds, the delivery's state); only then the delivery ids typed again. ``reason``
    given (already checked, as after a ceremony date's dry run) starts at the second step."""

    def __init__(self, parent: QWidget, deliveries: list[str], lang: str, *, intro: str = "",
                 reason: str = "") -> None:
        super().__init__(parent, N_("Destroy early"), lang)
        self.deliveries = deliveries
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)  # each label above its field
        warning = QLabel((intro + "\n" if intro else "")
                         + self.tr_("Destroying is irreversible: the data cannot be brought back.") + "\n"
                         + self.tr_("Deliveries: {ids}").format(ids=", ".join(deliveries)))
        warning.setWordWrap(True)
        warning.setStyleSheet("QLabel { color: #7a0014; font-weight: bold; }")
        self.form.addRow(warning)
        self.reason = QLineEdit(reason)
        self.reason.setMaxLength(MAX_REASON)
        self.field(N_("&Reason"), self.reason, N_("Why it is destroyed before its deadline; no personal data."))
        self.confirmations: dict[str, QLineEdit] = {}
        for delivery in deliveries:
            typed = QLineEdit()
            caption = QLabel(self.tr_("&Type {id} to confirm").format(id=delivery))
            caption.setBuddy(typed)
            named(typed, caption.text(), N_("Type the id exactly as shown."), lang)
            typed.textChanged.connect(self._check)
            self.form.addRow(caption, typed)
            self.confirmations[delivery] = typed
        self.reason.textChanged.connect(self._check)
        self.confirming = False
        self.finish()
        if reason.strip():
            self.confirm()
        else:
            self._show_step()

    @property
    def confirmation(self) -> QLineEdit:
        """The typed id of the first (usually the only) delivery."""
        return self.confirmations[self.deliveries[0]]

    def confirm(self) -> None:
        """The agent agreed: the reason stays as checked, and the ids must be typed; Enter now cancels."""
        self.confirming = True
        self.reason.setReadOnly(True)
        self.reason.setCursorPosition(0)
        self._show_step()
        self.confirmation.setFocus()

    def _show_step(self) -> None:
        for typed in self.confirmations.values():
            self.form.setRowVisible(typed, self.confirming)
        text = N_("&Destroy") if self.confirming else N_("&Next")
        self.ok.setText(self.tr_(text))
        named(self.ok, text, lang=self.lang)
        self.set_default(ok=not self.confirming)
        self._check()
        self.adjustSize()  # the rows just shown need the room

    def _check(self) -> None:
        if not self.confirming:
            self.ok.setEnabled(bool(self.reason.text().strip()))
            return
        self.ok.setEnabled(bool(self.reason.text().strip()) and all(
            typed.text().strip() == delivery for delivery, typed in self.confirmations.items()))


class ReleaseDialog(_Dialog):
    """The privacy officer's release of a quarantined file: it becomes an ordinary delivery (with a reason)."""

    def __init__(self, parent: QWidget, delivery: str, lang: str) -> None:
        super().__init__(parent, N_("Release from quarantine"), lang)
        self.delivery = delivery
        intro = QLabel(self.tr_("The file becomes an ordinary delivery: staff can open it and record its ceremony "
                                "date, and it is destroyed in time like the others.") + "\n"
                       + self.tr_("Delivery: {id}").format(id=delivery))
        intro.setWordWrap(True)
        self.form.addRow(intro)
        self.reason = QLineEdit()
        self.reason.setMaxLength(MAX_REASON)
        self.field(N_("&Reason"), self.reason, N_("Why it is an AgII delivery after all; no personal data."))
        self.reason.textChanged.connect(lambda _text: self.ok.setEnabled(bool(self.reason.text().strip())))
        self.ok.setEnabled(False)
        self.finish()


class StaffDialog(_Dialog):
    """Add a person to the staff list (or change one): account, name and roles."""

    def __init__(self, parent: QWidget, lang: str, current: dict[str, Any] | None = None) -> None:
        super().__init__(parent, N_("Staff member"), lang)
        self.account = QLineEdit((current or {}).get("account", ""))
        self.field(N_("&Account"), self.account, N_("The account the person logs on with (on Windows: DOMAIN\\name)."))
        self.name = QLineEdit((current or {}).get("name", ""))
        self.field(N_("&Name"), self.name, N_("The person's full name."))
        self.roles: dict[str, QCheckBox] = {}
        holder = QWidget()
        column = QVBoxLayout(holder)
        column.setContentsMargins(0, 0, 0, 0)
        for role in ROLES:
            box = QCheckBox(self.tr_(ROLE_WORDS[role]))
            box.setChecked(role in (current or {}).get("roles", []))
            named(box, ROLE_WORDS[role], lang=lang)
            box.toggled.connect(self._check)
            self.roles[role] = box
            column.addWidget(box)
        self.field(N_("&Roles"), holder, N_("Give only the roles the person needs."))
        self.account.textChanged.connect(self._check)
        self.name.textChanged.connect(self._check)
        self._check()
        self.finish()

    def chosen_roles(self) -> list[str]:
        return [role for role, box in self.roles.items() if box.isChecked()]

    def _check(self) -> None:
        self.ok.setEnabled(bool(self.account.text().strip() and self.name.text().strip() and self.chosen_roles()))
