"""MolGAN-style graphs: encode, decode, skipped molecules, and the validity/uniqueness/novelty metrics."""

import numpy as np
import pytest
from rdkit import Chem

from chemaccel.gan.molgraph import (
    decode_all, encode_smiles, from_vectors, graph_dims, hash_set, molecule_metrics, to_onehot,
)


def test_round_trip_and_skipped_molecules(smiles20):
    atoms, bonds, kept, report = encode_smiles(smiles20, max_atoms=9)
    assert report.kept == 20 and report.too_many_atoms == 1 and report.unsupported == 1
    assert atoms.shape == (20, 9) and bonds.shape == (20, 36)
    vectors = to_onehot(atoms, bonds)
    assert vectors.shape == (20, graph_dims(9)[2])
    decoded = decode_all(vectors, 9)
    canon = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in smiles20[:20]]
    assert decoded == canon == kept


def test_invalid_graphs_decode_to_none():
    atoms = np.zeros((2, 9), dtype=np.int64)
    bonds = np.zeros((2, 36), dtype=np.int64)
    atoms[0, :2] = 1  # two carbons, no bond: two fragments -> invalid
    atoms[1, :2] = [4, 4]  # F-F triple bond: bad valence
    bonds[1, 0] = 3
    assert decode_all(to_onehot(atoms, bonds), 9) == [None, None]
    empty = to_onehot(np.zeros((1, 9), dtype=np.int64), np.zeros((1, 36), dtype=np.int64))
    assert decode_all(empty, 9) == [None]
    assert from_vectors(to_onehot(atoms, bonds), 9)[0].tolist() == atoms.tolist()


def test_metrics_by_hand():
    train = hash_set(["CCO", "CC"])
    gen = ["CCO", "CCO", "CCN", None, "C"]  # 4 valid, 3 unique, novel: CCN and C of 4 valid
    m = molecule_metrics(gen, train)
    assert m["validity"] == pytest.approx(4 / 5)
    assert m["uniqueness"] == pytest.approx(3 / 4)
    assert m["novelty"] == pytest.approx(2 / 4)
    none = molecule_metrics([None, None], train)
    assert none["validity"] == 0.0 and none["uniqueness"] == 0.0
