"""Auxiliary gate parameters and their straight-through estimators (the heart of AutoPrune).

AutoPrune (Xiao, Wang and Rajasekaran, "AutoPrune: Automatic Network Pruning by Regularizing Auxiliary
Parameters", NeurIPS 2019) does not prune by looking at the weights. Each prunable unit ``u`` (one
weight for unstructured pruning; one output neuron, channel or filter for structured pruning) gets a
trainable auxiliary parameter ``m_u``; the forward pass uses the gated weight ``W * h(m)`` where ``h`` is
the hard threshold ``h(m) = 1 if m > 0 else 0``. The two parameter sets have separate, weakly coupled
update rules:

* ``m`` follows ``dL/d(W h(m)) * W * h'(m)`` (summed over the unit) plus ``lambda * dR/dm``, where the
  non-existent derivative ``h'`` of the step is replaced by a straight-through estimator (STE):

  ===========  =================================================
  ``identity``  ``h'(m) = 1``
  ``leaky``     ``h'(m) = 1`` for ``m > 0``, ``slope`` otherwise (leaky-ReLU-like)
  ``softplus``  ``h'(m) = sigmoid(beta * m)`` (derivative of ``softplus(beta m) / beta``)
  ===========  =================================================

* ``W`` gets ``dL/d(W h(m)) * (h(m) + (1 - h(m)) * rho)``: with ``rho = 1`` (the recovery phase) a pruned
  weight keeps learning and can come back when its gate reopens; with ``rho = 0`` (late, frozen) it no
  longer moves.

Both rules live in :class:`GateFunction` (a :class:`torch.autograd.Function`); the regularizer's gradient
is added by the engine.

Structured gates of the built-in layers act on the unit's *output*, placed after the BatchNorm and the
activation that follow the layer in an ``nn.Sequential`` (:class:`OutputGateFunction`): ``y = h(m) * a``
with ``dL/dm = sum(dL/dy * a) * h'(m)``, which is ``dL/d(W h(m)) * W`` summed over the unit, taken where it
does not vanish (gating the weights would zero the pre-activation, and ReLU'(0) = 0 would cut every
gradient to a closed unit, so it could never reopen). When the gates are removed, the closed units'
weights, biases and norm scale/shift are zeroed, which gives the same outputs for activations with
``f(0) = 0``. Gates are attached with :mod:`torch.nn.utils.parametrize`, so any module that
reads ``self.weight`` works unchanged. The gates themselves are held by a :class:`GateSet`, outside the
model (adding a child to an ``nn.Sequential`` would change its forward), created on the device of the
tensors they gate; :meth:`GateSet.remove` bakes ``W * h(m)`` into the weights and detaches everything.

Attaching the gates to a model and removing them again is :mod:`chemaccel.prune.attach`.

Custom modules: register a *gate hook* with :func:`register_gate_hook`. A hook receives the module and
the granularity and returns a list of :class:`GateSpec` (groups of ``(tensor name, dim)`` that one gate
vector scales together), or ``[]`` for "nothing to prune here". The SchNet filter network uses this to
gate its filter-generating layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

ESTIMATORS = ("identity", "leaky", "softplus")


def ste_derivative(m: torch.Tensor, estimator: str, slope: float = 0.1, beta: float = 5.0) -> torch.Tensor:
    """The straight-through estimate of ``h'(m)`` for the hard threshold ``h``."""
    if estimator == "identity":
        return torch.ones_like(m)
    if estimator == "leaky":
        return torch.where(m > 0, torch.ones_like(m), torch.full_like(m, slope))
    if estimator == "softplus":
        return torch.sigmoid(beta * m)
    raise ValueError(f"unknown estimator {estimator!r}")


def hard_threshold(m: torch.Tensor) -> torch.Tensor:
    """``h(m)``: 1 where ``m > 0``, else 0 (same dtype as ``m``)."""
    return (m > 0).to(m.dtype)


@dataclass
class GateState:
    """Mutable settings shared by every gate of a model (changed by the engine between phases).

    Attributes:
        estimator: ``identity``, ``leaky`` or ``softplus``.
        slope: leaky estimator slope for ``m <= 0``.
        beta: softplus estimator sharpness.
        rho: 1.0 while pruned weights may still recover, 0.0 once they are frozen.
        frozen: when True the gates receive no gradient (fine-tuning).
        noise: multiplicative Gaussian noise on gated weights in training mode, ``W h(m) (1 + noise e)``
            with a fresh ``e ~ N(0, 1)`` per element and step (0: off; biases are never perturbed).
    """

    estimator: str = "identity"
    slope: float = 0.1
    beta: float = 5.0
    rho: float = 1.0
    frozen: bool = False
    noise: float = 0.0


class GateFunction(torch.autograd.Function):
    """``W * h(m)`` with AutoPrune's weakly coupled backward rules (see the module docstring)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, weight: torch.Tensor, m: torch.Tensor, dim: int | None, state: GateState
    ):
        h = hard_threshold(m)
        hb = h if dim is None else _broadcast(h, weight, dim)
        ctx.save_for_backward(weight, m)
        ctx.dim, ctx.state = dim, state
        return weight * hb

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        weight, m = ctx.saved_tensors
        dim, st = ctx.dim, ctx.state
        h = hard_threshold(m)
        hb = h if dim is None else _broadcast(h, weight, dim)
        grad_w = grad * (hb + (1.0 - hb) * st.rho) if ctx.needs_input_grad[0] else None
        grad_m = None
        if ctx.needs_input_grad[1] and not st.frozen:
            gw = grad * weight
            if dim is not None:
                gw = gw.transpose(0, dim).reshape(weight.shape[dim], -1).sum(1)
            grad_m = gw * ste_derivative(m, st.estimator, st.slope, st.beta)
        return grad_w, grad_m, None, None


class OutputGateFunction(torch.autograd.Function):
    """``y = a * h(m)`` along unit axis ``dim`` of an activation ``a``, with the weakly coupled rules."""

    @staticmethod
    def forward(ctx, act: torch.Tensor, m: torch.Tensor, dim: int, state: GateState):  # type: ignore[override]
        dim = dim % act.dim()
        hb = _broadcast(hard_threshold(m), act, dim)
        ctx.save_for_backward(act, m)
        ctx.dim, ctx.state = dim, state
        return act * hb

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        act, m = ctx.saved_tensors
        dim, st = ctx.dim, ctx.state
        hb = _broadcast(hard_threshold(m), act, dim)
        grad_a = grad * (hb + (1.0 - hb) * st.rho) if ctx.needs_input_grad[0] else None
        grad_m = None
        if ctx.needs_input_grad[1] and not st.frozen:
            ga = (grad * act).transpose(0, dim).reshape(act.shape[dim], -1).sum(1)
            grad_m = ga * ste_derivative(m, st.estimator, st.slope, st.beta)
        return grad_a, grad_m, None, None


def _broadcast(h: torch.Tensor, weight: torch.Tensor, dim: int) -> torch.Tensor:
    shape = [1] * weight.dim()
    shape[dim] = h.numel()
    return h.view(shape)


class GatedTensor(nn.Module):
    """The parametrization ``W -> W * h(m)``; holds its gate without registering it as a child. With
    ``state.noise > 0``, a ``noisy`` tensor (a weight, not a bias) is also scaled by ``1 + noise * e`` in
    training mode (Sparse-VD-like multiplicative noise: the gates then keep weights whose job survives
    perturbation, and a model in ``eval()`` is deterministic)."""

    def __init__(self, gate: "Gate", dim: int | None, noisy: bool = False) -> None:
        super().__init__()
        object.__setattr__(self, "_gate", gate)
        self.dim = dim
        self.noisy = noisy

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        gate: Gate = self._gate  # type: ignore[attr-defined]
        out = GateFunction.apply(weight, gate.m, self.dim, gate.state)
        if self.noisy and self.training and gate.state.noise > 0:
            out = out * (1.0 + gate.state.noise * torch.randn_like(out))
        return out


@dataclass(frozen=True)
class GateSpec:
    """One gate vector and the tensors it scales.

    Attributes:
        targets: ``(module, tensor name, dim)`` triples; ``dim`` is the unit axis for structured gates
            and None for unstructured gates (then one tensor per spec, gate shaped like the tensor).
        n_units: gate length (structured) or 0 to take the tensor's shape (unstructured).
        structured: whether the units are whole neurons/channels.
        output: ``(module, dim)``: gate that module's output along ``dim`` instead of the tensors (then
            the targets' unit slices are zeroed when the gates are removed); None gates the tensors.
    """

    targets: tuple[tuple[nn.Module, str, int | None], ...]
    n_units: int = 0
    structured: bool = False
    output: tuple[nn.Module, int] | None = None


GateHook = Callable[[nn.Module, str], list[GateSpec]]
_HOOKS: dict[type, GateHook] = {}


def register_gate_hook(module_type: type, hook: GateHook) -> None:
    """Teach AutoPrune to gate a custom module type.

    Args:
        module_type: the class (instances of subclasses match too).
        hook: ``hook(module, granularity) -> list[GateSpec]``; granularity is ``"unstructured"`` or
            ``"structured"``. Return ``[]`` for a module with nothing to prune. Example for a module with a
            ``kernel`` of shape ``(filters, in, k)`` gated per filter::

                register_gate_hook(MyFilter, lambda mod, g: [GateSpec(((mod, "kernel", 0),),
                                   mod.kernel.shape[0], True)] if g == "structured"
                                   else [GateSpec(((mod, "kernel", None),))])
    """
    _HOOKS[module_type] = hook


def default_gate_specs(module: nn.Module, granularity: str) -> list[GateSpec]:
    """Gate specs for Linear / Conv1d / Conv2d (and any type with a registered hook)."""
    for kind, hook in _HOOKS.items():
        if isinstance(module, kind):
            return hook(module, granularity)
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
        names = ["weight"] + (["bias"] if module.bias is not None else [])
        if granularity == "unstructured":
            return [GateSpec(((module, n, None),)) for n in names]
        return [GateSpec(tuple((module, n, 0) for n in names), module.weight.shape[0], True)]
    return []


def is_prunable(module: nn.Module) -> bool:
    """True for the module types that AutoPrune gates (built-in or with a hook)."""
    return isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)) or any(isinstance(module, k) for k in _HOOKS)


class Gate(nn.Module):
    """The auxiliary parameters ``m`` of one :class:`GateSpec`.

    Attributes:
        m: the auxiliary parameter (shape: ``(n_units,)`` or the gated tensor's shape).
        name: ``module.tensor`` of the first target, for tables.
        cost_params: parameters removed per unit (its slices of all targets), shape like ``m``.
    """

    def __init__(self, spec: GateSpec, name: str, state: GateState, init: float) -> None:
        super().__init__()
        module, tname, dim = spec.targets[0]
        ref = getattr(module, tname)
        shape = (spec.n_units,) if spec.structured else tuple(ref.shape)
        self.m = nn.Parameter(torch.full(shape, float(init), device=ref.device, dtype=ref.dtype))
        self.name = name
        self.structured = spec.structured
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "spec", spec)
        per_unit = 0
        for mod, tn, d in spec.targets:
            t = getattr(mod, tn)
            per_unit += t.numel() // t.shape[d] if d is not None else 1
        self.register_buffer("cost_params", torch.full(shape, float(per_unit), device=ref.device), persistent=False)

    def mask(self) -> torch.Tensor:
        """``h(m)`` as a 0/1 tensor (no gradient)."""
        return hard_threshold(self.m.detach())
