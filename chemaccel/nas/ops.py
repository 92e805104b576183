"""Candidate operations of the DARTS search space, in a registry a user can extend.

DARTS (Liu, Simonyan and Yang, "DARTS: Differentiable Architecture Search", ICLR 2019) relaxes the
choice of one operation per edge of a cell into a softmax-weighted sum over candidates. The candidates
live in :data:`CONV_OPS`, an :class:`OpRegistry` mapping a name to a factory
``factory(C, stride, affine) -> nn.Module`` that maps ``(N, C, H, W)`` to ``(N, C, H / stride, W / stride)``:

==================  ===========================================================================
``none``            zero (the edge is absent); never kept in a derived cell
``skip_connect``    identity (stride 1) or a factorized reduction (stride 2)
``max_pool_3x3``    3x3 max pooling; ``avg_pool_3x3``: 3x3 average pooling (padding not counted)
``sep_conv_3x3``    ReLU, depthwise 3x3, pointwise 1x1, BN, applied twice (as in DARTS); also 5x5
``dil_conv_3x3``    ReLU, depthwise 3x3 with dilation 2, pointwise 1x1, BN; also 5x5
==================  ===========================================================================

A user adds an operation with the decorator (or the plain call)::

    from chemaccel.nas.ops import register_op

    @register_op("conv_1x1")
    def conv_1x1(C, stride, affine):
        return ReLUConvBN(C, C, 1, stride, 0, affine)

Registering a name twice, or asking for a name that is not registered, is a :class:`ConfigError`
that lists the known names. Operations are looked up by name only: a genotype file can name an
operation, never define code.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from chemaccel.errors import ConfigError

Factory = Callable[..., nn.Module]
NONE = "none"
SKIP = "skip_connect"


class OpRegistry:
    """Name -> factory of candidate operations; ``kind`` names the space in error messages."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Factory] = {}

    def register(self, name: str, factory: Factory | None = None, *, replace: bool = False) -> Any:
        """Register ``factory`` under ``name``; without ``factory`` it returns a decorator."""
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise ConfigError(f"an operation name must be a non-empty string without surrounding blanks, "
                              f"got {name!r}")

        def add(fn: Factory) -> Factory:
            if not callable(fn):
                raise ConfigError(f"the factory of operation {name!r} must be callable, got {type(fn).__name__}")
            if name in self._factories and not replace:
                raise ConfigError(f"{self.kind} operation {name!r} is already registered "
                                  "(pass replace=True to override it on purpose)")
            self._factories[name] = fn
            return fn

        return add if factory is None else add(factory)

    def unregister(self, name: str) -> None:
        self.get(name)
        del self._factories[name]

    def get(self, name: str) -> Factory:
        try:
            return self._factories[name]
        except (KeyError, TypeError):
            raise ConfigError(f"unknown {self.kind} operation {name!r}; known: {', '.join(self.names())} "
                              "(add one with chemaccel.nas.ops.register_op)") from None

    def build(self, name: str, *args: Any, **kwargs: Any) -> nn.Module:
        module = self.get(name)(*args, **kwargs)
        if not isinstance(module, nn.Module):
            raise ConfigError(f"the factory of {self.kind} operation {name!r} returned "
                              f"{type(module).__name__}, not a torch.nn.Module")
        return module

    def check(self, names: Any, what: str = "ops") -> tuple[str, ...]:
        """Validate a list of operation names for a search space (non-empty, known, no repeats)."""
        if isinstance(names, str) or not isinstance(names, (list, tuple)):
            raise ConfigError(f"{what} must be a list of operation names, got {names!r}")
        names = tuple(names)
        if not names:
            raise ConfigError(f"{what} is empty: the search space needs at least one operation "
                              f"(known: {', '.join(self.names())})")
        for name in names:
            self.get(name)
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(f"{what} names {repeated} more than once")
        if all(n == NONE for n in names):
            raise ConfigError(f"{what} holds only '{NONE}': a cell needs at least one operation that is not zero")
        return names

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


# ----------------------------------------------------------------------------------------- building blocks
class Zero(nn.Module):
    """The ``none`` operation: zeros of the output shape (stride 2 halves the spatial size)."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[..., :: self.stride, :: self.stride].mul(0.0)


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class DilConv(nn.Sequential):
    """ReLU, depthwise conv (dilated), pointwise 1x1 conv, BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked :class:`DilConv` with dilation 1, the first one carrying the stride (as in DARTS)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
                         DilConv(c_in, c_out, kernel, 1, padding, 1, affine))


class FactorizedReduce(nn.Module):
    """Halve the spatial size with two 1x1 stride-2 convs on offset grids, concatenated (any H, W)."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ConfigError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        a = self.conv_1(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))  # same output size as conv_1 for odd sizes too
        return self.bn(torch.cat([a, self.conv_2(shifted)], dim=1))


class AvgPool(nn.AvgPool2d):
    def __init__(self, stride: int) -> None:
        super().__init__(3, stride=stride, padding=1, count_include_pad=False)


# ----------------------------------------------------------------------------------------- the registry
CONV_OPS = OpRegistry("cell")

#: The eight DARTS candidates, in DARTS's order.
DARTS_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5")

CONV_OPS.register(NONE, lambda C, stride, affine: Zero(stride))
CONV_OPS.register("max_pool_3x3", lambda C, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1))
CONV_OPS.register("avg_pool_3x3", lambda C, stride, affine: AvgPool(stride))
CONV_OPS.register(SKIP, lambda C, stride, affine: nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine))
CONV_OPS.register("sep_conv_3x3", lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine))
CONV_OPS.register("sep_conv_5x5", lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine))
CONV_OPS.register("dil_conv_3x3", lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine))
CONV_OPS.register("dil_conv_5x5", lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine))


def register_op(name: str, factory: Factory | None = None, *, replace: bool = False) -> Any:
    """Add a cell operation ``factory(C, stride, affine) -> nn.Module`` (decorator or plain call)."""
    return CONV_OPS.register(name, factory, replace=replace)


def build_op(name: str, C: int, stride: int, affine: bool) -> nn.Module:
    """Instantiate the registered cell operation ``name``."""
    return CONV_OPS.build(name, C, stride, affine)
