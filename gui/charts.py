"""Scatter and bar charts for the engine panels, exportable like every plot (PNG, SVG, CSV).

* :class:`ScatterPlot`: named series of points (GAN samples per generator, compression versus accuracy);
* :class:`BarPlot`: one bar per category (per-layer sparsity of a pruned model).

The CSV export is pyqtgraph's: every series (and the bars) is a plot-data item, so it writes
``<name>_x, <name>_y`` columns (a bar chart writes the bar positions 0, 1, ... and heights; the axis
shows the names).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from chemaccel_gui.plots import HUES, LEGEND_TEXT, ExportablePlot

BAR_COLOR = (70, 130, 180)


class ScatterPlot(ExportablePlot):
    """Named series of points; a series may join its points with a line (``connect=True``).

    Args:
        title, x_label, y_label: as for :class:`~chemaccel_gui.plots.ExportablePlot`.
        symbol_size: marker size in pixels.
        equal_axes: keep the x and y scales equal (2-D samples).
        legend_offset: where the legend sits (pyqtgraph's offset: negative x from the right, negative y
            from the bottom).
    """

    def __init__(self, title: str = "", x_label: str = "", y_label: str = "", symbol_size: int = 7,
                 equal_axes: bool = False, legend_offset: tuple[int, int] = (-10, 10),
                 parent: QWidget | None = None) -> None:
        super().__init__(title, x_label, y_label, parent)
        self.setObjectName("scatterPlot")
        self.symbol_size = symbol_size
        if equal_axes:
            self.plot_item.getViewBox().setAspectLocked(True)
        self.legend = self.plot_item.addLegend(offset=legend_offset, labelTextColor=LEGEND_TEXT)
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self.items: dict[str, pg.PlotDataItem] = {}

    def set_series(self, name: str, xs: Sequence[float], ys: Sequence[float], *, connect: bool = False,
                   color: tuple[int, int, int] | None = None, symbol: str = "o") -> pg.PlotDataItem:
        """Show ``(xs, ys)`` as the series ``name`` (replacing its points)."""
        self.series[name] = ([float(x) for x in xs], [float(y) for y in ys])
        item = self.items.get(name)
        if item is None:
            brush = pg.mkBrush(color if color is not None else pg.intColor(len(self.items), hues=HUES))
            pen = pg.mkPen(brush.color(), width=2) if connect else None
            item = self.plot_item.plot(name=name, pen=pen, symbol=symbol, symbolSize=self.symbol_size,
                                       symbolBrush=brush, symbolPen=None)
            self.items[name] = item
        item.setData(*self.series[name])
        return item

    def add_point(self, name: str, x: float, y: float, **style) -> None:
        """Append one point to the series ``name`` (created with ``style`` on first use)."""
        xs, ys = self.series.get(name, ([], []))
        self.set_series(name, [*xs, x], [*ys, y], **style)

    def clear(self) -> None:
        for item in self.items.values():
            self.plot_item.removeItem(item)
        self.legend.clear()
        self.items.clear()
        self.series.clear()


class BarPlot(ExportablePlot):
    """One bar per category, named on the x axis.

    Args:
        title, x_label, y_label: as for :class:`~chemaccel_gui.plots.ExportablePlot`.
        name: the series name (the CSV columns are ``<name>_x, <name>_y``).
        y_range: fixed y range, e.g. ``(0, 1)`` for fractions (None: automatic).
        empty_text: shown in the plot while it has no bars (says when they will come).
    """

    def __init__(self, title: str = "", x_label: str = "", y_label: str = "", name: str = "value",
                 y_range: tuple[float, float] | None = None, empty_text: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(title, x_label, y_label, parent)
        self.setObjectName("barPlot")
        self.name = name
        self.labels: list[str] = []
        self.values: list[float] = []
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush=pg.mkBrush(BAR_COLOR), pen=None,
                                    name=name)
        self.plot_item.addItem(self.bars)
        self.plot_item.showGrid(x=False, y=True, alpha=0.3)
        low, high = y_range or (0.0, 1.0)
        self.empty_label = pg.TextItem(empty_text, color=(110, 110, 110), anchor=(0.5, 0.5))
        self.empty_label.setPos(0.0, (low + high) / 2)
        self.plot_item.addItem(self.empty_label, ignoreBounds=True)
        if y_range is not None:
            self.plot_item.setYRange(*y_range, padding=0.02)
            self.plot_item.getViewBox().setMouseEnabled(x=True, y=False)
        self.clear()

    def set_bars(self, labels: Sequence[str], values: Sequence[float]) -> None:
        """Show one bar per label (replacing the bars)."""
        self.labels = [str(label) for label in labels]
        self.values = [float(v) for v in values]
        xs = list(range(len(self.values)))
        self.bars.setOpts(x=xs, height=self.values, width=0.6)
        self.plot_item.getAxis("bottom").setTicks([list(zip(xs, self.labels))])
        self.empty_label.setVisible(not xs)
        if xs:
            self.plot_item.setXRange(-0.6, len(xs) - 0.4, padding=0)
        else:
            self.plot_item.setXRange(-1.0, 1.0, padding=0)

    def clear(self) -> None:
        self.set_bars([], [])


class HistogramPlot(ExportablePlot):
    """A histogram of values (density) with a reference distribution drawn behind it.

    Used by the Property panel: the predicted values of the loaded molecules in front (blue), the model's
    training distribution (thick grey) behind, so a prediction far from what the model has seen shows.
    """

    def __init__(self, title: str = "", x_label: str = "", parent: QWidget | None = None) -> None:
        super().__init__(title, x_label, "density", parent)
        self.setObjectName("histogramPlot")
        # outlines only: pyqtgraph's filled curves (fillLevel) crash PySide6 6.12 after a few hundred paints
        # ("deallocating None" in PlotCurveItem.paint's fillPath), so the two histograms are step lines
        self.reference = pg.PlotDataItem(stepMode="center", pen=pg.mkPen((150, 150, 150), width=3), name="training")
        self.values_item = pg.PlotDataItem(stepMode="center", pen=pg.mkPen(BAR_COLOR, width=2), name="predicted")
        self.plot_item.getAxis("left").enableAutoSIPrefix(False)
        # (no legend: the title names the two distributions)
        self.plot_item.addItem(self.reference)
        self.plot_item.addItem(self.values_item)

    def set_data(self, values: Sequence[float], reference: dict | None = None, bins: int = 30) -> None:
        """Show ``values`` as a density histogram, over ``reference`` (``edges``, ``density``) if given."""
        import numpy as np

        vals = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
        if reference and reference.get("edges"):
            edges = np.asarray(reference["edges"], dtype=float)
            self.reference.setData(edges, np.asarray(reference["density"], dtype=float))
        else:
            edges = None
            self.reference.setData([], [])
        if len(vals):
            lo, hi = float(vals.min()), float(vals.max())
            if edges is not None:
                lo, hi = min(lo, edges[0]), max(hi, edges[-1])
            counts, value_edges = np.histogram(vals, bins=bins, range=(lo, hi if hi > lo else lo + 1.0), density=True)
            self.values_item.setData(value_edges, counts)
        else:
            self.values_item.setData([], [])

    def clear(self) -> None:
        self.set_data([], None)
