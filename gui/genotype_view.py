"""A derived genotype, drawn: the normal and the reduction cell as small DAGs, a table of the edges, skips.

A cell (DARTS, Liu et al. ICLR 2019) takes the outputs of the two previous cells, ``c_{k-2}`` and
``c_{k-1}`` (states 0 and 1), computes its intermediate nodes 0, 1, ... (states 2, 3, ...), each the sum of
two operations applied to earlier states, and concatenates the nodes of ``concat`` into its output
``c_{k}``. The drawing puts the inputs on the left, the intermediate nodes on a row and the output on the
right; every edge is labelled with its operation, coloured by kind (skip connections in red: the count
per cell is what shows a collapse into skips), and the dashed grey edges feed the output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

SKIP = "skip_connect"
EMPTY_TEXT = "No genotype yet: run a search, open a genotype file, or choose a model."
CELLS = (("normal", "Normal cell"), ("reduce", "Reduction cell"))
# layout of a cell drawing, in scene units
DX, DY = 120.0, 62.0
NODE_H = 26.0
INPUT_W, NODE_W = 62.0, 30.0
LABEL_PAD = 3.0
FILLS = {"input": (204, 235, 197), "node": (198, 219, 239), "output": (250, 240, 190)}


def op_color(op: str) -> tuple[int, int, int]:
    """Colour of an operation's edge: skip red, pooling grey, separable blue, dilated green, others purple."""
    if op == SKIP:
        return (200, 30, 30)
    if "pool" in op:
        return (100, 100, 100)
    if op.startswith("sep"):
        return (31, 100, 180)
    if op.startswith("dil"):
        return (30, 130, 50)
    return (120, 60, 160)


def state_name(state: int) -> str:
    """``c_{k-2}``, ``c_{k-1}`` for the cell inputs, ``0``, ``1``, ... for the intermediate nodes."""
    return ("c_{k-2}", "c_{k-1}")[state] if state < 2 else str(state - 2)


def cell_rows(edges: Sequence[tuple[str, int]]) -> list[tuple[int, str, str]]:
    """``(node, input, operation)`` per edge of a cell, in the genotype's order."""
    return [(k // 2, state_name(inp), op) for k, (op, inp) in enumerate(edges)]


def _bezier(p0: QPointF, c: QPointF, p1: QPointF, t: float) -> QPointF:
    u = 1.0 - t
    return p0 * (u * u) + c * (2 * u * t) + p1 * (t * t)


class CellDiagram(QGraphicsView):
    """One cell as a DAG (see the module docstring); the scene is fitted to the view.

    Attributes:
        edge_labels: the operation labels drawn, in the genotype's edge order.
        node_names: the nodes drawn (inputs, intermediate nodes, output).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        self.setBackgroundBrush(QBrush(QColor("white")))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumHeight(120)
        self.edge_labels: list[str] = []
        self.node_names: list[str] = []
        self._font = QFont()
        self._font.setPointSizeF(8.5)

    def clear(self) -> None:
        self.scene().clear()
        self.edge_labels, self.node_names = [], []

    def set_cell(self, edges: Sequence[tuple[str, int]], concat: Sequence[int]) -> None:
        """Draw a cell: ``edges`` are ``(operation, input state)`` pairs, two per node; ``concat`` the states
        of the output."""
        self.clear()
        scene = self.scene()
        nodes = len(edges) // 2
        centers = {0: QPointF(0.0, -DY), 1: QPointF(0.0, DY)}
        for i in range(nodes):
            centers[i + 2] = QPointF((i + 1) * DX, 0.0)
        out = QPointF((nodes + 1) * DX, 0.0)
        rects = {s: self._rect(p, INPUT_W if s < 2 else NODE_W) for s, p in centers.items()}
        out_rect = self._rect(out, INPUT_W)
        placed = list(rects.values()) + [out_rect]
        for k, (op, inp) in enumerate(edges):
            target = k // 2 + 2
            self._edge(centers[inp], centers[target], rects[inp], rects[target], self._bend(inp, target),
                       QColor(*op_color(op)), op, placed, dashed=False)
            self.edge_labels.append(op)
        last = max(concat) if concat else None
        for state in concat:
            bend = 0.0 if state == last else 0.35 * DX * (last - state)
            self._edge(centers[state], out, rects[state], out_rect, bend, QColor(150, 150, 150), "", placed,
                       dashed=True)
        for state, rect in rects.items():
            self._node(rect, state_name(state), FILLS["input" if state < 2 else "node"])
            self.node_names.append(state_name(state))
        self._node(out_rect, "c_{k}", FILLS["output"])
        self.node_names.append("c_{k}")
        scene.setSceneRect(scene.itemsBoundingRect().adjusted(-8, -8, 8, 8))
        self._fit()

    # ----------------------------------------------------------------------------------------- drawing

    @staticmethod
    def _rect(center: QPointF, width: float) -> QRectF:
        return QRectF(center.x() - width / 2, center.y() - NODE_H / 2, width, NODE_H)

    @staticmethod
    def _bend(inp: int, target: int) -> float:
        """How far the control point of an edge sits off the straight line (negative: upwards)."""
        if inp == 0:
            return -(28.0 + 34.0 * (target - 2))
        if inp == 1:
            return 28.0 + 34.0 * (target - 2)
        gap = target - inp - 1
        return 0.0 if gap == 0 else (-1.0 if gap % 2 else 1.0) * 0.55 * DX * gap

    def _node(self, rect: QRectF, text: str, fill: tuple[int, int, int]) -> None:
        path = QPainterPath()
        path.addRoundedRect(rect, 7, 7)
        item = self.scene().addPath(path, QPen(QColor(60, 60, 60), 1.2), QBrush(QColor(*fill)))
        item.setZValue(2)
        label = self.scene().addSimpleText(text, self._font)
        box = label.boundingRect()
        label.setPos(rect.center().x() - box.width() / 2, rect.center().y() - box.height() / 2)
        label.setZValue(3)

    def _edge(self, p0: QPointF, p1: QPointF, r0: QRectF, r1: QRectF, bend: float, color: QColor, text: str,
              placed: list[QRectF], dashed: bool) -> None:
        mid = (p0 + p1) * 0.5
        dx, dy = p1.x() - p0.x(), p1.y() - p0.y()
        length = math.hypot(dx, dy) or 1.0
        normal = QPointF(-dy / length, dx / length)
        if normal.y() > 0:  # a positive bend goes down the screen, whatever the edge's direction
            normal = -normal
        control = mid - normal * bend
        t0 = self._leave(p0, control, p1, r0, 0.0, 0.5)
        t1 = self._leave(p0, control, p1, r1, 1.0, 0.5)
        steps = 28
        path = QPainterPath(_bezier(p0, control, p1, t0))
        for i in range(1, steps + 1):
            path.lineTo(_bezier(p0, control, p1, t0 + (t1 - t0) * i / steps))
        pen = QPen(color, 1.6)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
            pen.setWidthF(1.1)
        self.scene().addPath(path, pen).setZValue(0)
        tip = _bezier(p0, control, p1, t1)
        back = _bezier(p0, control, p1, max(t0, t1 - 0.04))
        self._arrow(tip, back, color)
        if text:
            self._label(p0, control, p1, text, color, placed)

    @staticmethod
    def _leave(p0: QPointF, c: QPointF, p1: QPointF, rect: QRectF, inside: float, outside: float) -> float:
        """The curve parameter where the edge crosses ``rect``'s border (between ``inside`` and
        ``outside``)."""
        for _ in range(20):
            mid = (inside + outside) / 2
            if rect.contains(_bezier(p0, c, p1, mid)):
                inside = mid
            else:
                outside = mid
        return outside

    def _arrow(self, tip: QPointF, back: QPointF, color: QColor) -> None:
        dx, dy = tip.x() - back.x(), tip.y() - back.y()
        length = math.hypot(dx, dy) or 1.0
        ux, uy = dx / length, dy / length
        size, half = 8.0, 3.6
        base = QPointF(tip.x() - ux * size, tip.y() - uy * size)
        left = QPointF(base.x() - uy * half, base.y() + ux * half)
        right = QPointF(base.x() + uy * half, base.y() - ux * half)
        item = self.scene().addPolygon(QPolygonF([tip, left, right]), QPen(color, 1), QBrush(color))
        item.setZValue(1)

    def _label(self, p0: QPointF, c: QPointF, p1: QPointF, text: str, color: QColor,
               placed: list[QRectF]) -> None:
        """The operation's name on the edge, where it overlaps the fewest labels and nodes drawn so far."""
        item = self.scene().addSimpleText(text, self._font)
        item.setBrush(QBrush(color.darker(115)))
        box = item.boundingRect()
        w, h = box.width() + 2 * LABEL_PAD, box.height() + 2 * LABEL_PAD
        best, best_overlap = None, math.inf
        for t in (0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73):
            at = _bezier(p0, c, p1, t)
            rect = QRectF(at.x() - w / 2, at.y() - h / 2, w, h)
            overlap = sum(_area(rect.intersected(other)) for other in placed)
            if overlap < best_overlap:
                best, best_overlap = rect, overlap
            if overlap == 0:
                break
        placed.append(best)
        background = QPainterPath()
        background.addRoundedRect(best, 4, 4)
        back = self.scene().addPath(background, QPen(color.lighter(150), 0.8),
                                    QBrush(QColor(255, 255, 255, 235)))
        back.setZValue(4)
        item.setPos(best.x() + LABEL_PAD, best.y() + LABEL_PAD)
        item.setZValue(5)

    # ------------------------------------------------------------------------------------------ fitting

    def _fit(self) -> None:
        rect = self.scene().sceneRect()
        if rect.isEmpty() or self.viewport().width() < 10:
            return
        self.resetTransform()
        scale = min(self.viewport().width() / rect.width(), self.viewport().height() / rect.height(), 1.6)
        self.scale(scale, scale)
        self.centerOn(rect.center())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._fit()


def _area(rect: QRectF) -> float:
    return 0.0 if rect.isEmpty() else rect.width() * rect.height()


class GenotypeView(QWidget):
    """The genotype on show: a title (where it came from), skip connections per cell, the two cells drawn
    and, on a second tab, a table of every edge.

    Attributes:
        genotype: the genotype shown (None: none yet).
        diagrams: ``{"normal": CellDiagram, "reduce": CellDiagram}``.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("genotypeView")
        self.genotype: Any = None
        self.title = QLabel(self)
        self.title.setObjectName("genotypeTitle")
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-weight: bold;")
        self.skip_label = QLabel(self)
        self.skip_label.setObjectName("genotypeSkips")
        self.skip_label.setWordWrap(True)
        self.diagrams = {key: CellDiagram(self) for key, _ in CELLS}
        self.captions = {key: QLabel(text, self) for key, text in CELLS}
        for caption in self.captions.values():
            caption.setWordWrap(True)
        cells = QWidget(self)
        row = QHBoxLayout(cells)
        row.setContentsMargins(0, 0, 0, 0)
        for key, _ in CELLS:
            column = QVBoxLayout()
            column.addWidget(self.captions[key])
            column.addWidget(self.diagrams[key], 1)
            row.addLayout(column, 1)
        self.table = QTableWidget(0, 4, self)
        self.table.setObjectName("genotypeTable")
        self.table.setHorizontalHeaderLabels(["cell", "node", "input", "operation"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(cells, "Cells")
        self.tabs.addTab(self.table, "Table")
        self.empty = QLabel(EMPTY_TEXT, self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: #666;")
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.tabs)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.skip_label)
        layout.addWidget(self.stack, 1)
        self.clear()

    def clear(self, message: str = EMPTY_TEXT) -> None:
        self.genotype = None
        self.title.setText("Derived genotype")
        self.skip_label.setText("")
        self.empty.setText(message)
        for diagram in self.diagrams.values():
            diagram.clear()
        self.table.setRowCount(0)
        self.stack.setCurrentWidget(self.empty)

    def show_genotype(self, genotype: Any, title: str,
                      skips_before_cap: dict[str, int] | None = None) -> None:
        """Show a :class:`chemaccel.nas.Genotype` under ``title``; ``skips_before_cap`` (a search's) is
        mentioned when the cap changed anything."""
        self.genotype = genotype
        self.title.setText(title)
        skips = genotype.skip_counts()
        text = f"Skip connections per cell: normal {skips['normal']}, reduce {skips['reduce']}"
        if skips_before_cap and skips_before_cap != skips:
            text += (f" (before the cap: normal {skips_before_cap.get('normal')}, "
                     f"reduce {skips_before_cap.get('reduce')})")
        self.skip_label.setText(text)
        self.table.setRowCount(0)
        for key, caption in CELLS:
            edges = getattr(genotype, key)
            concat = getattr(genotype, f"{key}_concat")
            plural = "" if skips[key] == 1 else "s"
            self.captions[key].setText(f"{caption}: {len(edges) // 2} nodes, {skips[key]} skip "
                                       f"connection{plural}, output = concat of nodes "
                                       f"{', '.join(str(s - 2) for s in concat)}")
            self.diagrams[key].set_cell(edges, concat)
            for node, source, op in cell_rows(edges):
                row = self.table.rowCount()
                self.table.insertRow(row)
                for col, value in enumerate((key, str(node), source, op)):
                    item = QTableWidgetItem(value)
                    if op == SKIP:
                        item.setForeground(QBrush(QColor(*op_color(SKIP))))
                    self.table.setItem(row, col, item)
        self.stack.setCurrentWidget(self.tabs)
