"""Tijdlijn: every live delivery as a bar from receipt through its ceremony to its deadline, today marked,
holds and overdue deliveries coloured. The geometry comes from ``timeline.py``; this widget only paints it,
and tells screen readers the same in words (its accessible description and each bar's tooltip)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from retention_agent.app import timeline
from retention_agent.app.qt_support import named
from retention_agent.app.rows import Row
from retention_agent.i18n.catalogue import format_day, translate
from retention_agent.i18n.msgids import N_

COLOURS = {"scheduled": "#2e7d32", "needs-date": "#1565c0", "held": "#ef6c00", "overdue": "#c62828",
           "quarantined": "#6a1b9a"}
ROW_HEIGHT, LABEL_WIDTH, TOP = 26, 240, 34
MONTH_LABEL_PX = 64  # a month's label needs this much room; closer months go unlabelled


class TimelineCanvas(QWidget):
    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang
        self.today = date.today()
        self.scale: timeline.Scale | None = None
        self.bars: list[timeline.Bar] = []
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # reachable with Tab, so screen readers announce it
        named(self, N_("Timeline of the deliveries"), lang=lang)

    def show_rows(self, rows: list[Row], today: date) -> None:
        self.today = today
        self.scale, self.bars = timeline.build(rows, today)
        self.setAccessibleDescription(timeline.summary(self.bars, self.lang))
        self.setMinimumHeight(TOP + ROW_HEIGHT * max(len(self.bars), 1) + 10)
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(900, TOP + ROW_HEIGHT * max(len(self.bars), 1) + 10)

    def _x(self, day: date) -> float:
        assert self.scale is not None
        return LABEL_WIDTH + self.scale.fraction(day) * max(self.width() - LABEL_WIDTH - 16, 10)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), QColor("#ffffff"))
        if self.scale is None or not self.bars:
            empty = translate("No deliveries with data.", self.lang)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, empty)
            return
        self._grid(painter)
        for n, bar in enumerate(self.bars):
            self._bar(painter, bar, TOP + n * ROW_HEIGHT)
        x = self._x(self.today)
        painter.setPen(QPen(QColor("#000000"), 2, Qt.PenStyle.DashLine))
        painter.drawLine(QPointF(x, TOP - 14), QPointF(x, self.height() - 4))
        label = translate("today", self.lang) + " " + format_day(self.today, self.lang)
        painter.drawText(QPointF(x + 4, TOP - 16), label)

    def _grid(self, painter: QPainter) -> None:
        assert self.scale is not None
        painter.setPen(QPen(QColor("#dddddd"), 1))
        small = QFont(self.font())
        small.setPointSizeF(max(small.pointSizeF() - 1, 6))
        painter.setFont(small)
        labelled = float(-MONTH_LABEL_PX)
        for day in self.scale.months():
            x = self._x(day)
            painter.setPen(QPen(QColor("#dddddd"), 1))
            painter.drawLine(QPointF(x, TOP - 6), QPointF(x, self.height()))
            if x - labelled >= MONTH_LABEL_PX:
                painter.setPen(QColor("#666666"))
                painter.drawText(QPointF(x + 2, TOP - 2), f"{day.month:02d}/{day.year}")
                labelled = x
        painter.setFont(self.font())

    def _bar(self, painter: QPainter, bar: timeline.Bar, y: float) -> None:
        colour = QColor(COLOURS[bar.kind])
        painter.setPen(QColor("#222222"))
        painter.drawText(QRectF(4, y, LABEL_WIDTH - 8, ROW_HEIGHT), Qt.AlignmentFlag.AlignVCenter, bar.delivery)
        start = self._x(bar.start)
        end = self._x(bar.end) if bar.end else self._x(self.scale.last if self.scale else self.today)
        middle = y + ROW_HEIGHT / 2
        pen = QPen(colour, 6)
        pen.setCapStyle(Qt.PenCapStyle.FlatCap)
        if bar.kind == "needs-date":
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawLine(QPointF(start, middle), QPointF(max(end, start + 2), middle))
        painter.setPen(QPen(QColor("#222222"), 1))
        painter.setBrush(QColor("#ffffff"))
        painter.drawEllipse(QPointF(start, middle), 4, 4)
        if bar.ceremony:
            x = self._x(bar.ceremony)
            painter.setBrush(QColor("#ffd600"))
            painter.drawPolygon([QPointF(x, middle - 7), QPointF(x + 7, middle), QPointF(x, middle + 7),
                                 QPointF(x - 7, middle)])
        if bar.end:
            painter.setBrush(colour)
            painter.drawRect(QRectF(end - 3, middle - 8, 6, 16))


class TimelineView(QWidget):
    def __init__(self, lang: str, load: Callable[[], list[Row] | None], today: Callable[[], date]) -> None:
        super().__init__()
        self.lang, self.load, self.today = lang, load, today
        named(self, N_("Timeline"), lang=lang)
        layout = QVBoxLayout(self)
        self.canvas = TimelineCanvas(lang)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.canvas)
        layout.addWidget(scroll, 1)
        legend = QHBoxLayout()
        for kind, text in timeline.LEGEND.items():
            swatch = QLabel("■ " + translate(text, lang))
            swatch.setStyleSheet(f"QLabel {{ color: {COLOURS[kind]}; }}")
            legend.addWidget(swatch)
        marks = QLabel(translate("○ received   ◆ ceremony   ▮ destroyed at the latest", lang))
        legend.addWidget(marks)
        legend.addStretch(1)
        layout.addLayout(legend)
        self.summary = QLabel()
        named(self.summary, N_("Summary of the timeline"), lang=lang)
        layout.addWidget(self.summary)

    def refresh(self) -> None:
        rows = self.load()
        if rows is None:
            return
        self.canvas.show_rows(rows, self.today())
        self.summary.setText(timeline.summary(self.canvas.bars, self.lang))
