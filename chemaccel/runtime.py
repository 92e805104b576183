"""Where and how computation runs: device choice, seeds, precision, and Lightning Fabric.

One training loop serves the CPU, one GPU and ``torchrun`` (DDP, one or several nodes): engines build a
:class:`lightning_fabric.Fabric` with :func:`make_fabric` and use ``fabric.setup``,
``fabric.setup_dataloaders``, ``fabric.backward`` and ``fabric.all_reduce``. Under ``torchrun`` the world
size and local rank come from the environment that torchrun sets, so the same command works with
``torchrun --nproc_per_node=N -m chemaccel.cli ...``.

Device strings: ``auto`` (the first CUDA GPU when one is usable, else the CPU), ``cpu``, ``cuda``
(= ``cuda:0``) and ``cuda:N``. Asking for CUDA where there is none is a :class:`DeviceError`, never a
silent fall-back to the CPU.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np
import torch

from chemaccel.errors import ConfigError, DeviceError

PRECISIONS = ("32-true", "64-true", "bf16-mixed", "16-mixed", "bf16-true")
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")


def available_devices() -> list[str]:
    """``["cpu", "cuda:0", ...]``: the CPU and each CUDA GPU that torch can use."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices


def describe_device(device: str | torch.device) -> str:
    """A human label: ``"cpu"`` or ``"cuda:0 (NVIDIA H100 80GB HBM3)"``."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return f"{dev} ({torch.cuda.get_device_name(dev.index or 0)})"
    return str(dev)


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N`` into a :class:`torch.device`, checking that it exists."""
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = str(spec).strip().lower()
    match = _DEVICE_RE.match(text)
    if not match or (match.group(1) != "cuda" and match.group(2) is not None):
        raise DeviceError(f"unknown device {spec!r}: use auto, cpu, cuda or cuda:N")
    kind, index = match.group(1), match.group(2)
    if kind == "auto":
        return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {spec!r} was asked for but CUDA is not available on this machine "
            f"(torch {torch.__version__}, built {'with' if torch.version.cuda else 'without'} CUDA); use --device cpu"
        )
    n = torch.cuda.device_count()
    i = int(index or 0)
    if i >= n:
        raise DeviceError(f"device {spec!r} was asked for but this machine has {n} CUDA device(s) (cuda:0..cuda:{n - 1})")
    return torch.device(f"cuda:{i}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) for a reproducible run."""
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def distributed_env() -> dict[str, int] | None:
    """World size, rank, local rank and local world size when launched by torchrun, else None."""
    if "WORLD_SIZE" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    world = int(os.environ["WORLD_SIZE"])
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    return {
        "world_size": world,
        "rank": int(os.environ.get("RANK", "0")),
        "local_rank": int(os.environ.get("LOCAL_RANK", "0")),
        "local_world_size": local_world,
        "num_nodes": max(1, world // max(1, local_world)),
    }


@dataclass(frozen=True)
class RuntimeConfig:
    """Device, precision and seed of a run; the same for every engine.

    Attributes:
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``. Under torchrun each process takes its local
            rank's GPU (or the CPU with the gloo backend when ``device`` resolves to the CPU).
        precision: one of :data:`PRECISIONS` (Lightning names). ``16-mixed`` needs a GPU.
        seed: random seed; each DDP process adds nothing (data sharding is done by Fabric's sampler).
    """

    device: str = "auto"
    precision: str = "32-true"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not _DEVICE_RE.match(str(self.device).strip().lower()):
            raise ConfigError(f"unknown device {self.device!r}: use auto, cpu, cuda or cuda:N")


def make_fabric(config: RuntimeConfig | None = None, **overrides: Any):
    """Build and launch a Lightning :class:`~lightning_fabric.Fabric` for ``config``.

    On one machine without torchrun this is a single process on the chosen device. Under ``torchrun
    --nproc_per_node=N [--nnodes=M]`` it is DDP over the processes torchrun started (NCCL on GPUs, gloo on
    the CPU). The run is seeded.
    """
    from lightning_fabric import Fabric

    config = config or RuntimeConfig()
    if overrides:
        config = RuntimeConfig(**{**config.__dict__, **overrides})
    device = resolve_device(config.device)
    if device.type == "cpu" and config.precision == "16-mixed":
        raise ConfigError("precision 16-mixed needs a CUDA GPU; on the CPU use 32-true or bf16-mixed")
    dist = distributed_env()
    accelerator = "cuda" if device.type == "cuda" else "cpu"
    if dist is None:
        devices: Any = [device.index or 0] if device.type == "cuda" else 1
        fabric = Fabric(accelerator=accelerator, devices=devices, precision=config.precision)
    else:
        fabric = Fabric(
            accelerator=accelerator,
            devices=dist["local_world_size"],
            num_nodes=dist["num_nodes"],
            strategy="ddp",
            precision=config.precision,
        )
    fabric.launch()
    fabric.seed_everything(config.seed, verbose=False)
    seed_everything(config.seed)
    return fabric


def average_gradients(fabric: Any, parameters: Iterable[Any]) -> None:
    """Data parallelism by hand across torchrun processes: every gradient becomes its mean over them.

    Each process trains on its own shard of the batches from the same seeded start, so with the mean
    gradient the weights stay identical everywhere. One all-reduce of the flattened gradients; a no-op in a
    single process. Every process must call it the same number of times (equal batch counts).
    """
    if fabric.world_size <= 1:
        return
    unique = {id(p): p for p in parameters}.values()  # a parameter listed twice is averaged once
    grads = [p.grad for p in unique if p.grad is not None]
    if not grads:
        return
    flat = fabric.all_reduce(torch.cat([g.reshape(-1) for g in grads]), reduce_op="mean")
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def shard_batches(batches: Iterable[Any], per_epoch: int, fabric: Any) -> Iterator[Any]:
    """This process's share of an epoch's batches (every ``world_size``-th), the same count on every process."""
    world, rank = fabric.world_size, fabric.global_rank
    if world <= 1:
        yield from batches
        return
    usable = per_epoch - per_epoch % world
    for i, batch in enumerate(batches):
        if i >= usable:
            break
        if i % world == rank:
            yield batch


def is_main_process() -> bool:
    """False in the torchrun processes other than global rank 0 (they compute but do not write files)."""
    return os.environ.get("RANK", "0") == "0"
