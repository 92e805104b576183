"""The architecture step of DARTS's bilevel optimisation, first or second order.

DARTS (Liu, Simonyan and Yang, ICLR 2019) solves ``min_a L_val(w*(a), a)`` with ``w*(a) = argmin_w
L_train(w, a)`` by alternating one step on the weights ``w`` (training batches) and one step on the
architecture parameters ``a`` (validation batches, from the training data held apart, never the test set).

* first order: ``grad_a L_val(w, a)``, treating ``w`` as independent of ``a``;
* second order: the gradient through one virtual SGD step ``w' = w - xi * (m + grad_w L_train(w, a) + wd * w)``
  (``m``: the weight optimizer's momentum buffer times its momentum, ``wd`` its weight decay)::

      grad_a L_val(w', a) - xi * H v,   v = grad_w' L_val(w', a),   H = grad^2_{a,w} L_train(w, a)

  with the Hessian-vector product by central finite differences (DARTS, eq. 7-8)::

      H v ~= (grad_a L_train(w + r v, a) - grad_a L_train(w - r v, a)) / (2 r),   r = 0.01 / ||v||

The losses are closures over one batch, so a loss with distillation terms (or anything else that depends on
``w`` and ``a``) works unchanged. The weights are modified in place for the virtual step and the finite
differences and restored exactly afterwards, so forward hooks on the model (distillation) keep working and no
copy of the model is made. Architecture updates use Adam (DARTS: lr 3e-4, betas (0.5, 0.999), wd 1e-3).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from chemaccel.errors import ConfigError

Closure = Callable[[], torch.Tensor]
ORDERS = ("first", "second")


class Architect:
    """Owns the architecture optimizer and computes the architecture gradient.

    Args:
        arch_params: the architecture parameters (e.g. :meth:`SuperNet.arch_parameters`).
        weights: every trainable weight the losses depend on (supernet weights, distillation adapters).
        order: ``first`` or ``second``.
        lr, weight_decay, betas: Adam settings of the architecture parameters.
        fd_scale: ``r = fd_scale / ||v||`` of the finite difference.
        sync: called with the architecture parameters once their gradients are set, before the update
            (under torchrun: :func:`chemaccel.runtime.average_gradients`, so every process takes the same step).
    """

    def __init__(self, arch_params: Sequence[nn.Parameter], weights: Sequence[nn.Parameter], order: str = "first",
                 lr: float = 3e-4, weight_decay: float = 1e-3, betas: tuple[float, float] = (0.5, 0.999),
                 fd_scale: float = 0.01, sync: Callable[[list[nn.Parameter]], None] | None = None) -> None:
        if order not in ORDERS:
            raise ConfigError(f"order must be one of {', '.join(ORDERS)}; got {order!r}")
        self.arch = list(arch_params)
        self.weights = [w for w in weights if w.requires_grad]
        if not self.arch:
            raise ConfigError("no architecture parameters to optimise")
        self.order = order
        self.fd_scale = fd_scale
        self.sync = sync
        self.optimizer = torch.optim.Adam(self.arch, lr=lr, betas=betas, weight_decay=weight_decay)

    def step(self, train_loss: Closure, val_loss: Closure, xi: float,
             w_optimizer: torch.optim.Optimizer | None = None) -> torch.Tensor:
        """One update of the architecture parameters; returns the (detached) validation loss at ``w`` or ``w'``."""
        if self.order == "first":
            loss = val_loss()
            grads = _grads(loss, self.arch)
        else:
            grads, loss = self.unrolled_gradient(train_loss, val_loss, xi, w_optimizer)
        for a, g in zip(self.arch, grads):
            a.grad = g
        if self.sync is not None:
            self.sync(self.arch)  # data parallel: the mean architecture gradient over the processes
        self.optimizer.step()
        return loss.detach()

    def unrolled_gradient(self, train_loss: Closure, val_loss: Closure, xi: float,
                          w_optimizer: torch.optim.Optimizer | None = None
                          ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The second-order architecture gradient (see the module docstring) and ``L_val(w', a)``."""
        momentum, wd = _sgd_settings(w_optimizer)
        original = [w.detach().clone() for w in self.weights]
        try:
            g_train = _grads(train_loss(), self.weights)
            with torch.no_grad():
                for w, g in zip(self.weights, g_train):
                    step = g + wd * w
                    buf = _momentum_buffer(w_optimizer, w)
                    if momentum and buf is not None:
                        step = step + momentum * buf
                    w.sub_(xi * step)
            loss = val_loss()
            grads = _grads(loss, self.arch + self.weights)
            d_arch, v = grads[:len(self.arch)], grads[len(self.arch):]
            norm = torch.sqrt(sum((g.float() ** 2).sum() for g in v))
            if float(norm) == 0.0:
                return d_arch, loss
            r = self.fd_scale / float(norm)
            _set(self.weights, original, v, r)
            g_plus = _grads(train_loss(), self.arch)
            _set(self.weights, original, v, -r)
            g_minus = _grads(train_loss(), self.arch)
        finally:
            with torch.no_grad():
                for w, w0 in zip(self.weights, original):
                    w.copy_(w0)
        hvp = [(p - m) / (2 * r) for p, m in zip(g_plus, g_minus)]
        return [d - xi * h for d, h in zip(d_arch, hvp)], loss

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)


def _grads(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, list(params), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, grads)]


@torch.no_grad()
def _set(weights: Sequence[torch.Tensor], base: Sequence[torch.Tensor], direction: Sequence[torch.Tensor],
         r: float) -> None:
    for w, b, d in zip(weights, base, direction):
        w.copy_(b + r * d)


def _sgd_settings(opt: torch.optim.Optimizer | None) -> tuple[float, float]:
    if opt is None or not opt.param_groups:
        return 0.0, 0.0
    group = opt.param_groups[0]
    return float(group.get("momentum", 0.0) or 0.0), float(group.get("weight_decay", 0.0) or 0.0)


def _momentum_buffer(opt: torch.optim.Optimizer | None, w: torch.Tensor) -> torch.Tensor | None:
    if opt is None:
        return None
    return opt.state.get(w, {}).get("momentum_buffer")
