"""Evaluate a pruned model folder from scratch: size, FLOPs, latency and test error.

What ``chemaccel prune evaluate MODEL --data DIR --json`` prints. The figures follow
:mod:`chemaccel.prune.measure` (see there for how FLOPs of masked models are counted) and are re-measured
from the files, not copied from ``config.json``; the reference for ``params_total``, ``flops_dense`` and
``latency_dense_ms`` is the dense architecture recorded in the folder (AutoPrune, Xiao, Wang and
Rajasekaran, NeurIPS 2019, report compression the same way: dense parameters over non-zero ones).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from chemaccel.errors import ConfigError
from chemaccel.prune.data import as_pair, batches, load_image_split
from chemaccel.prune.measure import measure
from chemaccel.prune.storage import dense_reference, load_pruned

KEYS = ("params_total", "params_nonzero", "compression", "flops", "flops_dense", "flops_fraction", "test_error",
        "latency_ms")


@torch.no_grad()
def classification_error(model: nn.Module, data: Any, batch_size: int = 1000) -> float:
    """Fraction of misclassified samples (argmax of the outputs)."""
    pair = as_pair(data, "test data")
    wrong = n = 0
    model.eval()
    for xb, yb in batches(pair, batch_size, False, None, next(model.parameters()).device):
        wrong += int((model(xb).argmax(1) != yb).sum())
        n += len(yb)
    return wrong / max(1, n)


def evaluate(
    model_folder: str | Path,
    data: Any = None,
    *,
    split: str = "test",
    limit: int | None = None,
    latency_repeats: int = 50,
    latency_batch: int = 1,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Measure a pruned model folder; ``data`` is ``(x, y)`` tensors, an IDX folder, or None (no error).

    Sizes, FLOPs and latency are measured on the CPU; the test error on ``device``.

    Returns a JSON-able dict with at least :data:`KEYS` (``test_error`` is None without data), plus
    ``params_stored``, ``latency_dense_ms``, ``speedup``, ``layers`` (per-layer rows), ``samples``.
    """
    model, info = load_pruned(model_folder)
    arch = info.architecture
    shape = tuple(int(s) for s in arch.get("input_shape", (1, 28, 28)))
    if isinstance(data, (str, Path)):
        norm = arch.get("normalization")
        pair = load_image_split(data, split, limit, (norm["mean"], norm["std"]) if norm else None)
    elif data is not None:
        pair = as_pair(data, "test data")
        if limit is not None:
            pair = (pair[0][:limit], pair[1][:limit])
    else:
        pair = None
    if pair is not None and tuple(pair[0].shape[1:]) != shape:
        raise ConfigError(f"the data has samples of shape {tuple(pair[0].shape[1:])}, the model expects {shape}")
    example = torch.zeros((1, *shape))
    stats = measure(model, example, reference=dense_reference(info), latency_repeats=latency_repeats,
                    latency_batch=latency_batch)
    # sizes, FLOPs and latency are measured on the CPU copy; the error on the device asked for
    stats["test_error"] = classification_error(model.to(device), pair) if pair is not None else None
    stats["device"] = str(device)
    stats["samples"] = int(len(pair[0])) if pair is not None else 0
    stats["split"] = split if pair is not None else None
    if stats.get("latency_ms") and stats.get("latency_dense_ms"):
        stats["speedup"] = stats["latency_dense_ms"] / stats["latency_ms"]
    stats["granularity"] = arch.get("granularity")
    stats["compacted"] = bool(arch.get("compacted"))
    stats["threads"] = torch.get_num_threads()
    ordered = {k: stats.get(k) for k in KEYS}
    ordered.update({k: v for k, v in stats.items() if k not in ordered})
    return ordered
