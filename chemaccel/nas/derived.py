"""The derived network: a genotype's cells stacked and trained from scratch.

The discrete network DARTS (Liu et al. ICLR 2019) retrains once the search is over: the same macro layout
as the supernet (stem, ``layers`` cells with reductions at 1/3 and 2/3, global pooling, linear classifier)
but usually deeper and wider, each edge now one operation with affine BatchNorm. This is the simple,
auxiliary-free design: no auxiliary classifier tower; drop-path (dropping a node's input operation with
probability ``drop_path_prob`` during training, never on identities) is optional.

Everything needed to rebuild it is JSON (:meth:`DerivedNetwork.architecture`), so a model folder holds the
genotype and the sizes next to the weights.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from chemaccel.errors import ConfigError
from chemaccel.nas.genotype import Genotype
from chemaccel.nas.ops import CONV_OPS, SKIP, FactorizedReduce, ReLUConvBN
from chemaccel.nas.supernet import reduction_layers, stage_ends


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``prob`` and rescale the rest (training only)."""
    keep = 1.0 - prob
    mask = torch.empty((x.shape[0], 1, 1, 1), device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x.div(keep) * mask


class DerivedCell(nn.Module):
    def __init__(self, genotype: Genotype, c_pp: int, c_p: int, C: int, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(c_pp, C) if reduction_prev else ReLUConvBN(c_pp, C, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_p, C, 1, 1, 0)
        edges = genotype.reduce if reduction else genotype.normal
        self.concat = genotype.reduce_concat if reduction else genotype.normal_concat
        self.inputs = [inp for _, inp in edges]
        self.op_names = [op for op, _ in edges]
        self.ops = nn.ModuleList(CONV_OPS.build(op, C, 2 if reduction and inp < 2 else 1, True)
                                 for op, inp in edges)
        self.multiplier = len(self.concat)
        self.drop_prob = 0.0

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(0, len(self.ops), 2):
            pair = []
            for k in (i, i + 1):
                h = self.ops[k](states[self.inputs[k]])
                if self.training and self.drop_prob > 0 and not isinstance(self.ops[k], nn.Identity):
                    h = drop_path(h, self.drop_prob)
                pair.append(h)
            states.append(pair[0] + pair[1])
        return torch.cat([states[i] for i in self.concat], dim=1)


class DerivedNetwork(nn.Module):
    """Stem, cells of ``genotype``, global pooling, classifier.

    Args:
        genotype: the cells.
        in_channels, num_classes: input channels and classifier outputs.
        C: channels of the first cells (doubled at each reduction).
        layers: number of cells.
        stem_multiplier: the stem has ``stem_multiplier * C`` channels.
    """

    def __init__(self, genotype: Genotype, in_channels: int, num_classes: int, C: int, layers: int,
                 stem_multiplier: int = 3) -> None:
        super().__init__()
        if not isinstance(genotype, Genotype):
            raise ConfigError(f"expected a Genotype, got {type(genotype).__name__}")
        for name, value in (("in_channels", in_channels), ("num_classes", num_classes), ("C", C),
                            ("layers", layers), ("stem_multiplier", stem_multiplier)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        self.genotype = genotype
        self.sizes = {"in_channels": in_channels, "num_classes": num_classes, "init_channels": C, "layers": layers,
                      "stem_multiplier": stem_multiplier}
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
            cell = DerivedCell(genotype, c_pp, c_p, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def set_drop_path(self, prob: float) -> None:
        for cell in self.cells:
            cell.drop_prob = float(prob)

    def feature_layers(self) -> list[str]:
        """Module names of the cells that end each resolution stage (for feature distillation)."""
        return [f"cells.{i}" for i in stage_ends(len(self.cells))]

    def architecture(self) -> dict[str, Any]:
        """What :func:`from_architecture` needs, as JSON."""
        return {"kind": "darts-derived", "genotype": self.genotype.to_dict(), **self.sizes}

    def skip_counts(self) -> dict[str, int]:
        return self.genotype.skip_counts()


def from_architecture(arch: Mapping[str, Any]) -> DerivedNetwork:
    """Rebuild a :class:`DerivedNetwork` from :meth:`DerivedNetwork.architecture` (validating the genotype)."""
    if not isinstance(arch, Mapping) or arch.get("kind") != "darts-derived":
        raise ConfigError("not a derived-network architecture (kind must be 'darts-derived')")
    known = {"kind", "genotype", "in_channels", "num_classes", "init_channels", "layers", "stem_multiplier"}
    unknown = sorted(set(arch) - known)
    if unknown:
        raise ConfigError(f"unknown architecture key(s) {unknown}")
    genotype = Genotype.from_dict(arch.get("genotype"))
    return DerivedNetwork(genotype, arch.get("in_channels"), arch.get("num_classes"), arch.get("init_channels"),
                          arch.get("layers"), arch.get("stem_multiplier", 3))


def count_params(model: nn.Module) -> int:
    """Number of parameters (all of them; a derived network has no architecture weights)."""
    return sum(p.numel() for p in model.parameters())


def count_skip_ops(model: DerivedNetwork) -> list[int]:
    """Skip connections in each cell of ``model`` (built modules, not just the genotype)."""
    return [sum(name == SKIP for name in cell.op_names) for cell in model.cells]
