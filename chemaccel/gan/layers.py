"""Building blocks for K generators computed at once: stacked linear layers, per-generator BatchNorm, maxout.

Tensors of the K generators travel as ``(K, B, features)``: generator k's batch is ``x[k]``. A private
layer holds a stacked weight ``(K, in, out)`` and runs as one ``torch.bmm``; a shared layer runs as one
matrix product over the ``K * B`` rows. BatchNorm statistics are always taken per generator (over its own
B samples), so the batched pass computes exactly what K separate passes would.
"""

from __future__ import annotations

import torch
from torch import nn


class StackedLinear(nn.Module):
    """K independent linear layers as one stacked weight, applied with one batched matmul.

    Args:
        k: number of generators.
        in_features, out_features: layer sizes.
        bias: add a per-generator bias.
        init_std: standard deviation of the normal initial weights (biases start at 0).
    """

    def __init__(self, k: int, in_features: int, out_features: int, bias: bool = True, init_std: float = 0.02):
        super().__init__()
        self.k, self.in_features, self.out_features = k, in_features, out_features
        self.weight = nn.Parameter(torch.randn(k, in_features, out_features) * init_std)
        self.bias = nn.Parameter(torch.zeros(k, 1, out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (K, B, in) -> (K, B, out)."""
        if self.bias is None:
            return torch.bmm(x, self.weight)
        return torch.baddbmm(self.bias, x, self.weight)

    def forward_one(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Generator ``k`` alone: ``x`` (B, in) -> (B, out) (the reference for tests and timings)."""
        out = x @ self.weight[k]
        return out if self.bias is None else out + self.bias[k]


class SharedLinear(nn.Linear):
    """One linear layer shared by all K generators: (K, B, in) -> (K, B, out) as one matmul."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init_std: float = 0.02):
        super().__init__(in_features, out_features, bias=bias)
        nn.init.normal_(self.weight, 0.0, init_std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward_one(self, x: torch.Tensor, k: int) -> torch.Tensor:
        return super().forward(x)


class GroupedBatchNorm(nn.Module):
    """BatchNorm over each generator's own batch; running statistics per generator (K, H).

    With ``joint_stats`` the training statistics are taken over all K * B rows (the mixture), which is
    steadier when each generator makes few samples per step; then only evaluation mode (running statistics)
    equals K separate passes.

    Args:
        k: number of generators.
        features: H.
        joint_stats: normalize with the statistics of all K batches together (training mode).
        shared_affine: one scale/shift for all K (a shared layer) or one per generator (a private layer).
        momentum: update rate of the running statistics.
        eps: added to the variance.
    """

    def __init__(self, k: int, features: int, shared_affine: bool, momentum: float = 0.05, eps: float = 1e-5,
                 joint_stats: bool = False):
        super().__init__()
        rows = 1 if shared_affine else k
        self.k, self.momentum, self.eps, self.shared_affine = k, momentum, eps, shared_affine
        self.joint_stats = joint_stats
        self.weight = nn.Parameter(torch.ones(rows, 1, features))
        self.bias = nn.Parameter(torch.zeros(rows, 1, features))
        self.register_buffer("running_mean", torch.zeros(k, 1, features))
        self.register_buffer("running_var", torch.ones(k, 1, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (K, B, H) -> (K, B, H)."""
        if self.training:
            dims = (0, 1) if self.joint_stats else 1
            mean = x.mean(dim=dims, keepdim=True)
            var = (x - mean).pow(2).mean(dim=dims, keepdim=True)
            with torch.no_grad():
                n = x.shape[1] * (x.shape[0] if self.joint_stats else 1)
                unbiased = var * (n / max(n - 1, 1))
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(unbiased.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias

    def forward_one(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """Generator ``k`` alone on (B, H); updates only its running statistics."""
        if self.training:
            mean = x.mean(dim=0, keepdim=True)
            var = (x - mean).pow(2).mean(dim=0, keepdim=True)
            with torch.no_grad():
                n = x.shape[0]
                self.running_mean[k].lerp_(mean.detach(), self.momentum)
                self.running_var[k].lerp_(var.detach() * (n / max(n - 1, 1)), self.momentum)
        else:
            mean, var = self.running_mean[k], self.running_var[k]
        row = 0 if self.shared_affine else k
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight[row] + self.bias[row]


class LinearMaxout(nn.Module):
    """Linear layer followed by maxout over ``pieces`` (Goodfellow et al. 2013): in -> out.

    Args:
        in_features, out_features: sizes.
        pieces: linear pieces per output unit.
        init_std: standard deviation of the normal initial weights.
    """

    def __init__(self, in_features: int, out_features: int, pieces: int, init_std: float = 0.02):
        super().__init__()
        self.out_features, self.pieces = out_features, pieces
        self.linear = nn.Linear(in_features, out_features * pieces)
        nn.init.normal_(self.linear.weight, 0.0, init_std)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return y.view(*y.shape[:-1], self.out_features, self.pieces).max(dim=-1).values
