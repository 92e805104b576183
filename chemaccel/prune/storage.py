"""Pruned models on disk: a model folder at the pruned shapes, rebuilt from JSON without the original.

A model pruned by AutoPrune (Xiao, Wang and Rajasekaran, NeurIPS 2019) is saved with
:func:`chemaccel.checkpoint.save_model_folder`. ``config.json`` holds, under ``architecture``:

* ``model``: the architecture of the saved tensors (the kept ``widths`` of a compacted model, or a
  ``sequential`` layer list, see :mod:`chemaccel.prune.models`), so loading needs nothing else;
* ``dense``: the architecture before pruning (the reference for ``params_total`` and ``flops_dense``);
* ``granularity``, ``compacted``, ``input_shape`` and the input ``normalization`` (mean, std).

Structured models are stored compacted (smaller file, faster). Unstructured models are stored dense with
the masks applied: the mask is implied by the zeros, and compression is computed from the non-zeros.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from chemaccel.checkpoint import ModelInfo, expect_engine, load_model_folder, rebuild_module, save_model_folder
from chemaccel.errors import ModelFileError
from chemaccel.prune.models import build_model, widths_of

ENGINE = "prune"


def architecture_after(dense_arch: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    """The architecture dict of ``model``: ``dense_arch`` with the model's current widths."""
    if dense_arch.get("kind") == "sequential":
        from chemaccel.prune.models import sequential_spec

        return sequential_spec(model)
    return {**dense_arch, "widths": widths_of(model)}


def save_pruned(
    path: str | Path,
    model: nn.Module,
    dense_arch: dict[str, Any],
    *,
    granularity: str,
    compacted: bool,
    config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    input_shape: tuple[int, ...] = (1, 28, 28),
    normalization: tuple[float, float] | None = None,
    notes: str = "",
) -> Path:
    """Write ``model`` (on any device) as a prune model folder; returns the folder."""
    arch = architecture_after(dense_arch, model)
    architecture = {"model": arch, "dense": dense_arch, "granularity": granularity, "compacted": bool(compacted),
                    "input_shape": list(input_shape)}
    if normalization is not None:
        architecture["normalization"] = {"mean": float(normalization[0]), "std": float(normalization[1])}
    info = ModelInfo(engine=ENGINE, config=config or {}, architecture=architecture, metrics=metrics or {},
                     units={"test_error": "fraction", "flops": "FLOPs per sample", "latency_ms": "ms"}, notes=notes)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    return save_model_folder(path, info, state)


def load_pruned(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelInfo]:
    """Rebuild a pruned model from its folder (JSON architecture + safetensors); never unpickles."""
    info, tensors = load_model_folder(path, device="cpu")
    expect_engine(info, ENGINE, path)
    arch = info.architecture.get("model")
    if not isinstance(arch, dict):
        raise ModelFileError(f"{path}: config.json has no architecture.model")
    model = rebuild_module(path, build_model, arch, tensors)
    return model.to(device).eval(), info


def load_model(path: Path, device: str | torch.device = "cpu") -> nn.Module:
    """Loader registered in :data:`chemaccel.api.MODEL_LOADERS` for engine ``prune``."""
    return load_pruned(path, device)[0]


def dense_reference(info: ModelInfo) -> nn.Module:
    """The dense architecture before pruning (random weights), for reference counts."""
    return build_model(info.architecture.get("dense") or info.architecture["model"]).eval()
