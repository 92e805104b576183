"""PacGAN's synthetic 2-D mixtures (Lin et al. 2018, github fjxmlzn/PacGAN, synthetic_data_experiments).

* ``ring8``: 8 Gaussians with means ``(cos(2 pi i / 8), sin(2 pi i / 8))`` (radius 1), std 0.01;
* ``grid25``: 25 Gaussians with means on ``{-4, -2, 0, 2, 4}^2``, std 0.05.

Each mode has equal weight. PacGAN trains on one fixed set of 100,000 samples and evaluates 2,500
generated samples.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from chemaccel.errors import ConfigError

TOY_STD = {"ring8": 0.01, "grid25": 0.05}


def toy_means(kind: str) -> np.ndarray:
    """Mode centres of the mixture, float64 (M, 2)."""
    if kind == "ring8":
        return np.array([[math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8)] for i in range(8)])
    if kind == "grid25":
        return np.array(list(itertools.product(range(-4, 5, 2), range(-4, 5, 2))), dtype=np.float64)
    raise ConfigError(f"unknown toy data {kind!r}: choose ring8 or grid25")


def toy_std(kind: str) -> float:
    """Standard deviation of every mode (per coordinate)."""
    if kind not in TOY_STD:
        raise ConfigError(f"unknown toy data {kind!r}: choose ring8 or grid25")
    return TOY_STD[kind]


def sample_mixture(kind: str, n: int, seed: int = 0) -> np.ndarray:
    """``n`` samples (float32, (n, 2)) of the mixture, each mode chosen uniformly at random."""
    if n < 1:
        raise ConfigError(f"the number of toy samples must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    means = toy_means(kind)
    modes = rng.integers(0, len(means), size=n)
    return (means[modes] + rng.normal(0.0, toy_std(kind), size=(n, 2))).astype(np.float32)
