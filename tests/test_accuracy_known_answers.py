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

