"""Evaluate a NAS model folder from scratch: test accuracy, parameters, skip connections per cell.

What ``chemaccel nas evaluate MODEL --data DIR --json`` prints. The figures are re-measured from the files
(the genotype and weights), not copied from ``config.json``: the network is rebuilt from its JSON genotype,
the test split of the IDX folder is standardised with the normalisation stored in the folder, and the
accuracy is the fraction of test images whose argmax is the label. ``recorded_test_accuracy`` is what the
folder says was measured after retraining, for comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from chemaccel.errors import ConfigError
from chemaccel.nas.data import accuracy, as_pair, load_images
from chemaccel.nas.derived import count_params, count_skip_ops
from chemaccel.nas.storage import load_nas, normalization_of
from chemaccel.runtime import resolve_device

KEYS = ("test_accuracy", "params", "max_skip_per_cell", "skip_per_cell", "samples")


def evaluate(model_folder: str | Path, data: Any = None, *, split: str = "test", limit: int | None = None,
             device: str = "cpu", batch_size: int = 1000) -> dict[str, Any]:
    """Measure a NAS model folder; ``data`` is an IDX folder, an ``(x, y)`` pair, or None (no accuracy).

    Returns a JSON-able dict with :data:`KEYS` first (``test_accuracy`` None without data), then
    ``genotype``, ``recorded_test_accuracy``, ``split``, ``device``.
    """
    dev = resolve_device(device)
    model, info = load_nas(model_folder, dev)
    arch = info.architecture
    shape = tuple(int(s) for s in arch.get("input_shape", ()))
    if isinstance(data, (str, Path)):
        pair, _ = load_images(data, split, limit, normalization_of(info))
    elif data is not None:
        pair = as_pair(data, "test data")
        if limit is not None:
            pair = (pair[0][:limit], pair[1][:limit])
    else:
        pair = None
    if pair is not None and shape and tuple(pair[0].shape[1:]) != shape:
        raise ConfigError(f"the data has samples of shape {tuple(pair[0].shape[1:])}, the model expects {shape}")
    acc = None
    if pair is not None:
        classes = model.sizes["num_classes"]
        if int(pair[1].max()) >= classes:
            raise ConfigError(f"the data has label {int(pair[1].max())}; the model has {classes} classes")
        acc = accuracy(model, (pair[0].to(dev), pair[1].to(dev)), batch_size)
    skips = count_skip_ops(model)
    return {
        "test_accuracy": acc,
        "params": count_params(model),
        "max_skip_per_cell": max(skips) if skips else 0,
        "skip_per_cell": model.genotype.skip_counts(),
        "samples": int(len(pair[0])) if pair is not None else 0,
        "genotype": model.genotype.to_dict(),
        "recorded_test_accuracy": info.metrics.get("test_accuracy"),
        "split": split if pair is not None else None,
        "device": str(dev),
        "threads": torch.get_num_threads(),
    }
