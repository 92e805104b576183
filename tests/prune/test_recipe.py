"""The training recipe (shift augmentation, distillation) shared by AutoPrune and its baselines."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from chemaccel.errors import ConfigError
from chemaccel.prune import AutoPrune, PruneConfig
from chemaccel.prune.baselines import fit
from chemaccel.prune.recipe import TrainingLoss, random_shift
from chemaccel.runtime import RuntimeConfig


def test_shift_moves_each_image_by_its_own_offset_within_range():
    x = torch.zeros(400, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0  # one bright pixel in the middle
    out = random_shift(x, 2, torch.Generator().manual_seed(0))
    rows, cols = [], []
    for img in out[:, 0]:
        (r, c), = torch.nonzero(img).tolist()  # still exactly one bright pixel (no wrap, no loss)
        rows.append(r - 4)
        cols.append(c - 4)
    assert set(rows) == set(cols) == {-2, -1, 0, 1, 2}  # all 25 offsets drawn, none beyond 2 pixels
    assert len(set(zip(rows, cols))) == 25


def test_shift_replicates_the_edge_and_keeps_zero_shift_identity():
    x = torch.arange(25, dtype=torch.float).view(1, 1, 5, 5)
    seen = set()
    for seed in range(40):
        out = random_shift(x, 1, torch.Generator().manual_seed(seed))[0, 0]
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")[0, 0]
        match = [(dy, dx) for dy in range(3) for dx in range(3) if torch.equal(out, padded[dy:dy + 5, dx:dx + 5])]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) == 9
    assert random_shift(x, 0) is x
    with pytest.raises(ConfigError, match="image batches"):
        random_shift(torch.zeros(4, 10), 2)


def test_distillation_loss_known_values():
    torch.manual_seed(0)
    teacher = nn.Linear(6, 3)
    x = torch.randn(5, 6)
    y = torch.tensor([0, 1, 2, 1, 0])
    student_out = torch.randn(5, 3)
    ce = F.cross_entropy(student_out, y)
    assert float(TrainingLoss("cross_entropy")(student_out, x, y)) == pytest.approx(float(ce))
    t = 3.0
    p = torch.softmax(teacher(x).detach() / t, 1)
    q = torch.softmax(student_out / t, 1)
    kl = float((p * (p.log() - q.log())).sum(1).mean())  # KL(teacher || student) per sample, averaged
    got = float(TrainingLoss("cross_entropy", teacher, 0.25, t)(student_out, x, y))
    assert got == pytest.approx(0.75 * float(ce) + 0.25 * t * t * kl, rel=1e-5)
    # a student equal to the teacher pays only the label term's share
    same = TrainingLoss("cross_entropy", teacher, 1.0, t)(teacher(x).detach(), x, y)
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    assert not any(p.requires_grad for p in teacher.parameters())


def test_label_smoothing_known_values():
    out = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    y = torch.tensor([0, 2])
    logp = torch.log_softmax(out, 1)
    s, k = 0.1, 3
    # target 1 - s + s/K on the label, s/K elsewhere
    target = torch.full((2, 3), s / k)
    target[torch.arange(2), y] += 1 - s
    want = float(-(target * logp).sum(1).mean())
    got = float(TrainingLoss("cross_entropy", smoothing=s)(out, None, y))
    assert got == pytest.approx(want, rel=1e-6)
    assert got > float(TrainingLoss("cross_entropy")(out, None, y))  # confident right answers pay more


@pytest.mark.parametrize("kwargs,match", [
    (dict(smoothing=1.0), "label smoothing must be in"),
    (dict(kind="mse", smoothing=0.1), "label smoothing is defined for classification"),
    (dict(teacher=None, alpha=0.5), "needs a teacher"),
    (dict(teacher=nn.Linear(2, 2), alpha=1.5), r"in \[0, 1\]"),
    (dict(teacher=nn.Linear(2, 2), alpha=0.5, temperature=0), "temperature must be positive"),
    (dict(kind="mse", teacher=nn.Linear(2, 2), alpha=0.5), "classification"),
])
def test_distillation_loss_rejects_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainingLoss(**kwargs)


@pytest.mark.parametrize("changes,match", [
    (dict(distill=-0.1), "distill must be a weight"),
    (dict(distill=float("nan")), "distill must be a weight"),
    (dict(distill=0.5, loss="mse"), "distill needs loss cross_entropy"),
    (dict(distill_temperature=0.0), "distill_temperature"),
    (dict(label_smoothing=1.0), "label_smoothing must be in"),
    (dict(weight_noise=-0.1), "weight_noise must be in"),
    (dict(weight_noise=float("inf")), "weight_noise must be in"),
    (dict(label_smoothing=0.1, loss="mse"), "label_smoothing needs loss cross_entropy"),
    (dict(augment_shift=-1), "augment_shift"),
    (dict(augment_shift=1.5), "augment_shift"),
])
def test_config_rejects_bad_recipe(changes, match):
    with pytest.raises(ConfigError, match=match):
        PruneConfig(**changes)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 24), nn.ReLU(), nn.Linear(24, 4))


def test_autoprune_with_the_recipe_learns_and_leaves_the_teacher_alone(toy_images):
    x, y = toy_images
    model = _mlp()
    before = copy.deepcopy(model.state_dict())
    base = dict(budget=0.3, epochs=6, finetune_epochs=3, batch_size=50, lambda_init=0.05, lambda_rate=0.15,
                schedule_every=1, gate_lr=0.01, lr=3e-3, runtime=RuntimeConfig(device="cpu"))
    res = AutoPrune(PruneConfig(distill=0.5, augment_shift=2, **base)).run(model, (x[:160], y[:160]),
                                                                          (x[160:], y[160:]))
    assert res.measurements["val_error"] <= 0.1
    assert all(torch.equal(before[k], v) for k, v in res.dense.state_dict().items())  # the reference is the start
    plain = AutoPrune(PruneConfig(**base)).run(_mlp(), (x[:160], y[:160]), (x[160:], y[160:]))
    assert not math.isclose(res.history[0]["loss"], plain.history[0]["loss"])  # the recipe changed the loss


def test_fit_takes_the_same_recipe(toy_images):
    x, y = toy_images
    teacher = _mlp()
    fit(teacher, (x[:160], y[:160]), None, 3, lr=3e-3, batch_size=50)
    student = nn.Sequential(nn.Flatten(), nn.Linear(784, 4))
    hist = fit(student, (x[:160], y[:160]), (x[160:], y[160:]), 4, lr=3e-3, batch_size=50, shift=1,
               teacher=teacher, distill=0.7, temperature=2.0)
    assert hist[-1]["val_error"] <= 0.1
