"""Plots for the engine panels: :class:`ExportablePlot` (a plot with an Export button) and
:class:`CurvePlot`, one live curve per metric, fed by a job's progress signal (scatter and bar charts:
:mod:`chemaccel_gui.charts`).

Example (in a panel)::

    plot = CurvePlot(title="Training", x_label="step")
    job = runner.start(task, "Prune")          # see chemaccel_gui.jobs
    job.reporter.progress.connect(plot.on_progress)

Every plot can be exported as PNG, SVG or CSV through pyqtgraph's exporters (the Export button, or
the plot's own right-click menu > Export...).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pyqtgraph as pg
from pyqtgraph.exporters import CSVExporter, ImageExporter, SVGExporter
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QMenu, QPushButton, QVBoxLayout, QWidget

from chemaccel_gui.pyqtgraph_compat import install_svg_fix

install_svg_fix()

EXPORT_FILTERS = {"png": "PNG image (*.png)", "svg": "SVG image (*.svg)", "csv": "CSV table (*.csv)"}
#: A curve gets a new colour per metric from this many hues.
HUES = 9
LEGEND_TEXT = (30, 30, 30)
#: Ticks of a logarithmic axis (positions are log10 of the values): 1, 2, 5 times each power of ten.
LOG_TICKS = [(math.log10(m * 10.0**e), f"{m * 10.0**e:g}") for e in range(-8, 9) for m in (1, 2, 5)]


class ExportablePlot(QWidget):
    """A pyqtgraph plot on a white background with an Export button (PNG, SVG, CSV).

    Subclasses add data to :attr:`plot_item`; every item that holds plot data (curves, scatter points)
    goes into the CSV export.

    Args:
        title: shown above the plot.
        x_label, y_label: axis labels.
    """

    def __init__(self, title: str = "", x_label: str = "", y_label: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget(parent=self, background="w")
        self.plot_item = self.plot_widget.getPlotItem()
        if title:
            self.plot_item.setTitle(title, color="k")
        if x_label:
            self.plot_item.setLabel("bottom", x_label)
        if y_label:
            self.plot_item.setLabel("left", y_label)
        self.plot_item.showGrid(x=True, y=True, alpha=0.3)
        self.export_button = QPushButton("Export", self)
        self.export_button.setObjectName("plotExport")
        menu = QMenu(self.export_button)
        for fmt in EXPORT_FILTERS:
            menu.addAction(f"as {fmt.upper()}...", lambda f=fmt: self._export_dialog(f))
        self.export_button.setMenu(menu)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget, 1)
        layout.addLayout(buttons)

    # ---------------------------------------------------------------------------------------- export

    def export(self, path: str | Path, fmt: str | None = None) -> Path:
        """Write the plot to ``path`` as PNG, SVG or CSV (``fmt``, default from the extension).

        CSV has two columns per curve (``<name>_x``, ``<name>_y``, pyqtgraph's layout).
        """
        path = Path(path)
        fmt = (fmt or path.suffix.lstrip(".")).lower()
        if fmt == "png":
            exporter = ImageExporter(self.plot_item)
            exporter.parameters()["width"] = max(int(self.plot_widget.width()), 400)
        elif fmt == "svg":
            exporter = SVGExporter(self.plot_item)
        elif fmt == "csv":
            exporter = CSVExporter(self.plot_item)
        else:
            known = ", ".join(EXPORT_FILTERS)
            raise ValueError(f"{path}: unknown plot export format {fmt!r}; known: {known}")
        path.parent.mkdir(parents=True, exist_ok=True)
        exporter.export(str(path))
        return path

    def export_png(self, path: str | Path) -> Path:
        return self.export(path, "png")

    def export_svg(self, path: str | Path) -> Path:
        return self.export(path, "svg")

    def export_csv(self, path: str | Path) -> Path:
        return self.export(path, "csv")

    def _export_dialog(self, fmt: str) -> None:
        title = f"Export plot as {fmt.upper()}"
        path, _ = QFileDialog.getSaveFileName(self, title, f"plot.{fmt}", EXPORT_FILTERS[fmt])
        if path:
            self.export(path, fmt)


class CurvePlot(ExportablePlot):
    """A plot with one curve per metric name, in order of first appearance.

    Args:
        title: shown above the plot.
        x_label, y_label: axis labels.
        metrics: only these metric names are plotted (default: every metric reported).
        log_y: logarithmic y axis (losses).
    """

    def __init__(
        self,
        title: str = "",
        x_label: str = "step",
        y_label: str = "",
        metrics: list[str] | None = None,
        log_y: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(title, x_label, y_label, parent)
        self.setObjectName("curvePlot")
        self.plot_item.setLogMode(y=log_y)
        if log_y:  # 1-2-5 ticks only: pyqtgraph's minor log labels overlap
            self.plot_item.getAxis("left").setTicks([LOG_TICKS])
        self.legend = self.plot_item.addLegend(offset=(-10, 10), labelTextColor=LEGEND_TEXT)
        self.only = list(metrics) if metrics is not None else None
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}

    # ------------------------------------------------------------------------------------------ data

    def on_progress(
        self, step: int, _total: int | None = None, metrics: Mapping[str, float] | None = None
    ) -> None:
        """Slot for :attr:`chemaccel_gui.jobs.QtReporter.progress`: a point per (numeric) metric."""
        for name, value in (metrics or {}).items():
            if self.only is not None and name not in self.only:
                continue
            try:
                y = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(y):
                self.add_point(name, float(step), y)

    def add_point(self, name: str, x: float, y: float) -> None:
        xs, ys = self.series.setdefault(name, ([], []))
        xs.append(x)
        ys.append(y)
        curve = self.curves.get(name)
        if curve is None:
            pen = pg.mkPen(pg.intColor(len(self.curves), hues=HUES), width=2)
            curve = self.curves[name] = self.plot_item.plot(name=name, pen=pen)
        curve.setData(xs, ys)

    def clear(self) -> None:
        """Forget every curve (a new job starts)."""
        for curve in self.curves.values():
            self.plot_item.removeItem(curve)
        self.legend.clear()
        self.curves.clear()
        self.series.clear()

