"""The 2D graph member: chemprop 2's features and network read without chemprop, the blend, its uncertainty."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem

from chemaccel.property.graph_model import (
    ATOM_FDIM,
    BOND_FDIM,
    GraphMPNN,
    atom_features,
    bond_features,
    featurize,
    from_chemprop_state,
)
from chemaccel.property.uncertainty import Calibration, fit_calibration

ARCH = {"d_v": 72, "d_e": 14, "d_h": 8, "depth": 3, "ffn_hidden": 6, "ffn_layers": 2, "targets": ["gap"]}


def test_features_are_chemprops_defaults():
    assert (ATOM_FDIM, BOND_FDIM) == (72, 14)  # MultiHotAtomFeaturizer.v2, MultiHotBondFeaturizer
    mol = Chem.MolFromSmiles("CCO")
    x = atom_features(mol.GetAtomWithIdx(0))  # a methyl carbon
    # element C (slot 5 of 1-36, I, other), degree 4 (38 + 4), charge 0 (45 + 4), chiral tag 0 (51),
    # 3 hydrogens (56 + 3), sp3 (62 + 4 of S, SP, SP2, SP2D, SP3, ...), not aromatic, mass / 100
    assert np.flatnonzero(x[:70]).tolist() == [5, 42, 49, 51, 59, 66]
    assert x[70] == 0 and x[71] == pytest.approx(0.12011, abs=1e-5)
    benzene = Chem.MolFromSmiles("c1ccccc1")
    assert atom_features(benzene.GetAtomWithIdx(0))[70] == 1
    # C-O single: not null, SINGLE (1), not conjugated, not in a ring, stereo NONE (7)
    assert np.flatnonzero(bond_features(mol.GetBondWithIdx(1))).tolist() == [1, 7]
    # aromatic, conjugated, in a ring
    assert np.flatnonzero(bond_features(benzene.GetBondWithIdx(0))).tolist() == [4, 5, 6, 7]


def test_batch_has_two_directed_bonds_per_bond_and_their_reverses():
    g = featurize([Chem.MolFromSmiles("CCO"), Chem.MolFromSmiles("C")])
    assert g["V"].shape == (4, 72) and g["E"].shape == (4, 14)
    assert g["src"].tolist() == [0, 1, 1, 2] and g["dst"].tolist() == [1, 0, 2, 1]
    assert g["rev"].tolist() == [1, 0, 3, 2] and g["mol"].tolist() == [0, 0, 0, 1]


def _reference(model: GraphMPNN, smiles: str) -> float:
    """The D-MPNN written out by its equations for one molecule, loop by loop (Yang et al. 2019)."""
    mol = Chem.MolFromSmiles(smiles)
    V = torch.from_numpy(np.stack([atom_features(a) for a in mol.GetAtoms()]))
    edges = []
    for b in mol.GetBonds():
        e = torch.from_numpy(bond_features(b))
        edges += [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), e), (b.GetEndAtomIdx(), b.GetBeginAtomIdx(), e)]
    h0 = {(u, v): model.W_i(torch.cat([V[u], e])) for u, v, e in edges}
    h = {k: torch.relu(x) for k, x in h0.items()}
    for _ in range(model.depth - 1):
        h = {(u, v): torch.relu(h0[(u, v)] + model.W_h(sum((h[(w, x)] for w, x, _ in edges if x == u and w != v),
                                                          torch.zeros_like(h0[(u, v)]))))
             for u, v, _ in edges}
    atoms = []
    for a in range(len(V)):
        m = sum((h[(w, x)] for w, x, _ in edges if x == a), torch.zeros(model.W_h.in_features))
        atoms.append(torch.relu(model.W_o(torch.cat([V[a], m]))))
    pooled = torch.stack(atoms).mean(0, keepdim=True)
    return float(model.ffn(model.bn(pooled))[0, 0] * model.y_scale[0] + model.y_mean[0])


def test_batched_network_equals_the_equations_molecule_by_molecule():
    torch.manual_seed(0)
    model = GraphMPNN(ARCH).eval()
    model.bn.running_mean.normal_()
    model.y_mean.fill_(6.8)
    model.y_scale.fill_(1.3)
    smiles = ["CCO", "c1ccncc1", "C#N", "O=C1CC1", "C"]
    batched = model.predict_smiles(smiles)[:, 0]
    with torch.no_grad():
        one_by_one = [_reference(model, s) for s in smiles]
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-5, atol=1e-5)
    assert np.isnan(model.predict_smiles(["C1CC"])[0, 0])  # unreadable: no value


def test_chemprop_names_are_mapped_onto_the_network():
    model = GraphMPNN(ARCH)
    ours = model.state_dict()
    theirs = {"message_passing.W_i.weight": ours["W_i.weight"], "message_passing.W_h.weight": ours["W_h.weight"],
              "message_passing.W_o.weight": ours["W_o.weight"], "message_passing.W_o.bias": ours["W_o.bias"],
              "predictor.output_transform.mean": torch.tensor([[6.8]]),
              "predictor.output_transform.scale": torch.tensor([[1.3]]),
              "predictor.ffn.0.0.weight": ours["ffn.0.weight"], "predictor.ffn.0.0.bias": ours["ffn.0.bias"],
              "predictor.ffn.1.2.weight": ours["ffn.2.weight"], "predictor.ffn.1.2.bias": ours["ffn.2.bias"],
              "predictor.ffn.2.2.weight": ours["ffn.4.weight"], "predictor.ffn.2.2.bias": ours["ffn.4.bias"],
              "predictor.criterion.task_weights": torch.ones(1, 1)}
    theirs.update({f"bn.{k}": ours[f"bn.{k}"] for k in ("weight", "bias", "running_mean", "running_var",
                                                         "num_batches_tracked")})
    renamed = from_chemprop_state(theirs)
    assert set(renamed) == set(ours)
    GraphMPNN(ARCH).load_state_dict(renamed)  # strict
    assert renamed["y_mean"].tolist() == pytest.approx([6.8]) and renamed["y_scale"].shape == (1,)


def test_wrong_feature_sizes_are_refused():
    with pytest.raises(ValueError, match="not 72/14"):
        GraphMPNN({**ARCH, "d_v": 133})


def test_calibration_uses_the_disagreement_and_reads_older_models():
    old = Calibration.from_json({"a": 0.05, "b": 1.0, "c": 0.0, "q90": 1.6, "n": 10})
    assert old.d == 0.0 and old.sigma(0.1, 0.0, 5.0) == pytest.approx(0.15)
    rng = np.random.default_rng(0)
    disagreement = rng.uniform(0, 0.5, 20_000)
    errors = rng.normal(0, 0.02 + 0.5 * disagreement)  # errors grow with the disagreement
    cal = fit_calibration(errors, np.zeros_like(errors), np.zeros_like(errors), disagreement)
    assert cal.a == pytest.approx(0.02, abs=0.005) and cal.d == pytest.approx(0.5, abs=0.05)
    plain = fit_calibration(errors, np.zeros_like(errors), np.zeros_like(errors))
    assert plain.d == 0.0


def test_shipped_smiles_model_blends_its_graph_member():
    """qm9-gap-schnet-ff: 3D conformers and the 2D member read from the same SMILES, blended by the stored
    3D share; a disagreement between them widens the interval; a row without a bond graph is 3D only."""
    from pathlib import Path

    from chemaccel.property.storage import load_model

    model = load_model(Path(__file__).resolve().parents[2] / "resources" / "models" / "qm9-gap-schnet-ff")
    assert model.graph is not None and 0.0 < model.weight_3d[0] < 1.0
    smiles = ["CCO", "c1ccoc1", "C[NH3+]"]
    rows = model.predict(smiles)
    two_d = model.graph.predict_smiles(smiles)[:, 0]
    graph, weight = model.graph, model.weight_3d
    model.graph, model.weight_3d = None, np.ones(1)
    try:
        three_d = [r.values["gap"] for r in model.predict(smiles)]
    finally:
        model.graph, model.weight_3d = graph, weight
    for row, v3, v2 in zip(rows, three_d, two_d):
        assert row.values["gap"] == pytest.approx(weight[0] * v3 + (1 - weight[0]) * v2, abs=1e-9)
    cal = model.calibration["gap"]
    assert cal.d > 0
    assert rows[2].uncertainty["gap"] == pytest.approx(cal.sigma(rows[2].spread["gap"], rows[2].latent,
                                                                 abs(three_d[2] - two_d[2])))
    # numbers and positions only (no bond graph): the 3D members alone, said in the note
    atoms = model.predict([(np.array([8, 1, 1]), np.array([[0, 0, 0.12], [0, 0.76, -0.47], [0, -0.76, -0.47]]))])[0]
    assert atoms.ok and "3D members only" in atoms.note


def test_shipped_graph_member_reads_its_weights_as_chemprop_does():
    """Known answers: chemprop 2.3.1's own predictions (MPNN.load_from_checkpoint on the training run's best
    checkpoint, 2026-12-07) for the weights shipped in qm9-gap-schnet-ff, eV."""
    from pathlib import Path

    from chemaccel.property.storage import load_model

    chemprop = {"CCO": 9.329572, "c1ccoc1": 6.64285, "O=C1CC1": 5.891346, "C#CC(N)=O": 6.355107,
                "CC1(C)OC1C=O": 5.863941, "N#Cc1cnc[nH]1": 5.862947, "C[C@H]1CO[C@@H]1O": 8.643391, "FC(F)F": 14.848324}
    model = load_model(Path(__file__).resolve().parents[2] / "resources" / "models" / "qm9-gap-schnet-ff")
    ours = model.graph.predict_smiles(list(chemprop))[:, 0]
    np.testing.assert_allclose(ours, list(chemprop.values()), atol=1e-5)  # float64 here, float32 there
