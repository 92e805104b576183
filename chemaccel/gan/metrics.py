"""Mode-collapse metrics of PacGAN for the 2-D mixtures, and a bootstrap interval for per-seed ratios.

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


def ratio_interval(numerators: list[float], denominators: list[float], confidence: float = 0.95,
                   resamples: int = 10000, seed: int = 0) -> tuple[float, float, float]:
    """Ratio of means of paired per-seed figures (e.g. K generators' uniqueness over the plain GAN's, seed by
    seed) and its percentile-bootstrap interval over the seeds: ``(ratio, low, high)``.

    The seeds are resampled with replacement, both figures of a seed together. With one seed the interval is
    the ratio itself; a resample whose denominators sum to 0 is skipped (inf when all are).
    """
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    if num.shape != den.shape or num.ndim != 1 or num.size == 0:
        raise ValueError(f"need equally many numerators and denominators, at least one: "
                         f"{num.shape} vs {den.shape}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    ratio = num.sum() / den.sum() if den.sum() > 0 else math.inf
    picks = np.random.default_rng(seed).integers(0, num.size, size=(resamples, num.size))
    top, bottom = num[picks].sum(axis=1), den[picks].sum(axis=1)
    ratios = top[bottom > 0] / bottom[bottom > 0]
    if ratios.size == 0:
        return ratio, math.inf, math.inf
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    return float(ratio), float(low), float(high)
