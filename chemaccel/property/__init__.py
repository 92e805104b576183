"""SchNet property models with attention-based AutoPrune of the filter kernels (the ``property`` engine).

One file per idea:

* :mod:`~chemaccel.property.config`: :class:`PropertyConfig`;
* :mod:`~chemaccel.property.schnetpack_compat`: the only import of schnetpack (with the ``T_co`` shim);
* :mod:`~chemaccel.property.keys`: batch keys (schnetpack's) and units;
* :mod:`~chemaccel.property.neighbors`: vectorized neighbor lists within the cutoff;
* :mod:`~chemaccel.property.model`: SchNet on schnetpack blocks with per-block filter widths;
* :mod:`~chemaccel.property.attention`: kernel attention + AutoPrune gates (the prune engine's seam);
* :mod:`~chemaccel.property.compact`: physical removal of pruned kernels;
* :mod:`~chemaccel.property.data`, :mod:`~chemaccel.property.train`: QM9 store batches, training with Fabric;
* :mod:`~chemaccel.property.storage`, :mod:`~chemaccel.property.predict`, :mod:`~chemaccel.property.evaluate`,
  :mod:`~chemaccel.property.calculator`: model folders, prediction, test figures, ASE calculator.

Importing this package does not import schnetpack or torch-heavy modules; the names below load lazily.
"""

from __future__ import annotations

from typing import Any

from chemaccel.property.config import PRUNE_METHODS, TARGETS, PropertyConfig

_LAZY = {
    "PropertyTrainer": "chemaccel.property.train",
    "PropertyResult": "chemaccel.property.train",
    "PropertyModel": "chemaccel.property.predict",
    "PredictionRow": "chemaccel.property.predict",
    "predict_file": "chemaccel.property.predict",
    "evaluate_model": "chemaccel.property.evaluate",
    "PropertyCalculator": "chemaccel.property.calculator",
    "PropertySchNet": "chemaccel.property.model",
    "compact_model": "chemaccel.property.compact",
    "KernelPruning": "chemaccel.property.attention",
    "neighbor_list": "chemaccel.property.neighbors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'chemaccel.property' has no attribute {name!r}")


__all__ = ["PRUNE_METHODS", "TARGETS", "PropertyConfig", *_LAZY]
