"""Physical removal of pruned filter kernels and filter-network hidden units.

For each interaction block with a :class:`~chemaccel.property.attention.KernelPruner`: a closed kernel ``k``
gives ``W_ij,k = 0`` for every pair, so its column of the messages is 0 and ``f2out[0]``'s input column ``k``
sees nothing; a closed hidden unit outputs 0 after the gate, so ``filter_network[1]``'s column for it adds
nothing. Removing them (``in2f`` rows, ``filter_network[1]`` rows and columns, ``filter_network[0]`` rows,
``f2out[0]`` columns) therefore keeps the outputs; the attention scores (running mean) are linear factors
on the kernels and are folded into ``f2out[0]``'s columns. The result is a plain
:class:`~chemaccel.property.model.PropertySchNet` with narrower blocks, no pruner, rebuilt from JSON.
"""

from __future__ import annotations

import torch

from chemaccel.property.model import PropertySchNet


@torch.no_grad()
def compact_model(model: PropertySchNet) -> PropertySchNet:
    """A new, smaller model without pruners whose outputs equal ``model``'s (in eval mode)."""
    blocks = model.representation.interactions
    arch = model.architecture()
    kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    for i, block in enumerate(blocks):
        pr = block.pruner
        if pr is None:
            k = torch.arange(block.n_filters)
            h = torch.arange(block.n_hidden)
            a = torch.ones(block.n_filters)
        else:
            k = torch.nonzero(pr.kernel_mask() > 0).flatten().cpu()
            h = torch.nonzero(pr.hidden_mask() > 0).flatten().cpu()
            empty = torch.zeros(0, block.n_filters, device=block.in2f.weight.device)  # no batch: running mean
            a = pr.scores(empty).detach().cpu() if pr.attention is not None else torch.ones(block.n_filters)
        arch["blocks"][i] = {"n_filters": int(k.numel()), "n_hidden": int(h.numel())}
        kept.append((k, h, a))
    new = PropertySchNet(arch)
    # on the CPU whatever the model's device (the kept indices and scores above are CPU tensors)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items() if ".pruner." not in k}
    for i, (k, h, a) in enumerate(kept):
        p = f"representation.interactions.{i}."
        state[p + "in2f.weight"] = state[p + "in2f.weight"][k]
        state[p + "filter_network.0.weight"] = state[p + "filter_network.0.weight"][h]
        state[p + "filter_network.0.bias"] = state[p + "filter_network.0.bias"][h]
        state[p + "filter_network.1.weight"] = state[p + "filter_network.1.weight"][k][:, h]
        state[p + "filter_network.1.bias"] = state[p + "filter_network.1.bias"][k]
        w = state[p + "f2out.0.weight"]
        state[p + "f2out.0.weight"] = w[:, k] * a[k].to(w.dtype)[None, :]
    new.load_state_dict({k: v.clone() for k, v in state.items()})
    ref = next(model.parameters())
    return new.to(ref.device).eval()
