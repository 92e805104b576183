"""Fixtures of the NAS tests: tiny images and tiny configs that run in a second or two on one CPU thread."""

import gzip
import struct

import numpy as np
import pytest
import torch

from chemaccel.nas import RetrainConfig, SearchConfig
from chemaccel.runtime import RuntimeConfig

CPU = RuntimeConfig(device="cpu", seed=0)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def quadrant_images(n: int, size: int = 12, seed: int = 0):
    """``n`` one-channel images whose label (0..3) is the bright quadrant."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, size, size, generator=g) * 0.3
    y = torch.randint(0, 4, (n,), generator=g)
    h = size // 2
    for i, lab in enumerate(y.tolist()):
        r, c = divmod(lab, 2)
        x[i, 0, r * h:(r + 1) * h, c * h:(c + 1) * h] += 1.0
    return x, y


@pytest.fixture
def tiny_images():
    return quadrant_images(96)


@pytest.fixture
def tiny_search():
    return SearchConfig(layers=3, init_channels=4, nodes=2, epochs=1, batch_size=16, teacher_width=4,
                        teacher_epochs=1, runtime=CPU)


@pytest.fixture
def tiny_retrain():
    return RetrainConfig(layers=3, init_channels=4, epochs=1, batch_size=16, teacher_width=4, teacher_epochs=1,
                         runtime=CPU)


def write_idx(folder, prefix, images, labels):
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as fh:
        fh.write(struct.pack(">IIII", 0x803, len(images), 28, 28) + images.astype(np.uint8).tobytes())
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes())


def write_tiny_idx(folder):
    """An IDX folder of 28x28 images: 64 to train, 24 to test, label = the bright quadrant."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 88)
    images = rng.integers(0, 60, (88, 28, 28))
    for i, lab in enumerate(labels):
        r, c = divmod(int(lab), 2)
        images[i, r * 14:(r + 1) * 14, c * 14:(c + 1) * 14] += 180
    write_idx(folder, "train", images[:64], labels[:64])
    write_idx(folder, "t10k", images[64:], labels[64:])
    return folder


@pytest.fixture
def tiny_idx(tmp_path):
    """:func:`write_tiny_idx` in a temporary folder."""
    return write_tiny_idx(tmp_path / "fashion_tiny")
