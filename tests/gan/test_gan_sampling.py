"""Drawn graphs (sample_temperature) and the valence term, with known answers."""

import numpy as np
import pytest
import torch

from chemaccel.errors import ConfigError
from chemaccel.gan import GanConfig, GanTrainer
from chemaccel.gan.data import DataSpec, draw_onehot
from chemaccel.gan.molgraph import decode_all, encode_smiles, graph_dims, to_onehot
from chemaccel.gan.valence import valence, valence_excess
from chemaccel.runtime import RuntimeConfig

N = 9
A_SIZE, _, DIM = graph_dims(N)
PAIRS = list(zip(*np.triu_indices(N, 1)))


def graphs_of(smiles):
    atoms, bonds, kept, _ = encode_smiles(smiles, N)
    assert len(kept) == len(smiles)
    return torch.from_numpy(to_onehot(atoms, bonds))


def set_bond(g, i, j, kind):
    off = A_SIZE + PAIRS.index((i, j)) * 4
    g[off:off + 4] = torch.eye(4)[kind]


def test_valence_excess_counts_bond_orders_beyond_each_element():
    ok = graphs_of(["CCO", "C=C=C", "CC(C)(C)C", "OC(F)=O"])
    assert valence_excess(ok, N).tolist() == [0.0, 0.0, 0.0, 0.0]
    g = graphs_of(["CCO"])[0].clone()
    set_bond(g, 1, 2, 3)  # C-O triple: O carries 3 of 2, C 4 of 4
    assert valence_excess(g[None], N).tolist() == [1.0]
    g2 = graphs_of(["CC"])[0].clone()
    set_bond(g2, 0, 5, 1)  # a bond to an absent atom is not read
    assert valence_excess(g2[None], N).tolist() == [0.0]
    f = graphs_of(["CF"])[0].clone()
    set_bond(f, 0, 1, 2)  # C=F: F carries 2 of 1
    assert valence(torch.stack([f, g]), N).item() == 1.0


def test_valence_gradient_lowers_the_overloading_bond():
    g = graphs_of(["CCO"])[0].clone()
    set_bond(g, 1, 2, 3)
    logits = (g * 4.0).requires_grad_(True)  # scores whose most likely types are g's
    valence(logits[None], N).backward()
    off = A_SIZE + PAIRS.index((1, 2)) * 4
    grad = logits.grad[off:off + 4]
    assert grad[3] > 0 and grad[0] < 0  # descent moves mass from the triple bond towards no bond


def test_draws_follow_the_probabilities_and_repeat_with_the_seed():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1]])).repeat(20000, 1)
    draws = draw_onehot(logits, torch.Generator().manual_seed(0))
    assert draws.sum(1).eq(1).all()
    np.testing.assert_allclose(draws.mean(0).numpy(), [0.7, 0.2, 0.1], atol=0.01)
    again = draw_onehot(logits, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_temperature_sharpens_the_draws_towards_the_argmax():
    spec = DataSpec("qm9", DIM, N)
    raw = graphs_of(["CCO", "c1ccoc1"]).repeat(50, 1) * 3.0  # the types of two molecules, moderately sure
    cold = spec.postprocess(raw, training=False, temperature=0.05, generator=torch.Generator().manual_seed(1))
    assert decode_all(cold.numpy(), N) == ["CCO", "c1ccoc1"] * 50
    hot = spec.postprocess(raw, training=False, temperature=2.0, generator=torch.Generator().manual_seed(1))
    assert len(torch.unique(hot, dim=0)) > 90  # nearly every draw a different graph
    probs = spec.postprocess(raw, training=False)  # no temperature: probabilities, as before
    assert not torch.equal(probs, probs.round())


def test_config_checks():
    with pytest.raises(ConfigError, match="needs data qm9 and graph_sampling gumbel"):
        GanConfig(data="qm9", sample_temperature=0.5, graph_sampling="argmax")
    with pytest.raises(ConfigError, match="valence_weight applies to molecular graphs"):
        GanConfig(data="ring8", valence_weight=1.0)


def test_a_drawing_model_samples_reproducibly_and_trains_with_the_terms(tiny_config, smiles20):
    cfg = tiny_config.replace(data="qm9", noise_dim=4, steps=3, batch_size=12, log_every=1, eval_samples=30,
                              novelty_weight=1.0, connectivity_weight=1.0, valence_weight=1.0,
                              sample_temperature=0.7)
    result = GanTrainer(cfg, RuntimeConfig(device="cpu", seed=0)).run(None, data=smiles20)
    assert result.status == "completed" and all("valence" in h for h in result.history)
    model = result.model
    a = model.sample_smiles(40, seed=3)
    assert a == model.sample_smiles(40, seed=3)
    samples, _ = model.generate(40, seed=3)
    assert torch.equal(samples, samples.round())  # one-hot draws, not probabilities


def test_unique_smiles_stops_when_a_round_brings_nothing_new():
    from chemaccel import api

    model = api.load_model("gan-qm9")
    calls = []

    def same(n, seed=0):
        calls.append((n, seed))
        return ["CCO", None, "CCN"] * (n // 3) + ["CCO"] * (n % 3)

    model.sample_smiles = same
    found, drawn = model.unique_smiles(5, max_samples=5000)
    assert found == ["CCO", "CCN"] and drawn == 2000 and calls == [(1000, 0), (1000, 1)]
    found, drawn = model.unique_smiles(5)  # the default budget, 20 x 5 samples, ends it first
    assert found == ["CCO", "CCN"] and drawn == 100 and calls[-1] == (100, 0)
    found, drawn = model.unique_smiles(1, seed=7)
    assert found == ["CCO"] and drawn == 20 and calls[-1] == (20, 7)


def test_valence_masked_draws_never_overload_an_atom():
    from chemaccel.gan.valence import draw_valence_masked

    raw = torch.randn(400, DIM) * 2.0  # an untrained generator's scores: plenty of overloaded atoms
    plain = DataSpec("qm9", DIM, N).postprocess(raw, training=False, temperature=1.0,
                                              generator=torch.Generator().manual_seed(0))
    assert (valence_excess(plain, N) > 0).float().mean() > 0.5
    masked = draw_valence_masked(raw, N, 1.0, torch.Generator().manual_seed(0))
    assert masked.sum(1).eq(N + len(PAIRS)).all()  # one type per atom and per pair
    assert valence_excess(masked, N).eq(0).all()
    assert torch.equal(masked, draw_valence_masked(raw, N, 1.0, torch.Generator().manual_seed(0)))
    # sure scores of a valid molecule come back unchanged
    sure = graphs_of(["CC(=O)N", "c1ccoc1"]) * 50.0
    assert decode_all(draw_valence_masked(sure, N, 1.0).numpy(), N) == ["CC(N)=O", "c1ccoc1"]
    with pytest.raises(ValueError, match="temperature must be > 0"):
        draw_valence_masked(raw, N, 0.0)


def test_valence_mask_on_the_shipped_model_raises_validity():
    from chemaccel import api

    model = api.load_model("gan-qm9")
    model.valence_mask = False
    raw_validity = model.evaluate(2000, seed=0)["validity"]
    model.valence_mask = True
    masked = model.evaluate(2000, seed=0)
    assert masked["validity"] > raw_validity + 0.2
    with pytest.raises(ConfigError, match="apply to drawn graphs"):
        GanConfig(data="qm9", valence_mask=True)


def atoms_bonds(smiles):
    atoms, bonds, kept, _ = encode_smiles([smiles], N)
    assert len(kept) == 1
    return torch.from_numpy(atoms).long(), torch.from_numpy(bonds).long()


def test_fragments_labels_each_atom_by_its_lowest_connected_index():
    from chemaccel.gan.valence import fragments

    atoms, bonds = atoms_bonds("CC.O.NC")  # atoms 0-1, 2, 3-4; 5-8 absent
    assert fragments(atoms, bonds, N).tolist() == [[0, 0, 2, 3, 3, -1, -1, -1, -1]]
    atoms, bonds = atoms_bonds("CCOC")
    assert fragments(atoms, bonds, N).tolist() == [[0, 0, 0, 0, -1, -1, -1, -1, -1]]


def test_join_fragments_bonds_the_pair_the_generator_wants_most_where_valence_allows():
    from chemaccel.gan.molgraph import decode
    from chemaccel.gan.valence import MAX_VALENCE, join_fragments

    atoms, bonds = atoms_bonds("CC.O")  # C0-C1, O2
    room = torch.tensor([[MAX_VALENCE[z] for z in ATOMS_OF(atoms[0])]]) - torch.tensor([[1.0, 1.0] + [0.0] * 7])
    wish = torch.zeros(1, len(PAIRS))
    wish[0, PAIRS.index((1, 2))] = 0.9  # C1-O2 wanted most
    wish[0, PAIRS.index((0, 2))] = 0.5
    assert join_fragments(atoms, bonds, room, wish, N) == 1
    assert decode(atoms[0].numpy(), bonds[0].numpy(), N) == "CCO"
    assert room[0, :3].tolist() == [3.0, 2.0, 1.0]
    # an atom without free valence is passed over: F2 is full, so the join goes to the next wish
    atoms, bonds = atoms_bonds("CF.C")  # C0-F1, C2
    room = torch.tensor([[3.0, 0.0, 4.0] + [0.0] * 6])
    wish = torch.zeros(1, len(PAIRS))
    wish[0, PAIRS.index((1, 2))] = 0.9
    wish[0, PAIRS.index((0, 2))] = 0.1
    assert join_fragments(atoms, bonds, room, wish, N) == 1
    assert decode(atoms[0].numpy(), bonds[0].numpy(), N) == "CCF"
    # two full fragments (F-F and F-F) cannot be joined: left as they are, still invalid
    atoms, bonds = atoms_bonds("FF.FF")
    room = torch.zeros(1, N)
    before = bonds.clone()
    assert join_fragments(atoms, bonds, room, torch.rand(1, len(PAIRS)), N) == 0
    assert torch.equal(bonds, before) and decode(atoms[0].numpy(), bonds[0].numpy(), N) is None


def ATOMS_OF(row):
    from chemaccel.gan.molgraph import ATOM_TYPES

    return [ATOM_TYPES[int(t)] for t in row]


def test_connected_draws_are_single_fragments_and_stay_within_valence():
    from chemaccel.gan.valence import draw_valence_masked, fragments

    raw = torch.randn(300, DIM) * 2.0
    loose = draw_valence_masked(raw, N, 1.0, torch.Generator().manual_seed(0))
    joined = draw_valence_masked(raw, N, 1.0, torch.Generator().manual_seed(0), connect=True)
    assert valence_excess(joined, N).eq(0).all()

    def labels(g):
        a = g[:, :A_SIZE].reshape(-1, N, A_SIZE // N).argmax(-1)
        b = g[:, A_SIZE:].reshape(len(g), -1, 4).argmax(-1)
        return a, fragments(a, b, N)

    def n_fragments(g):
        return torch.tensor([len(set(r.tolist()) - {-1}) for r in labels(g)[1]])

    assert (n_fragments(loose) > 1).sum() > 150
    assert (n_fragments(joined) == 1).sum() > 2 * (n_fragments(loose) == 1).sum()
    # what stays in fragments has no two atoms in different fragments with a free valence each
    from chemaccel.gan.molgraph import ATOM_TYPES
    from chemaccel.gan.valence import MAX_VALENCE

    a, lab = labels(joined)
    adj = torch.zeros(len(joined), N, N)
    adj[:, [i for i, _ in PAIRS], [j for _, j in PAIRS]] = (
        joined[:, A_SIZE:].reshape(len(joined), -1, 4) @ torch.tensor([0.0, 1.0, 2.0, 3.0]))
    free = torch.tensor([MAX_VALENCE[z] for z in ATOM_TYPES])[a] - (adj + adj.transpose(1, 2)).sum(-1)
    for r in torch.nonzero(n_fragments(joined) > 1).flatten().tolist():
        open_ = {int(lab[r, i]) for i in range(N) if lab[r, i] >= 0 and free[r, i] >= 1}
        assert len(open_) <= 1
    # joining only adds bonds: the atoms and every drawn bond stay
    changed = loose != joined
    assert not changed[:, :A_SIZE].any()
    valid_loose = [s is not None for s in decode_all(loose.numpy(), N)]
    valid_joined = [s is not None for s in decode_all(joined.numpy(), N)]
    assert sum(valid_joined) > sum(valid_loose) and all(j for lo, j in zip(valid_loose, valid_joined) if lo)


def test_connect_fragments_needs_valence_masks():
    with pytest.raises(ConfigError, match="set valence_mask"):
        GanConfig(data="qm9", sample_temperature=0.7, connect_fragments=True)
    assert GanConfig(data="qm9", sample_temperature=0.7, valence_mask=True, connect_fragments=True).connect_fragments


def test_the_shipped_model_joins_fragments_and_only_adds_molecules():
    from chemaccel import api

    model = api.load_model("gan-qm9")
    assert model.connect_fragments and model.valence_mask
    smiles = model.sample_smiles(2000, 0)
    model.connect_fragments = False
    loose = model.sample_smiles(2000, 0)
    # recorded from the shipped files: 1,831 valid draws as drawn, 1,999 once the fragments are joined
    assert (sum(s is not None for s in loose), sum(s is not None for s in smiles)) == (1831, 1999)
    # a draw that was one molecule already is left exactly as it was
    assert all(a == b for a, b in zip(loose, smiles) if a is not None)
