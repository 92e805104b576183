"""SchNet on schnetpack's building blocks, with per-block filter widths so pruned models can be rebuilt.

Layout and parameter names follow ``schnetpack.representation.SchNet`` (``embedding``,
``interactions.{t}.in2f``, ``.filter_network.{0,1}``, ``.f2out.{0,1}``), so a dense model's representation
loads schnetpack's weights one to one (a test checks this). What differs: each interaction block has its
own number of filter kernels ``F_t`` (``in2f`` outputs, ``filter_network[1]`` outputs, ``f2out[0]``
inputs) and of filter-network hidden units ``H_t``; an optional :class:`~chemaccel.property.attention.KernelPruner`
child gates both during pruning and is folded away by :mod:`chemaccel.property.compact`.

Output: one :class:`schnetpack.atomistic.Atomwise` head with one output per target, per-atom
contributions scaled by the training standard deviation and shifted by the mean (per atom for summed
targets), plus atom references for U0, aggregated by ``sum`` or ``avg`` per target. Energies in eV,
distances in Angstrom.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from chemaccel.property import keys
from chemaccel.property.schnetpack_compat import schnetpack_modules

MAX_Z = 100


class FilterInteraction(nn.Module):
    """One continuous-filter convolution block (schnetpack's SchNetInteraction with free widths).

    Args:
        n_atom_basis: atom feature width.
        n_rbf: radial basis size.
        n_filters: filter kernels F of this block.
        n_hidden: hidden units of the filter network (schnetpack uses F).
    """

    def __init__(self, n_atom_basis: int, n_rbf: int, n_filters: int, n_hidden: int) -> None:
        super().__init__()
        sp = schnetpack_modules()
        dense, ssp = sp.snn.Dense, sp.snn.shifted_softplus
        self.in2f = dense(n_atom_basis, n_filters, bias=False, activation=None)
        self.f2out = nn.Sequential(dense(n_filters, n_atom_basis, activation=ssp), dense(n_atom_basis, n_atom_basis))
        self.filter_network = nn.Sequential(dense(n_rbf, n_hidden, activation=ssp), dense(n_hidden, n_filters))
        self.pruner: nn.Module | None = None
        self._scatter_add = sp.snn.scatter_add

    @property
    def n_filters(self) -> int:
        return self.in2f.out_features

    @property
    def n_hidden(self) -> int:
        return self.filter_network[0].out_features

    def filters(self, f_ij: torch.Tensor, rcut_ij: torch.Tensor) -> torch.Tensor:
        """The (pairs, F) filter values W_ij (gated and attention-weighted while a pruner is attached)."""
        h = self.filter_network[0](f_ij)
        if self.pruner is not None:
            h = self.pruner.gate_hidden(h)
        w = self.filter_network[1](h) * rcut_ij[:, None]
        if self.pruner is not None:
            w = self.pruner.gate_kernels(w)
        return w

    def forward(self, x: torch.Tensor, f_ij: torch.Tensor, idx_i: torch.Tensor, idx_j: torch.Tensor,
                rcut_ij: torch.Tensor) -> torch.Tensor:
        h = self.in2f(x)
        w = self.filters(f_ij, rcut_ij)
        out = self._scatter_add(h[idx_j] * w, idx_i, dim_size=x.shape[0])
        return self.f2out(out)


class SchNetRepresentation(nn.Module):
    """Embedding + radial basis + cosine cutoff + interaction blocks (features of width ``n_atom_basis``).

    Args:
        n_atom_basis: atom feature width.
        n_rbf: Gaussian radial basis functions on [0, cutoff].
        cutoff: cosine cutoff in Angstrom.
        blocks: per interaction ``{"n_filters": F_t, "n_hidden": H_t}``.
    """

    def __init__(self, n_atom_basis: int, n_rbf: int, cutoff: float, blocks: Sequence[Mapping[str, int]]) -> None:
        super().__init__()
        sp = schnetpack_modules()
        self.cutoff = float(cutoff)
        with torch.device("cpu"):  # schnetpack copies a CPU tensor here, which a meta-device build cannot
            self.radial_basis = sp.snn.GaussianRBF(n_rbf=n_rbf, cutoff=cutoff)
        self.cutoff_fn = sp.snn.CosineCutoff(cutoff)
        self.embedding = nn.Embedding(MAX_Z, n_atom_basis, padding_idx=0)
        self.interactions = nn.ModuleList(
            FilterInteraction(n_atom_basis, n_rbf, int(b["n_filters"]), int(b["n_hidden"])) for b in blocks
        )

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        r_ij = inputs[keys.R][inputs[keys.IDX_J]] - inputs[keys.R][inputs[keys.IDX_I]]
        d_ij = torch.norm(r_ij, dim=1)
        f_ij = self.radial_basis(d_ij)
        rcut_ij = self.cutoff_fn(d_ij)
        x = self.embedding(inputs[keys.Z])
        for block in self.interactions:
            x = x + block(x, f_ij, inputs[keys.IDX_I], inputs[keys.IDX_J], rcut_ij)
        return x


class PropertySchNet(nn.Module):
    """SchNet representation + one Atomwise head for all targets; returns (molecules, targets) in eV.

    Args:
        arch: the architecture as stored in a model folder's ``config.json`` (see :func:`architecture`):
            ``n_atom_basis``, ``n_rbf``, ``cutoff``, ``blocks``, ``targets``, ``aggregation``.
    """

    def __init__(self, arch: Mapping[str, Any]) -> None:
        super().__init__()
        sp = schnetpack_modules()
        self.targets = list(arch["targets"])
        self.aggregation = list(arch["aggregation"])
        n_t = len(self.targets)
        self.representation = SchNetRepresentation(arch["n_atom_basis"], arch["n_rbf"], arch["cutoff"], arch["blocks"])
        self.head = sp.atomistic.Atomwise(arch["n_atom_basis"], n_out=n_t, aggregation_mode=None,
                                          per_atom_output_key="y_atom")
        self.register_buffer("mean", torch.zeros(n_t))  # per molecule (avg) or per atom (sum), eV
        self.register_buffer("std", torch.ones(n_t))  # eV
        self.register_buffer("atomref", torch.zeros(MAX_Z, n_t))  # eV per element (U0)
        self.register_buffer("is_avg", torch.tensor([a == "avg" for a in self.aggregation]))

    @property
    def cutoff(self) -> float:
        return self.representation.cutoff

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.forward_features(inputs)[0]

    def forward_features(self, inputs: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(molecules, targets) in eV and the (atoms, n_atom_basis) representation they came from."""
        x = self.representation(inputs)
        y_atom = self.head({"scalar_representation": x})["y_atom"]  # (N, T), standardized
        y_atom = y_atom * self.std + self.mean + self.atomref[inputs[keys.Z]]
        n_mol = inputs[keys.N_ATOMS].shape[0]
        y = torch.zeros(n_mol, y_atom.shape[1], dtype=y_atom.dtype, device=y_atom.device)
        y = y.index_add(0, inputs[keys.IDX_M], y_atom)
        n = inputs[keys.N_ATOMS].to(y.dtype)[:, None]
        return torch.where(self.is_avg, y / n, y), x

    def architecture(self) -> dict[str, Any]:
        """What rebuilds this model (kept kernel widths per block included)."""
        rep = self.representation
        return {
            "n_atom_basis": rep.embedding.embedding_dim,
            "n_rbf": rep.radial_basis.n_rbf,
            "cutoff": rep.cutoff,
            "blocks": [{"n_filters": b.n_filters, "n_hidden": b.n_hidden} for b in rep.interactions],
            "targets": list(self.targets),
            "aggregation": list(self.aggregation),
        }


def dense_architecture(config: Any) -> dict[str, Any]:
    """The unpruned architecture of a :class:`~chemaccel.property.config.PropertyConfig`."""
    return {
        "n_atom_basis": config.n_atom_basis,
        "n_rbf": config.n_rbf,
        "cutoff": float(config.cutoff),
        "blocks": [{"n_filters": config.n_filters, "n_hidden": config.n_filters}] * config.n_interactions,
        "targets": list(config.targets),
        "aggregation": [config.aggregation(t) for t in config.targets],
    }


def filter_parameters(model: PropertySchNet) -> int:
    """Parameters in the filter networks and in the layers whose width the kernels set (in2f, f2out[0])."""
    total = 0
    for block in model.representation.interactions:
        for mod in (block.in2f, block.filter_network[0], block.filter_network[1], block.f2out[0]):
            total += sum(p.numel() for p in mod.parameters())
    return total


def count_parameters(model: nn.Module) -> int:
    """Weights of the model (gates and attention of a pruner excluded)."""
    return sum(p.numel() for n, p in model.named_parameters() if ".pruner." not in n)
