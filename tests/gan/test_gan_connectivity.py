"""The connectivity term: lambda_2 of the decoded graph, checked against rdkit's adjacency and numpy."""

import math

import numpy as np
import pytest
import torch
from rdkit import Chem

from chemaccel.errors import ConfigError
from chemaccel.gan import GanConfig, GanTrainer
from chemaccel.gan.connectivity import algebraic_connectivity, connectivity
from chemaccel.gan.molgraph import ATOM_TYPES, decode_all, encode_smiles, from_vectors, to_onehot
from chemaccel.runtime import RuntimeConfig

N = 9


def logits_of(smiles: list[str], scale: float = 8.0) -> torch.Tensor:
    """Generator-like scores whose argmax graph is each molecule."""
    atoms, bonds, kept, _ = encode_smiles(smiles, N)
    assert len(kept) == len(smiles)
    return torch.from_numpy(to_onehot(atoms, bonds)) * scale


def rdkit_lambda2(smiles: str) -> float:
    adj = Chem.GetAdjacencyMatrix(Chem.MolFromSmiles(smiles)).astype(float)
    lap = np.diag(adj.sum(1)) - adj
    values = np.linalg.eigvalsh(lap)
    return float(values[1]) if len(values) > 1 else 1.0  # one atom: the absent atoms' eigenvalue


@pytest.mark.parametrize("smiles", ["CCO", "c1ccoc1", "CC(C)(C)O", "OCC1CC1C#N", "CCCCCCCCC", "C1CC2CC12"])
def test_lambda2_of_connected_molecules_matches_numpy_on_rdkit_adjacency(smiles):
    got = float(algebraic_connectivity(logits_of([smiles]), N)[0])
    assert got == pytest.approx(min(rdkit_lambda2(smiles), 1.0), abs=1e-5)
    assert got >= 2 * (1 - math.cos(math.pi / N)) - 1e-5  # the 9-atom path is the least connected


def test_fragments_have_zero_lambda2_and_the_term_counts_them():
    raw = logits_of(["CC.O", "CCO", "C.C.C", "C1CC1.N#N", "CCCC"])
    lam = algebraic_connectivity(raw, N)
    assert torch.allclose(lam[[0, 2, 3]], torch.zeros(3), atol=1e-5)
    assert (lam[[1, 4]] > 0.1).all()
    assert float(connectivity(raw, N)) == pytest.approx(3 / 5, abs=1e-4)


def fragment_counts(raw: torch.Tensor) -> list[int]:
    """rdkit's fragment count of each argmax graph (unsanitized: bad valences still count as one piece)."""
    atoms, bonds = from_vectors(raw.detach().numpy(), N)
    iu = np.triu_indices(N, k=1)
    out = []
    for a, b in zip(atoms, bonds):
        mol = Chem.RWMol()
        index = {i: mol.AddAtom(Chem.Atom(ATOM_TYPES[int(t)])) for i, t in enumerate(a) if t}
        for (i, j), kind in zip(zip(*iu), b):
            if kind and i in index and j in index:
                mol.AddBond(index[i], index[j], Chem.BondType.SINGLE)
        out.append(len(Chem.GetMolFrags(mol)))
    return out


def test_descending_the_term_joins_the_fragments():
    raw = logits_of(["CC.CO", "CCC.C", "C1CC1.N#N"], scale=1.0).requires_grad_(True)
    assert fragment_counts(raw) == [2, 2, 2]
    assert all(s is None for s in decode_all(raw.detach().numpy(), N))  # in pieces: invalid
    opt = torch.optim.SGD([raw], lr=0.5)
    for _ in range(100):
        opt.zero_grad()
        loss = connectivity(raw, N)
        if float(loss.detach()) == 0:
            break
        loss.backward()
        opt.step()
    assert float(connectivity(raw, N).detach()) == 0
    assert fragment_counts(raw) == [1, 1, 1]
    atoms_left = (from_vectors(raw.detach().numpy(), N)[0] != 0).sum(1).tolist()
    assert atoms_left == [4, 4, 5]  # joined, not by deleting atoms


def test_bad_shapes_and_margin():
    with pytest.raises(ValueError, match="shape"):
        algebraic_connectivity(torch.zeros(2, 10), N)
    with pytest.raises(ValueError, match="margin"):
        connectivity(logits_of(["CC"]), N, margin=0)


def test_config_allows_it_only_for_graphs():
    with pytest.raises(ConfigError, match="molecular graphs"):
        GanConfig(data="ring8", connectivity_weight=1.0)
    with pytest.raises(ConfigError, match="connectivity_weight"):
        GanConfig(data="qm9", connectivity_weight=-1.0)


def test_training_reports_the_term(tiny_config, smiles20):
    cfg = tiny_config.replace(data="qm9", noise_dim=4, steps=3, batch_size=12, log_every=1,
                              connectivity_weight=1.0)
    result = GanTrainer(cfg, RuntimeConfig(device="cpu", seed=0)).run(None, data=smiles20, evaluate=False)
    assert result.status == "completed"
    assert all(0.0 <= h["connectivity"] <= 1.0 for h in result.history)
    plain = GanTrainer(cfg.replace(connectivity_weight=0.0), RuntimeConfig(device="cpu", seed=0)).run(
        None, data=smiles20, evaluate=False)
    assert all(h["connectivity"] == 0.0 for h in plain.history)


def test_half_precision_outputs_work_and_give_float32():
    raw = logits_of(["CC.O", "CCO"]).to(torch.bfloat16).requires_grad_(True)
    lam = algebraic_connectivity(raw, N)
    assert lam.dtype == torch.float32
    assert float(lam[0]) == pytest.approx(0.0, abs=1e-5) and float(lam[1]) > 0.1
    connectivity(raw, N).backward()
    assert raw.grad is not None and raw.grad.dtype == torch.bfloat16
