"""The public API: everything the GUI, scripts and embedding tools may use, listed explicitly.

Example::

    from chemaccel import api
    records = list(api.read_molecules("mols.sdf"))       # each record: a molecule or a reason
    good = [r for r in records if r.ok]

Engines register a loader for their model folders in :data:`MODEL_LOADERS` (``engine`` name from
``config.json`` -> ``"module:function"``), so :func:`load_model` rebuilds any shipped or trained model
from JSON + safetensors without importing every engine up front.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from chemaccel._version import __version__
from chemaccel.checkpoint import ModelInfo, load_model_folder, read_model_info, save_model_folder
from chemaccel.chem.conformers import embed_3d, embed_records
from chemaccel.chem.depict import depict_png, depict_svg
from chemaccel.chem.molecules import MoleculeRecord, canonical_smiles, read_all, read_molecules, write_csv, write_sdf
from chemaccel.chem.store import MoleculeStore
from chemaccel.errors import (
    Cancelled, ChemAccelError, ConfigError, DeviceError, InputError, ModelFileError, NotAvailableError,
    StoreError,
)
from chemaccel.reporting import (
    LoggingReporter, NullReporter, RecordingReporter, Reporter, StopFlag, TqdmReporter,
)
from chemaccel.runtime import RuntimeConfig, available_devices, describe_device, resolve_device, seed_everything

MODEL_LOADERS: dict[str, str] = {
    "demo-fingerprint-mlp": "chemaccel.demo:load_regressor",
}


def load_model(path: str | Path) -> Any:
    """Load any chemaccel model folder, dispatching on its ``engine``; never unpickles anything."""
    info = read_model_info(path)
    target = MODEL_LOADERS.get(info.engine)
    if target is None:
        raise NotAvailableError(
            f"{path}: a model of engine {info.engine!r} cannot be loaded by this chemaccel {__version__} "
            f"(known: {', '.join(sorted(MODEL_LOADERS))})"
        )
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)(Path(path))


__all__ = [
    "__version__",
    "Cancelled", "ChemAccelError", "ConfigError", "DeviceError", "InputError", "ModelFileError",
    "NotAvailableError", "StoreError",
    "MoleculeRecord", "read_molecules", "read_all", "write_csv", "write_sdf", "canonical_smiles",
    "embed_3d", "embed_records", "MoleculeStore", "depict_png", "depict_svg",
    "ModelInfo", "save_model_folder", "load_model_folder", "read_model_info", "load_model", "MODEL_LOADERS",
    "Reporter", "NullReporter", "TqdmReporter", "LoggingReporter", "RecordingReporter", "StopFlag",
    "RuntimeConfig", "available_devices", "describe_device", "resolve_device", "seed_everything",
]
