"""Attention-based AutoPrune of SchNet filter kernels, through the ``prune`` engine's gate seam.

Each interaction block gets a :class:`KernelPruner` with:

* AutoPrune auxiliary parameters ``m`` (Xiao, Wang and Rajasekaran, NeurIPS 2019) for its F filter
  kernels and for its filter-network hidden units, applied with :class:`chemaccel.prune.gates.OutputGateFunction`
  (``y = a * h(m)`` with the weakly coupled straight-through rules of the prune engine);
* (``attention=True``) a small attention module: per kernel ``k`` the pooled responses of the filter in
  the batch (mean of ``|W_ij,k|`` and standard deviation of ``W_ij,k`` over all pairs, each divided by its
  mean over the kernels) go through ``Linear(2, A) -> tanh -> Linear(A, 1)`` shared by the kernels, and
  a softmax over the kernels times F gives attention scores ``a_k`` (mean 1). The kernels are scaled by
  ``a_k`` (so the task loss trains the attention), and the scores drive the gates: kernel ``k``'s share
  of the regularizer ``lambda * sum_k w_k * m_k`` is ``w_k = (1 / a_k) / mean(1 / a)``, so kernels the
  attention finds unimportant are pushed closed first. In evaluation the scores are a running mean
  (like BatchNorm statistics), so a prediction never depends on the other molecules of a batch, and
  compaction folds them into ``f2out[0]``.

``attention=False`` is the plain AutoPrune ablation (``a = 1``, ``w = 1``). Magnitude pruning (the other
ablation) fixes the gates from weight norms (:func:`magnitude_scores`). :class:`KernelPruning` attaches the
pruners, steers lambda to the budget with the prune engine's :class:`~chemaccel.prune.schedule.LambdaSchedule`,
and finally closes all but exactly ``budget`` of the kernels (and hidden units), best first.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from chemaccel.prune.gates import GateState, OutputGateFunction, hard_threshold
from chemaccel.prune.schedule import LambdaSchedule

GATE_INIT = 1.0
CLOSED = -1.0
EMA_MOMENTUM = 0.05


class KernelPruner(nn.Module):
    """Gates (and optional attention) of one interaction block's kernels and filter hidden units.

    Args:
        n_filters: kernels F of the block.
        n_hidden: hidden units of the block's filter network.
        state: gate settings shared by all pruners of the model (estimator, rho, frozen).
        attention: whether attention scores weight the kernels and drive the gates.
        attention_hidden: hidden width of the attention module.
    """

    def __init__(self, n_filters: int, n_hidden: int, state: GateState, attention: bool, attention_hidden: int = 16):
        super().__init__()
        self.m_kernel = nn.Parameter(torch.full((n_filters,), GATE_INIT))
        self.m_hidden = nn.Parameter(torch.full((n_hidden,), GATE_INIT))
        object.__setattr__(self, "state", state)
        self.use_attention = bool(attention)
        self.attention: nn.Module | None = None
        if attention:
            self.attention = nn.Sequential(nn.Linear(2, attention_hidden), nn.Tanh(), nn.Linear(attention_hidden, 1))
            nn.init.zeros_(self.attention[2].weight)  # starts at a = 1: the dense model's outputs
            nn.init.zeros_(self.attention[2].bias)
        self.register_buffer("score_ema", torch.ones(n_filters))

    def scores(self, w: torch.Tensor) -> torch.Tensor:
        """Attention scores (F,) for filter values ``w`` (pairs, F); running mean in eval mode."""
        if self.attention is None:
            return torch.ones_like(self.score_ema)
        if not self.training or w.shape[0] < 2:
            return self.score_ema
        feats = torch.stack([w.abs().mean(0), w.std(0)], dim=-1)  # (F, 2)
        feats = feats / (feats.mean(0, keepdim=True) + 1e-8)
        logits = self.attention(feats).squeeze(-1)
        a = torch.softmax(logits, dim=0) * logits.numel()
        with torch.no_grad():
            self.score_ema.mul_(1 - EMA_MOMENTUM).add_(EMA_MOMENTUM * a.detach())
        return a

    def gate_kernels(self, w: torch.Tensor) -> torch.Tensor:
        if self.attention is not None:
            w = w * self.scores(w)
        return OutputGateFunction.apply(w, self.m_kernel, 1, self.state)

    def gate_hidden(self, h: torch.Tensor) -> torch.Tensor:
        return OutputGateFunction.apply(h, self.m_hidden, 1, self.state)

    def reg_weights(self) -> torch.Tensor:
        """Per-kernel regularizer weights: inverse attention normalized to mean 1 (ones without attention)."""
        if self.attention is None:
            return torch.ones_like(self.score_ema)
        inv = 1.0 / self.score_ema.clamp_min(1e-3)
        return inv / inv.mean()

    def kernel_mask(self) -> torch.Tensor:
        return hard_threshold(self.m_kernel.detach())

    def hidden_mask(self) -> torch.Tensor:
        return hard_threshold(self.m_hidden.detach())


class KernelPruning:
    """Attach pruners to a :class:`~chemaccel.property.model.PropertySchNet`, steer them to a budget.

    Args:
        model: the model (pruners are added as ``interactions[t].pruner``).
        method: ``attention``, ``gates`` or ``magnitude``.
        budget: kept fraction of kernels (and of filter hidden units), in (0, 1].
        ramp_steps: steps over which the target kept fraction falls from 1 to ``budget``.
        lambda_init: starting regularizer weight.
        attention_hidden: attention module width.
    """

    def __init__(self, model: nn.Module, method: str, budget: float, ramp_steps: int, lambda_init: float = 1e-3,
                 attention_hidden: int = 16) -> None:
        if method not in ("attention", "gates", "magnitude"):
            raise ValueError(f"unknown kernel pruning method {method!r}")
        self.model, self.method, self.budget = model, method, float(budget)
        self.state = GateState(estimator="identity")
        self.schedule = LambdaSchedule("scheduled", float(lambda_init), float(budget), max(1, ramp_steps), rate=0.05)
        blocks = model.representation.interactions
        ref = next(model.parameters())
        for block in blocks:
            block.pruner = KernelPruner(block.n_filters, block.n_hidden, self.state, method == "attention",
                                        attention_hidden).to(ref.device, ref.dtype)
        if method == "magnitude":
            self._fix_by_magnitude()

    @property
    def pruners(self) -> list[KernelPruner]:
        return [b.pruner for b in self.model.representation.interactions if b.pruner is not None]

    def gate_parameters(self) -> list[nn.Parameter]:
        return [p for pr in self.pruners for p in (pr.m_kernel, pr.m_hidden)]

    def attention_parameters(self) -> list[nn.Parameter]:
        return [p for pr in self.pruners if pr.attention is not None for p in pr.attention.parameters()]

    def kept_fraction(self) -> float:
        kept = sum(float(pr.kernel_mask().sum() + pr.hidden_mask().sum()) for pr in self.pruners)
        total = sum(pr.m_kernel.numel() + pr.m_hidden.numel() for pr in self.pruners)
        return kept / max(1, total)

    def regularizer(self) -> torch.Tensor:
        """``lambda * sum w_k m_k`` over gates that are not already well closed (added to the loss)."""
        total = 0.0
        for pr in self.pruners:
            total = total + (pr.reg_weights() * pr.m_kernel.clamp_min(CLOSED / 4)).sum()
            total = total + pr.m_hidden.clamp_min(CLOSED / 4).sum()
        return self.schedule.value * total

    def step(self, step: int) -> float:
        """Update lambda after a training step; returns the current kept fraction."""
        kept = self.kept_fraction()
        self.schedule.update(step, kept)
        return kept

    def finalize(self) -> dict[str, int]:
        """Close all but exactly ``budget`` of the kernels and hidden units (largest ``m`` kept), freeze gates.

        Each block keeps at least one kernel and one hidden unit. Returns kept/total counts.
        """
        with torch.no_grad():
            for attr in ("m_kernel", "m_hidden"):
                params = [getattr(pr, attr) for pr in self.pruners]
                _keep_top(params, max(len(params), math.ceil(self.budget * sum(p.numel() for p in params) - 1e-9)))
        self.state.frozen = True
        self.state.rho = 0.0
        for p in self.gate_parameters():
            p.requires_grad_(False)
        return {
            "kernels_kept": int(sum(pr.kernel_mask().sum() for pr in self.pruners)),
            "kernels_total": int(sum(pr.m_kernel.numel() for pr in self.pruners)),
            "hidden_kept": int(sum(pr.hidden_mask().sum() for pr in self.pruners)),
            "hidden_total": int(sum(pr.m_hidden.numel() for pr in self.pruners)),
        }

    def _fix_by_magnitude(self) -> None:
        """Magnitude ablation: gates set from the weights' path norms, then frozen at the budget."""
        with torch.no_grad():
            for block, pr in zip(self.model.representation.interactions, self.pruners):
                pr.m_kernel.copy_(magnitude_scores(block)[0])
                pr.m_hidden.copy_(magnitude_scores(block)[1])
        self.finalize()


def magnitude_scores(block: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive importance of each kernel and filter hidden unit of a block, from weight norms.

    Kernel ``k``: ``||filter_network[1] row k, bias k|| * ||in2f row k|| * ||f2out[0] column k||`` (the norm
    of the kernel's whole path). Hidden unit ``u``: ``||filter_network[0] row u, bias u|| *
    ||filter_network[1] column u||``.
    """
    fn0, fn1 = block.filter_network[0], block.filter_network[1]
    k = torch.cat([fn1.weight, fn1.bias[:, None]], 1).norm(dim=1) * block.in2f.weight.norm(dim=1)
    k = k * block.f2out[0].weight.norm(dim=0)
    h = torch.cat([fn0.weight, fn0.bias[:, None]], 1).norm(dim=1) * fn1.weight.norm(dim=0)
    return k + 1e-12, h + 1e-12


def _keep_top(params: list[torch.Tensor], n_keep: int) -> None:
    """Keep the ``n_keep`` largest entries over all ``params`` open (at least one per tensor), close the rest."""
    flat = torch.cat([p.detach().flatten() for p in params])
    order = torch.argsort(flat, descending=True)
    keep = torch.zeros_like(flat, dtype=torch.bool)
    start = 0
    for p in params:  # the best unit of each block first
        keep[start + int(torch.argmax(p))] = True
        start += p.numel()
    for i in order.tolist():
        if int(keep.sum()) >= n_keep:
            break
        keep[i] = True
    start = 0
    for p in params:
        sel = keep[start:start + p.numel()]
        p.copy_(torch.where(sel, p.clamp_min(0.0) + 0.1, torch.full_like(p, CLOSED)))
        start += p.numel()
