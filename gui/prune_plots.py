"""The four plots of the Train / prune panel, fed live by a prune job's reporter signals.

* loss per step (dense training and pruning as separate curves);
* kept fraction of the parameters and FLOPs per step (what the gates keep);
* compression versus validation accuracy: one point per epoch, the dense model, the final model, and
  the shipped pruned models (their published figures) for reference;
* per-layer sparsity bars of the finished model (the fraction of each dense layer's parameters removed).

Every plot has its own Export button (PNG, SVG, CSV).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from PySide6.QtWidgets import QGridLayout, QWidget

from chemaccel_gui.charts import BarPlot, ScatterPlot
from chemaccel_gui.plots import CurvePlot
from chemaccel_gui.prune_task import DENSE_TASK, PruneOutcome, epoch_row
from chemaccel_gui.shipped import ModelEntry

EPOCHS, DENSE, FINAL, SHIPPED = "epochs", "dense", "final", "shipped models"
COMPRESSION_TICKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
COLORS = {EPOCHS: (31, 119, 180), DENSE: (120, 120, 120), FINAL: (214, 39, 40), SHIPPED: (44, 160, 44)}


class PrunePlots(QWidget):
    """Live curves and result charts of one prune job at a time (:meth:`clear` starts over)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("prunePlots")
        self.loss = CurvePlot(title="Training loss", x_label="step", log_y=True, parent=self)
        self.loss.setObjectName("pruneLossPlot")
        self.kept = CurvePlot(title="Kept by the gates", x_label="step", y_label="fraction",
                              metrics=["kept_params", "kept_flops"], parent=self)
        self.kept.setObjectName("pruneKeptPlot")
        self.tradeoff = ScatterPlot(title="Compression vs. accuracy",
                                    x_label="compression (dense parameters / kept)",
                                    y_label="validation accuracy", symbol_size=9, legend_offset=(-10, -10),
                                    parent=self)
        self.tradeoff.setObjectName("pruneTradeoffPlot")
        self.tradeoff.plot_item.setLogMode(x=True)
        ticks = [(math.log10(v), f"{v:g}x") for v in COMPRESSION_TICKS]
        self.tradeoff.plot_item.getAxis("bottom").setTicks([ticks])
        self.sparsity = BarPlot(title="Per-layer sparsity (vs. dense)", y_label="fraction removed",
                                name="sparsity", y_range=(0.0, 1.0),
                                empty_text="measured when the job ends", parent=self)
        self.sparsity.setObjectName("pruneSparsityPlot")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.loss, 0, 0)
        grid.addWidget(self.kept, 0, 1)
        grid.addWidget(self.tradeoff, 1, 0)
        grid.addWidget(self.sparsity, 1, 1)
        self._phase = ""
        self._reference: list[ModelEntry] = []

    def plots(self) -> list[QWidget]:
        return [self.loss, self.kept, self.tradeoff, self.sparsity]

    def clear(self) -> None:
        self.loss.clear()
        self.kept.clear()
        self.tradeoff.clear()
        self.sparsity.clear()
        self._phase = ""
        self.show_reference(self._reference)

    def show_reference(self, entries: Sequence[ModelEntry]) -> None:
        """Put the shipped pruned models' published (compression, 1 - test error) on the trade-off plot."""
        self._reference = list(entries)
        xs, ys = [], []
        for entry in entries:
            metrics = entry.info.metrics
            compression, error = metrics.get("compression"), metrics.get("test_error")
            if isinstance(compression, (int, float)) and isinstance(error, float):
                xs.append(float(compression))
                ys.append(1.0 - error)
        if xs:
            self.tradeoff.set_series(SHIPPED, xs, ys, color=COLORS[SHIPPED], symbol="s")

    # -------------------------------------------------------------------------------- job signals

    def on_started(self, task: str, _total: object = None) -> None:
        self._phase = "dense loss" if task.startswith(DENSE_TASK) else "loss"

    def on_progress(self, step: int, total: int | None = None,
                    metrics: Mapping[str, float] | None = None) -> None:
        metrics = dict(metrics or {})
        if "loss" in metrics and self._phase:
            self.loss.on_progress(step, total, {self._phase: metrics["loss"]})
        self.kept.on_progress(step, total, metrics)

    def on_message(self, text: str) -> None:
        """An end-of-epoch message gives a point of the trade-off plot."""
        row = epoch_row(text)
        if row is None or "val_error" not in row:
            return
        accuracy = 1.0 - row["val_error"]
        if row.get("dense"):
            self.tradeoff.set_series(DENSE, [1.0], [accuracy], color=COLORS[DENSE], symbol="t")
        elif row.get("kept_params", 0) > 0:
            self.tradeoff.add_point(EPOCHS, 1.0 / row["kept_params"], accuracy, connect=True,
                                    color=COLORS[EPOCHS])

    def show_outcome(self, outcome: PruneOutcome) -> None:
        """The finished (or cancelled) job's final point and per-layer bars."""
        result = outcome.result
        if result is None:
            return
        measured = result.measurements
        if "val_error" in measured:
            self.tradeoff.set_series(FINAL, [float(measured["compression"])],
                                     [1.0 - float(measured["val_error"])], color=COLORS[FINAL], symbol="star")
        if outcome.layers:
            self.sparsity.set_bars([bar.name for bar in outcome.layers],
                                   [bar.sparsity for bar in outcome.layers])
