"""Mode-collapse metrics of PacGAN for the 2-D mixtures.

Each generated sample is assigned to the mode centre nearest in standard-deviation units. It is *high
quality* when that distance is below ``threshold`` (3) standard deviations. A mode is *captured* when at
least ``min_count`` (1) high-quality samples fall on it. The *reverse KL* is ``KL(p || u)`` between the
distribution ``p`` of high-quality samples over the modes and the uniform true distribution ``u``:

    reverse_kl = sum_{m: p_m > 0} p_m log(p_m * M)

(0 when every mode gets the same share; log(M / c) when c modes share the samples equally; inf when no
sample is high quality).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def assign_modes(samples: np.ndarray, means: np.ndarray, std: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest mode of each sample and the distance to it in units of ``std``: ((N,), (N,))."""
    samples = np.asarray(samples, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    d2 = ((samples[:, None, :] - means[None, :, :]) ** 2).sum(axis=-1) / (std * std)
    nearest = d2.argmin(axis=1)
    return nearest, np.sqrt(d2[np.arange(len(samples)), nearest])


def mode_metrics(samples: np.ndarray, means: np.ndarray, std: float, threshold: float = 3.0,
                 min_count: int = 1) -> dict[str, Any]:
    """Modes captured, fraction of high-quality samples and reverse KL of ``samples`` (N, 2).

    Returns:
        ``{"n_modes_captured": int, "n_modes": int, "high_quality": float, "reverse_kl": float,
        "mode_counts": list[int], "n_samples": int}``.
    """
    samples = np.asarray(samples)
    if samples.ndim != 2 or samples.shape[1] != np.asarray(means).shape[1]:
        raise ValueError(f"samples must be (N, {np.asarray(means).shape[1]}), got {samples.shape}")
    m = len(means)
    n = len(samples)
    finite = np.isfinite(samples).all(axis=1)
    counts = np.zeros(m, dtype=np.int64)
    if finite.any():
        nearest, dist = assign_modes(samples[finite], means, std)
        good = dist < threshold
        counts = np.bincount(nearest[good], minlength=m)
    total = int(counts.sum())
    if total == 0:
        rkl = math.inf
    else:
        p = counts[counts > 0] / total
        rkl = float(np.sum(p * np.log(p * m)))
    return {
        "n_modes_captured": int((counts >= min_count).sum()),
        "n_modes": m,
        "high_quality": total / n if n else 0.0,
        "reverse_kl": rkl,
        "mode_counts": [int(c) for c in counts],
        "n_samples": n,
    }
