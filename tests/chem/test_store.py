"""The HDF5 molecule store: round trips, appends, lazy slices, every open error, atomic create."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chemaccel.chem.store import FORMAT, MoleculeStore
from chemaccel.errors import StoreError

UNITS = {"energy": "eV", "dipole": "Debye", "label": ""}


def make_molecules(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    numbers = [rng.integers(1, 10, size=int(rng.integers(1, 12))).astype(np.int64) for _ in range(n)]
    positions = [rng.normal(scale=2.0, size=(len(z), 3)) for z in numbers]
    props = {
        "energy": rng.normal(size=n) * 100,
        "dipole": rng.normal(size=(n, 3)),
        "label": np.arange(n, dtype=float),
    }
    smiles = [f"C{'C' * i}" for i in range(n)]
    names = [f"mol{i}" if i % 3 else "" for i in range(n)]
    charges = rng.integers(-2, 3, size=n)
    return numbers, positions, props, smiles, names, charges


def write_store(path: Path, n: int = 20, seed: int = 0) -> tuple:
    numbers, positions, props, smiles, names, charges = data = make_molecules(n, seed)
    with MoleculeStore.create(path, UNITS, conversions={"energy": "Hartree->eV x 27.211386245988"}) as store:
        store.append(numbers, positions, charges=charges, properties=props, smiles=smiles, names=names)
        store.set_split("train", np.arange(0, n, 2), seed=3)
        store.set_atomref("energy", np.array([0.0, -13.6]), "eV")
        store.set_attr("source", "unit test")
    return data


def assert_molecule(mol, numbers, positions, props, smiles, names, charges, i):
    np.testing.assert_array_equal(mol.numbers, numbers[i])
    assert mol.numbers.dtype == np.uint8
    np.testing.assert_allclose(mol.positions, positions[i], rtol=1e-6, atol=1e-6)
    assert mol.positions.dtype == np.float32 and mol.positions.shape == (len(numbers[i]), 3)
    assert mol.charge == charges[i] and mol.smiles == smiles[i] and mol.name == names[i]
    assert mol.properties["energy"] == props["energy"][i]
    np.testing.assert_array_equal(mol.properties["dipole"], props["dipole"][i])


def test_round_trip(tmp_path):
    path = tmp_path / "s.h5"
    data = write_store(path)
    with MoleculeStore.open(path) as store:
        assert len(store) == 20
        for i in range(20):
            assert_molecule(store[i], *data, i)
        assert_molecule(store[-1], *data, 19)
        assert store.property_units == UNITS
        assert store.property_conversions == {"energy": "Hartree->eV x 27.211386245988"}
        np.testing.assert_array_equal(store.property("energy"), data[2]["energy"])
        assert store.property("dipole").shape == (20, 3)
        np.testing.assert_array_equal(store.n_atoms, [len(z) for z in data[0]])
        np.testing.assert_array_equal(store.splits()["train"], np.arange(0, 20, 2))
        assert store.split_attrs("train")["seed"] == 3
        refs, unit = store.atomrefs()["energy"]
        assert unit == "eV" and refs[1] == -13.6
        attrs = store.attrs
        assert attrs["format"] == FORMAT and attrs["format_version"] == 1 and attrs["source"] == "unit test"
        with pytest.raises(IndexError):
            store[20]
        with pytest.raises(StoreError, match="no property 'nope'"):
            store.property("nope")


def test_append_in_chunks_and_lazy_slices(tmp_path):
    numbers, positions, props, smiles, names, charges = make_molecules(50, seed=1)
    path = tmp_path / "chunks.h5"
    with MoleculeStore.create(path, UNITS) as store:
        for a, b in [(0, 7), (7, 7), (7, 30), (30, 50)]:  # includes an empty batch
            store.append(
                numbers[a:b],
                positions[a:b],
                charges=charges[a:b],
                smiles=smiles[a:b],
                names=names[a:b],
                properties={k: v[a:b] for k, v in props.items()},
            )
        assert len(store) == 50
    with MoleculeStore.open(path) as store:
        batch = store.molecule_slice(5, 12)  # crosses the 7 boundary
        assert len(batch) == 7 and batch.start == 5
        for k, mol in enumerate(batch):
            assert_molecule(mol, numbers, positions, props, smiles, names, charges, 5 + k)
        assert batch.offsets[0] == 0 and batch.offsets[-1] == len(batch.numbers)
        assert len(store[40:100]) == 10 and len(store.molecule_slice(60, 70)) == 0
        seen = sum(len(b) for b in store.iter_batches(16))
        assert seen == 50
        # Only the offsets live in memory; atoms are h5py datasets read on demand.
        assert isinstance(store._file["atoms/positions"], h5py.Dataset)
        assert store._offsets.nbytes == 51 * 8


def test_append_in_place_mode_a(tmp_path):
    path = tmp_path / "s.h5"
    numbers, positions, props, *_ = write_store(path, n=10)
    with MoleculeStore.open(path, "a") as store:
        store.append(numbers[:3], positions[:3], properties={k: v[:3] for k, v in props.items()})
    with MoleculeStore.open(path) as store:
        assert len(store) == 13
        np.testing.assert_array_equal(store[12].numbers, numbers[2])
        assert store[12].smiles == "" and store[12].charge == 0
        with pytest.raises(StoreError, match="read-only"):
            store.append(numbers[:1], positions[:1], properties={k: v[:1] for k, v in props.items()})


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.update(positions=a["positions"][:-1]), "3 numbers arrays but 2 positions"),
        (lambda a: a.update(positions=[np.zeros((2, 3))] * 3), r"positions shape \(2, 3\) do not match"),
        (lambda a: a.update(numbers=[np.array([0, 1])] * 3, positions=[np.zeros((2, 3))] * 3), "1..118"),
        (lambda a: a["positions"][0].__setitem__((0, 0), np.nan), "not finite"),
        (lambda a: a["properties"].pop("label"), r"missing \['label'\]"),
        (lambda a: a["properties"].update(extra=np.zeros(3)), r"unknown \['extra'\]"),
        (lambda a: a["properties"].update(energy=np.zeros(4)), "property 'energy' has shape"),
        (lambda a: a["properties"].update(dipole=np.zeros((3, 2))), r"store has \(n,\) \+ \(3,\)"),
        (lambda a: a.update(smiles=["C"]), "3 molecules but 1 smiles"),
        (lambda a: a.update(charges=[0, 0, 500]), "-128..127"),
    ],
)
def test_append_validates(tmp_path, change, message):
    path = tmp_path / "s.h5"
    numbers, positions, props, *_ = write_store(path, n=5)
    args = {
        "numbers": [z.copy() for z in numbers[:3]],
        "positions": [r.copy() for r in positions[:3]],
        "properties": {k: v[:3] for k, v in props.items()},
    }
    change(args)
    with MoleculeStore.open(path, "a") as store:
        with pytest.raises(StoreError, match=message) as info:
            store.append(args.pop("numbers"), args.pop("positions"), **args)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
        assert len(store) == 5  # nothing half-written


def open_error(path: Path) -> str:
    with pytest.raises(StoreError) as info:
        MoleculeStore.open(path)
    text = str(info.value)
    assert "\n" not in text and str(path) in text
    return text


def test_open_errors(tmp_path):
    assert "no such molecule store" in open_error(tmp_path / "missing.h5")
    assert "is a folder" in open_error(tmp_path)
    text_file = tmp_path / "text.h5"
    text_file.write_text("atoms,x,y,z\n")
    assert "not an HDF5 file" in open_error(text_file)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as h5:
        h5["x"] = np.arange(5)
    assert "not a chemaccel molecule store (format attribute missing)" in open_error(plain)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5.attrs["format"] = "somebody-else"
    assert "format='somebody-else'" in open_error(other)
    with pytest.raises(StoreError, match="mode must be"):
        MoleculeStore.open(plain, "w")


def test_newer_format_version(tmp_path):
    path = tmp_path / "s.h5"
    write_store(path, n=3)
    with h5py.File(path, "a") as h5:
        h5.attrs["format_version"] = 2
    assert "format_version 2 is newer" in open_error(path)


def test_truncated_store(tmp_path):
    path = tmp_path / "s.h5"
    write_store(path, n=200)
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match="truncated or corrupt HDF5 store") as info:
        with MoleculeStore.open(cut) as store:  # h5py may fail on open or on the first read
            for i in range(len(store)):
                store[i]
    assert str(cut) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "offsets, message",
    [
        (lambda o: o[:-1].tolist() + [o[-1] + 5], "offsets end at"),
        (lambda o: [0, 5, 3] + o[3:].tolist(), "offsets decrease"),
        (lambda o: [1] + o[1:].tolist(), "must start at 0"),
    ],
)
def test_inconsistent_offsets(tmp_path, offsets, message):
    path = tmp_path / "s.h5"
    write_store(path, n=6)
    with h5py.File(path, "a") as h5:
        h5["molecules/offsets"][:] = np.array(offsets(h5["molecules/offsets"][:]))
    text = open_error(path)
    assert "inconsistent offsets" in text and message in text


def test_inconsistent_rows(tmp_path):
    path = tmp_path / "s.h5"
    write_store(path, n=6)
    with h5py.File(path, "a") as h5:
        h5["properties/energy"].resize((4,))
    assert "properties/energy has 4 rows for 6 molecules" in open_error(path)


def test_atomic_create(tmp_path):
    path = tmp_path / "s.h5"
    numbers, positions, props, *_ = make_molecules(10)
    with pytest.raises(RuntimeError):
        with MoleculeStore.create(path, UNITS) as store:
            store.append(numbers[:5], positions[:5], properties={k: v[:5] for k, v in props.items()})
            assert not path.exists()  # written under a temporary name until close
            raise RuntimeError("cancelled midway")
    assert list(tmp_path.iterdir()) == []
    store = MoleculeStore.create(path, UNITS)
    store.append(numbers, positions, properties=props)
    store.abort()
    assert list(tmp_path.iterdir()) == []


def test_overwrite(tmp_path):
    path = tmp_path / "s.h5"
    write_store(path, n=4)
    with pytest.raises(StoreError, match="already exists"):
        MoleculeStore.create(path, UNITS)
    with MoleculeStore.create(path, UNITS, overwrite=True) as store:
        with MoleculeStore.open(path) as old:  # the old store stays intact until the new one closes
            assert len(old) == 4
    with MoleculeStore.open(path) as store:
        assert len(store) == 0 and store.n_atoms.shape == (0,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]


def test_pickle_read_only_store(tmp_path):
    path = tmp_path / "s.h5"
    data = write_store(path, n=5)
    with MoleculeStore.open(path) as store:
        clone = pickle.loads(pickle.dumps(store))
    assert_molecule(clone[3], *data, 3)
    clone.close()
    with MoleculeStore.open(path, "a") as store, pytest.raises(StoreError, match="mode='r'"):
        pickle.dumps(store)


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(0, 30), max_size=12), split=st.integers(0, 12))
def test_ragged_round_trip_property(sizes, split):
    rng = np.random.default_rng(len(sizes))
    numbers = [rng.integers(1, 119, size=n) for n in sizes]
    positions = [rng.normal(size=(n, 3)) for n in sizes]
    energy = rng.normal(size=len(sizes))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.h5"
        cut = min(split, len(sizes))
        with MoleculeStore.create(path, {"e": "eV"}) as store:
            store.append(numbers[:cut], positions[:cut], properties={"e": energy[:cut]})
            store.append(numbers[cut:], positions[cut:], properties={"e": energy[cut:]})
        with MoleculeStore.open(path) as store:
            assert len(store) == len(sizes)
            np.testing.assert_array_equal(store.n_atoms, sizes)
            batch = store.molecule_slice(0, len(sizes))
            for i, mol in enumerate(batch):
                np.testing.assert_array_equal(mol.numbers, numbers[i])
                np.testing.assert_allclose(mol.positions, positions[i], rtol=1e-6, atol=1e-6)
                assert mol.properties["e"] == energy[i]
