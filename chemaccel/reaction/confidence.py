"""A calibrated confidence for a reaction prediction: the probability that its top-1 product is right.

Platt scaling on two numbers the beam already gives: the top candidate's score ``s1`` (length-normalised
log-probability) and its margin over the second valid candidate ``s1 - s2`` (0 when there is none):
``p = sigmoid(w0 + w1 * s1 + w2 * (s1 - s2))``, fitted by the logistic loss on validation reactions
(``scripts/calibrate_reaction_confidence.py``) and stored in the model's ``config.json`` under
``metrics.confidence``. A model without it gives no confidence (None). Products only: a starting material
the beam gave back unchanged (ranked last, ``Candidate.unchanged``) is not a second candidate, and a
prediction whose best candidate is one gets confidence 0.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def features(candidates: Sequence[Any]) -> tuple[float, float] | None:
    """(s1, margin) of a ranked candidate list over its products (valid, not a starting material given back
    unchanged); None when the list has no such product first."""
    if not candidates or getattr(candidates[0], "unchanged", False):
        return None
    valid = [c.score for c in candidates if c.valid and not getattr(c, "unchanged", False)]
    if not valid:
        return None
    s1 = float(valid[0])
    margin = s1 - float(valid[1]) if len(valid) > 1 else 0.0
    return s1, margin


def probability(weights: Sequence[float], s1: float, margin: float) -> float:
    z = weights[0] + weights[1] * s1 + weights[2] * margin
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def fit(s1: np.ndarray, margin: np.ndarray, correct: np.ndarray) -> list[float]:
    """Logistic-regression weights ``[w0, w1, w2]`` (a small L2 penalty keeps them finite)."""
    from scipy.optimize import minimize

    x = np.stack([np.ones_like(s1), s1, margin], 1).astype(np.float64)
    y = np.asarray(correct, dtype=np.float64)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        p = 1.0 / (1.0 + np.exp(-z))
        eps = 1e-12
        value = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) + 1e-4 * float(w[1:] @ w[1:])
        grad = x.T @ (p - y) / len(y)
        grad[1:] += 2e-4 * w[1:]
        return float(value), grad

    res = minimize(loss, np.zeros(3), jac=True, method="L-BFGS-B")
    return [float(v) for v in res.x]


def calibration_error(p: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the count-weighted mean |accuracy - confidence| over equal-width bins."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / max(1, len(p)))


def confidence_report(p: Sequence[float], correct: Sequence[bool]) -> dict[str, Any]:
    """How a confidence sorts predictions: ``n``, ``ece``, ``mean_confidence``, ``top1`` and the top-1 of the
    most confident half against the other half (ties broken by row order)."""
    pa, ya = np.asarray(p, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    order = np.argsort(-pa, kind="stable")
    top, rest = order[: len(order) // 2], order[len(order) // 2:]
    return {"n": int(len(pa)), "ece": calibration_error(pa, ya), "mean_confidence": float(pa.mean()),
            "top1": float(ya.mean()), "top1_most_confident_half": float(ya[top].mean()) if len(top) else 0.0,
            "top1_other_half": float(ya[rest].mean())}
