import torch
from torch.nn import functional as F

from chemaccel.nas.genotype import n_edges
from chemaccel.nas.ops import DARTS_OPS
from chemaccel.nas.supernet import MixedOp, SuperNet, reduction_layers, stage_ends


def test_mixed_op_is_the_weighted_sum_of_its_ops():
    torch.manual_seed(0)
    op = MixedOp(4, 1, ("skip_connect", "avg_pool_3x3", "sep_conv_3x3", "none")).eval()
    x = torch.randn(2, 4, 6, 6)
    w = F.softmax(torch.randn(4), dim=0)
    out = op(x, w)
    assert out.shape == x.shape
    expected = sum(wi * o(x) for wi, o in zip(w, op.ops))
    assert torch.allclose(out, expected, atol=1e-6)
    one_hot = torch.tensor([1.0, 0.0, 0.0, 0.0])
    assert torch.allclose(op(x, one_hot), x)


def test_supernet_shapes_arch_weights_and_separate_parameters():
    net = SuperNet(1, 10, 4, 5, 3, DARTS_OPS)
    assert net(torch.randn(3, 1, 12, 12)).shape == (3, 10)
    assert net.alphas_normal.shape == (n_edges(3), len(DARTS_OPS)) == (9, 8)
    for w in net.arch_weights().values():
        assert torch.allclose(w.sum(-1), torch.ones(9))
        assert (w > 0).all()
    weights = list(net.weights())
    assert all(w is not a for w in weights for a in net.arch_parameters())
    assert len(weights) + 2 == len(list(net.parameters()))
    assert reduction_layers(5) == (1, 3) and reduction_layers(8) == (2, 5)
    assert stage_ends(8) == [1, 4, 7] and net.feature_layers() == ["cells.0", "cells.2", "cells.4"]
