"""The batched multi-generator: same numbers as a loop, shared parameters shared, orthogonality values."""

import math

import pytest
import torch

from chemaccel.gan.data import DataSpec
from chemaccel.gan.diversity import mode_seeking
from chemaccel.gan.generator import MultiGenerator
from chemaccel.gan.orthogonality import orthogonality, pairwise_cos2
from chemaccel.gan.placement import GeneratorGroup, Placement, plan_placement


def _gen(k=4, private=1, placement=None):
    torch.manual_seed(0)
    g = MultiGenerator(k, noise_dim=3, hidden=8, n_hidden=3, out_dim=2, private_layers=private, init_std=0.3,
                       placement=placement)
    return g


@pytest.mark.parametrize("private", [1, 2, 4])
@pytest.mark.parametrize("train", [True, False])
def test_batched_equals_per_generator_loop(private, train):
    g = _gen(private=private)
    g.train(train)
    z = torch.randn(4, 7, 3)
    if not train:  # make running statistics non-trivial first
        g.train()
        g(torch.randn(4, 7, 3))
        g.eval()
    state = {k: v.clone() for k, v in g.state_dict().items()}
    batched = g(z)
    g.load_state_dict(state)
    looped = g.forward_sequential(z)
    assert batched.shape == (4, 7, 2)
    assert torch.allclose(batched, looped, atol=1e-5)


def test_batched_forward_is_not_a_loop_over_generators():
    g = _gen(k=8)
    assert len(g.private) == 1 and g.private[0][0].linear.weight.shape == (8, 3, 8)


def test_shared_parameters_are_shared_and_private_ones_are_not():
    g = _gen(k=4, private=1)
    shared_w = g.shared[0].linear.weight
    assert shared_w.shape == (8, 8)  # one weight for all four generators
    z = torch.randn(4, 5, 3)
    # a gradient through generator 2 alone reaches the shared weight and only generator 2's private slice
    out = g(z)
    out[2].sum().backward()
    assert shared_w.grad is not None and shared_w.grad.abs().sum() > 0
    private_grad = g.private[0][0].linear.weight.grad
    assert private_grad[2].abs().sum() > 0
    assert all(private_grad[k].abs().sum() == 0 for k in (0, 1, 3))
    # editing the shared weight changes every generator's output
    before = g(z).detach()
    with torch.no_grad():
        shared_w.add_(0.5)
    after = g(z).detach()
    assert all(not torch.allclose(before[k], after[k]) for k in range(4))


def test_generators_differ_only_by_their_private_layers():
    g = _gen(k=2)
    with torch.no_grad():
        g.private[0][0].linear.weight[1].copy_(g.private[0][0].linear.weight[0])
    g.eval()
    z = torch.randn(1, 5, 3).expand(2, 5, 3).contiguous()
    out = g(z)
    assert torch.allclose(out[0], out[1])


def test_orthogonality_hand_example():
    w = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # cos = 1/sqrt(2): squared 0.5
    assert math.isclose(float(pairwise_cos2(w)), 0.5, rel_tol=1e-6)
    three = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])  # pairs: 0, 1, 0 (each twice) -> 2/6
    assert math.isclose(float(pairwise_cos2(three)), 1 / 3, rel_tol=1e-6)
    assert float(pairwise_cos2(torch.eye(4))) == 0.0
    assert float(pairwise_cos2(torch.ones(1, 3))) == 0.0  # K = 1: no pairs
    feats = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]]])  # b=0: 0, b=1: 1 -> mean 0.5
    assert math.isclose(float(orthogonality("features", feats, feats, w)), 0.5, rel_tol=1e-6)
    assert math.isclose(float(orthogonality("weights", feats, feats, w)), 0.5, rel_tol=1e-6)
    outs = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]], [[0.0, 1.0], [0.0, -1.0]]])  # centred, orthogonal
    assert float(orthogonality("outputs", outs, outs, w)) == pytest.approx(0.0, abs=1e-7)


def test_orthogonality_has_gradients_for_private_weights():
    g = _gen(k=3)
    term = pairwise_cos2(g.first_private_weights())
    term.backward()
    assert g.private[0][0].linear.weight.grad.abs().sum() > 0


def test_grouped_placement_matches_single_group_and_round_trips():
    single = _gen(k=5)
    state = single.canonical_state_dict()
    two_groups = Placement((GeneratorGroup("cpu", 0, 3), GeneratorGroup("cpu", 3, 5)), shared_device="cpu")
    grouped = _gen(k=5, placement=two_groups)  # the model-parallel code path, both groups on the CPU
    assert grouped.placement.sizes() == [3, 2]
    grouped.load_canonical_state_dict(state)
    z = torch.randn(5, 6, 3)
    single.eval(), grouped.eval()
    assert torch.allclose(single(z), grouped(z), atol=1e-6)
    assert torch.allclose(grouped(z), grouped.forward_sequential(z), atol=1e-6)
    merged = grouped.canonical_state_dict()
    assert set(merged) == set(state) and all(torch.equal(merged[k], state[k]) for k in state)
    grouped.replace_placement(plan_placement(5))
    assert grouped.placement.sizes() == [5]
    assert torch.allclose(single(z), grouped(z), atol=1e-6)


def test_joint_batchnorm_statistics_use_all_generators_and_match_the_loop_in_eval_mode():
    torch.manual_seed(0)
    g = MultiGenerator(3, noise_dim=2, hidden=6, n_hidden=2, out_dim=2, private_layers=1, init_std=0.3, joint_bn=True)
    norm = g.shared[0].norm
    assert norm.joint_stats and not g.private[0][0].norm.joint_stats
    g.train()
    g(torch.randn(3, 9, 2))
    assert torch.allclose(norm.running_mean[0], norm.running_mean[2])  # one set of statistics for all K
    g.eval()
    z = torch.randn(3, 5, 2)
    assert torch.allclose(g(z), g.forward_sequential(z), atol=1e-5)


def test_mode_seeking_hand_example_and_collapse():
    noise = torch.tensor([[[0.0, 0.0], [2.0, 0.0]]])            # K=1, B=2: |z1 - z2| averages to 1
    spread = torch.tensor([[[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]]])  # |G1 - G2| averages to 0.5
    assert mode_seeking(spread, noise).item() == pytest.approx(2.0, rel=1e-4)
    collapsed = torch.zeros(1, 2, 3)
    assert mode_seeking(collapsed, noise).item() > 1e4         # a collapsed generator pays a lot
    outputs = spread.clone().requires_grad_(True)
    mode_seeking(outputs, noise).backward()
    # pushing the two samples apart lowers the term
    assert outputs.grad[0, 1].sum() < 0 and outputs.grad[0, 0].sum() > 0
    with pytest.raises(ValueError, match="at least 2"):
        mode_seeking(torch.zeros(2, 1, 3), torch.zeros(2, 1, 2))
    with pytest.raises(ValueError, match="must agree"):
        mode_seeking(torch.zeros(2, 4, 3), torch.zeros(3, 4, 2))


def test_straight_through_argmax_is_the_decoded_graph_forward_and_softmax_backward():
    spec = DataSpec(kind="qm9", dim=0, max_atoms=2)
    torch.manual_seed(0)
    raw = torch.randn(3, 2 * 5 + 1 * 4, requires_grad=True)   # 2 atoms x 5 types, 1 bond x 4 types
    hard = spec.postprocess(raw, training=True, sampling="argmax")
    probs = spec.postprocess(raw, training=False)
    assert torch.allclose(hard.detach(), hard.detach().round(), atol=1e-6)  # one-hot up to rounding
    assert torch.allclose(hard.detach()[:, :10].reshape(3, 2, 5).sum(-1), torch.ones(3, 2))
    atoms_h, atoms_p = hard[:, :10].reshape(3, 2, 5), probs[:, :10].reshape(3, 2, 5)
    assert torch.equal(atoms_h.round().argmax(-1), atoms_p.argmax(-1))  # the same types the argmax decoding picks
    assert torch.equal(spec.postprocess(raw, training=True, sampling="argmax"), hard)  # no randomness
    (hard * torch.arange(hard.shape[1], dtype=hard.dtype)).sum().backward()
    assert raw.grad is not None and raw.grad.abs().sum() > 0    # gradients flow through the softmax
