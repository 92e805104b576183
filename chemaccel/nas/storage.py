"""NAS model folders: a derived network as config.json (engine ``nas``) + model.safetensors, never pickled.

``config.json`` holds, under ``architecture``, what rebuilds the network without running any code from the
file: ``kind`` (``darts-derived``), the ``genotype`` (validated against the operation registry when
loaded), ``in_channels``, ``num_classes``, ``init_channels``, ``layers``, ``stem_multiplier``, plus the
``input_shape`` and the input ``normalization`` (mean, std of the training images). ``metrics`` holds the
test accuracy measured once after retraining (a fraction), ``params`` and ``max_skip_per_cell``;
``config`` the retraining settings and a summary of the search that found the genotype.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from chemaccel.checkpoint import ModelInfo, expect_engine, load_model_folder, rebuild_module, save_model_folder
from chemaccel.errors import ModelFileError
from chemaccel.nas.derived import DerivedNetwork, from_architecture

ENGINE = "nas"
UNITS = {"test_accuracy": "fraction", "val_accuracy": "fraction", "params": "count", "train_seconds": "s"}


def save_nas(path: str | Path, model: DerivedNetwork, *, input_shape: tuple[int, ...],
             normalization: tuple[float, float] | None, config: dict[str, Any] | None = None,
             metrics: dict[str, Any] | None = None, notes: str = "") -> Path:
    """Write ``model`` (on any device) as a NAS model folder; returns the folder."""
    architecture = {"model": model.architecture(), "input_shape": [int(s) for s in input_shape]}
    if normalization is not None:
        architecture["normalization"] = {"mean": float(normalization[0]), "std": float(normalization[1])}
    info = ModelInfo(engine=ENGINE, config=config or {}, architecture=architecture, metrics=metrics or {},
                     units=UNITS, notes=notes)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    return save_model_folder(path, info, state)


def load_nas(path: str | Path, device: str | torch.device = "cpu") -> tuple[DerivedNetwork, ModelInfo]:
    """Rebuild a derived network from its folder (JSON genotype + safetensors)."""
    info, tensors = load_model_folder(path, device="cpu")
    expect_engine(info, ENGINE, path)
    arch = info.architecture.get("model")
    if not isinstance(arch, dict):
        raise ModelFileError(f"{path}: config.json has no architecture.model")
    model = rebuild_module(path, from_architecture, arch, tensors)  # (a bad genotype is a ModelFileError)
    return model.to(device).eval(), info


def load_model(path: Path, device: str | torch.device = "cpu") -> nn.Module:
    """Loader registered in :data:`chemaccel.api.MODEL_LOADERS` for engine ``nas``."""
    return load_nas(path, device)[0]


def normalization_of(info: ModelInfo) -> tuple[float, float] | None:
    norm = info.architecture.get("normalization")
    if not isinstance(norm, dict):
        return None
    try:
        return float(norm["mean"]), float(norm["std"])
    except (KeyError, TypeError, ValueError):
        raise ModelFileError("config.json: architecture.normalization needs numbers mean and std") from None
