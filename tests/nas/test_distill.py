import pytest
import torch
from torch import nn

from chemaccel.errors import ConfigError
from chemaccel.nas import NasSearch
from chemaccel.nas.distill import Distiller, FeatureHooks, feature_loss, logit_loss
from chemaccel.nas.teacher import TeacherCNN


@pytest.mark.parametrize("T", [1.0, 4.0])
def test_logit_loss_is_zero_for_equal_logits_and_positive_otherwise(T):
    g = torch.Generator().manual_seed(0)
    s = torch.randn(8, 5, generator=g)
    assert float(logit_loss(s, s.clone(), T)) == pytest.approx(0.0, abs=1e-6)
    assert float(logit_loss(s, torch.randn(8, 5, generator=g), T)) > 1e-3
    assert float(logit_loss(s, s + 3.0, T)) == pytest.approx(0.0, abs=1e-5)  # softmax ignores a shift


def test_logit_loss_is_kl_times_t_squared():
    s, t = torch.tensor([[1.0, 0.0, -1.0]]), torch.tensor([[0.0, 2.0, 0.0]])
    p_t, p_s = torch.softmax(t / 2, -1), torch.softmax(s / 2, -1)
    kl = float((p_t * (p_t.log() - p_s.log())).sum())
    assert float(logit_loss(s, t, 2.0)) == pytest.approx(4 * kl, rel=1e-5)
    assert float(logit_loss(torch.ones(4), torch.zeros(4), 3.0)) == pytest.approx(1.0)  # one output: MSE


def test_feature_loss_and_distiller_shapes():
    t = torch.randn(2, 8, 4, 4)
    assert float(feature_loss(t, t)) == 0.0 and float(feature_loss(t * 2, t)) == pytest.approx(1.0, rel=1e-5)
    teacher, student = TeacherCNN(1, 3, 4), TeacherCNN(1, 3, 2)
    x = torch.randn(4, 1, 12, 12)
    d = Distiller(teacher, student, ["stage1", "stage3"], ["stage2", "stage3"], x, 1.0, 1.0, 2.0)
    assert [a.in_channels for a in d.adapters] == [4, 8] and [a.out_channels for a in d.adapters] == [4, 16]
    loss, parts = d.loss(student(x), d.teach(x))  # stage2 (6x6) is pooled against stage1 (12x12)
    assert loss.requires_grad and set(parts) == {"kd_logit", "kd_feature"}
    loss.backward()
    assert all(a.weight.grad is not None for a in d.adapters)
    assert all(p.grad is None for p in teacher.parameters())


def test_hooks_on_unknown_layers_and_mismatched_counts():
    with pytest.raises(ConfigError, match="has no layer 'stage9'"):
        FeatureHooks(TeacherCNN(), ["stage9"], "teacher")
    with pytest.raises(ConfigError, match="pairwise"):
        Distiller(TeacherCNN(), TeacherCNN(), ["stage1"], [], torch.randn(2, 1, 8, 8))


def test_teacher_stays_frozen_during_a_distilled_search(tiny_images, tiny_search):
    x, y = tiny_images
    torch.manual_seed(3)
    teacher = TeacherCNN(1, 4, 4)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}  # BN running stats included
    cfg = tiny_search.replace(feature_weight=1.0, logit_weight=1.0, order="second")
    result = NasSearch(cfg).run((x, y), teacher=teacher)
    assert result.teacher is teacher and not teacher.training
    assert all(not p.requires_grad and p.grad is None for p in teacher.parameters())
    assert all(torch.equal(v, before[k]) for k, v in teacher.state_dict().items())
    assert not teacher._forward_hooks and not any(m._forward_hooks for m in teacher.modules())  # hooks removed


def test_custom_teacher_needs_layer_names_for_features(tiny_images, tiny_search):
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(144, 4))
    cfg = tiny_search.replace(feature_weight=1.0, logit_weight=1.0)
    with pytest.raises(ConfigError, match="teacher_layers"):
        NasSearch(cfg).run(tiny_images, teacher=teacher)
    result = NasSearch(cfg.replace(feature_weight=0.0)).run(tiny_images, teacher=teacher)  # logits only
    assert result.genotype.max_skip_per_cell() <= 2
