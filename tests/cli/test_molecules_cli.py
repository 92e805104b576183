"""``chemaccel molecules info|convert|embed``: exit codes, stdout/stderr, files written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chemaccel.chem.molecules import read_molecules
from chemaccel.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------------
# info


def test_info_text(capsys):
    code, out, err = _run(capsys, "molecules", "info", EXAMPLES / "molecules.sdf")
    assert code == 0 and err == ""
    assert "records     10: 10 ok, 0 bad" in out
    assert "3D          10 of 10 molecules have 3D coordinates" in out
    assert "properties  mol_weight, forcefield, forcefield_energy" in out


def test_info_json_and_bad_records_on_stderr(capsys):
    path = EXAMPLES / "with_errors.smi"
    code, out, err = _run(capsys, "molecules", "info", path, "--json")
    assert code == 0
    summary = json.loads(out)
    assert (summary["records"], summary["ok"], summary["bad"]) == (8, 4, 4)
    assert summary["format"] == "smi" and summary["has_3d"] is False
    assert summary["heavy_atoms"] == {"min": 3, "mean": 9.0, "max": 14}
    assert summary["elements"] == {"C": 25, "H": 30, "N": 4, "O": 7}
    assert err.splitlines() == summary["bad_records"]
    assert err.splitlines()[1] == f"{path}: record 4: cannot parse SMILES 'C1CC': unclosed ring"


def test_info_lists_twenty_bad_records_then_counts(tmp_path, capsys):
    path = tmp_path / "bad.smi"
    path.write_text("C1CC\n" * 25 + "CCO\n")
    code, out, err = _run(capsys, "molecules", "info", path)
    lines = err.splitlines()
    assert code == 0 and len(lines) == 21
    assert lines[19] == f"{path}: record 20: cannot parse SMILES 'C1CC': unclosed ring"
    assert lines[20] == "... and 5 more"
    assert "records     26: 1 ok, 25 bad" in out


def test_info_ase_db(capsys, shared_data):
    code, out, _ = _run(capsys, "molecules", "info", shared_data / "schnetpack" / "test_qm9.db", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["ok"] == 20 and summary["with_3d"] == 20
    assert "energy_U0" in summary["properties"]


# --------------------------------------------------------------------------------------------------
# bad inputs: one line naming the file, exit status 1


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.smi", b"", "empty file"),
        ("binary.sdf", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file (contains NUL bytes)"),
        ("mols.pdb", b"ATOM\n", "unknown file type '.pdb'; known: "),
        ("table.csv", b"name,value\na,1\n", "no SMILES column found (the columns are: name, value)"),
    ],
)
@pytest.mark.parametrize("verb", ["info", "convert"])
def test_whole_file_errors(tmp_path, capsys, name, content, reason, verb):
    path = tmp_path / name
    path.write_bytes(content)
    extra = ["-o", str(tmp_path / "out.csv")] if verb == "convert" else []
    code, out, err = _run(capsys, "molecules", verb, path, *extra)
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"chemaccel: error: {path}: {reason}")
    assert not (tmp_path / "out.csv").exists()


def test_missing_file(tmp_path, capsys):
    code, _, err = _run(capsys, "molecules", "info", tmp_path / "nope.sdf")
    assert code == 1 and err == f"chemaccel: error: {tmp_path / 'nope.sdf'}: no such file\n"


# --------------------------------------------------------------------------------------------------
# convert


def test_convert_keeps_good_records_and_lists_bad_ones(tmp_path, capsys):
    src, out_csv = EXAMPLES / "with_errors.sdf", tmp_path / "good.csv"
    code, out, err = _run(capsys, "molecules", "convert", src, "-o", out_csv)
    assert code == 0
    assert out == f"wrote 4 molecules to {out_csv}; 2 bad records skipped\n"
    assert err.splitlines() == [
        f"{src}: record 3: cannot parse molfile block: Cannot convert 'not' to unsigned int on line 63",
        f"{src}: record 5: cannot sanitize molecule: "
        "Explicit valence for atom # 0 C, 5, is greater than permitted",
    ]
    assert out_csv.read_text().splitlines() == [
        "index,name,smiles,status,activity",
        "1,ethanol,CCO,ok,1.5",
        "2,benzene,c1ccccc1,ok,0.25",
        "4,acetic_acid,CC(=O)O,ok,3.0",
        "6,acetonitrile,CC#N,ok,0.5",
    ]


def test_convert_to_sdf_round_trip(tmp_path, capsys):
    out_sdf = tmp_path / "frames.sdf"
    src = EXAMPLES / "with_errors.xyz"
    code, out, err = _run(capsys, "molecules", "convert", src, "-o", out_sdf, "--json")
    assert code == 0
    summary = json.loads(out)
    assert (summary["written"], summary["bad"]) == (3, 2)
    assert "record 2: frame says 5 atoms but has 3 atom lines" in err
    originals = [r for r in read_molecules(src) if r.ok]
    again = list(read_molecules(out_sdf))
    assert [r.smiles for r in again] == ["O", "CCO", "C"]
    for a, b in zip(originals, again):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-4)


def test_convert_csv_with_smiles_column(tmp_path, capsys):
    src = tmp_path / "assay.csv"
    src.write_text("Structure,pIC50\nOCC,6.5\nC1CC,7.0\n")
    dest = tmp_path / "o.csv"
    code, out, err = _run(capsys, "molecules", "convert", src, "--smiles-column", "Structure", "-o", dest)
    assert code == 0 and out == f"wrote 1 molecule to {dest}; 1 bad record skipped\n"
    assert err == f"{src}: record 2: cannot parse SMILES 'C1CC': unclosed ring\n"


def test_convert_nothing_readable_exits_1_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "bad.smi"
    src.write_text("C1CC\nxyz\n")
    code, out, err = _run(capsys, "molecules", "convert", src, "-o", tmp_path / "out.csv")
    assert code == 1 and out == ""
    assert err.splitlines()[-1] == f"chemaccel: error: {src}: no molecule could be read (2 bad records)"
    assert not (tmp_path / "out.csv").exists()


def test_convert_unknown_output_type(tmp_path, capsys):
    code, _, err = _run(capsys, "molecules", "convert", EXAMPLES / "molecules.smi", "-o", tmp_path / "m.pdb")
    assert code == 1
    reason = "cannot write '.pdb'; the output must end in .csv or .sdf or .h5"
    assert err == f"chemaccel: error: {tmp_path / 'm.pdb'}: {reason}\n"


# --------------------------------------------------------------------------------------------------
# embed


def test_embed_is_deterministic_and_writes_3d_sdf(tmp_path, capsys):
    src = tmp_path / "few.smi"
    src.write_text("CCO ethanol\nC1CC broken\nc1ccccc1O phenol\n")
    first, second = tmp_path / "a.sdf", tmp_path / "b.sdf"
    code, out, err = _run(capsys, "molecules", "embed", src, "-o", first, "--seed", "7")
    assert code == 0
    assert out == f"embedded 2 molecules into {first}; 0 failed; 1 bad record skipped\n"
    assert f"{src}: record 2: cannot parse SMILES 'C1CC': unclosed ring" in err
    code, out, _ = _run(capsys, "--seed", "7", "molecules", "embed", src, "-o", second, "--json")
    assert code == 0 and json.loads(out)["seed"] == 7
    assert first.read_text() == second.read_text()
    records = list(read_molecules(first))
    assert [(r.name, r.smiles, r.has_3d) for r in records] == [
        ("ethanol", "CCO", True),
        ("phenol", "Oc1ccccc1", True),
    ]
    assert records[0].positions.shape == (9, 3) and records[0].props["forcefield"] == "MMFF94"


def test_embed_needs_sdf_output(tmp_path, capsys):
    code, _, err = _run(capsys, "molecules", "embed", EXAMPLES / "molecules.smi", "-o", tmp_path / "x.csv")
    assert code == 1 and "the output must end in .sdf" in err


# --------------------------------------------------------------------------------------------------
# help


@pytest.mark.parametrize("verb", ["info", "convert", "embed"])
def test_help_has_examples(capsys, verb):
    with pytest.raises(SystemExit) as info:
        main(["molecules", verb, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"chemaccel molecules {verb} " in out
