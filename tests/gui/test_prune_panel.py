"""The Train / prune panel: a form generated from PruneConfig, tiny jobs with live plots, Cancel and Save."""

from __future__ import annotations

import csv
import time

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (pip install 'chemaccel[gui]')")
pytestmark = pytest.mark.gui

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox  # noqa: E402

from chemaccel import api  # noqa: E402
from chemaccel.chem.depict import PNG_MAGIC  # noqa: E402
from chemaccel.prune.config import GRANULARITIES  # noqa: E402
from chemaccel_gui.config_form import INVALID_STYLE  # noqa: E402

CANCEL_WITHIN_S = 5.0


@pytest.fixture
def panel(window, tmp_path):
    panel = window.prune_panel
    panel.work_root = tmp_path / "jobs"
    window.tabs.setCurrentWidget(panel)
    return panel


def tiny(panel, *, epochs: int, limit: int = 300, **settings) -> None:
    """A job over ``limit`` MNIST images, batch 32 (about 9 steps an epoch), one dense epoch first."""
    assert panel.picker.select("lenet5") and panel.data_combo.currentText() == "MNIST"
    panel.limit_spin.setValue(limit)
    panel.pretrain_spin.setValue(1)
    for name, value in {"epochs": epochs, "finetune_epochs": 1, "batch_size": 32, **settings}.items():
        panel.form.set_value(name, value)


def test_the_form_is_generated_from_prune_config(panel, shared_data):  # (a job spec needs image data)
    form = panel.form
    granularity = form.widget("granularity")
    assert isinstance(granularity, QComboBox)
    assert [granularity.itemText(i) for i in range(granularity.count())] == list(GRANULARITIES)
    assert isinstance(form.widget("epochs"), QSpinBox) and isinstance(form.widget("budget"), QLineEdit)
    assert form.widget("cost_mix").text() == "" and form.value("cost_mix") is None  # float | None
    assert isinstance(form.widget("runtime.seed"), QSpinBox)
    assert "runtime.device" not in form.fields  # the toolbar's device selector decides
    assert "fraction of ``target`` to keep" in form.widget("budget").toolTip()  # from the docstring
    config = panel.spec().config
    assert config.runtime.device == "cpu" and config.budget == 0.1 and config.epochs == 10


def test_an_invalid_value_is_shown_inline_with_the_dataclass_reason(panel, messages, shared_data):
    panel.form.set_value("budget", 1.5)
    assert panel.start() is None and panel.job is None
    assert panel.form.error().startswith("budget must be the fraction of params to keep, in (0, 1]")
    assert panel.form.widget("budget").styleSheet() == INVALID_STYLE
    panel.form.widget("budget").setText("a lot")
    assert panel.start() is None
    assert panel.form.error() == "budget: 'a lot' is not a number"
    panel.form.set_value("budget", 0.2)
    panel.form.set_value("epochs", 0)
    assert panel.spec() is None and "epochs must be a positive integer, got 0" in panel.form.error()
    assert panel.form.widget("epochs").styleSheet() == INVALID_STYLE
    assert panel.form.widget("budget").styleSheet() == ""
    panel.form.set_value("epochs", 3)
    assert panel.spec() is not None and panel.form.error() == "" and panel.form.error_label.isHidden()
    assert messages == []  # inline, no message box


def test_a_shipped_model_brings_its_settings(panel, shared_data):
    assert panel.picker.select("cnn-fashion-autoprune")
    assert panel.form.value("granularity") == "structured" and panel.form.value("target") == "flops"
    assert panel.form.value("budget") == 0.25
    assert panel.data_combo.currentText() == "Fashion-MNIST" and not panel.pretrain_spin.isEnabled()
    assert panel.plots.tradeoff.series["shipped models"][0] == [pytest.approx(1.7118, rel=1e-3)]
    assert panel.picker.select("lenet5")
    assert panel.form.value("granularity") == "unstructured" and panel.pretrain_spin.isEnabled()


def test_a_tiny_job_is_cancelled_keeps_its_checkpoint_and_resumes(panel, qtbot, wait_job, shared_data,
                                                                  messages):
    tiny(panel, epochs=200)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    began = time.monotonic()
    job = panel.start()
    assert job is not None and not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
    assert not panel.form.isEnabled()
    qtbot.waitUntil(lambda: len(panel.plots.loss.series.get("loss", ([], []))[0]) >= 3, timeout=20_000)
    assert panel.plots.kept.series["kept_params"][1][-1] <= 1.0
    assert panel.progress.maximum() == 200 * 9 + 9 and 0 < panel.progress.value() < panel.progress.maximum()
    cancelled_at = time.monotonic()
    panel.cancel_button.click()
    wait_job(job)
    timer.stop()
    assert time.monotonic() - cancelled_at < CANCEL_WITHIN_S
    # the window kept processing its timer while the job ran
    running = cancelled_at - began
    assert len(ticks) >= 0.25 * running / 0.02
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 1.0

    outcome = panel.outcome
    assert outcome is not None and outcome.cancelled and outcome.result is not None
    state = outcome.checkpoint / "state.json"
    assert state.is_file() and outcome.checkpoint.is_relative_to(panel.work_root)
    assert "last good checkpoint is kept" in panel.status.text()
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled() and panel.form.isEnabled()
    assert panel.resume_button.isEnabled() and not panel.save_button.isEnabled()
    assert messages == []

    resumed: list[str] = []
    job = panel.resume()
    job.reporter.message.connect(resumed.append)
    qtbot.waitUntil(lambda: any(text.startswith("resumed from") for text in resumed), timeout=20_000)
    panel.cancel()
    wait_job(job)
    assert panel.outcome.cancelled and panel.outcome.spec.work == outcome.spec.work


def test_a_tiny_job_runs_to_the_end_with_plots_and_saves(panel, wait_job, shared_data, tmp_path, messages):
    tiny(panel, epochs=2, budget=0.5)
    job = panel.start()
    wait_job(job)
    assert job.error is None, job.error
    outcome = panel.outcome
    assert outcome is not None and not outcome.cancelled
    plots = panel.plots
    assert len(plots.tradeoff.series["epochs"][0]) == 3  # two pruning epochs and one fine-tuning epoch
    assert list(plots.tradeoff.series["dense"][0]) == [1.0]
    assert len(plots.tradeoff.series["final"][0]) == 1
    assert plots.sparsity.labels == ["conv 0", "conv 2", "fc 5", "fc 7"]  # LeNet-5's prunable layers
    assert all(0.0 <= value < 1.0 for value in plots.sparsity.values) and max(plots.sparsity.values) > 0
    assert panel.save_button.isEnabled() and not panel.resume_button.isEnabled()
    assert "Done:" in panel.status.text() and panel.progress.value() == panel.progress.maximum()

    folder = panel.save_model(tmp_path / "lenet5-pruned")
    assert folder is not None and api.read_model_info(folder).engine == "prune"
    model = api.load_model(folder)
    assert sum(p.numel() for p in model.parameters()) > 0

    for plot in plots.plots():
        rows = list(csv.reader(plot.export_csv(tmp_path / f"{plot.objectName()}.csv").open()))
        assert len(rows) > 1
        assert plot.export_png(tmp_path / f"{plot.objectName()}.png").read_bytes()[:8] == PNG_MAGIC
        assert "</svg>" in plot.export_svg(tmp_path / f"{plot.objectName()}.svg").read_text()
    bars = list(csv.reader((tmp_path / "pruneSparsityPlot.csv").open()))
    assert bars[0] == ["sparsity_x", "sparsity_y"] and len(bars) == 1 + 4
    assert messages == []


def test_save_without_a_finished_model_says_so(panel, messages):
    assert panel.save_model("/nonexistent/folder") is None
    assert messages[-1][0] == "information" and "No finished model" in messages[-1][2]


def test_an_engine_error_is_a_message_box_with_one_line(panel, wait_job, shared_data, messages):
    tiny(panel, epochs=2)
    panel.pretrain_spin.setValue(0)
    panel.form.set_value("runtime.precision", "16-mixed")  # valid for the dataclass, not on a CPU
    job = panel.start()
    wait_job(job)
    assert job.error and not job.unexpected
    kind, title, text = messages[-1]
    assert kind == "warning" and title == "Train / prune" and "16-mixed needs a CUDA GPU" in text
    assert "\n" not in text and "Traceback" not in text
    assert "16-mixed" in panel.status.text() and panel.start_button.isEnabled()


def test_epoch_messages_become_trade_off_points():
    from chemaccel_gui.prune_task import epoch_row

    assert epoch_row("epoch=2 phase=prune loss=0.5 kept_params=0.25 val_error=0.1") == {
        "epoch": 2.0, "loss": 0.5, "kept_params": 0.25, "val_error": 0.1}
    assert epoch_row("dense training: epoch=1 val_loss=0.3 val_error=0.08") == {
        "dense": 1.0, "epoch": 1.0, "val_loss": 0.3, "val_error": 0.08}
    assert epoch_row("checkpoint written") is None
