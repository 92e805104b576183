"""scripts/retrain_pruned.py on a tiny IDX folder: the zero pattern stays the mask, a cut ends at exactly the
target, drop-and-grow keeps the count, and the folder it writes loads back with what it printed."""

from __future__ import annotations

import json

import pytest
import torch

from chemaccel.prune.storage import load_pruned

from ..scripts import load_script
from .test_cli_prune import magnitude_pruned_lenet5, tiny_mnist

script = load_script("retrain_pruned")


@pytest.fixture(scope="module")
def start(tmp_path_factory):
    """A LeNet-5 cut to 3,000 weights by magnitude (biases kept), saved as a prune model folder."""
    root = tmp_path_factory.mktemp("retrain")
    tiny_mnist(root / "mnist", n=300)
    magnitude_pruned_lenet5(root / "start", 3000)
    return root


def _nonzero(folder):
    model, _ = load_pruned(folder)
    return {n: p != 0 for n, p in model.named_parameters()}


def _run(start, out, *extra, capsys):
    code = script.main([str(start / "start"), str(out), "--data", str(start / "mnist"), "--val", "50",
                        "--epochs", "2", "--every", "1", *extra])
    assert code == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_fixed_mask_trains_only_kept_weights(start, tmp_path, capsys):
    result = _run(start, tmp_path / "fixed", capsys=capsys)
    before, after = _nonzero(start / "start"), _nonzero(tmp_path / "fixed")
    for name in before:
        assert not bool((after[name] & ~before[name]).any()), name  # nothing outside the mask came back
    assert result["params_nonzero"] == sum(int(m.sum()) for m in after.values())
    assert result["compression"] == pytest.approx(431080 / result["params_nonzero"])
    model, info = load_pruned(tmp_path / "fixed")
    assert info.metrics["val_error"] == result["val_error"]
    assert sum(int((p != 0).sum()) for p in model.parameters()) <= 3000 + 580


def test_cut_reaches_the_target_exactly_and_swaps_keep_it(start, tmp_path, capsys):
    result = _run(start, tmp_path / "cut", "--target", "1200", "--anneal", "1", "--swap", "0.3", capsys=capsys)
    assert result["params_nonzero"] <= 1200  # grown weights start at zero, so at most the target
    assert result["params_nonzero"] >= 1200 - 0.3 * 1200  # ... and no fewer than the target less one swap


def test_update_keeps_each_layer_share_by_magnitude_and_grows_by_gradient():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2, bias=False), torch.nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.5, -0.1, 0.0], [0.3, -0.7, 0.2]]))  # 5 kept
        model[1].weight.copy_(torch.tensor([[0.4, -0.05]]))  # 2 kept
    masked = script.Masked(model)
    opt = torch.optim.Adam(model.parameters())
    masked.update(5, 0.0, {}, opt)  # 7 -> 5: shares round(5 * 5 / 7) = 4 and round(2 * 5 / 7) = 1
    assert torch.equal(model[0].weight != 0, torch.tensor([[True, False, False], [True, True, True]]))
    assert torch.equal(model[1].weight != 0, torch.tensor([[True, False]]))
    grads = {"0.weight": torch.tensor([[0.0, 9.0, 5.0], [0.0, 0.0, 0.0]]), "1.weight": torch.zeros(1, 2)}
    masked.update(5, 0.5, grads, opt)  # layer 0: drop 2 (0.2 and 0.3), grow 2 ([0, 1], [0, 2]) at zero
    assert torch.equal(masked.masks["0.weight"], torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]))
    assert model[0].weight[0, 1] == 0 and model[0].weight[0, 2] == 0 and model[0].weight[1, 1] == -0.7
    assert masked.n_weights() == 5


def test_distilled_and_noisy_runs_keep_the_mask(start, tmp_path, capsys):
    _run(start, tmp_path / "kd", "--distill", "0.5", "--teacher", str(start / "start"), "--noise", "0.2",
         capsys=capsys)
    before, after = _nonzero(start / "start"), _nonzero(tmp_path / "kd")
    assert all(not bool((after[n] & ~before[n]).any()) for n in before)


def test_distill_needs_a_teacher(start, tmp_path, capsys):
    with pytest.raises(SystemExit):
        script.main([str(start / "start"), str(tmp_path / "x"), "--distill", "0.5"])
    assert "--distill needs --teacher" in capsys.readouterr().err


def test_a_missing_start_folder_is_one_line(tmp_path):
    with pytest.raises(SystemExit) as err:
        script.main([str(tmp_path / "absent"), str(tmp_path / "out")])
    assert str(err.value).startswith("retrain_pruned.py: ") and "absent" in str(err.value)
    assert "\n" not in str(err.value)
