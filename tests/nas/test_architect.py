import pytest
import torch
from torch.func import functional_call
from torch.nn import functional as F

from chemaccel.errors import ConfigError
from chemaccel.nas.architect import Architect
from chemaccel.nas.mlp_space import MlpSuperNet
from chemaccel.nas.supernet import SuperNet


def tiny_problem():
    torch.manual_seed(0)
    net = MlpSuperNet(3, width=4, cells=1, nodes=2).double()
    with torch.no_grad():
        net.alphas.normal_(0, 0.5)
    g = torch.Generator().manual_seed(1)
    xt, yt = (torch.randn(16, 3, generator=g, dtype=torch.float64),
              torch.randn(16, generator=g, dtype=torch.float64))
    xv, yv = (torch.randn(16, 3, generator=g, dtype=torch.float64),
              torch.randn(16, generator=g, dtype=torch.float64))
    return net, (xt, yt), (xv, yv)


def closures(net, train, val):
    return (lambda: F.mse_loss(net(train[0]), train[1])), (lambda: F.mse_loss(net(val[0]), val[1]))


def test_second_order_gradient_matches_the_exact_unrolled_hypergradient():
    net, train, val = tiny_problem()
    xi, wd = 0.1, 0.01
    names = [n for n, _ in net.named_parameters() if n != "alphas"]
    w = {n: p.detach().clone().requires_grad_(True) for n, p in net.named_parameters() if n != "alphas"}
    a = net.alphas.detach().clone().requires_grad_(True)
    loss_t = F.mse_loss(functional_call(net, {**w, "alphas": a}, (train[0],)), train[1])
    g = torch.autograd.grad(loss_t, [w[n] for n in names], create_graph=True)
    w_prime = {n: w[n] - xi * (gi + wd * w[n]) for n, gi in zip(names, g)}
    loss_v = F.mse_loss(functional_call(net, {**w_prime, "alphas": a}, (val[0],)), val[1])
    exact = torch.autograd.grad(loss_v, a)[0]

    weights = list(net.weights())
    before = [p.detach().clone() for p in weights]
    opt = torch.optim.SGD(weights, lr=xi, weight_decay=wd)
    # DARTS's r = 0.01 / ||v|| lets the perturbation cross ReLU kinks of this tiny net (about 10 % off here);
    # a smaller step in float64 shows the finite-difference Hessian-vector product is the exact one
    arch = Architect(net.arch_parameters(), weights, "second", fd_scale=1e-4)
    grads, _ = arch.unrolled_gradient(*closures(net, train, val), xi, opt)
    assert torch.allclose(grads[0], exact, rtol=1e-6, atol=1e-10)
    first_order = torch.autograd.grad(closures(net, train, val)[1](), net.alphas)[0]
    assert not torch.allclose(grads[0], first_order, rtol=1e-3)  # the second-order term matters here
    assert all(torch.equal(p, b) for p, b in zip(weights, before))  # weights restored exactly


@pytest.mark.parametrize("order", ["first", "second"])
def test_a_step_changes_the_alphas_not_the_weights(order):
    net, train, val = tiny_problem()
    weights = list(net.weights())
    before_w = [p.detach().clone() for p in weights]
    before_a = net.alphas.detach().clone()
    arch = Architect(net.arch_parameters(), weights, order, lr=1e-2)
    loss = arch.step(*closures(net, train, val), 0.05, torch.optim.SGD(weights, lr=0.05, momentum=0.9))
    assert loss > 0
    assert not torch.equal(net.alphas.detach(), before_a)
    assert all(torch.equal(p, b) for p, b in zip(weights, before_w))


def test_second_order_on_the_image_supernet_with_momentum():
    torch.manual_seed(0)
    net = SuperNet(1, 3, 4, 3, 2, ("skip_connect", "sep_conv_3x3", "max_pool_3x3"))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,))
    weights = list(net.weights())
    opt = torch.optim.SGD(weights, lr=0.05, momentum=0.9, weight_decay=3e-4)
    F.cross_entropy(net(x), y).backward()
    opt.step()  # a momentum buffer now exists
    before = [a.detach().clone() for a in net.arch_parameters()]
    arch = Architect(net.arch_parameters(), weights, "second", lr=1e-2)
    arch.step(lambda: F.cross_entropy(net(x), y), lambda: F.cross_entropy(net(x[:4]), y[:4]), 0.05, opt)
    assert all(not torch.equal(a.detach(), b) for a, b in zip(net.arch_parameters(), before))


def test_bad_order():
    net, _, _ = tiny_problem()
    with pytest.raises(ConfigError, match="order"):
        Architect(net.arch_parameters(), list(net.weights()), "third")
