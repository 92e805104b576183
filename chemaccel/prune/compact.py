"""Physical removal of pruned neurons and channels (compaction) for chains of layers.

After structured AutoPrune (Xiao, Wang and Rajasekaran, NeurIPS 2019) a closed gate has zeroed a whole
output unit: its weight row (or filter), its bias and, when a BatchNorm follows, that norm's scale and
shift. Such a unit outputs exactly 0 after the norm and after an activation with ``f(0) = 0`` (ReLU,
LeakyReLU, Tanh, GELU, SiLU, ELU; pooling and dropout keep zeros), so removing it together with the
matching input columns of the next layer leaves the outputs unchanged. The result is a smaller, dense
model that is really faster, unlike a dense tensor with a mask.

Supported graphs: an ``nn.Sequential`` (nested Sequentials are flattened) of Linear, Conv1d, Conv2d,
BatchNorm1d/2d, Flatten, the activations above, Dropout, MaxPool/AvgPool 1d/2d and Identity. Anything
else (skip connections, custom modules, a Sigmoid after a pruned layer) raises :class:`CompactionError`
naming the module, rather than silently producing a wrong model. torch-pruning's DependencyGraph is not
used: this chain walker is enough for the models of this package and has no dependency.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from chemaccel.errors import ChemAccelError

PRUNABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
ZERO_PRESERVING = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, nn.Identity, nn.Dropout,
                   nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.ReLU6, nn.Hardtanh)
SUPPORTED = PRUNABLE + NORMS + ZERO_PRESERVING + (nn.Flatten,)


class CompactionError(ChemAccelError):
    """The model's graph is not a chain that compaction supports."""


@dataclass
class Link:
    """A prunable layer in a chain and what sits between it and the next prunable layer.

    Attributes:
        index: position in the flattened chain.
        layer: the Linear/Conv module.
        norm: a BatchNorm acting on this layer's outputs, if any.
        next_index: index (into the list of links) of the next prunable layer, or None for the last.
        flatten_factor: inputs of the next layer per output unit of this one (spatial positions when a
            Flatten sits between a conv and a Linear), else 1.
    """

    index: int
    layer: nn.Module
    norm: nn.Module | None = None
    next_index: int | None = None
    flatten_factor: int = 1


def flatten_chain(model: nn.Module) -> list[nn.Module]:
    """The leaves of a (possibly nested) ``nn.Sequential``; a CompactionError for anything else."""
    if not isinstance(model, nn.Sequential):
        raise CompactionError(
            f"compaction supports nn.Sequential chains only; got {type(model).__name__}. Save it unstructured "
            "(masked) or wrap its layers in nn.Sequential"
        )
    out: list[nn.Module] = []
    for child in model.children():
        if isinstance(child, nn.Sequential):
            out.extend(flatten_chain(child))
        elif isinstance(child, SUPPORTED):
            out.append(child)
        else:
            raise CompactionError(
                f"compaction does not support {type(child).__name__} in the chain (supported: "
                f"{', '.join(sorted({t.__name__ for t in SUPPORTED}))})"
            )
    return out


def chain_links(model: nn.Module) -> tuple[list[nn.Module], list[Link]]:
    """Analyse a chain: its leaves and one :class:`Link` per prunable layer, in order."""
    leaves = flatten_chain(model)
    links: list[Link] = []
    pending_flatten = False
    for i, mod in enumerate(leaves):
        if isinstance(mod, PRUNABLE):
            if links:
                prev = links[-1]
                prev.next_index = len(links)
                n_out = prev.layer.weight.shape[0]
                n_in = mod.weight.shape[1]
                if n_in % n_out:
                    raise CompactionError(f"layer {i} ({type(mod).__name__}) takes {n_in} inputs, not a multiple "
                                          f"of the {n_out} outputs before it")
                if n_in != n_out and not pending_flatten:
                    raise CompactionError(f"layer {i}: input size {n_in} != previous outputs {n_out} without Flatten")
                prev.flatten_factor = n_in // n_out
            links.append(Link(i, mod))
            pending_flatten = False
        elif isinstance(mod, NORMS):
            if not links:
                continue
            if links[-1].norm is not None or pending_flatten:
                raise CompactionError(f"unsupported BatchNorm position at chain index {i}")
            links[-1].norm = mod
        elif isinstance(mod, nn.Flatten):
            pending_flatten = True
    return leaves, links


def zero_units(link: Link) -> torch.Tensor:
    """Bool mask of output units whose weights, bias (and norm scale/shift) are all zero."""
    w = link.layer.weight.detach()
    dead = w.reshape(w.shape[0], -1).abs().sum(1) == 0
    if link.layer.bias is not None:
        dead &= link.layer.bias.detach() == 0
    if link.norm is not None and link.norm.affine:
        dead &= (link.norm.weight.detach() == 0) & (link.norm.bias.detach() == 0)
    return dead


@torch.no_grad()
def compact(model: nn.Module) -> tuple[nn.Sequential, list[int]]:
    """Remove every all-zero output unit (see :func:`zero_units`) from a chain.

    The last prunable layer keeps all its outputs (they are the model's outputs). Returns a new
    ``nn.Sequential`` (the input model is not modified) and the kept widths of the prunable layers except
    the last. A layer whose units are all zero keeps one, so shapes stay valid.
    """
    leaves, links = chain_links(model)
    if not links:
        raise CompactionError("nothing to compact: the model has no Linear/Conv layer")
    keep: list[torch.Tensor] = []
    for k, link in enumerate(links):
        n = link.layer.weight.shape[0]
        if k == len(links) - 1:
            keep.append(torch.arange(n))
            continue
        idx = torch.nonzero(~zero_units(link)).flatten()
        if idx.numel() == 0:
            idx = torch.zeros(1, dtype=torch.long)
        keep.append(idx)
    new_leaves: list[nn.Module] = [_copy(m) for m in leaves]
    for k, link in enumerate(links):
        out_idx = keep[k]
        if k == 0:
            in_idx = None
        else:
            prev = links[k - 1]
            f = prev.flatten_factor
            in_idx = (keep[k - 1][:, None] * f + torch.arange(f)[None, :]).flatten()
        new_leaves[link.index] = _slice_layer(link.layer, out_idx, in_idx)
        if link.norm is not None:
            pos = leaves.index(link.norm)
            new_leaves[pos] = _slice_norm(link.norm, out_idx)
    widths = [int(k.numel()) for k in keep[:-1]]
    return nn.Sequential(*new_leaves), widths


def _copy(mod: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(mod)


def _slice_layer(layer: nn.Module, out_idx: torch.Tensor, in_idx: torch.Tensor | None) -> nn.Module:
    w = layer.weight.detach().index_select(0, out_idx.to(layer.weight.device))
    if in_idx is not None:
        w = w.index_select(1, in_idx.to(w.device))
    bias = layer.bias is not None
    dev, dt = w.device, w.dtype
    if isinstance(layer, nn.Linear):
        new: nn.Module = nn.Linear(w.shape[1], w.shape[0], bias=bias, device=dev, dtype=dt)
    else:
        cls = type(layer)
        if layer.groups != 1:
            raise CompactionError(f"compaction does not support grouped convolutions ({layer})")
        new = cls(w.shape[1], w.shape[0], layer.kernel_size, stride=layer.stride, padding=layer.padding,
                  dilation=layer.dilation, bias=bias, padding_mode=layer.padding_mode, device=dev, dtype=dt)
    new.weight.copy_(w)
    if bias:
        new.bias.copy_(layer.bias.detach().index_select(0, out_idx.to(dev)))
    return new


def _slice_norm(norm: nn.Module, idx: torch.Tensor) -> nn.Module:
    new = type(norm)(idx.numel(), eps=norm.eps, momentum=norm.momentum, affine=norm.affine,
                     track_running_stats=norm.track_running_stats)
    new = new.to(device=norm.running_mean.device if norm.running_mean is not None else "cpu")
    for name in ("weight", "bias", "running_mean", "running_var"):
        src = getattr(norm, name, None)
        if src is not None:
            getattr(new, name).copy_(src.detach().index_select(0, idx.to(src.device)))
    if norm.num_batches_tracked is not None:
        new.num_batches_tracked.copy_(norm.num_batches_tracked)
    return new

