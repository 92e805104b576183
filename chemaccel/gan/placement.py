"""Model parallelism: which generators run on which device. Pure logic, no tensors.

The K generators are split into contiguous groups, one per listed device, as evenly as possible (the
first ``K mod n`` groups get one more). Each group runs its private layers batched on its device; the
features then move to the shared device, where the shared layers run batched over all K. Neighbouring
groups on the same device are merged, so a placement on one device is the plain batched form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from chemaccel.errors import ConfigError, DeviceError


@dataclass(frozen=True)
class GeneratorGroup:
    """Generators ``start..stop-1`` on ``device``."""

    device: str
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Placement:
    """Where every part of the multi-generator runs.

    Attributes:
        groups: contiguous generator groups, covering 0..K-1 in order.
        shared_device: device of the shared layers (and the discriminator).
    """

    groups: tuple[GeneratorGroup, ...]
    shared_device: str

    @property
    def n_generators(self) -> int:
        return self.groups[-1].stop

    @property
    def devices(self) -> tuple[str, ...]:
        """Every device used, in order of first use, the shared device first."""
        out = [self.shared_device]
        for g in self.groups:
            if g.device not in out:
                out.append(g.device)
        return tuple(out)

    @property
    def is_single_device(self) -> bool:
        return len(self.devices) == 1

    def sizes(self) -> list[int]:
        return [g.size for g in self.groups]


def normalize_device(device: str) -> str:
    """``cuda`` -> ``cuda:0``; lower case, no spaces."""
    text = str(device).strip().lower()
    return "cuda:0" if text == "cuda" else text


def split_evenly(k: int, n: int) -> list[int]:
    """``k`` items into ``n`` contiguous groups as evenly as possible, larger groups first."""
    if k < 1 or n < 1:
        raise ConfigError(f"cannot split {k} generators into {n} groups")
    if n > k:
        raise ConfigError(f"placement lists {n} devices for only {k} generators")
    base, rem = divmod(k, n)
    return [base + (1 if i < rem else 0) for i in range(n)]


def plan_placement(n_generators: int, devices: Sequence[str] = (), shared_device: str = "",
                   default_device: str = "cpu") -> Placement:
    """Split ``n_generators`` over ``devices``.

    Args:
        n_generators: K.
        devices: one device per group; empty means every generator on ``default_device``.
        shared_device: device of the shared layers; "" means the first of ``devices`` (or the default).
        default_device: the run's device when ``devices`` is empty.

    Returns:
        a :class:`Placement` whose neighbouring groups on one device are merged.
    """
    devs = [normalize_device(d) for d in devices] or [normalize_device(default_device)]
    sizes = split_evenly(n_generators, len(devs))
    groups: list[GeneratorGroup] = []
    start = 0
    for dev, size in zip(devs, sizes):
        if groups and groups[-1].device == dev:
            last = groups.pop()
            groups.append(GeneratorGroup(dev, last.start, start + size))
        else:
            groups.append(GeneratorGroup(dev, start, start + size))
        start += size
    shared = normalize_device(shared_device) if shared_device else devs[0]
    return Placement(tuple(groups), shared)


def check_available(placement: Placement, available: Sequence[str]) -> None:
    """Raise :class:`DeviceError` for a placement device this machine does not have."""
    have = {normalize_device(d) for d in available}
    for dev in placement.devices:
        if dev not in have:
            raise DeviceError(f"placement device {dev!r} is not available (this machine has {', '.join(sorted(have))})")
