"""A deep ensemble of (pruned) SchNet models in one module, and the one place that rebuilds any property module.

An ensemble's ``config.json`` architecture is ``{"members": [arch, ...], "targets", "aggregation", "cutoff",
"domain": {...}, "uncertainty": {...}}`` and its tensors are ``members.<k>.<name>`` plus the applicability
domain's two matrices (``domain_mean``: per-element mean of the learned atom features, ``domain_precision``:
the inverse of their pooled covariance; see :mod:`chemaccel.property.domain`). The prediction is the
members' mean; their spread (standard deviation over members, eV) feeds the calibrated uncertainty
(:mod:`chemaccel.property.uncertainty`). A one-member ensemble is a plain model with a domain and a
calibration. An optional ``"graph"`` entry adds a 2D member read from the SMILES
(:class:`~chemaccel.property.graph_model.GraphMPNN`, tensors ``graph.<name>``); its ``weight_3d`` (per
target, fitted on the validation split) blends the two in :class:`~chemaccel.property.predict.PropertyModel`.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from chemaccel.property.graph_model import GraphMPNN
from chemaccel.property.model import MAX_Z, PropertySchNet


class EnsembleSchNet(nn.Module):
    """Members with the same targets and cutoff; ``forward`` gives their mean (molecules, targets) in eV."""

    def __init__(self, arch: Mapping[str, Any]) -> None:
        super().__init__()
        members = list(arch["members"])
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(PropertySchNet(a) for a in members)
        first = self.members[0]
        for m in self.members:
            if m.targets != first.targets or m.cutoff != first.cutoff:
                raise ValueError("ensemble members must share targets and cutoff")
        self.targets, self.aggregation = list(first.targets), list(first.aggregation)
        width = first.representation.embedding.embedding_dim
        self.graph: GraphMPNN | None = None
        if arch.get("graph"):
            self.graph = GraphMPNN(arch["graph"])
            if self.graph.targets != self.targets:
                raise ValueError(f"graph member targets {self.graph.targets} differ from {self.targets}")
        self.register_buffer("domain_mean", torch.zeros(MAX_Z, width))
        self.register_buffer("domain_precision", torch.zeros(width, width))

    @property
    def cutoff(self) -> float:
        return self.members[0].cutoff

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.forward_all(inputs)[0].mean(0)

    def forward_all(self, inputs: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(members, molecules, targets) in eV and member 0's (atoms, width) features."""
        outs, features = [], None
        for k, member in enumerate(self.members):
            y, x = member.forward_features(inputs)
            outs.append(y)
            if k == 0:
                features = x
        return torch.stack(outs), features  # type: ignore[return-value]

    def architecture(self) -> dict[str, Any]:
        arch = {"members": [m.architecture() for m in self.members], "targets": list(self.targets),
                "aggregation": list(self.aggregation), "cutoff": self.cutoff}
        if self.graph is not None:
            arch["graph"] = dict(self.graph.arch)
        return arch


def build_property_module(arch: Mapping[str, Any]) -> nn.Module:
    """The module a property model folder's architecture describes: an ensemble or one SchNet."""
    return EnsembleSchNet(arch) if "members" in arch else PropertySchNet(arch)


def predict_all(module: nn.Module, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(members, molecules, targets) and the features, for an ensemble or a single model (one member)."""
    if isinstance(module, EnsembleSchNet):
        return module.forward_all(batch)
    y, x = module.forward_features(batch)
    return y[None], x


def ensemble_of(models: list[nn.Module]) -> EnsembleSchNet:
    """An ensemble holding copies of the given (compacted) models' weights (an ensemble's own members count
    one by one; its graph member, domain and calibration are not carried over)."""
    models = [m for model in models for m in (model.members if isinstance(model, EnsembleSchNet) else [model])]
    ens = EnsembleSchNet({"members": [m.architecture() for m in models]})
    for target, source in zip(ens.members, models):
        target.load_state_dict(source.state_dict())
    return ens
