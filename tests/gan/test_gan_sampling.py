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
