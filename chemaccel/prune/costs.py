"""What each gate costs: parameters and FLOPs per unit, the kept fraction, and the regularizer weights.

AutoPrune (Xiao, Wang and Rajasekaran, NeurIPS 2019) regularizes the auxiliary parameters so that the
network shrinks. Here the regularizer is cost-aware: ``R(m) = sum_u c_u h(m_u)`` where ``c_u`` mixes the
parameters and FLOPs that unit ``u`` removes (normalised to mean 1 over all units), so a FLOPs budget
presses hardest on the units that cost most compute. Its gradient through the straight-through
estimator is ``lambda * c_u * h'(m_u)``.

Unit costs:

* unstructured: each weight element costs 1 parameter and ``2 * output positions`` FLOPs per sample
  (1 position for a Linear layer, ``H_out * W_out`` for a Conv2d); a bias element costs 1 parameter.
* ``conv_cost`` scales the parameter cost of convolution units in the regularizer only (the budget and
  ``kept`` still count plain parameters): below 1 a parameter budget spends more of itself on
  convolution weights, which each sample reuses at every output position.
* structured: a unit costs its slice of every tensor it gates (weight row or filter, bias, BatchNorm
  scale and shift) plus, in a chain (:mod:`chemaccel.prune.compact`), the input slice of the next layer
  that compaction also removes. Weights removed from both sides are counted once when measuring.
"""

from __future__ import annotations

import torch
from torch import nn

from chemaccel.prune.compact import CompactionError, chain_links
from chemaccel.prune.attach import GateSet
from chemaccel.prune.measure import flop_count, layer_stats


class CostModel:
    """Unit costs of a :class:`GateSet` on a model, for one example input (batch of 1).

    Attributes:
        params_total: parameter elements of the model (without the gates).
        flops_total: FLOPs of one sample (FlopCounterMode) of the dense model.
    """

    def __init__(self, gates: GateSet, model: nn.Module, example: torch.Tensor, flops_weight: float,
                 conv_cost: float = 1.0) -> None:
        self.params_total = int(sum(p.numel() for p in model.parameters()))
        stats = {r.name: r for r in layer_stats(model, example)}
        self.flops_total = flop_count(model, example)
        names = {id(m): n for n, m in model.named_modules()}
        self.gates = gates
        self.cost_p: list[torch.Tensor] = []
        self.cost_f: list[torch.Tensor] = []
        #: the parameter side of the regularizer: ``cost_p`` with convolution gates scaled by ``conv_cost``
        self.cost_r: list[torch.Tensor] = []
        self._pairs: list[tuple[int, int, float, float]] = []
        successor = self._successors(model, gates)
        for gi, g in enumerate(gates):
            cp = torch.zeros_like(g.m.detach())
            cf = torch.zeros_like(cp)
            for mod, tname, dim in g.spec.targets:  # type: ignore[attr-defined]
                tensor = getattr(mod, tname)
                row = stats.get(names.get(id(mod), ""))
                fl = 2.0 * row.positions if (row is not None and tname == "weight") else 0.0
                per = tensor.numel() // tensor.shape[dim] if dim is not None else 1
                cp += per
                cf += fl * per
            if g.structured and gi in successor:
                nxt, factor, gj = successor[gi]
                row = stats.get(names.get(id(nxt), ""))
                per_in = nxt.weight.numel() // nxt.weight.shape[1] * factor
                pos = 2.0 * row.positions if row is not None else 0.0
                cp += per_in
                cf += pos * per_in
                if gj is not None:
                    k_next = nxt.weight[0, 0].numel()
                    self._pairs.append((gi, gj, float(factor * k_next), float(factor * k_next) * pos))
            self.cost_p.append(cp)
            self.cost_f.append(cf)
            conv = isinstance(g.spec.targets[0][0], (nn.Conv1d, nn.Conv2d))  # type: ignore[attr-defined]
            self.cost_r.append(cp * conv_cost if conv else cp)
        n_units = sum(c.numel() for c in self.cost_p)
        self.mean_p = float(sum(c.sum() for c in self.cost_r)) / max(1, n_units)
        self.mean_f = float(sum(c.sum() for c in self.cost_f)) / max(1, n_units)
        self.set_mix(flops_weight)

    def set_mix(self, flops_weight: float) -> None:
        """Recompute the regularizer weights ``c_u`` for a FLOPs share ``flops_weight`` in [0, 1]."""
        a = float(flops_weight) if self.mean_f > 0 else 0.0
        self.reg = [(1 - a) * cp / max(self.mean_p, 1e-12) + a * cf / max(self.mean_f, 1e-12)
                    for cp, cf in zip(self.cost_r, self.cost_f)]

    @staticmethod
    def _successors(model: nn.Module, gates: GateSet) -> dict[int, tuple[nn.Module, int, int | None]]:
        """gate index -> (next layer, flatten factor, gate index of the next layer or None)."""
        try:
            _, links = chain_links(model)
        except CompactionError:
            return {}
        first = {id(g.spec.targets[0][0]): i for i, g in enumerate(gates)}  # type: ignore[attr-defined]
        out: dict[int, tuple[nn.Module, int, int | None]] = {}
        for link in links:
            gi = first.get(id(link.layer))
            if gi is None or link.next_index is None:
                continue
            nxt = links[link.next_index].layer
            out[gi] = (nxt, link.flatten_factor, first.get(id(nxt)))
        return out

    @torch.no_grad()
    def removed(self) -> tuple[float, float]:
        """(parameters, FLOPs) removed by the currently closed gates."""
        closed = [1.0 - g.mask() for g in self.gates]
        rp = sum(float((c * cp).sum()) for c, cp in zip(closed, self.cost_p))
        rf = sum(float((c * cf).sum()) for c, cf in zip(closed, self.cost_f))
        for gi, gj, p_overlap, f_overlap in self._pairs:
            both = float(closed[gi].sum()) * float(closed[gj].sum())
            rp -= both * p_overlap
            rf -= both * f_overlap
        return rp, rf

    def kept(self) -> dict[str, float]:
        """Kept fractions ``{"params": ..., "flops": ...}`` of the whole model."""
        rp, rf = self.removed()
        return {"params": 1.0 - rp / max(1, self.params_total), "flops": 1.0 - rf / max(1, self.flops_total)}
