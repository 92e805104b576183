"""Test figures of a property model on a store split: MAE per target, size, FLOPs, inference speed.

FLOPs come from :class:`torch.utils.flop_counter.FlopCounterMode` (dense layers) plus SchNet's message
passing counted by hand, since FlopCounterMode counts 0 for gather/scatter/elementwise ops: per
interaction block ``3 * P * F_t`` (cutoff factor, ``x_j * W_ij`` and the scatter-add over ``P`` pairs and
``F_t`` kernels). Reported per molecule, averaged over the first evaluation batch.
``molecules_per_s``: inference with batches of 100, no gradient, in this process's threads.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chemaccel.property.data import StoreCollate, load_store
from chemaccel.property.model import PropertySchNet, count_parameters, filter_parameters
from chemaccel.property import keys

BATCH = 100


def count_flops(model: PropertySchNet, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """FLOPs of one forward pass on ``batch``: ``dense`` (FlopCounterMode), ``messages`` (by hand), per molecule."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(batch)
    dense = float(counter.get_total_flops())
    pairs = int(batch[keys.IDX_I].numel())
    messages = float(sum(3 * pairs * b.n_filters for b in model.representation.interactions))
    n = int(batch[keys.N_ATOMS].numel())
    return {"flops_dense": dense / n, "flops_messages": messages / n, "flops": (dense + messages) / n}


def evaluate_model(model: Any, store: str | Path, split: str = "test", limit: int | None = None,
                   batch_size: int = BATCH) -> dict[str, Any]:
    """MAE (meV) per target on ``split`` of ``store``, parameters, filter parameters, FLOPs, molecules/s.

    Args:
        model: a :class:`~chemaccel.property.predict.PropertyModel` or a :class:`PropertySchNet`.
        store: QM9 molecule store with its fixed split.
        split: ``train``, ``valid`` or ``test``.
        limit: only N molecules of the split (a fixed random subset, not its first N: the split is in QM9's
            order, smallest molecules first).
    """
    from chemaccel.datasets.qm9 import read_qm9_split, split_subset
    from chemaccel.errors import ConfigError

    module: PropertySchNet = getattr(model, "module", model)
    module.eval()
    splits = read_qm9_split(store)
    if split not in splits:
        raise ConfigError(f"unknown split {split!r}: choose train, valid or test")
    idx = split_subset(splits[split], limit)
    arrays = load_store(store, module.targets)
    collate = StoreCollate(arrays, module.cutoff)
    device = next(module.parameters()).device
    err = np.zeros(len(module.targets))
    batches = [collate(idx[i:i + batch_size]) for i in range(0, len(idx), batch_size)]
    seconds = 0.0
    with torch.no_grad():
        for batch in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            t0 = time.perf_counter()
            pred = module(batch)
            seconds += time.perf_counter() - t0
            err += (pred - batch["targets"]).abs().sum(0).cpu().numpy()
    flops = count_flops(module, {k: v.to(device) for k, v in batches[0].items()}) if batches else {}
    n = len(idx)
    common = {"n": int(n), "split": split, "params": count_parameters(module), "filter_params": filter_parameters(module),
              "molecules_per_s": n / seconds if seconds else 0.0, "threads": torch.get_num_threads(), **flops}
    rows = [{"target": t, "mae_mev": float(err[k] / max(1, n) * 1000), **common} for k, t in enumerate(module.targets)]
    return {"results": rows, **common}


def evaluate_folder(model_folder: str | Path, data: str | Path, *, device: str | torch.device = "cpu",
                    split: str = "test", limit: int | None = None) -> dict[str, Any]:
    """The engine contract's evaluate (:mod:`chemaccel.engines`): :func:`evaluate_model` of a model folder
    loaded onto ``device``, on ``split`` of the molecule store ``data``."""
    from chemaccel.property.storage import load_model

    return evaluate_model(load_model(Path(model_folder), device), data, split=split, limit=limit)
