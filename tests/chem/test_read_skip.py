"""``read_molecules(path, skip=n)`` gives the records after the first n, numbered as in the file, cheaply."""

from __future__ import annotations

from pathlib import Path

import pytest

from chemaccel.chem.molecules import read_molecules

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
FILES = ["molecules.smi", "with_errors.smi", "molecules.csv", "molecules.sdf", "with_errors.sdf",
         "molecules.xyz", "with_errors.xyz"]


def key(record):
    positions = None if record.positions is None else round(float(record.positions.sum()), 6)
    return record.index, record.error, record.name, record.smiles, positions


@pytest.mark.parametrize("name", FILES)
def test_skip_gives_the_same_records_as_reading_everything(name):
    path = EXAMPLES / name
    full = [key(r) for r in read_molecules(path)]
    for skip in (0, 1, 2, len(full) - 1, len(full), len(full) + 3):
        assert [key(r) for r in read_molecules(path, skip=skip)] == full[skip:], skip


def test_skip_in_a_store_and_an_ase_db(tmp_path):
    from chemaccel.chem.store_records import write_store

    store = tmp_path / "m.h5"
    write_store(read_molecules(EXAMPLES / "molecules.xyz"), store, batch_size=2)
    full = [key(r) for r in read_molecules(store)]
    assert len(full) == 5
    for skip in (0, 2, 3, 5, 9):
        assert [key(r) for r in read_molecules(store, skip=skip)] == full[skip:]

    import ase.db
    from ase.build import molecule

    db_path = tmp_path / "m.db"
    with ase.db.connect(str(db_path)) as db:
        for formula in ("H2O", "CH4", "NH3", "C2H6"):
            db.write(molecule(formula), name=formula)
    full = [key(r) for r in read_molecules(db_path)]
    for skip in (0, 1, 3, 4):
        assert [key(r) for r in read_molecules(db_path, skip=skip)] == full[skip:]


def test_skipped_xyz_frames_are_not_parsed(monkeypatch):
    import chemaccel.chem.xyz as xyz

    calls = []
    real = xyz.record_from_geometry
    monkeypatch.setattr(xyz, "record_from_geometry", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    records = list(read_molecules(EXAMPLES / "molecules.xyz", skip=3))
    assert [r.index for r in records] == [4, 5] and calls == [4, 5]
