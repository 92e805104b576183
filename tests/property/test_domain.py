"""Applicability domain: graph rules, geometry checks and the latent distance, with known answers."""

from __future__ import annotations

import numpy as np
import torch
from rdkit import Chem

from chemaccel.property.domain import (
    LatentStats, atom_type, fit_rules, geometry_reasons, graph_facts, graph_reasons, latent_scores, nonfinite, verdict,
)

QM9_LIKE = ["CCO", "CC(=O)O", "c1ccccc1", "C1CC1", "CC#N", "OC1CCCCC1", "CN(C)C"]


def _rules():
    mols = [Chem.MolFromSmiles(s) for s in QM9_LIKE]
    numbers = [np.array([a.GetAtomicNum() for a in Chem.AddHs(m).GetAtoms()]) for m in mols]
    return fit_rules(mols, numbers)


def test_rules_from_training_molecules():
    rules = _rules()
    assert rules.elements == [1, 6, 7, 8]
    assert rules.max_heavy_atoms == 7 and rules.max_atoms == 19  # cyclohexanol C6H12O
    assert rules.ring_sizes == [3, 6] and rules.charges == [0]
    assert "C:ar1:d3:h1:q0" in rules.atom_types and "O:ar0:d2:h1:q0" in rules.atom_types


def test_atom_types_do_not_depend_on_explicit_hydrogens():
    implicit = {atom_type(a) for a in Chem.MolFromSmiles("CC(=O)O").GetAtoms()}
    explicit = {atom_type(a) for a in Chem.AddHs(Chem.MolFromSmiles("CC(=O)O")).GetAtoms() if a.GetAtomicNum() > 1}
    assert implicit == explicit == {"C:ar0:d4:h3:q0", "C:ar0:d3:h0:q0", "O:ar0:d1:h0:q0", "O:ar0:d2:h1:q0"}


def test_graph_reasons_name_what_is_new():
    rules = _rules()
    assert graph_reasons(graph_facts(Chem.MolFromSmiles("CCCO")), rules) == []
    propranolol = Chem.MolFromSmiles("CC(C)NCC(O)COc1cccc2ccccc12")
    reasons = graph_reasons(graph_facts(propranolol), rules)
    assert reasons[0] == "19 heavy atoms (training molecules: at most 7)"
    big_ring = graph_reasons(graph_facts(Chem.MolFromSmiles("C1" + "C" * 5 + "1")), rules)  # 6-ring: seen
    assert big_ring == []
    ring62 = graph_reasons(graph_facts(Chem.MolFromSmiles("C1" + "C" * 61 + "1")), rules)
    assert "ring size(s) 62 not seen in training" in ring62
    charged = graph_reasons(graph_facts(Chem.MolFromSmiles("C[NH3+]")), rules)
    assert "net charge +1 not seen in training" in charged
    assert any(r.startswith("1 atom type(s) not seen in training (N:ar0:d4:h3:q1)") for r in charged)


def test_geometry_reasons():
    z = np.array([8, 1, 1])
    water = np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
    assert geometry_reasons(z, water) == []
    flung = water.copy()
    flung[2] = [1e30, 0.0, 0.0]
    reasons = geometry_reasons(z, flung)
    assert reasons == ["coordinates beyond 10000 Angstrom", "the geometry falls apart into 2 pieces (the molecule has 1)"]
    torn = water.copy()
    torn[2] = [-3.0, 0.0, 0.0]
    assert geometry_reasons(z, torn) == ["the geometry falls apart into 2 pieces (the molecule has 1)"]
    assert geometry_reasons(z, torn, expected_fragments=2) == []  # a salt typed as two pieces
    stacked = water.copy()
    stacked[2] = [0.1, 0.0, 0.0]
    assert geometry_reasons(z, stacked)[0] == "atoms 1 and 3 on top of each other (0.10 Angstrom apart)"
    nan = water.copy()
    nan[1, 1] = np.nan
    assert nonfinite(nan) and not nonfinite(water)


def test_latent_scores_are_per_molecule_max_mahalanobis():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(500, 4))
    z = rng.choice([1, 6], 500)
    feats[z == 6] += 3.0
    stats = LatentStats(4, 10)
    stats.add(feats, z)
    mean, precision = stats.finish(ridge=0.0)
    np.testing.assert_allclose(mean[6], feats[z == 6].mean(0))
    centred = np.concatenate([feats[z == 1] - feats[z == 1].mean(0), feats[z == 6] - feats[z == 6].mean(0)])
    np.testing.assert_allclose(np.linalg.inv(precision), centred.T @ centred / 499, rtol=1e-10)
    x = torch.tensor(feats[:5], dtype=torch.float64)
    idx_m = torch.tensor([0, 0, 1, 1, 1])
    scores = latent_scores(x, torch.tensor(z[:5]), idx_m, 2, torch.tensor(mean), torch.tensor(precision))
    d = [float(np.sqrt((feats[i] - mean[z[i]]) @ precision @ (feats[i] - mean[z[i]]))) for i in range(5)]
    np.testing.assert_allclose(scores, [max(d[:2]), max(d[2:])], rtol=1e-10)


def test_verdict():
    assert verdict([]) == ("in", "")
    assert verdict(["a", "b"]) == ("outside", "a; b")
