"""The NAS panel: a form generated from SearchConfig, a tiny search with live curves and the derived genotype,
Cancel, genotype files and model folders (bad ones give one line, never a traceback)."""

from __future__ import annotations

import csv
import json
import time

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (pip install 'chemaccel[gui]')")
pytestmark = pytest.mark.gui

from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox  # noqa: E402

from chemaccel import api  # noqa: E402
from chemaccel.nas import Genotype, RetrainConfig, load_genotype  # noqa: E402
from chemaccel.nas.config import PRECISIONS  # noqa: E402
from chemaccel_gui.config_form import INVALID_STYLE  # noqa: E402
from chemaccel_gui.nas_panel import NO_SHIPPED_MODEL, SHIPPED  # noqa: E402
from chemaccel_gui.shipped import models_dir  # noqa: E402

CANCEL_WITHIN_S = 5.0
GENOTYPE = {"normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["dil_conv_3x3", 0], ["skip_connect", 2]],
            "normal_concat": [2, 3],
            "reduce": [["max_pool_3x3", 0], ["avg_pool_3x3", 1], ["sep_conv_5x5", 1], ["max_pool_3x3", 2]],
            "reduce_concat": [2, 3]}


@pytest.fixture
def panel(window, tmp_path):
    panel = window.nas_panel
    panel.work_root = tmp_path / "jobs"
    window.tabs.setCurrentWidget(panel)
    return panel


def tiny(panel, *, epochs: int = 1, limit: int = 192, distill: bool = True, **settings) -> None:
    """A tiny supernet (3 cells, 4 channels, 2 nodes) on ``limit`` Fashion-MNIST images, batch 32 (3 steps
    an epoch), with a 1-epoch teacher of width 4 when distilled (the tiny configuration of tests/nas)."""
    assert panel.data_combo.currentText() == "Fashion-MNIST"
    panel.limit_spin.setValue(limit)
    panel.distill_check.setChecked(distill)
    values = {"layers": 3, "init_channels": 4, "nodes": 2, "epochs": epochs, "batch_size": 32,
              "teacher_width": 4, "teacher_epochs": 1, **settings}
    for name, value in values.items():
        panel.form.set_value(name, value)


def test_the_tab_opens_with_a_form_generated_from_search_config(window, panel, shared_data):  # (a spec needs images)
    assert window.tabs.tabText(window.tabs.currentIndex()) == "NAS" and panel.isVisible()
    form = panel.form
    order = form.widget("order")
    assert isinstance(order, QComboBox)
    assert [order.itemText(i) for i in range(order.count())] == ["first", "second"]
    precision = form.widget("runtime.precision")
    assert [precision.itemText(i) for i in range(precision.count())] == list(PRECISIONS)
    assert isinstance(form.widget("layers"), QSpinBox) and isinstance(form.widget("arch_lr"), QLineEdit)
    assert isinstance(form.widget("distill_arch"), QCheckBox)
    assert form.value("max_skip") == 2 and form.value("unrolled_lr") is None  # int | None, float | None
    assert "runtime.device" not in form.fields and "limit_train" not in form.fields  # toolbar, Data box
    assert "ops" not in form.fields  # a tuple: the defaults
    assert "Adam of the architecture parameters" in form.widget("arch_lr").toolTip()  # from the docstring
    assert panel.distill_check.isChecked() and form.widget("feature_weight").isEnabled()
    config = panel.spec().config
    assert config.distill and config.limit_train == 2000 and config.runtime.device == "cpu"
    panel.distill_check.setChecked(False)
    assert not form.widget("logit_weight").isEnabled()
    config = panel.spec().config
    assert not config.distill and config.feature_weight == 0.0 and config.epochs == 10
    assert not panel.save_button.isEnabled()
    if (models_dir() / SHIPPED).is_dir():  # the shipped model is chosen first: its cells are drawn
        assert panel.model is not None and panel.genotype_view.genotype == panel.model.genotype
        assert "test accuracy" in panel.model_info.text() and panel.model_note.isHidden()
        return
    assert panel.genotype_view.genotype is None
    assert panel.model_note.text() == NO_SHIPPED_MODEL and not panel.model_note.isHidden()


def test_a_tiny_search_runs_to_the_end_and_shows_the_genotype(panel, wait_job, shared_data, tmp_path,
                                                               messages):
    tiny(panel)
    job = panel.start()
    assert job is not None and not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
    assert not panel.form.isEnabled()
    wait_job(job)
    assert job.error is None, job.error
    outcome = panel.outcome
    assert outcome is not None and not outcome.cancelled and outcome.spec.config.distill
    result = outcome.result
    # live curves: the teacher's loss, then the search's losses as the engine reports them
    curves = panel.losses.series
    assert {"teacher loss", "loss", "ce", "val_loss", "kd_feature", "kd_logit"} <= set(curves)
    teacher_steps = max(curves["teacher loss"][0])
    assert min(curves["loss"][0]) > teacher_steps  # the search follows the teacher on the x axis
    assert panel.epochs.series["val_accuracy"][0] == [1.0]  # one point per epoch
    # the derived genotype, drawn, with its skip connections per cell
    view = panel.genotype_view
    genotype = result.genotype
    assert view.genotype == genotype and "Derived by the search" in view.title.text()
    skips = genotype.skip_counts()
    assert view.skip_label.text().startswith(
        f"Skip connections per cell: normal {skips['normal']}, reduce {skips['reduce']}")
    for key in ("normal", "reduce"):
        assert view.diagrams[key].edge_labels == [op for op, _ in getattr(genotype, key)]
        assert view.diagrams[key].node_names == ["c_{k-2}", "c_{k-1}", "0", "1", "c_{k}"]
        assert f"{skips[key]} skip connection" in view.captions[key].text()
    assert view.table.rowCount() == len(genotype.normal) + len(genotype.reduce)
    assert "Done in" in panel.status.text() and panel.progress.value() == panel.progress.maximum()
    assert panel.save_button.isEnabled() and panel.start_button.isEnabled()
    assert not panel.resume_button.isEnabled()

    saved = panel.save_genotype(tmp_path / "genotype.json")
    assert load_genotype(saved) == genotype
    search = json.loads(saved.read_text())["search"]
    assert search["config"]["limit_train"] == 192 and search["skip_per_cell"] == skips
    assert search["data"] == "fashion_mnist" and len(search["normalization"]) == 2
    rows = list(csv.reader(panel.losses.export_csv(tmp_path / "losses.csv").open()))
    assert "loss_x" in rows[0] and len(rows) > 2
    assert messages == []


def test_a_search_is_cancelled_and_the_panel_returns_to_idle(panel, qtbot, wait_job, shared_data, messages):
    tiny(panel, epochs=200, limit=640, distill=False)
    job = panel.start()
    qtbot.waitUntil(lambda: len(panel.losses.series.get("loss", ([], []))[0]) >= 2, timeout=20_000)
    assert 0 < panel.progress.value() < panel.progress.maximum() == 200 * 10
    cancelled_at = time.monotonic()
    panel.cancel_button.click()
    wait_job(job)
    assert time.monotonic() - cancelled_at < CANCEL_WITHIN_S
    outcome = panel.outcome
    assert outcome.cancelled and (outcome.checkpoint / "state.json").is_file()
    assert outcome.checkpoint.is_relative_to(panel.work_root)
    assert "last checkpoint is kept" in panel.status.text()
    assert "Provisional genotype" in panel.genotype_view.title.text()
    # idle again
    assert panel.job is None and panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert panel.form.isEnabled() and panel.resume_button.isEnabled() and not panel.save_button.isEnabled()
    assert panel.progress.value() == 0
    assert panel.save_genotype("/nonexistent/g.json") is None and "No finished search" in messages[-1][2]


def test_a_bad_genotype_json_gives_a_one_line_message(panel, tmp_path, messages):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GENOTYPE))
    assert panel.open_genotype(good) == Genotype.from_dict(GENOTYPE)
    assert panel.genotype_view.skip_label.text() == "Skip connections per cell: normal 2, reduce 0"
    assert panel.genotype_view.diagrams["normal"].edge_labels.count("skip_connect") == 2
    bad_op = dict(GENOTYPE, normal=[["conv_9x9", 0], ["skip_connect", 1], ["dil_conv_3x3", 0],
                                    ["skip_connect", 2]])
    bad_edge = dict(GENOTYPE, reduce=[["max_pool_3x3", 0], ["avg_pool_3x3", 1], ["sep_conv_5x5", 1],
                                      ["max_pool_3x3", 7]])
    cases = {"op.json": (json.dumps(bad_op), "unknown operation 'conv_9x9'"),
             "edge.json": (json.dumps(bad_edge), "impossible edge from state 7"),
             "text.json": ("normal: sep_conv_3x3", "cannot read the genotype JSON")}
    for name, (text, reason) in cases.items():
        (tmp_path / name).write_text(text)
        assert panel.open_genotype(tmp_path / name) is None
        kind, title, message = messages[-1]
        assert kind == "warning" and title == "Open genotype" and reason in message
        assert "\n" not in message and "Traceback" not in message
    assert panel.genotype_view.genotype == Genotype.from_dict(GENOTYPE)  # the last good one stays
    assert len(messages) == 3


def test_a_model_folder_shows_its_genotype_parameters_and_test_accuracy(panel, tmp_path, messages):
    import torch

    torch.manual_seed(0)
    x, y = torch.randn(48, 1, 12, 12), torch.randint(0, 4, (48,))
    config = RetrainConfig(layers=3, init_channels=4, epochs=1, batch_size=16, augment=False,
                           runtime=api.RuntimeConfig(device="cpu", seed=0))
    result = api.nas_retrain(GENOTYPE, (x, y), tmp_path / "tiny-nas", config, test_data=(x[:20], y[:20]),
                             normalization=(0.0, 1.0))
    entry = panel.picker.use_folder(tmp_path / "tiny-nas")
    assert entry is not None and messages == []
    assert panel.model_note.isHidden()  # "no NAS model is shipped" is no longer the point
    model = panel.model
    assert model.params == result.metrics["params"] and model.test_accuracy == result.metrics["test_accuracy"]
    text = panel.model_info.text()
    assert f"{result.metrics['params']:,} parameters" in text
    assert f"test accuracy {result.metrics['test_accuracy']:.2%} on 20 test images (stored)" in text
    assert "skip connections: normal 2, reduce 0" in text and "retrained 1 epoch" in text
    assert panel.genotype_view.genotype == Genotype.from_dict(GENOTYPE)
    assert panel.genotype_view.title.text() == "Model tiny-nas"

    # a folder whose config.json names an unknown operation: one line, inline
    bad = tmp_path / "bad-nas"
    bad.mkdir()
    info = json.loads((tmp_path / "tiny-nas" / "config.json").read_text())
    info["architecture"]["model"]["genotype"]["normal"][0][0] = "conv_9x9"
    (bad / "config.json").write_text(json.dumps(info))
    assert panel.picker.use_folder(bad) is not None
    assert panel.model is None and panel.genotype_view.genotype is None
    reason = panel.model_info.text()
    assert "bad genotype in config.json" in reason and "unknown operation 'conv_9x9'" in reason
    assert "\n" not in reason and "Traceback" not in reason
    # not a model folder at all: the picker's message box, one line
    assert panel.picker.use_folder(tmp_path) is None
    assert messages[-1][0] == "warning" and "missing config.json" in messages[-1][2]


def test_an_invalid_value_is_shown_inline_with_the_config_reason(panel, messages, shared_data):
    panel.form.set_value("epochs", 0)
    assert panel.start() is None and panel.job is None
    assert panel.form.error() == "epochs must be a positive integer, got 0"
    assert panel.form.widget("epochs").styleSheet() == INVALID_STYLE and not panel.form.error_label.isHidden()
    panel.form.set_value("epochs", 2)
    panel.form.widget("arch_lr").setText("fast")
    assert panel.start() is None and panel.form.error() == "arch_lr: 'fast' is not a number"
    panel.form.set_value("arch_lr", 1e-3)
    panel.form.set_value("train_portion", 1.0)
    assert panel.spec() is None
    assert "train_portion must leave data for the architecture step" in panel.form.error()
    assert panel.form.widget("train_portion").styleSheet() == INVALID_STYLE
    panel.form.set_value("train_portion", 0.5)
    panel.limit_spin.setValue(100)  # 50 / 50 images: less than a batch of 64 each
    assert panel.spec() is None
    assert panel.form.error().startswith("limit_train 100 is too small for its split")
    assert panel.limit_spin.styleSheet() == INVALID_STYLE
    panel.limit_spin.setValue(2000)
    panel.form.set_value("feature_weight", 0.0)
    panel.form.set_value("logit_weight", 0.0)
    assert panel.spec() is None and "distillation is switched on" in panel.form.error()
    panel.distill_check.setChecked(False)
    assert panel.spec() is not None and panel.form.error() == "" and panel.limit_spin.styleSheet() == ""
    assert messages == []  # inline, no message box
