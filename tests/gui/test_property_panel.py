"""The Property panel predicts the loaded molecules with a shipped model; results become table columns."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import shutil

import pytest

pytest.importorskip("PySide6", reason="PySide6 is not installed (pip install 'chemaccel[gui]')")
if importlib.util.find_spec("schnetpack") is None:  # imported only through chemaccel's shim, never directly
    pytest.skip("the property engine needs schnetpack (chemaccel[property])", allow_module_level=True)
pytestmark = pytest.mark.gui

from PySide6.QtCore import Qt  # noqa: E402

from chemaccel import api  # noqa: E402
from chemaccel_gui.molecule_model import ERROR_COLOR  # noqa: E402
from chemaccel_gui.shipped import models_dir  # noqa: E402

from .conftest import EXAMPLES  # noqa: E402

MODEL = "qm9-gap-schnet-pruned"
FF_MODEL = "qm9-gap-schnet-ff"
VALUE = f"gap_eV ({MODEL})"
STATUS = f"status ({MODEL})"
GEOMETRY = f"geometry ({MODEL})"
DOMAIN = f"domain ({MODEL})"
DOMAIN_REASON = f"domain_reason ({MODEL})"


def predict_and_wait(window, wait_job, model=MODEL):
    panel = window.property_panel
    panel.picker.select(model)
    assert panel.picker.path() is not None and panel.picker.path().name == model
    job = panel.predict()
    wait_job(job)
    assert job.error is None, job.error
    return panel


def column_values(model, name):
    column = model.columns().index(name)
    return [model.index(row, column).data() for row in range(model.rowCount())]


def test_shipped_property_models_are_listed(window):
    names = [entry.name for entry in window.property_panel.picker.entries()]
    assert names == ["qm9-gap-schnet", "qm9-gap-schnet-ff", "qm9-gap-schnet-pruned", "qm9-u0-schnet-pruned"]
    assert window.property_panel.picker.path().name == FF_MODEL  # the SMILES-ready model first
    assert "valid_mae_mev_gap" in window.property_panel.picker.info.toolTip()  # the label may be shortened


def test_predict_the_example_sdf_adds_columns(window, open_and_wait, wait_job, messages, tmp_path):
    open_and_wait(EXAMPLES / "molecules.sdf")
    panel = predict_and_wait(window, wait_job)
    model = window.molecule_model
    assert [VALUE, DOMAIN, DOMAIN_REASON, STATUS, GEOMETRY] == model.prop_names[-5:]
    # a model without domain data says so instead of claiming the molecules are inside it
    assert {r.props.get(DOMAIN) for r in model.records if r.props[STATUS] == "ok"} == {"unknown"}
    records = model.records
    values = [r.props.get(VALUE) for r in records]
    statuses = [r.props[STATUS] for r in records]
    ok = [v for v, s in zip(values, statuses) if s == "ok"]
    assert len(ok) == 8 and all(isinstance(v, float) and math.isfinite(v) and 2 < v < 12 for v in ok)
    bad = [s for s in statuses if s != "ok"]  # two molecules with chlorine, which QM9 has not
    assert len(bad) == 2 and all(s.startswith("error: element(s) Cl") for s in bad)
    assert {r.props[GEOMETRY] for r in records} == {"file"}  # the SDF's own 3D coordinates
    shown = column_values(model, VALUE)
    assert sum(bool(text) for text in shown) == 8
    status_column = model.columns().index(STATUS)
    error_row = next(row for row in range(model.rowCount()) if model.record_at(row).props[STATUS] != "ok")
    color = model.index(error_row, status_column).data(Qt.ItemDataRole.ForegroundRole)  # errors in red
    assert color.color() == ERROR_COLOR
    assert "8 of 10" in panel.summary.text() and "2 with errors" in panel.summary.text()
    assert not panel.view.isColumnHidden(model.columns().index(VALUE))
    assert panel.predict_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert messages == []

    job = window.export_molecules("csv", tmp_path / "predicted.csv")  # the existing export writes them
    wait_job(job)
    rows = list(csv.DictReader((tmp_path / "predicted.csv").open()))
    assert len(rows) == 10 and math.isfinite(float(rows[0][VALUE])) and rows[-1][STATUS].startswith("error")


def test_smiles_are_predicted_on_force_field_geometries(window, open_and_wait, wait_job):
    open_and_wait(EXAMPLES / "with_errors.smi")
    predict_and_wait(window, wait_job)
    records = window.molecule_model.records
    good = [r for r in records if r.props[STATUS] == "ok"]
    assert good and all(r.props[GEOMETRY] == "forcefield" for r in good)
    assert all("force-field geometry" in r.props[f"note ({MODEL})"] for r in good)
    unreadable = [r for r in records if not r.ok]
    assert unreadable and all(r.props[STATUS].startswith("error: cannot parse SMILES") for r in unreadable)
    # predicting again replaces the columns instead of adding more
    predict_and_wait(window, wait_job)
    assert window.molecule_model.prop_names.count(VALUE) == 1


def test_two_embedding_processes_give_the_one_process_values(window, open_and_wait, wait_job):
    """The panel's parallel path is predict --workers': the same force-field geometries, the same values."""
    open_and_wait(EXAMPLES / "molecules.smi")
    panel = window.property_panel
    assert panel.processes(100) == 1 and panel.processes(10_000) == min(os.cpu_count() or 1, 4)  # "auto"
    panel.workers.setValue(1)
    predict_and_wait(window, wait_job)
    one = column_values(window.molecule_model, VALUE)
    panel.workers.setValue(2)
    predict_and_wait(window, wait_job)
    assert column_values(window.molecule_model, VALUE) == one and sum(v != "" for v in one) == 17


def test_nothing_loaded_says_so(window):
    assert window.property_panel.predict() is None
    assert "No molecules are loaded" in window.property_panel.summary.text()


def test_a_bad_model_folder_gives_a_one_line_reason(window, messages, tmp_path):
    picker = window.property_panel.picker
    assert picker.use_folder(tmp_path) is None  # no config.json
    kind, _title, text = messages[-1]
    assert kind == "warning" and "missing config.json" in text and "\n" not in text
    assert picker.use_folder(models_dir() / "lenet5-mnist-autoprune") is None
    assert "a 'prune' model, not a 'property' model" in messages[-1][2]
    assert picker.path().name == FF_MODEL  # the choice is unchanged


def test_damaged_weights_fail_as_a_message_box(window, open_and_wait, wait_job, messages, tmp_path):
    folder = tmp_path / "damaged"
    folder.mkdir()
    shutil.copy(models_dir() / MODEL / "config.json", folder / "config.json")
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    open_and_wait(EXAMPLES / "molecules.sdf")
    panel = window.property_panel
    assert panel.picker.use_folder(folder) is not None  # config.json is fine
    job = panel.predict()
    wait_job(job)
    assert job.error and not job.unexpected
    kind, title, text = messages[-1]
    assert kind == "warning" and title == "Predict properties" and str(folder) in text and "\n" not in text
    assert "Traceback" not in text
    assert VALUE not in window.molecule_model.prop_names
    assert panel.predict_button.isEnabled()
    assert json.loads((folder / "config.json").read_text())["engine"] == "property"


def test_cancel_leaves_the_table_unchanged(window, open_and_wait, wait_job, monkeypatch):
    open_and_wait(EXAMPLES / "molecules.smi")
    panel = window.property_panel
    before = list(window.molecule_model.prop_names)
    job = panel.predict()
    job.cancel()  # before or during the first chunk
    wait_job(job)
    assert job.error is None
    assert window.molecule_model.prop_names == before
    assert "cancelled" in panel.summary.text()


def test_prediction_uses_the_public_api(monkeypatch, window, open_and_wait, wait_job):
    calls = []
    real = api.load_model

    def spy(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(api, "load_model", spy)
    open_and_wait(EXAMPLES / "molecules.sdf")
    window.property_panel.cache.clear()
    predict_and_wait(window, wait_job)
    assert [p.name for p in calls] == [MODEL]



def test_smiles_model_shows_uncertainty_domain_colours_and_histogram(window, wait_job, messages, tmp_path):
    from chemaccel_gui.molecule_model import DOMAIN_COLORS

    window.molecules.smiles_box.setPlainText("CCO ethanol\nCC(C)NCC(O)COc1cccc2ccccc12 propranolol\nc1ccccc1 benzene")
    assert window.molecules.use_typed_smiles() == 3
    panel = predict_and_wait(window, wait_job, FF_MODEL)
    model = window.molecule_model
    names = [f"{c} ({FF_MODEL})" for c in ("gap_eV", "gap_uncertainty_eV", "gap_interval90_eV", "domain")]
    assert all(n in model.prop_names for n in names)
    domain = column_values(model, names[3])
    assert domain == ["in", "outside", "in"]
    column = model.columns().index(names[3])
    colour = model.index(1, column).data(Qt.ItemDataRole.BackgroundRole).color()
    assert colour == DOMAIN_COLORS["outside"]
    assert model.index(0, column).data(Qt.ItemDataRole.BackgroundRole).color() == DOMAIN_COLORS["in"]
    reason = model.records[1].props[f"domain_reason ({FF_MODEL})"]
    assert reason.startswith("19 heavy atoms (training molecules: at most 9)")
    interval = [r.props[names[2]] for r in model.records]
    assert all(0.05 < v < 2.0 for v in interval)  # eV: a stated 90 % interval, not a placeholder
    assert "1 outside the model's domain" in panel.summary.text()
    xs, ys = panel.histogram.values_item.getData()
    assert len(xs) == 31 and abs(float((ys * (xs[1:] - xs[:-1])).sum()) - 1.0) < 1e-6  # a density
    ref_x, ref_y = panel.histogram.reference.getData()
    assert len(ref_x) == 41 and ref_y.max() > 0  # the training distribution behind it
    panel.histogram.export(tmp_path / "hist.csv")
    assert (tmp_path / "hist.csv").read_text().count("\n") > 30
    assert messages == []
