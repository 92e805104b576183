"""The GAN panel: a toy GAN job with live curves and a scatter of samples, Cancel, and sampling models."""

from __future__ import annotations

import csv
import time

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (pip install 'chemaccel[gui]')")
pytestmark = pytest.mark.gui

from chemaccel import api  # noqa: E402
from chemaccel.gan import GanConfig  # noqa: E402
from chemaccel_gui.gan_panel import NO_MOLECULAR_MODEL  # noqa: E402
from chemaccel_gui.shipped import models_dir  # noqa: E402

from .conftest import EXAMPLES  # noqa: E402


@pytest.fixture
def panel(window, tmp_path):
    panel = window.gan_panel
    panel.work_root = tmp_path / "jobs"
    window.tabs.setCurrentWidget(panel)
    return panel


def test_the_panel_says_when_no_molecular_model_is_shipped(panel):
    kinds = [entry.info.config["data"] for entry in panel.picker.entries()]
    assert {"ring8", "grid25"} <= set(kinds)
    if (models_dir() / "gan-qm9").is_dir():
        pytest.skip("a molecular GAN is shipped")
    assert panel.molecular_note.text() == NO_MOLECULAR_MODEL and not panel.molecular_note.isHidden()


def test_sample_the_shipped_molecular_model_shows_molecules(panel, wait_job, messages):
    if not (models_dir() / "gan-qm9").is_dir():
        pytest.skip("no molecular GAN is shipped")
    assert panel.molecular_note.isHidden()
    assert panel.picker.select("gan-qm9")
    job = panel.sample(200)
    wait_job(job)
    assert job.error is None, job.error
    assert panel.results.currentWidget() is panel.grid
    samples = panel.samples
    assert samples.kind == "qm9" and len(samples.smiles) == 200
    assert f"{samples.n_valid} of 200 samples are valid molecules" in panel.status.text()
    assert 0.8 < samples.n_valid / 200 <= 1.0 and messages == []
    # the metrics shown are those of the molecules on the grid
    distinct = len({s for s in samples.smiles if s})
    assert samples.metrics["n_unique"] == distinct
    assert f"{distinct} distinct (uniqueness {distinct / samples.n_valid:.0%})" in panel.status.text()
    assert "internal diversity" in panel.status.text()


def test_sample_a_shipped_toy_model(panel, wait_job, messages):
    assert panel.picker.select("gan-ring8")
    job = panel.sample(400)
    wait_job(job)
    assert job.error is None, job.error
    series = panel.scatter.series
    assert len(series) == 8  # one colour per generator
    assert sum(len(xs) for xs, _ in series.values()) == 400
    assert panel.results.currentWidget() is panel.scatter
    assert "400 samples" in panel.status.text() and messages == []


def test_a_tiny_toy_gan_trains_with_curves_and_a_scatter(panel, wait_job, tmp_path, messages):
    for name, value in {"steps": 60, "log_every": 10, "n_generators": 2}.items():
        panel.form.set_value(name, value)
    job = panel.train()
    assert job is not None and not panel.train_button.isEnabled() and not panel.sample_button.isEnabled()
    wait_job(job)
    assert job.error is None, job.error
    xs, ys = panel.curves.series["loss_d"]
    assert xs == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0] and all(y > 0 for y in ys)
    assert set(panel.curves.series) == {"loss_d", "loss_g", "classifier", "ortho"}
    assert sorted(panel.scatter.series) == ["generator 1", "generator 2"]
    assert panel.training.result.status == "completed" and "completed" in panel.status.text()
    assert panel.save_button.isEnabled() and panel.train_button.isEnabled()
    folder = panel.save_model(tmp_path / "toy-gan")
    assert api.read_model_info(folder).engine == "gan"
    rows = list(csv.reader(panel.scatter.export_csv(tmp_path / "samples.csv").open()))
    assert rows[0] == ["generator 1_x", "generator 1_y", "generator 2_x", "generator 2_y"]
    assert messages == []


def test_cancel_a_gan_job_keeps_its_checkpoint(panel, qtbot, wait_job, messages):
    for name, value in {"steps": 100_000, "log_every": 5}.items():
        panel.form.set_value(name, value)
    job = panel.train()
    qtbot.waitUntil(lambda: len(panel.curves.series.get("loss_d", ([], []))[0]) >= 2, timeout=20_000)
    began = time.monotonic()
    panel.cancel_button.click()
    wait_job(job)
    assert time.monotonic() - began < 5.0
    result = panel.training.result
    assert result.status == "cancelled" and (result.checkpoint / "state.json").is_file()
    assert "last checkpoint is kept" in panel.status.text()
    assert not panel.save_button.isEnabled() and panel.train_button.isEnabled() and messages == []


def test_an_invalid_setting_is_shown_inline(panel, messages):
    panel.form.set_value("n_generators", 0)
    assert panel.train() is None and panel.job is None
    assert panel.form.error().startswith("K (n_generators) must be at least 1")
    assert messages == []


def test_sample_a_molecular_model_shows_a_grid(panel, wait_job, tmp_path, messages):
    smiles = [row["smiles"] for row in csv.DictReader((EXAMPLES / "qm9_gap_2k.csv").open())][:100]
    config = GanConfig(data="qm9", steps=3, batch_size=8, gen_hidden=16, disc_hidden=16, gen_layers=1,
                       disc_layers=1, eval_samples=8, checkpoint_every=100, log_every=1)
    api.train_gan(config, smiles, out=tmp_path / "tiny-qm9-gan")  # untrained: samples may all be invalid
    assert panel.picker.use_folder(tmp_path / "tiny-qm9-gan") is not None
    job = panel.sample(12)
    wait_job(job)
    assert job.error is None, job.error
    assert panel.results.currentWidget() is panel.grid and panel.grid.count() == 12
    samples = panel.samples
    for i, text in enumerate(samples.smiles):
        item = panel.grid.item(i)
        assert item.text() == (text or "(invalid)") and item.icon().isNull() == (text is None)
    assert f"{samples.n_valid} of 12 samples are valid molecules" in panel.status.text()
    assert messages == []
