"""The DARTS supernet: cells of mixed operations weighted by architecture parameters.

Liu, Simonyan and Yang, "DARTS: Differentiable Architecture Search" (ICLR 2019). Every edge of a cell is a
:class:`MixedOp`: the softmax-weighted sum of all candidate operations. A cell takes the outputs of the two
previous cells (preprocessed to ``C`` channels by 1x1 convs, or a factorized reduction when the previous
cell halved the size), computes ``nodes`` intermediate states, and concatenates them. The network is a
stem, ``layers`` cells of which those at 1/3 and 2/3 of the depth are reduction cells (stride 2, twice
the channels), global average pooling and a linear classifier.

The architecture weights are two ``nn.Parameter`` of shape (edges, operations): ``alphas_normal`` shared by
all normal cells, ``alphas_reduce`` by all reduction cells. :meth:`SuperNet.weights` are the other
parameters; the two sets get separate optimizers (the bilevel problem, see :mod:`chemaccel.nas.architect`).
Operations use BatchNorm without affine parameters during search, as in DARTS.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from chemaccel.errors import ConfigError
from chemaccel.nas.genotype import Genotype, derive_genotype, n_edges
from chemaccel.nas.ops import CONV_OPS, FactorizedReduce, ReLUConvBN


class MixedOp(nn.Module):
    """Sum of every candidate operation on one edge, weighted by the given (softmax) weights."""

    def __init__(self, C: int, stride: int, ops: Sequence[str]) -> None:
        super().__init__()
        self.names = tuple(ops)
        self.ops = nn.ModuleList()
        for name in self.names:
            op = CONV_OPS.build(name, C, stride, False)
            if "pool" in name:  # DARTS normalises pooling outputs so they compare with the convolutions
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            self.ops.append(op)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if weights.shape != (len(self.ops),):
            raise ConfigError(f"MixedOp over {len(self.ops)} operations got weights of shape "
                              f"{tuple(weights.shape)}")
        return sum(w * op(x) for w, op in zip(weights, self.ops))


class SearchCell(nn.Module):
    """A cell of mixed operations; ``reduction`` halves the spatial size (stride 2 on the input edges)."""

    def __init__(self, nodes: int, multiplier: int, c_pp: int, c_p: int, C: int, reduction: bool,
                 reduction_prev: bool, ops: Sequence[str]) -> None:
        super().__init__()
        self.reduction = reduction
        self.nodes = nodes
        self.multiplier = multiplier
        self.preprocess0 = (FactorizedReduce(c_pp, C, affine=False) if reduction_prev
                            else ReLUConvBN(c_pp, C, 1, 1, 0, False))
        self.preprocess1 = ReLUConvBN(c_p, C, 1, 1, 0, False)
        self.edges = nn.ModuleList()
        for node in range(nodes):
            for j in range(node + 2):
                self.edges.append(MixedOp(C, 2 if reduction and j < 2 else 1, ops))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.nodes):
            s = sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self.multiplier:], dim=1)


def reduction_layers(layers: int) -> tuple[int, ...]:
    """Indices of the reduction cells: at 1/3 and 2/3 of the depth (DARTS)."""
    return tuple(sorted({layers // 3, 2 * layers // 3} - {0})) if layers >= 3 else ()


def stage_ends(layers: int) -> list[int]:
    """The last cell before each reduction and the last cell: one feature point per resolution."""
    reds = reduction_layers(layers)
    return [r - 1 for r in reds] + [layers - 1]


class SuperNet(nn.Module):
    """The search network (see the module docstring).

    Args:
        in_channels: image channels (1 for Fashion-MNIST).
        num_classes: classifier outputs.
        C: channels of the first cells (``init_channels``); doubled at each reduction.
        layers: number of cells (>= 3 for two reductions).
        nodes: intermediate nodes per cell.
        ops: the candidate operation names (registered in :data:`chemaccel.nas.ops.CONV_OPS`).
        stem_multiplier: the stem has ``stem_multiplier * C`` channels.
    """

    def __init__(self, in_channels: int, num_classes: int, C: int, layers: int, nodes: int, ops: Sequence[str],
                 stem_multiplier: int = 3) -> None:
        super().__init__()
        self.ops = CONV_OPS.check(ops)
        self.nodes = nodes
        c_curr = stem_multiplier * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        reds = reduction_layers(layers)
        for i in range(layers):
            reduction = i in reds
            if reduction:
                c_curr *= 2
            self.cells.append(SearchCell(nodes, nodes, c_pp, c_p, c_curr, reduction, reduction_prev, self.ops))
            reduction_prev = reduction
            c_pp, c_p = c_p, nodes * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)
        k = n_edges(nodes)
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(k, len(self.ops)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(k, len(self.ops)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w_normal = F.softmax(self.alphas_normal, dim=-1)
        w_reduce = F.softmax(self.alphas_reduce, dim=-1)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce]

    def weights(self) -> Iterator[nn.Parameter]:
        """Every parameter except the architecture weights."""
        arch = {id(p) for p in self.arch_parameters()}
        return (p for p in self.parameters() if id(p) not in arch)

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """Softmax of the architecture parameters (rows sum to 1), detached."""
        return {"normal": F.softmax(self.alphas_normal.detach(), dim=-1),
                "reduce": F.softmax(self.alphas_reduce.detach(), dim=-1)}

    def genotype(self, max_skip: int | None = 2) -> tuple[Genotype, dict[str, int]]:
        """Derive the genotype (top-2 edges per node, skip cap); also the skip counts before the cap."""
        w = self.arch_weights()
        return derive_genotype(w["normal"], w["reduce"], self.ops, self.nodes, max_skip)

    def feature_layers(self) -> list[str]:
        """Module names of the cells that end each resolution stage (for feature distillation)."""
        return [f"cells.{i}" for i in stage_ends(len(self.cells))]
