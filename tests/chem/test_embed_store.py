"""Force-field geometry sets for a store: parallel, resumable, failures listed, read back by name."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from rdkit import Chem

from chemaccel.chem.conformers import embed_3d
from chemaccel.chem.embed_store import EmbedSettings, embed_store
from chemaccel.chem.geometry_sets import geometry_names, read_geometry_set, write_geometry_set
from chemaccel.chem.store import MoleculeStore
from chemaccel.errors import ConfigError, StoreError
from chemaccel.reporting import RecordingReporter

SMILES = ["C", "CCO", "c1ccccc1", "CC(=O)O", "not-a-smiles", "C1C2C1C13CC2C1CO3", "CCN", "OCC#N",
          "C1CC1", "CC(C)O", "", "CCOC"]


def _store(path):
    numbers, positions = [], []
    for smi in SMILES:
        mol = Chem.MolFromSmiles(smi) if smi else None
        z = [a.GetAtomicNum() for a in Chem.AddHs(mol).GetAtoms()] if mol is not None else [6]
        numbers.append(np.array(z))
        positions.append(np.zeros((len(z), 3)) + np.arange(len(z))[:, None])
    with MoleculeStore.create(path, {"gap": "eV"}) as store:
        store.append(numbers, positions, smiles=SMILES, properties={"gap": np.arange(len(SMILES), dtype=float)})
        store.set_split("train", np.arange(8))
        store.set_split("test", np.arange(8, 12))
    return path


def test_embed_store_resumes_and_lists_failures(tmp_path):
    path = _store(tmp_path / "s.h5")
    stop = RecordingReporter(stop_after=2)  # the first progress call is the start; stop after one chunk
    first = embed_store(path, "mmff", workers=1, chunk=4, reporter=stop)
    # the two chunks in flight (2 per worker) finish and are kept; the third is never started
    assert first.cancelled and geometry_names(path) == []
    assert len(list((tmp_path / "s.h5.mmff.work").glob("c*.npz"))) == 2
    rec = RecordingReporter()
    done = embed_store(path, "mmff", workers=2, chunk=4, reporter=rec)
    assert not done.cancelled and done.resumed_chunks == 2
    assert any("resuming: 2 of 3 chunks" in m for m in rec.messages)
    assert (done.made, done.failed, done.skipped) == (10, 2, 0)
    assert not (tmp_path / "s.h5.mmff.work").exists()
    with open(done.failures_csv) as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["index"]) for r in rows] == [4, 10]
    assert rows[0]["reason"].startswith("cannot parse SMILES 'not-a-smiles'") and rows[1]["reason"] == "no SMILES"
    g = read_geometry_set(path, "mmff")
    assert geometry_names(path) == ["mmff"] and g.settings["seed"] == 0
    assert list(g.made) == [s not in ("", "not-a-smiles") for s in SMILES]
    z, r = g.molecule(1)  # ethanol, exactly what embed_3d gives for the same SMILES and seed
    ref = embed_3d(Chem.MolFromSmiles("CCO"), seed=0).mol
    assert list(z) == [a.GetAtomicNum() for a in ref.GetAtoms()]
    np.testing.assert_allclose(r, ref.GetConformer().GetPositions(), atol=1e-5)
    assert g.status[5] == "" and len(g.molecule(5)[0]) == 19  # the cage C8H10O got coordinates (layout fall-back)


def test_embed_store_splits_and_settings(tmp_path):
    path = _store(tmp_path / "s.h5")
    done = embed_store(path, "test-only", EmbedSettings(seed=1000, splits=("test",)), workers=1, chunk=5)
    assert (done.made, done.failed, done.skipped) == (3, 1, 8)
    g = read_geometry_set(path, "test-only")
    assert g.settings["splits"] == ["test"] and g.settings["seed"] == 1000
    with pytest.raises(ConfigError, match="no split"):
        embed_store(path, "x", EmbedSettings(splits=("valid",)))
    (tmp_path / "s.h5.other.work").mkdir()
    (tmp_path / "s.h5.other.work" / "settings.json").write_text('{"settings": {}}')
    with pytest.raises(StoreError, match="other settings"):
        embed_store(path, "other")
    with pytest.raises(StoreError, match="no complete geometry set 'nope' \\(has: dft, test-only\\)"):
        read_geometry_set(path, "nope")
    with pytest.raises(StoreError, match="invalid geometry set name 'dft'"):
        write_geometry_set(path, "dft", [], [], [], {})


def test_embed_cli(tmp_path, capsys):
    from chemaccel.cli import main

    path = _store(tmp_path / "s.h5")
    assert main(["data", "embed", str(path), "--workers", "1", "--splits", "train"]) == 0
    out = capsys.readouterr().out
    assert "geometry set 'mmff': 7 embedded, 1 failed (12.500 %), 4 skipped" in out
    assert "note: ETKDG failed 3 times, so force-field relaxation from a 2D layout" in out
