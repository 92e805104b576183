"""A calibrated uncertainty per prediction: sigma from the ensemble's spread, the latent distance and the
disagreement of the 3D and 2D members.

``sigma = a + b * spread + c * latent + d * disagreement`` (eV; ``spread``: standard deviation over ensemble
members and conformers, ``latent``: the applicability score of :mod:`chemaccel.property.domain`,
``disagreement``: ``|3D value - 2D value|`` for a model with a graph member, else 0), with ``a, b, c, d >= 0``
fitted on the validation split by the Gaussian negative log-likelihood of the errors. The stated 90 %
interval is ``value +- q90 * sigma`` with ``q90`` the 90 % quantile of ``|error| / sigma`` on the same
validation molecules, so the interval holds 90 % of validation errors by construction; the test split
says whether it carries over (docs/benchmarks.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

LEVEL = 0.9


@dataclass(frozen=True)
class Calibration:
    """Fitted per target: ``sigma = a + b * spread + c * latent + d * disagreement`` (eV) and the interval
    factor ``q90`` (``d`` is 0 for models without a graph member, and for those made before it)."""

    a: float
    b: float
    c: float
    q90: float
    n: int = 0
    d: float = 0.0

    def sigma(self, spread: np.ndarray, latent: np.ndarray, disagreement: np.ndarray | float = 0.0) -> np.ndarray:
        return (self.a + self.b * np.asarray(spread, dtype=np.float64) + self.c * np.asarray(latent, dtype=np.float64)
                + self.d * np.asarray(disagreement, dtype=np.float64))

    def half_width(self, spread: np.ndarray, latent: np.ndarray, disagreement: np.ndarray | float = 0.0) -> np.ndarray:
        """Half-width of the 90 % interval, eV."""
        return self.q90 * self.sigma(spread, latent, disagreement)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Calibration":
        return cls(**{k: data[k] for k in ("a", "b", "c", "q90", "n", "d") if k in data})


def fit_calibration(errors: np.ndarray, spread: np.ndarray, latent: np.ndarray,
                    disagreement: np.ndarray | None = None) -> Calibration:
    """Fit ``a, b, c (, d) >= 0`` by the Gaussian NLL of ``errors`` (eV), then ``q90`` on the same rows
    (``d`` only when ``disagreement`` is given)."""
    from scipy.optimize import minimize

    e = np.abs(np.asarray(errors, dtype=np.float64))
    s = np.asarray(spread, dtype=np.float64)
    z = np.asarray(latent, dtype=np.float64)
    g = np.zeros_like(e) if disagreement is None else np.asarray(disagreement, dtype=np.float64)
    scale = max(float(np.mean(e)), 1e-6)

    def nll(w: np.ndarray) -> float:
        sig = np.maximum(w[0] + w[1] * s + w[2] * z + w[3] * g, 1e-6)
        return float(np.mean(np.log(sig) + 0.5 * (e / sig) ** 2))

    start = np.array([scale, 0.0, 0.0, 0.0])
    bounds = [(1e-6, None), (0.0, None), (0.0, None), (0.0, None if disagreement is not None else 0.0)]
    res = minimize(nll, start, method="L-BFGS-B", bounds=bounds)
    a, b, c, d = (float(v) for v in res.x)
    sig = np.maximum(a + b * s + c * z + d * g, 1e-6)
    q90 = float(np.quantile(e / sig, LEVEL))
    return Calibration(a, b, c, q90, int(len(e)), d)


def coverage(errors: np.ndarray, half_width: np.ndarray) -> float:
    """Fraction of ``|errors|`` within the stated half-widths."""
    e = np.abs(np.asarray(errors, dtype=np.float64))
    return float(np.mean(e <= np.asarray(half_width, dtype=np.float64))) if len(e) else float("nan")
