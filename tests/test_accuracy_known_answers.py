"""Known answers for the classification figures of the prune and NAS engines (error and accuracy).

A linear layer with the identity as weights classifies a 2-vector by its larger coordinate, so which
samples are right is known by construction; batches of 3 check that the counts add up across batches.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn


def _identity_classifier() -> nn.Module:
    layer = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(2))
    return layer


# 8 samples; the predicted class is the larger coordinate: 1, 0, 1, 0, 0, 1, 1, 0
X = torch.tensor([[0.0, 1.0], [2.0, 1.0], [0.1, 0.2], [5.0, -1.0], [3.0, 2.9], [-1.0, 0.0], [0.0, 4.0], [1.0, 0.5]])
Y = torch.tensor([1, 0, 0, 0, 1, 1, 0, 0])  # wrong: samples 2, 4 and 6


def test_prune_classification_error_counts_the_misclassified_samples():
    from chemaccel.prune.evaluate import classification_error

    assert classification_error(_identity_classifier(), (X, Y), batch_size=3) == pytest.approx(3 / 8)
    assert classification_error(_identity_classifier(), (X, 1 - Y), batch_size=8) == pytest.approx(5 / 8)


def test_nas_accuracy_counts_the_correct_samples():
    from chemaccel.nas.data import accuracy

    assert accuracy(_identity_classifier(), (X, Y), batch_size=3) == pytest.approx(5 / 8)
    assert accuracy(_identity_classifier(), (X, 1 - Y), batch_size=8) == pytest.approx(3 / 8)



def test_nas_evaluate_of_the_shipped_folder_on_known_images():
    import json
    from pathlib import Path

    from chemaccel.errors import ConfigError
    from chemaccel.nas.evaluate import KEYS, evaluate
    from chemaccel.nas.storage import load_nas

    folder = Path(__file__).resolve().parents[1] / "resources" / "models" / "nas-fashion"
    model, info = load_nas(folder)
    torch.manual_seed(0)
    x = torch.randn(40, 1, 28, 28)
    with torch.no_grad():
        predicted = model.eval()(x).argmax(1)
    y = predicted.clone()
    y[:10] = (y[:10] + 1) % 10  # the first 10 made wrong on purpose: accuracy 30/40, then 20/30 of the first 30
    out = evaluate(folder, (x, y), batch_size=7)
    assert list(out)[:len(KEYS)] == list(KEYS)
    assert (out["test_accuracy"], out["samples"], out["split"], out["device"]) == (0.75, 40, "test", "cpu")
    assert out["params"] == sum(p.numel() for p in model.parameters())
    skips = model.genotype.skip_counts()
    assert out["skip_per_cell"] == skips and out["max_skip_per_cell"] == max(skips.values())
    assert out["genotype"] == model.genotype.to_dict() and out["threads"] == torch.get_num_threads()
    recorded = json.loads((folder / "config.json").read_text())["metrics"]["test_accuracy"]
    assert out["recorded_test_accuracy"] == recorded
    assert evaluate(folder, (x, y), limit=30)["test_accuracy"] == pytest.approx(20 / 30)
    bare = evaluate(folder)
    assert (bare["test_accuracy"], bare["samples"], bare["split"]) == (None, 0, None)
    with pytest.raises(ConfigError, match=r"^the data has samples of shape \(1, 14, 14\), the model expects \(1, 28, 28\)$"):
        evaluate(folder, (torch.zeros(2, 1, 14, 14), torch.zeros(2, dtype=torch.long)))
    with pytest.raises(ConfigError, match=r"^the data has label 10; the model has 10 classes$"):
        evaluate(folder, (x[:2], torch.tensor([0, 10])))
