"""K generators that share all but their first layer(s), computed in one batched pass.

Layer ``i`` of the MLP ``noise -> hidden x gen_layers -> out`` is *private* (one weight per generator,
stacked as ``(K, in, out)`` and run with ``torch.bmm``) when ``i < private_layers``, else *shared* (one
weight, run as one matmul over all ``K * B`` rows). Hidden layers are Linear (no bias) -> BatchNorm (per
generator statistics) -> ReLU, as in PacGAN; the output layer is Linear with a bias.

With a :class:`~chemaccel.gan.placement.Placement` over several devices the private layers are held as
one stack per generator group on that group's device; their features move to the shared device for the
shared layers. On one device there is a single group: the plain batched form.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from chemaccel.gan.layers import GroupedBatchNorm, SharedLinear, StackedLinear
from chemaccel.gan.placement import Placement, plan_placement


class _Block(nn.Module):
    """Linear (+ BatchNorm + ReLU for a hidden layer), private (stacked) or shared."""

    def __init__(self, k: int, n_in: int, n_out: int, hidden: bool, private: bool, init_std: float,
                 bn_momentum: float, joint_stats: bool = False):
        super().__init__()
        self.hidden = hidden
        if private:
            self.linear: nn.Module = StackedLinear(k, n_in, n_out, bias=not hidden, init_std=init_std)
        else:
            self.linear = SharedLinear(n_in, n_out, bias=not hidden, init_std=init_std)
        self.norm = (GroupedBatchNorm(k, n_out, shared_affine=not private, momentum=bn_momentum,
                                      joint_stats=joint_stats and not private) if hidden else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return torch.relu(self.norm(y)) if self.norm is not None else y

    def forward_one(self, x: torch.Tensor, k: int) -> torch.Tensor:
        y = self.linear.forward_one(x, k)
        return torch.relu(self.norm.forward_one(y, k)) if self.norm is not None else y


class MultiGenerator(nn.Module):
    """K generators with private first layers and shared remaining layers.

    Args:
        k: number of generators K >= 1.
        noise_dim: size of z.
        hidden: width of the hidden layers.
        n_hidden: number of hidden layers.
        out_dim: size of a generated sample (raw, before any data-specific post-processing).
        private_layers: number of leading linear layers each generator owns.
        init_std: standard deviation of the initial weights.
        bn_momentum: BatchNorm running-statistics momentum.
        placement: where the generator groups and the shared layers run (default: one group on the CPU).
        joint_bn: shared layers normalize with the statistics of all K batches together (training mode).
    """

    def __init__(self, k: int, noise_dim: int, hidden: int, n_hidden: int, out_dim: int, private_layers: int,
                 init_std: float = 0.02, bn_momentum: float = 0.05, placement: Placement | None = None,
                 joint_bn: bool = False):
        super().__init__()
        self.k, self.noise_dim, self.out_dim, self.private_layers = k, noise_dim, out_dim, private_layers
        self._spec = (hidden, n_hidden, init_std, bn_momentum)
        self.placement = placement or plan_placement(k)
        if self.placement.n_generators != k:
            raise ValueError(f"placement covers {self.placement.n_generators} generators, not {k}")
        dims = [noise_dim] + [hidden] * n_hidden + [out_dim]
        self._dims = dims
        self.private = nn.ModuleList([self._private_stack(g.size) for g in self.placement.groups])
        self.shared = nn.ModuleList([
            _Block(k, dims[i], dims[i + 1], hidden=i < n_hidden, private=False, init_std=init_std,
                   bn_momentum=bn_momentum, joint_stats=joint_bn)
            for i in range(private_layers, len(dims) - 1)
        ])
        self._move_to_placement()

    @torch.no_grad()
    def randomize_private_shifts(self, std: float, generator: torch.Generator | None = None) -> None:
        """Draw the private BatchNorm shifts from N(0, std^2), one per generator and unit."""
        for stack in self.private:
            for block in stack:
                if block.norm is not None:
                    block.norm.bias.copy_(torch.randn(block.norm.bias.shape, generator=generator) * std)

    def _private_stack(self, k: int) -> nn.ModuleList:
        hidden, n_hidden, init_std, bn_momentum = self._spec
        d = self._dims
        return nn.ModuleList([
            _Block(k, d[i], d[i + 1], hidden=i < n_hidden, private=True, init_std=init_std, bn_momentum=bn_momentum)
            for i in range(self.private_layers)
        ])

    def _move_to_placement(self) -> None:
        for group, stack in zip(self.placement.groups, self.private):
            stack.to(group.device)
        self.shared.to(self.placement.shared_device)

    # ------------------------------------------------------------------ forward passes
    def forward(self, z: torch.Tensor, return_features: bool = False):
        """All K generators at once.

        Args:
            z: noise (K, B, noise_dim).
            return_features: also return the features after the private layers (K, B, H).

        Returns:
            samples (K, B, out_dim) on the shared device, or ``(samples, features)``.
        """
        if z.dim() != 3 or z.shape[0] != self.k or z.shape[2] != self.noise_dim:
            raise ValueError(f"noise must be (K={self.k}, B, {self.noise_dim}), got {tuple(z.shape)}")
        shared_dev = self.placement.shared_device
        parts = []
        for group, stack in zip(self.placement.groups, self.private):
            h = z[group.start:group.stop].to(group.device)
            for block in stack:
                h = block(h)
            parts.append(h.to(shared_dev))
        h = parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)
        features = h
        for block in self.shared:
            h = block(h)
        return (h, features) if return_features else h

    def forward_sequential(self, z: torch.Tensor) -> torch.Tensor:
        """The same computation as a Python loop over the K generators (reference and timing baseline)."""
        outs = []
        for group, stack in zip(self.placement.groups, self.private):
            for k in range(group.start, group.stop):
                h = z[k].to(group.device)
                for block in stack:
                    h = block.forward_one(h, k - group.start)
                h = h.to(self.placement.shared_device)
                for block in self.shared:
                    h = block.forward_one(h, k)
                outs.append(h)
        return torch.stack(outs, dim=0)

    def first_private_weights(self) -> torch.Tensor:
        """The first private layer's weights of all K generators, (K, noise_dim * H), on the shared device."""
        dev = self.placement.shared_device
        return torch.cat([stack[0].linear.weight.to(dev).flatten(1) for stack in self.private], dim=0)

    # ------------------------------------------------------------------ placement-independent weights
    def canonical_state_dict(self) -> dict[str, torch.Tensor]:
        """State with the generator groups merged into one stack (``private.0.*``), on the CPU."""
        state = {k: v.detach().cpu() for k, v in self.state_dict().items() if not k.startswith("private.")}
        per_group = [stack.state_dict() for stack in self.private]
        for key in per_group[0]:
            state[f"private.0.{key}"] = torch.cat([sd[key].detach().cpu() for sd in per_group], dim=0)
        return state

    def load_canonical_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load what :meth:`canonical_state_dict` wrote, splitting the stack over this model's groups."""
        own = {k: v for k, v in state.items() if not k.startswith("private.")}
        sizes = self.placement.sizes()
        split: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            if key.startswith("private.0."):
                rest = key[len("private.0."):]
                for g, chunk in enumerate(torch.split(value, sizes, dim=0)):
                    split[f"private.{g}.{rest}"] = chunk
        self.load_state_dict({**own, **split}, strict=True)

    def replace_placement(self, placement: Placement) -> None:
        """Re-split the private stacks for a new placement (weights kept)."""
        state = self.canonical_state_dict()
        self.placement = placement
        self.private = nn.ModuleList([self._private_stack(g.size) for g in placement.groups])
        self._move_to_placement()
        self.load_canonical_state_dict(state)
        self.train(self.training)


def sample_noise(k: int, per_generator: int, noise_dim: int, device: str | torch.device = "cpu",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise (K, B, noise_dim)."""
    return torch.randn(k, per_generator, noise_dim, device=device, generator=generator)


def split_counts(n: int, k: int) -> list[int]:
    """How many of ``n`` samples each of ``k`` generators makes (equal shares, remainder to the first)."""
    base, rem = divmod(n, k)
    return [base + (1 if i < rem else 0) for i in range(k)]


def count_parameters(module: nn.Module | Sequence[nn.Module]) -> int:
    """Trainable parameters of a module (or several)."""
    mods = [module] if isinstance(module, nn.Module) else list(module)
    return int(sum(p.numel() for m in mods for p in m.parameters()))
