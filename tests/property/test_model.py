import math

import numpy as np
import pytest
import torch

from chemaccel.errors import ConfigError
from chemaccel.property import PropertyConfig
from chemaccel.property.attention import KernelPruning
from chemaccel.property.compact import compact_model
from chemaccel.property.data import StoreCollate, load_store
from chemaccel.property.model import PropertySchNet, count_parameters, dense_architecture, filter_parameters
from chemaccel.property import keys
from tests.property.conftest import TINY


def _model_and_batch(store, targets=("gap", "U0")):
    cfg = PropertyConfig(targets=targets, **TINY)
    torch.manual_seed(0)
    model = PropertySchNet(dense_architecture(cfg))
    arrays = load_store(store, cfg.targets)
    return model, StoreCollate(arrays, cfg.cutoff)(list(range(12))), cfg


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ConfigError, match="unknown property config key"):
        PropertyConfig.from_dict({"n_filter": 3})
    with pytest.raises(ConfigError, match="unknown target"):
        PropertyConfig(targets=("mu",))
    with pytest.raises(ConfigError, match="budget"):
        PropertyConfig(budget=0)
    cfg = PropertyConfig.from_dict(PropertyConfig(targets=("homo", "U0")).to_dict())
    assert cfg.targets == ("homo", "U0") and cfg.aggregation("homo") == "avg" and cfg.aggregation("U0") == "sum"


def test_same_outputs_as_schnetpack_schnet_with_the_same_weights(qm9_store):
    from chemaccel.property.schnetpack_compat import schnetpack_modules

    sp = schnetpack_modules()
    model, batch, cfg = _model_and_batch(qm9_store)
    ref = sp.spk.representation.SchNet(n_atom_basis=cfg.n_atom_basis, n_interactions=cfg.n_interactions,
                                       radial_basis=sp.snn.GaussianRBF(cfg.n_rbf, cfg.cutoff),
                                       cutoff_fn=sp.snn.CosineCutoff(cfg.cutoff), n_filters=cfg.n_filters)
    ref.load_state_dict(model.representation.state_dict(), strict=False)
    inputs = dict(batch)
    inputs[keys.RIJ] = batch[keys.R][batch[keys.IDX_J]] - batch[keys.R][batch[keys.IDX_I]]
    theirs = ref(inputs)["scalar_representation"]
    ours = model.representation(batch)
    assert theirs.shape == ours.shape == (batch[keys.Z].numel(), cfg.n_atom_basis)
    assert torch.allclose(theirs, ours, atol=1e-5)
    assert model(batch).shape == (12, 2)


def test_predictions_invariant_to_rotation_and_translation(qm9_store):
    model, batch, _ = _model_and_batch(qm9_store)
    model.eval()
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1)))
    moved = dict(batch)
    moved[keys.R] = batch[keys.R] @ q.T + torch.tensor([3.0, -1.0, 7.5])
    with torch.no_grad():
        assert torch.allclose(model(batch), model(moved), atol=1e-3, rtol=1e-5)


def _toy_prune(model, batch, method, budget=0.25, steps=60):
    pruning = KernelPruning(model, method, budget, ramp_steps=steps // 2, lambda_init=1e-2)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad and
                            all(p is not g for g in pruning.gate_parameters())], lr=1e-3)
    gates = torch.optim.Adam(pruning.gate_parameters(), lr=5e-2) if method != "magnitude" else None
    target = batch["targets"]
    model.train()
    for step in range(steps if gates else 0):
        loss = ((model(batch) - target) ** 2).mean() + pruning.regularizer()
        opt.zero_grad(), gates.zero_grad()
        loss.backward()
        opt.step(), gates.step()
        pruning.step(step)
    counts = pruning.finalize()
    model.eval()
    return pruning, counts


@pytest.mark.parametrize("method", ["attention", "gates", "magnitude"])
def test_pruning_reaches_the_budget_and_compaction_is_exact(qm9_store, method):
    model, batch, cfg = _model_and_batch(qm9_store)
    dense_params, dense_filter = count_parameters(model), filter_parameters(model)
    pruning, counts = _toy_prune(model, batch, method)
    total = cfg.n_filters * cfg.n_interactions
    assert counts["kernels_total"] == total and counts["kernels_kept"] == math.ceil(0.25 * total)
    assert counts["hidden_kept"] == math.ceil(0.25 * total)
    with torch.no_grad():
        before = model(batch)
    small = compact_model(model)
    assert all(b.pruner is None for b in small.representation.interactions)
    assert sum(b["n_filters"] for b in small.architecture()["blocks"]) == counts["kernels_kept"]
    with torch.no_grad():
        assert torch.allclose(small(batch), before, atol=1e-4, rtol=1e-5)
    assert count_parameters(small) < dense_params and filter_parameters(small) < dense_filter / 2


def test_attention_scores_drive_the_gates(qm9_store):
    model, batch, _ = _model_and_batch(qm9_store)
    pruning, _ = _toy_prune(model, batch, "attention", steps=30)
    pr = pruning.pruners[0]
    scores = pr.score_ema
    assert torch.isclose(scores.mean(), torch.tensor(1.0), atol=1e-3)  # mean-one attention
    assert not torch.allclose(scores, torch.ones_like(scores))  # it learned something
    w = pr.reg_weights()
    assert torch.equal(torch.argsort(w), torch.argsort(scores, descending=True)) or np.corrcoef(w, scores)[0, 1] < 0


def test_flops_per_molecule_by_hand():
    """Two molecules (water, 3 atoms; methane, 5 atoms), every atom pair within the cutoff: 6 + 20 directed
    pairs; the continuous-filter messages cost 3 FLOPs per pair and filter in each interaction block, the
    dense layers what torch's FlopCounterMode counts; both divided by the 2 molecules."""
    from torch.utils.flop_counter import FlopCounterMode

    from chemaccel.property.data import collate_geometries
    from chemaccel.property.evaluate import count_flops

    cfg = PropertyConfig(targets=("gap",), **TINY)
    model = PropertySchNet(dense_architecture(cfg)).eval()
    water = (np.array([8, 1, 1]), np.array([[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]], dtype=float))
    methane = (np.array([6, 1, 1, 1, 1]), np.array([[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63],
                                                     [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]], dtype=float))
    batch = collate_geometries([water[0], methane[0]], [water[1], methane[1]], cfg.cutoff)
    assert int(batch[keys.IDX_I].numel()) == 6 + 20
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(batch)
    dense = counter.get_total_flops() / 2
    messages = 3 * 26 * TINY["n_filters"] * TINY["n_interactions"] / 2
    assert count_flops(model, batch) == {"flops_dense": dense, "flops_messages": messages, "flops": dense + messages}
