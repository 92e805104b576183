"""Attaching AutoPrune gates to a model, and taking them off again (baking ``W * h(m)`` in).

Part of the AutoPrune engine (Xiao, Wang and Rajasekaran, "AutoPrune: Automatic Network Pruning by
Regularizing Auxiliary Parameters", NeurIPS 2019); the gates themselves, their estimators and the hook for
custom modules are in :mod:`chemaccel.prune.gates`. :func:`attach_gates` returns a :class:`GateSet`, held
outside the model (adding a child to an ``nn.Sequential`` would change its forward).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn
from torch.nn.utils import parametrize

from chemaccel.prune.gates import (
    Gate, GateSpec, GateState, OutputGateFunction, GatedTensor, default_gate_specs,
)


@dataclass
class GateSet:
    """All gates attached to one model (see :func:`attach_gates`)."""

    model: nn.Module
    gates: list[Gate]
    state: GateState
    names: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Gate]:
        return iter(self.gates)

    def parameters(self) -> list[nn.Parameter]:
        return [g.m for g in self.gates]

    def clamp_(self, bound: float) -> None:
        """Keep every ``m`` in ``[-bound, bound]`` so any unit can still flip within a bounded time."""
        with torch.no_grad():
            for g in self.gates:
                g.m.clamp_(-bound, bound)

    def keep_alive_(self, bound: float) -> None:
        """Reopen the strongest unit of any gate on weights (or whole units) that closed completely.

        A layer with every weight pruned cuts the network: no gradient reaches anything before it and the
        run cannot recover. Bias-only gates may close entirely.
        """
        with torch.no_grad():
            for g in self.gates:
                if g.structured or g.spec.targets[0][1] != "bias":  # type: ignore[attr-defined]
                    if not bool((g.m > 0).any()):
                        flat = g.m.view(-1)
                        flat[int(torch.argmax(flat))] = bound / 2

    def init_from_magnitude_(self, bound: float, quantile: float = 0.99) -> None:
        """Start each gate at ``bound * min(1, |unit| / q)``: ``q`` is the ``quantile`` of the magnitudes of
        all non-zero weight units of the model together (one scale, as in global magnitude pruning), the
        magnitude of a structured unit is the RMS of its weight slice. Small weights start close to the
        threshold, large ones far from it, so the first closures follow global magnitude and the loss
        gradient refines from there. Bias gates start at ``bound``; every gate starts open (at least ``bound / 100``)."""
        with torch.no_grad():
            mags: list[torch.Tensor | None] = []
            for g in self.gates:
                mod, tname, dim = g.spec.targets[0]  # type: ignore[attr-defined]
                t = getattr(mod, tname).detach()
                if tname == "bias" and not g.structured:
                    mags.append(None)
                elif g.structured:
                    d = dim or 0
                    mags.append(t.transpose(0, d).reshape(t.shape[d], -1).pow(2).mean(1).sqrt())
                else:
                    mags.append(t.abs())
            pool = torch.cat([m.flatten().float() for m in mags if m is not None])
            pool = pool[pool > 0] if bool((pool > 0).any()) else pool  # a pruned model: its kept weights
            if pool.numel() > 1_000_000:
                pool = pool[torch.randperm(pool.numel(), device=pool.device)[:1_000_000]]
            q = torch.quantile(pool, quantile).clamp_min(1e-12) if pool.numel() else torch.tensor(1.0)
            for g, mag in zip(self.gates, mags):
                if mag is None:
                    g.m.fill_(bound)
                else:
                    g.m.copy_((bound * (mag / q).clamp(max=1.0)).clamp(min=bound / 100).reshape(g.m.shape))

    def close_zeros_(self, bound: float) -> int:
        """Start the gate of every exactly-zero weight (or all-zero unit) closed at ``-bound / 100``: an
        already pruned model then continues from its own pattern (a closed weight may still reopen while
        recovery lasts). Returns the number of gate elements closed."""
        closed = 0
        with torch.no_grad():
            for g in self.gates:
                mod, tname, dim = g.spec.targets[0]  # type: ignore[attr-defined]
                t = getattr(mod, tname).detach()
                if g.structured:
                    d = dim or 0
                    zero = torch.stack([(u == 0).all() for u in t.transpose(0, d).reshape(t.shape[d], -1)])
                else:
                    zero = t == 0
                g.m.masked_fill_(zero.reshape(g.m.shape), -bound / 100)
                closed += int(zero.sum())
        return closed

    def kept_fraction(self) -> float:
        """Fraction of gated units that are open (unweighted)."""
        kept = sum(float(g.mask().sum()) for g in self.gates)
        return kept / max(1, sum(g.m.numel() for g in self.gates))

    def remove(self) -> nn.Module:
        """Bake ``W * h(m)`` into the weights, drop parametrizations and gates; returns the model."""
        self.state.noise = 0.0  # bake the weights themselves, never a noisy draw of them
        for g in self.gates:
            for handle in getattr(g, "handles", []):
                handle.remove()
            closed = g.mask() == 0
            for mod, tname, dim in g.spec.targets:  # type: ignore[attr-defined]
                if parametrize.is_parametrized(mod, tname):
                    parametrize.remove_parametrizations(mod, tname, leave_parametrized=True)
                elif g.spec.output is not None and dim is not None:  # type: ignore[attr-defined]
                    with torch.no_grad():
                        t = getattr(mod, tname)
                        t.index_fill_(dim, torch.nonzero(closed).flatten().to(t.device), 0.0)
        return self.model

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The gate parameters by index (for training checkpoints)."""
        return {f"g{i}": g.m.detach().clone() for i, g in enumerate(self.gates)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if len(state) != len(self.gates):
            raise ValueError(f"checkpoint has {len(state)} gates, the model {len(self.gates)}")
        with torch.no_grad():
            for i, g in enumerate(self.gates):
                g.m.copy_(state[f"g{i}"])


def has_gates(model: nn.Module) -> bool:
    """True when some tensor of ``model`` is currently gated by AutoPrune."""
    for mod in model.modules():
        if any(getattr(h, "_autoprune", False) for h in mod._forward_hooks.values()):
            return True
        if parametrize.is_parametrized(mod):
            for plist in mod.parametrizations.values():  # type: ignore[union-attr]
                if any(isinstance(p, GatedTensor) for p in plist):
                    return True
    return False


def attach_gates(
    model: nn.Module,
    granularity: str,
    state: GateState,
    init: float = 1.0,
    exclude: tuple[str, ...] = (),
) -> GateSet:
    """Attach one :class:`Gate` per :class:`GateSpec` found in ``model`` (modules named in ``exclude`` skipped).

    For structured pruning of Linear/Conv layers the gate acts on the output of the layer, or of the
    BatchNorm and activation right after it in an ``nn.Sequential`` (see the module docstring); the norm's
    scale and shift are among the tensors zeroed for closed units when the gates are removed.
    Returns an empty :class:`GateSet` when nothing is prunable (the engine turns that into a ConfigError).
    """
    if has_gates(model):
        raise ValueError("this model already carries AutoPrune gates")
    follow = _following(model) if granularity == "structured" else {}
    gates: list[Gate] = []
    names: list[str] = []
    for name, module in list(model.named_modules()):
        if name in exclude or any(name.startswith(e + ".") for e in exclude):
            continue
        for spec in default_gate_specs(module, granularity):
            if spec.structured and isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                norm, point = follow.get(id(module), (None, module))
                extra = tuple((norm, n, 0) for n in ("weight", "bias") if getattr(norm, n, None) is not None)
                spec = GateSpec(spec.targets + extra, spec.n_units, True,
                                (point, -1 if isinstance(module, nn.Linear) else 1))
            label = f"{name}.{spec.targets[0][1]}" if not spec.structured else name
            gate = Gate(spec, label, state, init)
            if spec.output is not None:
                gate.handles = [spec.output[0].register_forward_hook(_output_hook(gate, spec.output[1]))]
            else:
                for mod, tname, dim in spec.targets:
                    parametrize.register_parametrization(mod, tname, GatedTensor(gate, dim, tname != "bias"),
                                                       unsafe=True)
            gates.append(gate)
            names.append(label)
    return GateSet(model, gates, state, names)


ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, nn.ReLU6, nn.Hardtanh)


def _output_hook(gate: "Gate", dim: int):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        return OutputGateFunction.apply(output, gate.m, dim, gate.state)

    hook._autoprune = True  # type: ignore[attr-defined]
    return hook


def _following(model: nn.Module) -> dict[int, tuple[nn.Module | None, nn.Module]]:
    """``id(layer) -> (BatchNorm or None, gate point)`` for Linear/Conv layers inside an nn.Sequential.

    The gate point is the last of [layer, BatchNorm, activation] that directly follow each other.
    """
    out: dict[int, tuple[nn.Module | None, nn.Module]] = {}
    for mod in model.modules():
        if isinstance(mod, nn.Sequential):
            kids = list(mod.children())
            for i, a in enumerate(kids):
                if not isinstance(a, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                    continue
                norm, point, j = None, a, i + 1
                if j < len(kids) and isinstance(kids[j], (nn.BatchNorm1d, nn.BatchNorm2d)):
                    norm = point = kids[j]
                    j += 1
                if j < len(kids) and isinstance(kids[j], ACTIVATIONS):
                    point = kids[j]
                out[id(a)] = (norm, point)
    return out
