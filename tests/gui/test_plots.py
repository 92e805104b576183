"""Live curves: a curve per metric from progress signals; PNG, SVG and CSV export through pyqtgraph."""

from __future__ import annotations

import csv

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (pip install 'chemaccel[gui]')")
pytestmark = pytest.mark.gui

from chemaccel.chem.depict import PNG_MAGIC  # noqa: E402
from chemaccel_gui.jobs import Job  # noqa: E402
from chemaccel_gui.plots import CurvePlot  # noqa: E402


@pytest.fixture
def plot(qtbot) -> CurvePlot:
    widget = CurvePlot(title="Training", x_label="step", y_label="value")
    qtbot.addWidget(widget)
    widget.resize(500, 320)
    widget.show()
    qtbot.waitExposed(widget)
    for step in range(1, 11):
        widget.on_progress(step, 10, {"loss": 1.0 / step, "accuracy": step / 10, "note": "text is skipped"})
    return widget


def test_a_curve_per_metric(plot: CurvePlot):
    assert list(plot.curves) == ["loss", "accuracy"]
    xs, ys = plot.series["loss"]
    assert xs == [float(s) for s in range(1, 11)] and ys[-1] == pytest.approx(0.1)
    x_data, y_data = plot.curves["accuracy"].getData()
    assert list(x_data) == xs and y_data[-1] == pytest.approx(1.0)
    plot.on_progress(11, None, {"loss": float("nan")})  # not finite: not plotted
    assert len(plot.series["loss"][0]) == 10
    plot.clear()
    assert plot.curves == {} and plot.series == {}


def test_only_the_chosen_metrics(qtbot):
    widget = CurvePlot(metrics=["val_loss"])
    qtbot.addWidget(widget)
    widget.on_progress(1, None, {"loss": 1.0, "val_loss": 2.0})
    assert list(widget.curves) == ["val_loss"]


def test_export_png_svg_csv(plot: CurvePlot, tmp_path):
    png = plot.export_png(tmp_path / "plots" / "curves.png")
    svg = plot.export_svg(tmp_path / "curves.svg")
    table = plot.export_csv(tmp_path / "curves.csv")
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 1000
    text = svg.read_text()
    assert "<svg" in text and "</svg>" in text and "<path" in text
    rows = list(csv.reader(table.open()))
    assert rows[0] == ["loss_x", "loss_y", "accuracy_x", "accuracy_y"]
    assert len(rows) == 11
    assert [float(v) for v in rows[1]] == [1.0, 1.0, 1.0, 0.1]
    assert float(rows[-1][1]) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown plot export format"):
        plot.export(tmp_path / "curves.jpg")


def test_fed_by_a_job(qtbot, tmp_path):
    widget = CurvePlot()
    qtbot.addWidget(widget)

    def task(reporter):
        for step in range(1, 6):
            reporter.on_progress(step, 5, {"loss": 10.0 - step})

    job = Job(task, "Train", parent=None)
    job.reporter.interval = 0  # every step
    job.reporter.progress.connect(widget.on_progress)
    job.start()
    qtbot.waitUntil(lambda: job.ended, timeout=10_000)
    assert widget.series["loss"] == ([1.0, 2.0, 3.0, 4.0, 5.0], [9.0, 8.0, 7.0, 6.0, 5.0])
    rows = list(csv.reader(widget.export_csv(tmp_path / "loss.csv").open()))
    assert rows[0] == ["loss_x", "loss_y"] and len(rows) == 6


def test_scatter_and_bar_charts_export(qtbot, tmp_path):
    from chemaccel_gui.charts import BarPlot, ScatterPlot

    scatter = ScatterPlot(title="samples", equal_axes=True)
    bars = BarPlot(title="sparsity", name="sparsity", y_range=(0, 1))
    for widget in (scatter, bars):
        qtbot.addWidget(widget)
        widget.resize(400, 300)
        widget.show()
    scatter.set_series("a", [0, 1], [1, 0])
    scatter.add_point("b", 2.0, 2.0, connect=True)
    scatter.add_point("b", 3.0, 1.0)
    assert scatter.series["b"] == ([2.0, 3.0], [2.0, 1.0])
    bars.set_bars(["conv 0", "fc 2"], [0.25, 0.5])
    rows = list(csv.reader(scatter.export_csv(tmp_path / "scatter.csv").open()))
    assert rows[0] == ["a_x", "a_y", "b_x", "b_y"] and len(rows) == 3
    rows = list(csv.reader(bars.export_csv(tmp_path / "bars.csv").open()))
    assert rows[0] == ["sparsity_x", "sparsity_y"]
    assert [[float(v) for v in row] for row in rows[1:]] == [[0.0, 0.25], [1.0, 0.5]]
    for widget in (scatter, bars):
        assert widget.export_png(tmp_path / "p.png").read_bytes()[:8] == PNG_MAGIC
        assert "</svg>" in widget.export_svg(tmp_path / "p.svg").read_text()
    scatter.clear()
    assert scatter.series == {} and scatter.items == {}
