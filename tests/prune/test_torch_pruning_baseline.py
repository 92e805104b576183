"""The Torch-Pruning baseline of scripts/bench_autoprune.py: a physically smaller LeNet-5 at a parameter count."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("torch_pruning", reason="torch-pruning is not installed (pip install 'chemaccel[bench]')")

from chemaccel.errors import ConfigError  # noqa: E402
from chemaccel.prune.baselines import torch_pruning_prune  # noqa: E402
from chemaccel.prune.models import build_model, default_architecture  # noqa: E402


def widths(model: torch.nn.Module) -> list[int]:
    return [m.weight.shape[0] for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]


@pytest.fixture(scope="module")
def lenet5():
    torch.manual_seed(0)
    return build_model(default_architecture("lenet5")).eval()


@pytest.fixture(scope="module")
def pruned_1390(lenet5):
    """Each importance's model at 1,390 parameters (AutoPrune's 310x of LeNet-5), computed once."""
    return {imp: torch_pruning_prune(lenet5, torch.zeros(1, 1, 28, 28), 1390, imp) for imp in ("group-l2", "lamp")}


@pytest.mark.parametrize("importance, expected_widths, expected_params", [
    ("group-l2", [20, 1, 13, 10], 1382),  # one ratio in every layer (torch-pruning 1.6.1)
    ("lamp", [5, 5, 5, 10], 1225),  # one global ranking
])
def test_structured_pruning_to_autoprune_s_count(lenet5, pruned_1390, importance, expected_widths,
                                                 expected_params):
    pruned, ratio = pruned_1390[importance]
    assert 0.9 < ratio < 1
    assert widths(pruned) == expected_widths
    assert sum(p.numel() for p in pruned.parameters()) == expected_params <= 1390
    assert pruned(torch.randn(4, 1, 28, 28)).shape == (4, 10)
    assert sum(p.numel() for p in lenet5.parameters()) == 431_080  # the dense model is left alone


def test_lamp_keeps_dense_filters(lenet5, pruned_1390):
    """The kept conv1 filters are copies of dense filters (physically removed, not zeroed)."""
    pruned, _ = pruned_1390["lamp"]
    dense_w, kept_w = lenet5[0].weight, pruned[0].weight
    matches = [int(torch.isclose(dense_w, w.unsqueeze(0)).flatten(1).all(1).nonzero()) for w in kept_w]
    assert len(set(matches)) == 5


def test_bad_importance_and_an_impossible_size(lenet5):
    example = torch.zeros(1, 1, 28, 28)
    with pytest.raises(ConfigError, match="importance must be one of group-l2, lamp"):
        torch_pruning_prune(lenet5, example, 1390, "random")
    with pytest.raises(ConfigError, match="cannot make this model as small as 10 parameters"):
        torch_pruning_prune(lenet5, example, 10, "lamp")
