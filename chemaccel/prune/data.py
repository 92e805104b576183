"""Data for the AutoPrune engine: tensor pairs, image folders (IDX) and batching.

The engine trains on ``(inputs, targets)`` tensor pairs or any map-style ``torch.utils.data.Dataset`` of
such pairs. Image benchmarks (MNIST, Fashion-MNIST, as used by Xiao, Wang and Rajasekaran, AutoPrune,
NeurIPS 2019) are read from IDX folders with :func:`chemaccel.datasets.images.load_mnist` and scaled by
:data:`NORMALIZATION` (stored in a model's ``config.json`` so evaluation applies the same).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from chemaccel.errors import ConfigError

NORMALIZATION = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}

Data = Any  # (x, y) tensors or a Dataset


def images_to_tensors(
    images: np.ndarray, labels: np.ndarray, mean: float, std: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images ``(N, H, W)`` -> float ``(N, 1, H, W)`` normalised; labels -> int64."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0).unsqueeze(1)
    x = (x - mean) / std
    return x, torch.from_numpy(np.asarray(labels).astype(np.int64))


def normalization_for(folder: str | Path) -> tuple[float, float]:
    """Mean and std for an image folder (by name: ``fashion`` in it means Fashion-MNIST)."""
    return NORMALIZATION["fashion_mnist" if "fashion" in Path(folder).name.lower() else "mnist"]


def load_image_split(
    folder: str | Path, split: str = "train", limit: int | None = None, norm: tuple[float, float] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read an IDX folder's ``train`` or ``test`` split as normalised tensors (first ``limit`` samples)."""
    from chemaccel.datasets.images import load_mnist

    images, labels = load_mnist(folder, split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    mean, std = norm or normalization_for(folder)
    return images_to_tensors(images, labels, mean, std)


def split_validation(x: torch.Tensor, y: torch.Tensor, n_val: int, seed: int = 0):
    """Hold out ``n_val`` random training samples for validation (tuning never sees the test split)."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    val, train = perm[:n_val], perm[n_val:]
    return (x[train], y[train]), (x[val], y[val])


def as_pair(data: Data, what: str) -> tuple[torch.Tensor, torch.Tensor] | torch.utils.data.Dataset:
    """Normalise user data to an ``(x, y)`` tensor pair, or keep a Dataset; a ConfigError otherwise."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
        if len(x) != len(y):
            raise ConfigError(f"{what}: inputs and targets differ in length ({len(x)} vs {len(y)})")
        if len(x) == 0:
            raise ConfigError(f"{what}: no samples")
        return x, y
    if isinstance(data, torch.utils.data.TensorDataset) and len(data.tensors) == 2:
        return as_pair(tuple(data.tensors), what)
    if isinstance(data, torch.utils.data.Dataset):
        try:
            n = len(data)  # type: ignore[arg-type]
        except TypeError:
            raise ConfigError(f"{what}: the dataset must have a length") from None
        if n == 0:
            raise ConfigError(f"{what}: no samples")
        return data
    raise ConfigError(
        f"{what}: expected an (inputs, targets) tensor pair or a torch Dataset, got {type(data).__name__}"
    )


def data_device(data: Any) -> torch.device | None:
    """The device of a tensor pair (None for a Dataset, whose samples are moved batch by batch)."""
    if isinstance(data, tuple):
        return data[0].device
    return None


def batches(data: Any, batch_size: int, shuffle: bool, generator: torch.Generator | None, device: torch.device
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` batches on ``device`` from a tensor pair or a Dataset."""
    if isinstance(data, tuple):
        x, y = data
        n = len(x)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size].to(x.device)
            yield x[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
        return
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)
    for xb, yb in loader:
        yield xb.to(device), yb.to(device)


def n_samples(data: Any) -> int:
    return len(data[0]) if isinstance(data, tuple) else len(data)


def first_input(data: Any) -> torch.Tensor:
    """One input sample with a batch dimension of 1."""
    if isinstance(data, tuple):
        return data[0][:1]
    return data[0][0].unsqueeze(0)
