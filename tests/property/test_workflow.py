import csv
import json

import numpy as np

from chemaccel.cli import main
from chemaccel.reporting import RecordingReporter


def test_save_load_round_trip_keeps_pruned_shapes_and_outputs(trained_model, qm9_store):
    from chemaccel import api
    from chemaccel.property.storage import load_property_model

    model = api.load_model(trained_model)
    info = json.loads((trained_model / "config.json").read_text())
    blocks = info["architecture"]["blocks"]
    assert info["engine"] == "property" and sum(b["n_filters"] for b in blocks) == 16  # 50 % of 2 x 16
    module, _ = load_property_model(trained_model)
    rows = model.predict(["CCO", "c1ccccc1"])
    again = api.load_model(trained_model).predict(["CCO", "c1ccccc1"])
    assert [r.values for r in rows] == [r.values for r in again]
    assert all(r.ok and r.geometry == "forcefield" and "force-field" in r.note for r in rows)
    figures = model.evaluate(qm9_store, split="test")
    assert figures["n"] == 20 and {r["target"] for r in figures["results"]} == {"gap", "U0"}


def test_predict_cli_streams_with_status_and_order(trained_model, tmp_path, capsys):
    src = tmp_path / "mols.smi"
    src.write_text("CCO ethanol\nC1CC broken\nc1ccccc1 benzene\n[Xe] xenon\nCC(=O)O acid\n")
    out = tmp_path / "out.csv"
    assert main(["property", "predict", str(src), "-m", str(trained_model), "-o", str(out), "--chunk", "2"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["index"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert [r["status"] == "ok" for r in rows] == [True, False, True, False, True]
    assert "unclosed ring" in rows[1]["status"] and "Xe" in rows[3]["status"]
    assert rows[0]["geometry"] == "forcefield" and float(rows[0]["gap_eV"]) > 0
    assert set(rows[0]) >= {"gap_eV", "U0_eV", "status", "note"}


def test_evaluate_cli_json(trained_model, qm9_store, capsys):
    assert main(["property", "evaluate", str(trained_model), "--data", str(qm9_store), "--split", "test", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    for key in ("params", "filter_params", "flops", "molecules_per_s"):
        assert figures[key] > 0
    assert figures["results"][0]["mae_mev"] > 0


def test_cancel_leaves_a_checkpoint_and_resume_finishes(qm9_store, tmp_path):
    from chemaccel.property import PropertyConfig, PropertyTrainer
    from chemaccel.runtime import RuntimeConfig
    from tests.property.conftest import TINY

    cfg = PropertyConfig(targets=("gap",), max_epochs=1, **TINY)
    out = tmp_path / "m"
    trainer = PropertyTrainer(cfg, qm9_store, out, runtime=RuntimeConfig(device="cpu"))
    result = trainer.run(RecordingReporter(stop_after=3))
    assert result.status == "cancelled" and (tmp_path / "m.work" / "state.json").exists() and not out.exists()
    reporter = RecordingReporter()
    result = trainer.run(reporter, resume=True)
    assert result.status == "done" and (out / "config.json").exists()
    assert any("resuming" in m for m in reporter.messages)
    assert reporter.progress[0][0] == 4  # continued after the 3 steps done before the cancel


def test_ase_calculator_energy_equals_predict(trained_model):
    from ase.build import molecule

    from chemaccel import api
    from chemaccel.property.calculator import PropertyCalculator

    model = api.load_model(trained_model)
    atoms = molecule("CH3CH2OH")
    atoms.calc = PropertyCalculator(model)
    energy = atoms.get_potential_energy()
    row = model.predict([atoms])[0]
    assert row.ok and np.isclose(energy, row.values["U0"], rtol=1e-6)
