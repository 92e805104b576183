from pathlib import Path

import h5py
import numpy as np
import pytest

from chemaccel.chem.molecules import read_all, read_molecules
from chemaccel.chem.store import MoleculeStore
from chemaccel.chem.store_records import write_store
from chemaccel.cli import main
from chemaccel.errors import StoreError

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def test_sdf_to_store_and_back_keeps_molecules_coordinates_and_properties(tmp_path):
    good, _ = read_all(EXAMPLES / "molecules.sdf")
    out = tmp_path / "mols.h5"
    assert write_store(good, out) == len(good)
    back, bad = read_all(out)
    assert not bad and len(back) == len(good)
    for a, b in zip(good, back):
        assert a.smiles == b.smiles and a.name == b.name
        np.testing.assert_array_equal(a.numbers, b.numbers)
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-5)  # float32 in the store
        for key, value in a.props.items():
            if isinstance(value, float):
                assert b.props[key] == pytest.approx(value)


def test_store_without_smiles_perceives_bonds_from_3d(tmp_path):
    water = (np.array([8, 1, 1]), np.array([[0, 0, 0.1173], [0, 0.7572, -0.4692], [0, -0.7572, -0.4692]]))
    with MoleculeStore.create(tmp_path / "w.h5", {"energy": "eV"}) as store:
        store.append([water[0]], [water[1]], properties={"energy": np.array([-2079.0])})
    (rec,) = list(read_molecules(tmp_path / "w.h5"))
    assert rec.ok and rec.smiles == "O" and rec.props["energy"] == -2079.0 and rec.index == 1


def test_records_without_coordinates_are_reported_not_written(tmp_path):
    skipped = []
    good, _ = read_all(EXAMPLES / "molecules.smi")
    with pytest.raises(StoreError, match="no record has 3D coordinates"):
        write_store(good, tmp_path / "x.h5", on_skip=skipped.append)
    assert len(skipped) == len(good) and "record 1: no 3D coordinates" in skipped[0]
    assert not (tmp_path / "x.h5").exists()


def test_foreign_hdf5_is_a_clear_error(tmp_path, capsys):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as fh:
        fh["x"] = np.arange(3)
    with pytest.raises(StoreError, match="not a chemaccel molecule store"):
        read_molecules(foreign)
    assert main(["molecules", "info", str(foreign)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "foreign.h5" in err and "Traceback" not in err


def test_cli_convert_sdf_with_errors_to_store(tmp_path, capsys):
    out = tmp_path / "good.h5"
    assert main(["molecules", "convert", str(EXAMPLES / "with_errors.sdf"), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "record 3" in captured.err and "record 5" in captured.err
    with MoleculeStore.open(out) as store:
        assert len(store) == 4
