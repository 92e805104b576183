import pytest
import torch
from torch import nn

from chemaccel.prune.attach import attach_gates
from chemaccel.prune.gates import (
    GateFunction, GateSpec, GateState, hard_threshold, register_gate_hook, ste_derivative,
)


def test_hard_threshold_forward():
    w = torch.tensor([1.0, -2.0, 3.0, 4.0])
    m = torch.tensor([0.5, 0.1, 0.0, -0.2])
    out = GateFunction.apply(w, m, None, GateState())
    assert torch.equal(out, torch.tensor([1.0, -2.0, 0.0, 0.0]))
    assert torch.equal(hard_threshold(m), torch.tensor([1.0, 1.0, 0.0, 0.0]))


@pytest.mark.parametrize("estimator", ["identity", "leaky", "softplus"])
def test_ste_gradients_match_hand_computation(estimator):
    w = torch.tensor([0.5, -1.5, 2.0, 0.25], requires_grad=True)
    m = torch.tensor([0.3, -0.2, 0.1, -0.4], requires_grad=True)
    c = torch.tensor([1.0, 2.0, -3.0, 4.0])
    state = GateState(estimator=estimator, slope=0.1, beta=5.0, rho=1.0)
    (GateFunction.apply(w, m, None, state) * c).sum().backward()
    # dL/d(W h(m)) = c; h'(m) by hand for each estimator
    if estimator == "identity":
        hprime = [1.0, 1.0, 1.0, 1.0]
    elif estimator == "leaky":
        hprime = [1.0, 0.1, 1.0, 0.1]
    else:
        hprime = [1 / (1 + torch.exp(torch.tensor(-5.0 * v)).item()) for v in (0.3, -0.2, 0.1, -0.4)]
    expected_m = [ci * wi * hi for ci, wi, hi in zip([1.0, 2.0, -3.0, 4.0], [0.5, -1.5, 2.0, 0.25], hprime)]
    assert torch.allclose(m.grad, torch.tensor(expected_m), atol=1e-6)
    # recovery phase: W gets the full gradient, pruned or not
    assert torch.allclose(w.grad, c)


def test_frozen_weights_and_gates():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    m = torch.tensor([1.0, -1.0], requires_grad=True)
    state = GateState(rho=0.0, frozen=True)
    (GateFunction.apply(w, m, None, state) * torch.tensor([3.0, 5.0])).sum().backward()
    assert torch.equal(w.grad, torch.tensor([3.0, 0.0]))  # pruned weight frozen
    assert m.grad is None  # gates frozen during fine-tuning


def test_structured_gradient_sums_over_unit():
    w = torch.arange(6.0).reshape(3, 2).requires_grad_()
    m = torch.tensor([1.0, -1.0, 1.0], requires_grad=True)
    out = GateFunction.apply(w, m, 0, GateState())
    assert torch.equal(out[1], torch.zeros(2))
    out.sum().backward()
    assert torch.allclose(m.grad, w.detach().sum(1))


def test_ste_derivative_unknown():
    with pytest.raises(ValueError):
        ste_derivative(torch.zeros(1), "nope")


def test_attach_structured_with_batchnorm_and_remove():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3))
    gates = attach_gates(model, "structured", GateState(), init=1.0, exclude=("4",))
    assert len(gates.gates) == 1 and gates.gates[0].m.shape == (4,)
    with torch.no_grad():
        gates.gates[0].m[1] = -1.0
    model.eval()
    y = model(torch.randn(2, 1, 8, 8))
    assert y.shape == (2, 3)
    gates.remove()
    assert torch.all(model[0].weight[1] == 0) and model[0].bias[1] == 0
    assert model[1].weight[1] == 0 and model[1].bias[1] == 0


class Filter(nn.Module):
    def __init__(self):
        super().__init__()
        self.kernel = nn.Parameter(torch.randn(5, 3))

    def forward(self, x):
        return x @ self.kernel.t()


def test_custom_module_hook():
    register_gate_hook(Filter, lambda mod, g: [GateSpec(((mod, "kernel", 0),), mod.kernel.shape[0], True)])
    model = nn.Sequential(Filter())
    gates = attach_gates(model, "structured", GateState(), init=1.0)
    assert gates.gates[0].m.shape == (5,)
    with torch.no_grad():
        gates.gates[0].m[0] = -1
    out = model(torch.ones(2, 3))
    assert torch.all(out[:, 0] == 0) and torch.all(out[:, 1:] != 0)


def test_weight_noise_only_on_weights_in_training_and_never_baked():
    torch.manual_seed(0)
    layer = nn.Linear(64, 32)
    w0, b0 = layer.weight.detach().clone(), layer.bias.detach().clone()
    state = GateState()
    gates = attach_gates(layer, "unstructured", state, init=0.05)
    state.noise = 0.5
    layer.train()
    a, b = layer.weight.detach().clone(), layer.weight.detach().clone()
    assert not torch.equal(a, b)  # a fresh draw per read
    ratio = a / w0
    assert 0.4 < float(ratio.std()) < 0.6 and abs(float(ratio.mean()) - 1) < 0.05  # 1 + 0.5 e
    assert torch.equal(layer.bias.detach(), b0)  # biases are not perturbed
    layer.eval()
    assert torch.equal(layer.weight.detach(), w0)  # deterministic when evaluating
    layer.train()
    gates.remove()
    assert torch.equal(layer.weight.detach(), w0) and state.noise == 0.0  # the weights baked, not a noisy draw
