"""AutoPrune gates on the attention heads and feed-forward neurons of an eole Transformer (issue 23, item 3).

Each head of each attention module and each neuron of each feed-forward block gets an auxiliary gate
parameter ``m``; the head's (neuron's) output is multiplied by ``h(m)`` (1 if ``m > 0``, else 0) where it
enters the module's output projection (``final_linear`` / ``mlp.down_proj``), through
:class:`chemaccel.prune.gates.OutputGateFunction`: AutoPrune's weakly coupled rules, the gate's gradient
``sum(dL/dy * a) * h'(m)`` with a straight-through estimate of ``h'``, so a closed head still learns
whether to reopen. The gates sit outside the model, as forward pre-hooks on those projections, so eole's
modules, its fast beam search and its checkpoints are untouched; :meth:`UnitGates.remove` takes them off.

A closed gate computes what :func:`chemaccel.reaction.compact.masked_weights` computes (the unit's output
columns zeroed), so :meth:`UnitGates.structure` hands the open units to
:func:`chemaccel.reaction.compact.shrink_model` and the compact model predicts what the gated one did when
each module of a side keeps the same number (eole's layout: the most open units per module, ranked by
``m``). ``scope`` picks what is gated: every head and neuron (``all``), the decoder's (``decoder``), or the
decoder's heads only (``decoder-heads``: a decoding step's time follows them, docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from chemaccel.prune.gates import GateState, OutputGateFunction
from chemaccel.reaction.compact import Structure, side

#: what a gated run may prune: every unit, the decoder's units, or the decoder's attention heads
SCOPES = ("all", "decoder", "decoder-heads")


class UnitGates(nn.Module):
    """The gates of one eole Transformer (``model``: eole's module, e.g. ``predictor.model`` of a loaded
    reaction model, or the model in training). ``init`` is every gate's starting value (> 0: open);
    ``scope`` one of :data:`SCOPES` (the modules gated; the others keep every unit)."""

    def __init__(self, model: nn.Module, head_dim: int, state: GateState | None = None, init: float = 1.0,
                 scope: str = "all") -> None:
        super().__init__()
        if scope not in SCOPES:
            raise ValueError(f"gate scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        self.state = state or GateState()
        self.head_dim = int(head_dim)
        self.heads = nn.ParameterDict()
        self.neurons = nn.ParameterDict()
        self._names: dict[str, str] = {}  # ParameterDict key -> weight-name prefix
        self._handles: list[Any] = []
        #: gate with eole's constraint: the same number of units open in every module of a kind and side
        #: (the mean number with ``m > 0``, those of largest ``m``), so the gated model is the compact one
        #: it becomes
        self.uniform = False
        device = next(model.parameters()).device
        for name, module in model.named_modules():
            key = name.replace(".", "__")
            if scope != "all" and side(name) != "decoder":
                continue
            if name.endswith(("self_attn", "context_attn")) and isinstance(getattr(module, "final_linear", None), nn.Linear):
                n = module.final_linear.in_features // self.head_dim
                self.heads[key] = nn.Parameter(torch.full((n,), float(init), device=device))
                self._handles.append(module.final_linear.register_forward_pre_hook(self._gate(self.heads, key, True)))
            elif (name.endswith(".mlp") and scope != "decoder-heads"
                  and isinstance(getattr(module, "down_proj", None), nn.Linear)):
                n = module.down_proj.in_features
                self.neurons[key] = nn.Parameter(torch.full((n,), float(init), device=device))
                self._handles.append(module.down_proj.register_forward_pre_hook(self._gate(self.neurons, key, False)))
            else:
                continue
            self._names[key] = name
        if not self.heads or (scope != "decoder-heads" and not self.neurons):
            raise ValueError("no attention heads or feed-forward blocks of an eole Transformer found to gate")

    def _gate(self, table: nn.ParameterDict, key: str, heads: bool) -> Any:
        def hook(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
            x, m = args[0], self.effective(table, key)
            if heads:  # (..., heads * head_dim) -> (..., heads, head_dim), gated along the heads
                shape = x.shape
                y = OutputGateFunction.apply(x.reshape(*shape[:-1], -1, self.head_dim), m, -2, self.state)
                return (y.reshape(shape), *args[1:])
            return (OutputGateFunction.apply(x, m, -1, self.state), *args[1:])

        return hook

    @staticmethod
    def common_count(table: nn.ParameterDict, where: str | None = None) -> int:
        """The units every module of ``table`` (of side ``where``, ``encoder`` or ``decoder``; None: all)
        keeps under the uniform rule: the mean number open, rounded, at least 1."""
        gates = [p for k, p in table.items() if where is None or k.split("__", 1)[0] == where]
        return max(1, round(sum(int((p > 0).sum()) for p in gates) / len(gates)))

    def open_mask(self, table: nn.ParameterDict, key: str) -> torch.Tensor:
        """Which units of module ``key`` are open (``m > 0``, or under :attr:`uniform` the
        :meth:`common_count` largest of its side)."""
        m = table[key].detach()
        if not self.uniform:
            return m > 0
        keep = torch.zeros_like(m, dtype=torch.bool)
        keep[torch.topk(m, self.common_count(table, key.split("__", 1)[0])).indices] = True
        return keep

    def effective(self, table: nn.ParameterDict, key: str) -> torch.Tensor:
        """The gate values the forward pass uses: ``m`` itself, or under :attr:`uniform` values of the sign
        :meth:`open_mask` gives that pass their gradient to ``m`` unchanged (straight through)."""
        m = table[key]
        if not self.uniform:
            return m
        size = m.detach().abs() + 1e-6
        return m + (torch.where(self.open_mask(table, key), size, -size) - m.detach())

    def open_fraction(self) -> tuple[float, float]:
        """(open heads / heads, open neurons / neurons) over the whole model."""
        def frac(table: nn.ParameterDict) -> float:
            if not table:
                return 1.0  # not gated: every unit stays
            return float(sum(int((p > 0).sum()) for p in table.values()) / sum(p.numel() for p in table.values()))

        return frac(self.heads), frac(self.neurons)

    def structure(self, heads: int | None = None, neurons: int | None = None,
                  base: Structure | None = None) -> Structure:
        """The units to keep (see :func:`structure_from_gates`)."""
        return structure_from_gates({**self.heads, **self.neurons}, heads, neurons, base)

    def remove(self) -> None:
        """Take the hooks off the model (it then computes with every unit open)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def structure_from_gates(gates: dict[str, torch.Tensor], heads: int | None = None,
                         neurons: int | None = None, base: Structure | None = None) -> Structure:
    """The units to keep, from gate values keyed as :class:`UnitGates` keys them (module name with ``__`` for
    ``.``; attention modules end in ``attn``, feed-forward blocks in ``mlp``), e.g. as saved in a gated
    run's checkpoint: in every gated module of a side the same number, ``heads`` / ``neurons`` (default: the
    mean number open per module of that side, rounded, at least 1), those of largest ``m``. The modules
    that were not gated keep their units in ``base`` (e.g. :func:`chemaccel.reaction.compact.full_structure`);
    without ``base`` every module must have gates."""
    def keep(kind: str, k: int | None, rest: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
        table = {key: m.detach().cpu() for key, m in gates.items() if key.endswith(kind)}
        if not table and base is None:
            raise ValueError(f"no gates of {kind} modules")
        out = {prefix: list(kept) for prefix, kept in rest.items()}
        for where in {key.split("__", 1)[0] for key in table}:
            mine = {key: m for key, m in table.items() if key.split("__", 1)[0] == where}
            n = k if k is not None else max(1, round(sum(int((m > 0).sum()) for m in mine.values()) / len(mine)))
            out.update({key.replace("__", "."): sorted(torch.topk(m, n).indices.tolist()) for key, m in mine.items()})
        return out

    return Structure(keep("attn", heads, base.heads if base else {}), keep("mlp", neurons, base.neurons if base else {}))


def shrink_to_gates(src: str | Path, out: str | Path, gates: dict[str, torch.Tensor]) -> tuple[Path, dict[str, tuple[int, int]]]:
    """Write ``src`` (a reaction model folder of the gated run's full shape) compacted to the units ``gates``
    leave open (:func:`structure_from_gates`; the modules without gates keep every unit) to ``out``.

    Returns:
        ``out`` and, per side, (heads per attention module, neurons per feed-forward block) kept.
    """
    from chemaccel.checkpoint import WEIGHTS_NAME, load_safetensors, read_model_info
    from chemaccel.reaction.compact import full_structure, shrink_model
    from chemaccel.reaction.config import ReactionConfig

    head_dim = ReactionConfig.from_dict(read_model_info(Path(src)).config).head_width
    structure = structure_from_gates(gates, base=full_structure(load_safetensors(Path(src) / WEIGHTS_NAME), head_dim))
    return shrink_model(src, out, structure=structure), structure.counts()
