"""The regularizer's unit costs: parameters, FLOPs, and the convolution factor ``conv_cost``."""

import pytest
import torch
from torch import nn

from chemaccel.errors import ConfigError
from chemaccel.prune import AutoPrune, PruneConfig
from chemaccel.prune.attach import attach_gates
from chemaccel.prune.costs import CostModel
from chemaccel.prune.gates import GateState
from chemaccel.prune.models import build_model, default_architecture
from chemaccel.runtime import RuntimeConfig


def _lenet5_costs(conv_cost: float = 1.0, flops_weight: float = 0.0) -> CostModel:
    torch.manual_seed(0)
    model = build_model(default_architecture("lenet5"))
    gates = attach_gates(model, "unstructured", GateState(), 0.05)
    return CostModel(gates, model, torch.zeros(1, 1, 28, 28), flops_weight, conv_cost)


def test_parameter_costs_are_one_per_weight_and_conv_cost_scales_only_the_convolutions():
    plain = _lenet5_costs()
    assert plain.params_total == 431_080
    # a params budget: every weight and bias element costs the same, 1 after normalisation
    assert all(torch.equal(r, torch.ones_like(r)) for r in plain.reg)
    half = _lenet5_costs(conv_cost=0.5)
    conv = [isinstance(g.spec.targets[0][0], nn.Conv2d) for g in half.gates]
    assert conv.count(True) == 4 and conv.count(False) == 4  # weight and bias of two convs and two Linears
    linear_cost = float(half.reg[conv.index(False)].flatten()[0])
    # normalised to mean 1 over all 431,080 units: 25,570 conv units at half price
    assert linear_cost == pytest.approx(431_080 / (405_510 + 0.5 * 25_570))
    for r, is_conv in zip(half.reg, conv):
        assert torch.allclose(r, torch.full_like(r, linear_cost * (0.5 if is_conv else 1.0)))
    # the budget still counts plain parameters
    assert half.kept() == plain.kept()
    assert [torch.equal(a, b) for a, b in zip(half.cost_p, plain.cost_p)] == [True] * 8


def test_flops_mix_is_unchanged_by_conv_cost_at_full_flops_weight():
    a, b = _lenet5_costs(1.0, 1.0), _lenet5_costs(0.25, 1.0)
    assert all(torch.equal(x, y) for x, y in zip(a.reg, b.reg))


@pytest.mark.parametrize("bad", [0, -1.0, "half"])
def test_conv_cost_must_be_positive(bad):
    with pytest.raises(ConfigError, match="conv_cost"):
        PruneConfig(conv_cost=bad)


def test_cheaper_convolutions_keep_more_convolution_weights(toy_images):
    x, y = toy_images

    def model():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 12 * 12, 16),
                             nn.ReLU(), nn.Linear(16, 4))

    kept = {}
    for factor in (1.0, 0.1):
        cfg = PruneConfig(budget=0.1, epochs=12, finetune_epochs=0, batch_size=50, lambda_init=0.05,
                          lambda_rate=0.15, schedule_every=1, gate_lr=0.01, lr=3e-3, conv_cost=factor,
                          runtime=RuntimeConfig(device="cpu"))
        res = AutoPrune(cfg).run(model(), (x[:160], y[:160]), (x[160:], y[160:]))
        assert 0.05 <= res.history[-1]["kept_params"] <= 0.12  # the budget is met either way
        kept[factor] = int(torch.count_nonzero(res.model[0].weight))
    assert kept[0.1] >= kept[1.0] + 8  # 61 against 50 of the 100 conv weights here
