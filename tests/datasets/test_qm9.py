"""QM9 into the store: values against the published data, the split, cancel, the figshare path, the CLI."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from chemaccel.chem.store import MoleculeStore
from chemaccel.cli import main
from chemaccel.datasets.download import download, sha256_of
from chemaccel.datasets.qm9 import (
    ATOMREFS_HARTREE,
    HARTREE_TO_EV,
    PROPERTY_UNITS,
    convert_qm9,
    qm9_split,
    read_qm9_split,
)
from chemaccel.datasets.qm9_xyz import convert_qm9_archive, parse_qm9_xyz
from chemaccel.errors import ConfigError, InputError
from chemaccel.reporting import RecordingReporter

HAS_QM9PACK = importlib.util.find_spec("qm9pack") is not None
NO_QM9PACK = "qm9pack not installed (pip install 'chemaccel[qm9]')"
needs_qm9pack = pytest.mark.skipif(not HAS_QM9PACK, reason=NO_QM9PACK)

# Three files of the original archive, verbatim in QM9's format (tabs, trailing tab on line 2);
# methane's second coordinate written with Mathematica's *^ exponent as some QM9 files do.
METHANE = (
    "5\n"
    "gdb 1\t157.7118\t157.70997\t157.70699\t0.\t13.21\t-0.3877\t0.1171\t0.5048\t35.3641\t0.044749\t"
    "-40.47893\t-40.476062\t-40.475117\t-40.498597\t6.469\t\n"
    "C\t-0.0126981359\t 1.0858041578\t 0.0080009958\t-0.535689\n"
    "H\t 2.150416*^-3\t-0.0060313176\t 0.0019761204\t 0.133921\n"
    "H\t 1.0117308433\t 1.4637511618\t 0.0002765748\t 0.133922\n"
    "H\t-0.540815069\t 1.4475266138\t-0.8766437152\t 0.133923\n"
    "H\t-0.5238136345\t 1.4379326443\t 0.9063972942\t 0.133923\n"
    "1341.307\t1341.3284\t1341.365\t1562.6731\t1562.7453\t3038.3205\t3151.6034\t3151.6788\t3151.7078\n"
    "C\tC\t\n"
    "InChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4\n"
)
AMMONIA = (
    "4\n"
    "gdb 2\t293.60975\t293.54111\t191.39397\t1.6256\t9.46\t-0.257\t0.0829\t0.3399\t26.1563\t0.034358\t"
    "-56.525887\t-56.523026\t-56.522082\t-56.544961\t6.316\t\n"
    "N\t-0.0404260543\t 1.0241077531\t 0.0625637998\t-0.707143\n"
    "H\t 0.0172574639\t 0.0125452063\t-0.0273771593\t 0.235712\n"
    "H\t 0.9157893661\t 1.3587451948\t-0.0287577581\t 0.235712\n"
    "H\t-0.5202777357\t 1.3435321258\t-0.7755426124\t 0.23572\n"
    "1103.8733\t1684.1158\t1684.3072\t3458.7145\t3575.2414\t3575.3343\n"
    "N\tN\t\n"
    "InChI=1S/H3N/h1H3\tInChI=1S/H3N/h1H3\n"
)
WATER = (
    "3\n"
    "gdb 3\t799.58812\t437.90386\t282.94545\t1.8511\t6.31\t-0.2928\t0.0687\t0.3615\t19.0002\t0.021375\t"
    "-76.404702\t-76.401867\t-76.400922\t-76.422349\t6.002\t\n"
    "O\t-0.0343604951\t 0.9775395708\t 0.0076015923\t-0.589706\n"
    "H\t 0.0647664923\t 0.0205721989\t 0.0015346341\t 0.294853\n"
    "H\t 0.8717903737\t 1.3007924048\t 0.0006931336\t 0.294853\n"
    "1671.4222\t3803.6305\t3907.698\n"
    "O\tO\t\n"
    "InChI=1S/H2O/h1H2\tInChI=1S/H2O/h1H2\n"
)
METHANE_XYZ = np.array(
    [
        [-0.0126981359, 1.0858041578, 0.0080009958],
        [0.002150416, -0.0060313176, 0.0019761204],
        [1.0117308433, 1.4637511618, 0.0002765748],
        [-0.540815069, 1.4475266138, -0.8766437152],
        [-0.5238136345, 1.4379326443, 0.9063972942],
    ]
)


@pytest.fixture(scope="module")
def qm9_store(tmp_path_factory) -> Path:
    if not HAS_QM9PACK:
        pytest.skip(NO_QM9PACK)
    path = tmp_path_factory.mktemp("qm9") / "qm9.h5"
    summary = convert_qm9(path, limit=300, chunk=128)
    assert summary.n_molecules == 300 and not summary.cancelled
    assert summary.splits == {"train": 240, "valid": 30, "test": 30}
    return path


def check_first_three(store: MoleculeStore) -> None:
    methane, ammonia, water = store[0], store[1], store[2]
    assert methane.properties["U0"] == pytest.approx(-40.47893 * HARTREE_TO_EV, abs=1e-6)
    assert water.properties["homo"] == pytest.approx(-0.2928 * HARTREE_TO_EV, abs=1e-6)
    assert water.properties["mu"] == pytest.approx(1.8511)
    assert water.properties["alpha"] == pytest.approx(6.31)
    assert ammonia.properties["Cv"] == pytest.approx(6.316)
    np.testing.assert_array_equal(methane.numbers, [6, 1, 1, 1, 1])
    np.testing.assert_allclose(methane.positions, METHANE_XYZ, atol=1e-6)
    np.testing.assert_array_equal(store.n_atoms[:3], [5, 4, 3])
    assert [m.smiles for m in (methane, ammonia, water)] == ["C", "N", "O"]
    assert methane.name == "dsgdb9nsd_000001"
    assert store.property_units == PROPERTY_UNITS
    assert store.property_conversions["U0"] == "Hartree->eV x 27.211386245988"
    refs, unit = store.atomrefs()["U0"]
    assert unit == "eV" and refs[6] == pytest.approx(-37.846772 * HARTREE_TO_EV)


@needs_qm9pack
def test_qm9pack_values(qm9_store):
    with MoleculeStore.open(qm9_store) as store:
        assert len(store) == 300
        check_first_three(store)
        assert store.n_atoms.sum() == sum(len(store[i].numbers) for i in range(300))
        assert set(np.unique(store.molecule_slice(0, 300).numbers)) <= {1, 6, 7, 8, 9}
        assert store.attrs["source"].startswith("qm9pack")


@needs_qm9pack
def test_agrees_with_schnetpack_db(qm9_store, shared_data):
    """The first 20 molecules and the atomrefs match schnetpack's test_qm9.db (Hartree there, eV here)."""
    ase_db = pytest.importorskip("ase.db")
    names = {
        "dipole_moment": "mu",
        "isotropic_polarizability": "alpha",
        "electronic_spatial_extent": "r2",
        "energy_U0": "U0",
        "energy_U": "U",
        "enthalpy_H": "H",
        "free_energy": "G",
        "heat_capacity": "Cv",
    }
    with ase_db.connect(str(shared_data / "schnetpack" / "test_qm9.db")) as db, MoleculeStore.open(qm9_store) as store:
        units = db.metadata["_property_unit_dict"]
        for row in db.select():
            mol = store[row.id - 1]
            np.testing.assert_array_equal(mol.numbers, row.numbers)
            np.testing.assert_allclose(mol.positions, row.positions, atol=1e-6)
            for key, value in row.data.items():
                factor = HARTREE_TO_EV if units[key] == "Ha" else 1.0
                expected = float(value[0]) * factor
                assert mol.properties[names.get(key, key)] == pytest.approx(expected, abs=1e-9)
        for key, refs in db.metadata["atomrefs"].items():
            ours = ATOMREFS_HARTREE.get(names.get(key, key))
            if ours:
                assert {z: refs[z] for z in ours} == pytest.approx(ours, abs=2e-6)


def test_split_rule():
    full = qm9_split(130_831, seed=0)
    assert {k: len(v) for k, v in full.items()} == {"train": 110_000, "valid": 10_000, "test": 10_831}
    for n in (0, 1, 9, 300, 130_831):
        parts = qm9_split(n, seed=5)
        joined = np.concatenate(list(parts.values()))
        assert len(joined) == n and len(np.unique(joined)) == n  # disjoint and covering 0..n-1
        assert all(np.all(np.diff(v) > 0) for v in parts.values())
    small = qm9_split(300)
    assert [len(v) for v in small.values()] == [240, 30, 30]
    again = qm9_split(300)
    assert all(np.array_equal(small[k], again[k]) for k in small)
    assert not np.array_equal(small["test"], qm9_split(300, seed=1)["test"])


@needs_qm9pack
def test_stored_split(qm9_store):
    stored = read_qm9_split(qm9_store)
    expected = qm9_split(300, seed=0)
    assert all(np.array_equal(stored[k], expected[k]) for k in expected)
    with MoleculeStore.open(qm9_store) as store:
        assert store.split_attrs("train")["seed"] == 0


@needs_qm9pack
def test_cancel_leaves_nothing(tmp_path):
    reporter = RecordingReporter(stop_after=1)
    summary = convert_qm9(tmp_path / "c.h5", limit=300, chunk=100, reporter=reporter)
    assert summary.cancelled and summary.n_molecules == 100
    assert list(tmp_path.iterdir()) == []
    assert any("cancelled" in m for m in reporter.messages)


def test_missing_source(tmp_path):
    with pytest.raises(InputError, match="not a qm9pack data folder"):
        convert_qm9(tmp_path / "x.h5", source_dir=tmp_path)
    assert not (tmp_path / "x.h5").exists()


def make_archive(folder: Path) -> Path:
    archive = folder / "dsgdb9nsd.xyz.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        for k, text in enumerate((METHANE, AMMONIA, WATER), start=1):
            data = text.encode()
            info = tarfile.TarInfo(f"dsgdb9nsd_{k:06d}.xyz")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


def test_figshare_path_via_file_url(tmp_path):
    (tmp_path / "remote").mkdir()
    archive = make_archive(tmp_path / "remote")
    cache = tmp_path / "cache"
    reporter = RecordingReporter()
    local = download(archive.as_uri(), cache, filename="dsgdb9nsd.xyz.tar.bz2", reporter=reporter)
    assert local == cache / "dsgdb9nsd.xyz.tar.bz2" and local.read_bytes() == archive.read_bytes()
    assert reporter.progress[-1][0] == archive.stat().st_size
    assert sorted(p.name for p in cache.iterdir()) == ["dsgdb9nsd.xyz.tar.bz2"]  # no .part left
    digest = sha256_of(archive)
    again = RecordingReporter()
    assert download(archive.as_uri(), cache, sha256=digest, reporter=again) == local
    assert any("using cached" in m for m in again.messages)

    summary = convert_qm9_archive(tmp_path / "qm9.h5", local)
    assert summary.n_molecules == 3 and summary.splits == {"train": 2, "valid": 0, "test": 1}
    with MoleculeStore.open(tmp_path / "qm9.h5") as store:
        check_first_three(store)


def test_download_errors(tmp_path):
    archive = make_archive(tmp_path)
    cache = tmp_path / "cache"
    with pytest.raises(InputError, match="sha256 mismatch"):
        download(archive.as_uri(), cache, filename="a.tar.bz2", sha256="0" * 64)
    assert list(cache.iterdir()) == []
    with pytest.raises(InputError, match="download failed"):
        download((tmp_path / "missing.tar.bz2").as_uri(), cache)
    stopper = RecordingReporter()
    stopper.cancel()
    with pytest.raises(Exception, match="cancelled"):
        download(archive.as_uri(), cache, reporter=stopper)
    assert list(cache.iterdir()) == []


def test_parse_qm9_xyz_rejects_bad_text():
    numbers, positions, smiles, name, props = parse_qm9_xyz(METHANE, "m")
    assert positions[1, 0] == pytest.approx(0.002150416) and props.shape == (15,) and smiles == "C"
    with pytest.raises(ValueError, match="line 2"):
        parse_qm9_xyz("1\nnot gdb\nC 0 0 0 0\n")
    with pytest.raises(ValueError, match="unknown element 'Xx'"):
        parse_qm9_xyz(METHANE.replace("C\t-0.0126", "Xx\t-0.0126"))
    with pytest.raises(ValueError, match="expected 10 lines"):
        parse_qm9_xyz("\n".join(METHANE.splitlines()[:8]))


def test_cli_archive_and_info(tmp_path, capsys):
    archive = make_archive(tmp_path)
    out = tmp_path / "q.h5"
    assert main(["data", "qm9", "-o", str(out), "--source", str(archive), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_molecules"] == 3 and summary["path"] == str(out)
    assert main(["data", "qm9", "-o", str(out), "--source", str(archive)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["data", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["molecules"] == 3 and info["properties"]["U0"]["unit"] == "eV"
    assert info["splits"] == {"train": 2, "valid": 0, "test": 1}
    assert main(["data", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 molecules" in text and "homo" in text and "eV" in text
    assert main(["data", "info", str(tmp_path / "none.h5")]) == 1
    assert "no such molecule store" in capsys.readouterr().err


@needs_qm9pack
def test_cli_qm9pack(tmp_path, capsys):
    out = tmp_path / "q.h5"
    assert main(["--seed", "2", "data", "qm9", "-o", str(out), "--limit", "50"]) == 0
    text = capsys.readouterr().out
    assert "50 molecules" in text and "train 40, valid 5, test 5" in text
    assert np.array_equal(read_qm9_split(out)["test"], qm9_split(50, seed=2)["test"])


def test_cli_download_path(tmp_path, monkeypatch, capsys):
    """`chemaccel data qm9 --download` as a user with internet runs it, the URL pointed at a local file."""
    (tmp_path / "remote").mkdir()
    archive = make_archive(tmp_path / "remote")
    monkeypatch.setattr("chemaccel.datasets.qm9.QM9_URL", archive.as_uri())
    monkeypatch.setenv("CHEMACCEL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "q.h5"
    assert main(["data", "qm9", "-o", str(out), "--download", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_molecules"] == 3
    assert (tmp_path / "cache" / "dsgdb9nsd.xyz.tar.bz2").is_file()
    assert main(["data", "qm9", "-o", str(out), "--download", "--source", str(archive)]) == 1
    assert "not both" in capsys.readouterr().err


def test_split_subset_is_a_fixed_spread_out_sample_not_a_prefix():
    from chemaccel.datasets.qm9 import split_subset

    indices = np.arange(0, 20000, 2)  # a sorted split, like a store's
    sub = split_subset(indices, 1000)
    assert len(sub) == 1000 and len(set(sub.tolist())) == 1000 and set(sub.tolist()) <= set(indices.tolist())
    assert np.all(np.diff(sub) > 0)                                    # kept in store order
    assert np.array_equal(sub, split_subset(indices, 1000))           # the same every call
    assert sub.max() > 15000 and sub.min() < 1000  # drawn from the whole split, not its head
    assert np.array_equal(split_subset(indices, None), indices)
    assert np.array_equal(split_subset(indices, 0), indices)
    assert np.array_equal(split_subset(indices, 50000), indices)
    with pytest.raises(ConfigError, match="non-negative integer .0: all., got -5"):
        split_subset(indices, -5)
