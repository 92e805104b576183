"""Data of the NAS engine: image tensors from IDX folders, the DARTS split, batches and augmentation.

DARTS searches on the TRAINING data only: it is split into one part that trains the weights and one that
trains the architecture parameters (``train_portion`` 0.5, as in DARTS). The test split is read only to
report the final figure of a retrained model.

Images are scaled to [0, 1] and standardised with the mean and standard deviation of the training images;
the two numbers are stored in the model folder so evaluation applies the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from chemaccel.errors import ConfigError

Pair = tuple[torch.Tensor, torch.Tensor]


def load_images(folder: str | Path, split: str = "train", limit: int | None = None,
                normalization: tuple[float, float] | None = None) -> tuple[Pair, tuple[float, float]]:
    """An IDX folder's split as ``(x (N, 1, H, W) float32, y int64)`` and the (mean, std) applied.

    ``normalization`` None: computed from these images (do that on the training split only).
    """
    from chemaccel.datasets.images import load_mnist

    images, labels = load_mnist(folder, split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0).unsqueeze(1)
    if normalization is None:
        normalization = (float(x.mean()), float(x.std().clamp_min(1e-6)))
    mean, std = normalization
    return ((x - mean) / std, torch.from_numpy(np.asarray(labels).astype(np.int64))), (float(mean), float(std))


def as_pair(data: Any, what: str) -> Pair:
    """Check an ``(inputs, labels)`` tensor pair (a TensorDataset of two tensors works too)."""
    if isinstance(data, torch.utils.data.TensorDataset) and len(data.tensors) == 2:
        data = tuple(data.tensors)
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)):
        raise ConfigError(f"{what}: expected an (inputs, labels) tensor pair, got {type(data).__name__}")
    x, y = data
    if len(x) != len(y):
        raise ConfigError(f"{what}: inputs and labels differ in length ({len(x)} vs {len(y)})")
    if len(x) == 0:
        raise ConfigError(f"{what}: no samples")
    return x, y


def darts_split(data: Pair, portion: float, batch_size: int, seed: int, limit: int | None = None
                ) -> tuple[Pair, Pair]:
    """Shuffle the training data (first ``limit`` samples) and split it into weight and architecture parts.

    Raises:
        ConfigError: a part would hold less than one batch (the data set is too small for its split).
    """
    x, y = as_pair(data, "training data")
    if limit is not None:
        x, y = x[:limit], y[:limit]
    n = len(x)
    n_w = int(round(n * portion))
    if n_w < batch_size or n - n_w < batch_size:
        raise ConfigError(
            f"the training data set is too small for its split: {n} samples with train_portion {portion:g} give "
            f"{n_w} for the weights and {n - n_w} for the architecture, and each part needs at least one batch of "
            f"{batch_size}; use more data (limit_train) or a smaller batch_size")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(x.device)
    return (x[perm[:n_w]], y[perm[:n_w]]), (x[perm[n_w:]], y[perm[n_w:]])


def holdout(data: Pair, n_val: int, seed: int) -> tuple[Pair, Pair | None]:
    """Hold out ``n_val`` random training samples for monitoring (0: none)."""
    x, y = data
    if n_val <= 0:
        return (x, y), None
    if n_val >= len(x):
        raise ConfigError(f"val_size {n_val} leaves nothing to train on ({len(x)} training samples)")
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed)).to(x.device)
    return (x[perm[n_val:]], y[perm[n_val:]]), (x[perm[:n_val]], y[perm[:n_val]])


def batches(data: Pair, batch_size: int, shuffle: bool, generator: torch.Generator | None = None,
            drop_last: bool = False) -> Iterator[Pair]:
    """``(x, y)`` batches of a tensor pair, on the pair's device."""
    x, y = data
    n = len(x)
    order = torch.randperm(n, generator=generator).to(x.device) if shuffle else torch.arange(n, device=x.device)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        idx = order[i:i + batch_size]
        yield x[idx], y[idx]


def endless(data: Pair, batch_size: int, generator: torch.Generator) -> Iterator[Pair]:
    """Shuffled batches forever (one pass after another)."""
    while True:
        yield from batches(data, batch_size, True, generator, drop_last=True)


def augment(x: torch.Tensor, pad: int = 2, flip: bool = True) -> torch.Tensor:
    """Per sample: a random crop after padding by ``pad`` pixels of background, and a random horizontal flip."""
    n, c, h, w = x.shape
    if pad > 0:
        background = x.amin(dim=(1, 2, 3), keepdim=True)
        padded = torch.nn.functional.pad(x - background, (pad, pad, pad, pad)) + background
        dy = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
        dx = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
        rows = (torch.arange(h, device=x.device)[None, :] + dy[:, None])[:, None, :, None]
        cols = (torch.arange(w, device=x.device)[None, :] + dx[:, None])[:, None, None, :]
        samples = torch.arange(n, device=x.device)[:, None, None, None]
        channels = torch.arange(c, device=x.device)[None, :, None, None]
        x = padded[samples, channels, rows, cols]
    if flip:
        mask = torch.rand(n, device=x.device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


@torch.no_grad()
def accuracy(model: torch.nn.Module, data: Pair, batch_size: int = 1000, autocast: Any = None) -> float:
    """Fraction of correctly classified samples (argmax of the outputs)."""
    was = model.training
    model.eval()
    right = n = 0
    for xb, yb in batches(data, batch_size, False):
        if autocast is not None:
            with autocast():
                out = model(xb)
        else:
            out = model(xb)
        right += int((out.argmax(1) == yb).sum())
        n += len(yb)
    model.train(was)
    return right / max(1, n)
