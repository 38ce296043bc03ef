"""Qt's model/view over the app's tables: a :class:`TableModel` fed with the rows the API answered, and a
:class:`FilterProxy` that sorts by each column's key and filters with a plain predicate (``rows.py``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor

from retention_agent.app.rows import Row, Table

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2
FLAG_COLOURS = {"overdue": "#fde0e0", "refused": "#fde0e0", "held": "#fff1d6", "needs-date": "#e6f0ff"}

Index = QModelIndex | QPersistentModelIndex


class TableModel(QAbstractTableModel):
    def __init__(self, table: Table, lang: str, parent: Any = None) -> None:
        super().__init__(parent)
        self.table, self.lang = table, lang
        self.rows: list[Row] = []
        self._cells: list[list[str]] = []
        self._headers = table.headers(lang)

    def set_rows(self, rows: Sequence[Row], table: Table | None = None) -> None:
        self.beginResetModel()
        if table is not None:
            self.table = table
            self._headers = table.headers(self.lang)
        self.rows = list(rows)
        self._cells = [self.table.cells(row, self.lang) for row in self.rows]
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.table.columns)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = index.row(), index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole,
                    Qt.ItemDataRole.ToolTipRole):
            return self._cells[row][column]
        if role == SORT_ROLE:
            return self.table.columns[column].key(self.rows[row])
        if role == ROW_ROLE:
            return self.rows[row]
        if role == Qt.ItemDataRole.TextAlignmentRole and self.table.columns[column].numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.BackgroundRole:
            for flag in sorted(self.table.flags(self.rows[row])):
                if flag in FLAG_COLOURS:
                    return QBrush(QColor(FLAG_COLOURS[flag]))
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role in (Qt.ItemDataRole.DisplayRole,
                                                                  Qt.ItemDataRole.AccessibleTextRole):
            return self._headers[section]
        return super().headerData(section, orientation, role)


class FilterProxy(QSortFilterProxyModel):
    """Sorts by the columns' keys; shows the rows ``accept`` lets through."""

    def __init__(self, model: TableModel, accept: Callable[[Row], bool] | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.setSourceModel(model)
        self.setSortRole(SORT_ROLE)
        self._accept = accept or (lambda _row: True)

    def set_filter(self, accept: Callable[[Row], bool]) -> None:
        self._accept = accept
        self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:  # noqa: N802
        model = self.sourceModel()
        assert isinstance(model, TableModel)
        return self._accept(model.rows[source_row])

    def lessThan(self, left: Index, right: Index) -> bool:  # noqa: N802
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        try:
            return bool(a < b)
        except TypeError:
            return str(a) < str(b)

    def row_at(self, row: int) -> Row:
        value = self.index(row, 0).data(ROW_ROLE)
        return dict(value) if value else {}


class _Probe(QAbstractTableModel):
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 1

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 1

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        return None


def binding_keeps_none_alive(calls: int = 256) -> bool:
    """Whether this PySide6 keeps the reference count of None when Qt calls a Python ``data()`` that returns
    None (as every model does, for every role it does not show). PySide6 6.12.0 drops one reference per call:
    on Python 3.11, where None is not immortal, the app would abort after a few thousand repaints."""
    probe = _Probe()  # kept alive while its index is used
    index = probe.index(0, 0)
    before = sys.getrefcount(None)
    for _ in range(calls):
        index.data(Qt.ItemDataRole.UserRole)
    return sys.getrefcount(None) > before - calls // 2
