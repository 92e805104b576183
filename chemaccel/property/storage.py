"""Property model folders: ``config.json`` (config, architecture at the pruned widths, units, metrics) and
``model.safetensors``, written atomically by :mod:`chemaccel.checkpoint`; never pickled."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from chemaccel.checkpoint import ModelInfo, expect_engine, load_model_folder, rebuild_module, save_model_folder
from chemaccel.property.config import PropertyConfig
from chemaccel.property.keys import ENERGY_UNIT, LENGTH_UNIT
from chemaccel.property.model import PropertySchNet

ENGINE = "property"


def save_property_model(path: str | Path, model: PropertySchNet, config: PropertyConfig,
                        metrics: Mapping[str, Any] | None = None, notes: str = "",
                        elements: list[int] | None = None) -> Path:
    """Write a (compacted) model to a folder. ``elements``: atomic numbers seen in training."""
    if any(b.pruner is not None for b in model.representation.interactions):
        raise ValueError("compact the model (chemaccel.property.compact.compact_model) before saving it")
    arch = model.architecture()
    arch["elements"] = sorted(int(z) for z in (elements or []))
    units = {t: ENERGY_UNIT for t in model.targets}
    units["positions"] = LENGTH_UNIT
    info = ModelInfo(engine=ENGINE, config=config.to_dict(), architecture=arch, units=units,
                     metrics=dict(metrics or {}), notes=notes)
    return save_model_folder(path, info, model)


def load_property_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[Any, ModelInfo]:
    """Rebuild the module (a :class:`PropertySchNet` or an ensemble) from ``config.json`` and load the tensors."""
    info, tensors = load_model_folder(path, device="cpu")
    expect_engine(info, ENGINE, path)
    arch = dict(info.architecture)
    from chemaccel.property.ensemble import build_property_module

    model = rebuild_module(path, build_property_module, arch, tensors)
    return model.to(device).eval(), info


def load_model(path: Path, device: str | torch.device = "cpu") -> Any:
    """Entry in :data:`chemaccel.api.MODEL_LOADERS`: a :class:`~chemaccel.property.predict.PropertyModel`."""
    from chemaccel.property.predict import PropertyModel

    model, info = load_property_model(path, device)
    return PropertyModel(model, info, path=Path(path))
