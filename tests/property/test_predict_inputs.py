"""Hostile and unusual input through the prediction path: errors and domain verdicts with their reasons."""

from __future__ import annotations

import csv

import numpy as np

from chemaccel.property.storage import load_model

WATER = "3\nwater\nO 0.0 0.0 0.0\nH 0.96 0.0 0.0\nH -0.24 0.93 0.0\n"


def _xyz(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_broken_geometries_are_errors_or_outside(trained_model, tmp_path):
    model = load_model(trained_model)
    nan = WATER.replace("H 0.96 0.0 0.0", "H nan 0.0 0.0")
    far = WATER.replace("H -0.24 0.93 0.0", "H 1e30 0.0 0.0")
    stacked = WATER.replace("H -0.24 0.93 0.0", "H 0.05 0.0 0.0")
    path = _xyz(tmp_path, "mols.xyz", WATER + nan + far + stacked)
    from chemaccel.property.predict import predict_file

    counts = predict_file(model, path, tmp_path / "out.csv")
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert counts["ok"] + counts["error"] == 4
    assert rows[0]["status"] == "ok" and rows[0]["domain"] == "unknown"  # the tiny model has no domain data
    assert rows[1]["status"].startswith("error: ") and rows[1]["gap_eV"] == ""  # NaN: never a value
    assert rows[2]["status"] == "ok" and rows[2]["domain"] == "outside"
    assert "coordinates beyond 10000 Angstrom" in rows[2]["domain_reason"]
    assert rows[3]["domain"] == "outside" and "on top of each other" in rows[3]["domain_reason"]


def test_domain_model_flags_large_molecules_and_times_out_hopeless_embeddings(trained_model, qm9_store, tmp_path):
    from chemaccel.property.domain import DomainRules

    model = load_model(trained_model)
    model.rules = DomainRules(elements=[1, 6, 7, 8, 9], max_heavy_atoms=9, max_atoms=29, ring_sizes=[3, 4, 5, 6],
                              charges=[0], atom_types=[])
    model.elements = {1, 6, 7, 8, 9}
    rows = model.predict(["CCO", "CC(C)NCC(O)COc1cccc2ccccc12", "C1" + "C" * 61 + "1"])
    assert all(r.ok for r in rows)
    assert rows[1].domain == "outside" and rows[1].domain_reason.startswith("19 heavy atoms (training molecules: at most 9)")
    assert "ring size(s) 62 not seen in training" in rows[2].domain_reason
    assert np.isfinite(rows[1].values["gap"])  # outside the domain still gets its value, marked
    # a 400-carbon chain must not hold up a batch: the per-molecule time limit ends its embedding
    from chemaccel.chem.conformers import embed_records
    from chemaccel.chem.records import MoleculeRecord, parse_smiles

    mol, _ = parse_smiles("C" * 400)
    rec = next(embed_records([MoleculeRecord("<t>", 1, mol=mol)], time_limit=1.0))
    assert not rec.ok and "ran out of its time limit (1 s)" in rec.error


def test_a_smiles_typed_on_the_command_line_is_predicted_and_printed(tmp_path, capsys):
    """`chemaccel property predict 'CCO'` with the shipped SMILES-ready model: the row a file gives, printed
    (value, uncertainty, interval, domain), and written too with -o; bad input is one line with exit status 1."""
    from chemaccel.cli import main

    src = tmp_path / "in.smi"
    src.write_text("CCO\nc1ccc2ccccc2c1CCCCCCCCCCCCCCCC\n")
    assert main(["property", "predict", str(src), "-o", str(tmp_path / "file.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "file.csv").open()))
    capsys.readouterr()
    assert main(["property", "predict", "CCO", "-o", str(tmp_path / "typed.csv")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "  CCO   (force-field geometry (embedded from the graph))"
    assert out[1] == (f"    gap {float(rows[0]['gap_eV']):.3f} eV, uncertainty {float(rows[0]['gap_uncertainty_eV']):.3f}"
                      f" eV, 90 % interval ±{float(rows[0]['gap_interval90_eV']):.3f} eV")
    assert out[2] == "    inside the model's domain"
    typed = list(csv.DictReader((tmp_path / "typed.csv").open()))
    assert [typed[0][k] for k in ("smiles", "gap_eV", "status")] == [rows[0][k] for k in ("smiles", "gap_eV", "status")]
    assert main(["property", "predict", rows[1]["smiles"]]) == 0
    assert "OUTSIDE the model's domain (26 heavy atoms (training molecules: at most 9))" in capsys.readouterr().out
    for arg, message in (("C1CC", "C1CC: no such file, and not a SMILES (cannot parse SMILES 'C1CC': unclosed ring)"),
                         ("[Na+].[Cl-]", "[Na+].[Cl-]: element(s) Na, Cl not seen in training"),
                         ("missing.sdf", "missing.sdf: file not found"),
                         (str(src), "a file of molecules needs -o OUT.csv")):
        assert main(["property", "predict", arg]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
