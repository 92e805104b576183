"""A small DARTS search space for vectors: MLP cells for molecular properties from fingerprints.

The same relaxation as the image space (DARTS, Liu et al. ICLR 2019), on vectors of a fixed ``width``: a
cell takes the two previous states, has ``nodes`` intermediate nodes, each the sum of mixed operations over
the earlier states, and outputs the mean of its nodes (so every state keeps the width). The network is a
stem (``Linear(in_features, width)`` + ReLU), ``cells`` cells sharing one set of architecture weights, and a
linear head. The candidates live in their own registry, :data:`MLP_OPS` (``factory(width) -> nn.Module``):

``linear_relu`` Linear then ReLU; ``linear`` Linear; ``relu`` ReLU alone; ``skip_connect`` identity;
``none`` zero.

Derivation and the skip cap are the image space's (:func:`chemaccel.nas.genotype.derive_cell`); an
:class:`MlpGenotype` is one cell, stored as JSON and validated against :data:`MLP_OPS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from chemaccel.errors import ConfigError
from chemaccel.nas.genotype import Edge, GenotypeError, count_skips, derive_cell, n_edges, validate_cell
from chemaccel.nas.ops import NONE, OpRegistry

MLP_OPS = OpRegistry("mlp")
MLP_OPS.register("linear_relu", lambda width: nn.Sequential(nn.Linear(width, width), nn.ReLU()))
MLP_OPS.register("linear", lambda width: nn.Linear(width, width))
MLP_OPS.register("relu", lambda width: nn.ReLU())
MLP_OPS.register("skip_connect", lambda width: nn.Identity())


class _ZeroVec(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


MLP_OPS.register(NONE, lambda width: _ZeroVec())
DEFAULT_MLP_OPS = ("none", "skip_connect", "relu", "linear", "linear_relu")


@dataclass(frozen=True)
class MlpGenotype:
    """One MLP cell: ``[(op, input)]`` two per node, and the nodes averaged into the output."""

    cell: tuple[Edge, ...]
    concat: tuple[int, ...]

    def __post_init__(self) -> None:
        edges, concat = validate_cell([list(e) for e in self.cell], list(self.concat), MLP_OPS, "cell")
        object.__setattr__(self, "cell", tuple(edges))
        object.__setattr__(self, "concat", tuple(concat))

    def skip_count(self) -> int:
        return count_skips(self.cell)

    def to_dict(self) -> dict[str, Any]:
        return {"cell": [[op, i] for op, i in self.cell], "concat": list(self.concat)}

    @classmethod
    def from_dict(cls, data: Any) -> "MlpGenotype":
        if not isinstance(data, Mapping) or set(data) != {"cell", "concat"}:
            raise GenotypeError("an MLP genotype is a JSON object with exactly the keys 'cell' and 'concat'")
        return cls(data["cell"], data["concat"])

    def describe(self) -> str:
        c = self.cell
        return "; ".join(f"n{k + 2} <- {c[2 * k][0]}({c[2 * k][1]}) + {c[2 * k + 1][0]}({c[2 * k + 1][1]})"
                         for k in range(len(c) // 2)) + f" -> mean {list(self.concat)}"

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


class MlpMixedOp(nn.Module):
    def __init__(self, width: int, ops: Sequence[str]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(MLP_OPS.build(name, width) for name in ops)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class MlpSearchCell(nn.Module):
    def __init__(self, width: int, nodes: int, ops: Sequence[str]) -> None:
        super().__init__()
        self.nodes = nodes
        self.edges = nn.ModuleList(MlpMixedOp(width, ops) for node in range(nodes) for _ in range(node + 2))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states, offset = [s0, s1], 0
        for _ in range(self.nodes):
            s = sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.stack(states[2:]).mean(0)


class MlpSuperNet(nn.Module):
    """Stem, ``cells`` search cells (shared architecture weights ``alphas``), linear head."""

    def __init__(self, in_features: int, width: int = 64, cells: int = 2, nodes: int = 3,
                 ops: Sequence[str] = DEFAULT_MLP_OPS, out_features: int = 1) -> None:
        super().__init__()
        self.ops = MLP_OPS.check(ops)
        self.nodes = nodes
        self.out_features = out_features
        self.stem = nn.Sequential(nn.Linear(in_features, width), nn.ReLU())
        self.cells = nn.ModuleList(MlpSearchCell(width, nodes, self.ops) for _ in range(cells))
        self.head = nn.Linear(width, out_features)
        self.alphas = nn.Parameter(1e-3 * torch.randn(n_edges(nodes), len(self.ops)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.softmax(self.alphas, dim=-1)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w)
        out = self.head(s1)
        return out.squeeze(-1) if self.out_features == 1 else out

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas]

    def weights(self) -> Iterator[nn.Parameter]:
        return (p for p in self.parameters() if p is not self.alphas)

    def genotype(self, max_skip: int | None = 2) -> tuple[MlpGenotype, int]:
        edges, skips = derive_cell(F.softmax(self.alphas.detach(), dim=-1), self.ops, self.nodes, max_skip)
        return MlpGenotype(tuple(edges), tuple(range(2, self.nodes + 2))), skips

    def feature_layers(self) -> list[str]:
        return [f"cells.{len(self.cells) - 1}"]


class MlpDerivedCell(nn.Module):
    def __init__(self, genotype: MlpGenotype, width: int) -> None:
        super().__init__()
        self.inputs = [i for _, i in genotype.cell]
        self.concat = list(genotype.concat)
        self.ops = nn.ModuleList(MLP_OPS.build(op, width) for op, _ in genotype.cell)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [s0, s1]
        for i in range(0, len(self.ops), 2):
            states.append(self.ops[i](states[self.inputs[i]]) + self.ops[i + 1](states[self.inputs[i + 1]]))
        return torch.stack([states[i] for i in self.concat]).mean(0)


class MlpDerivedNet(nn.Module):
    """The derived MLP: stem, ``cells`` copies of the genotype's cell, linear head."""

    def __init__(self, genotype: MlpGenotype, in_features: int, width: int = 64, cells: int = 2,
                 out_features: int = 1) -> None:
        super().__init__()
        if not isinstance(genotype, MlpGenotype):
            raise ConfigError(f"expected an MlpGenotype, got {type(genotype).__name__}")
        self.genotype = genotype
        self.out_features = out_features
        self.stem = nn.Sequential(nn.Linear(in_features, width), nn.ReLU())
        self.cells = nn.ModuleList(MlpDerivedCell(genotype, width) for _ in range(cells))
        self.head = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        out = self.head(s1)
        return out.squeeze(-1) if self.out_features == 1 else out

    def feature_layers(self) -> list[str]:
        return [f"cells.{len(self.cells) - 1}"]
