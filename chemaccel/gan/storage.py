"""GAN model folders: config.json (engine ``gan``) + model.safetensors, never pickled.

The folder keeps what sampling needs: the generators (private stacks merged into one, whatever placement
they were trained with), the :class:`~chemaccel.gan.data.DataSpec`, and for molecular graphs the 63-bit
hashes of the training SMILES (``train_smiles_hash``) for novelty. The discriminator is left out unless
asked for (it is not needed to sample, and halves the file); training checkpoints always hold it.
``storage_dtype="float16"`` stores the floating-point weights at half precision (half the file; loading
casts them back to float32), for shipped models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from chemaccel.checkpoint import ModelInfo, expect_engine, load_model_folder, save_model_folder
from chemaccel.errors import ConfigError, ModelFileError
from chemaccel.gan.config import GanConfig
from chemaccel.gan.data import DataSpec
from chemaccel.gan.model import GanModel
from chemaccel.gan.placement import plan_placement

ENGINE = "gan"
HASH_KEY = "train_smiles_hash"
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def save_gan(path: str | Path, model: GanModel, metrics: dict[str, Any] | None = None, notes: str = "",
             with_discriminator: bool = False, storage_dtype: str = "float32") -> Path:
    """Write ``model`` as a model folder at ``path`` (atomically).

    ``storage_dtype``: ``float32`` (exact) or ``float16`` (floating-point weights and statistics rounded to
    half precision: half the file; :func:`load_gan` casts them back to float32).
    """
    if storage_dtype not in STORAGE_DTYPES:
        raise ConfigError(f"storage_dtype must be one of {', '.join(STORAGE_DTYPES)}, got {storage_dtype!r}")
    tensors = {f"generator.{k}": v for k, v in model.generator.canonical_state_dict().items()}
    if with_discriminator and model.discriminator is not None:
        tensors.update({f"discriminator.{k}": v for k, v in model.discriminator.state_dict().items()})
    dtype = STORAGE_DTYPES[storage_dtype]
    tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    if model.train_hashes is not None:
        tensors[HASH_KEY] = torch.from_numpy(np.asarray(model.train_hashes, dtype=np.int64))
    counts = model.parameter_counts()
    info = ModelInfo(
        engine=ENGINE,
        config=model.config.to_dict(),
        architecture={"data": model.spec.to_dict(), "n_generators": model.config.n_generators,
                      "private_layers": model.config.private_layers, "parameters": counts,
                      "with_discriminator": bool(with_discriminator and model.discriminator is not None),
                      "storage_dtype": storage_dtype},
        units={},
        metrics=_plain(metrics or {}),
        notes=notes,
    )
    return save_model_folder(path, info, tensors)


def load_gan(path: str | Path, device: str = "cpu") -> GanModel:
    """Rebuild a :class:`GanModel` from a model folder (JSON + safetensors only)."""
    info, tensors = load_model_folder(path)
    expect_engine(info, ENGINE, path)
    try:
        config = GanConfig.from_dict({**info.config, "placement": [], "shared_device": ""})
        spec = DataSpec.from_dict(info.architecture["data"])
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise ModelFileError(f"{path}: bad GAN config ({exc})") from None
    with_d = bool(info.architecture.get("with_discriminator", False))
    model = GanModel(config, spec, plan_placement(config.n_generators, default_device=device), with_discriminator=with_d)
    gen = {k[len("generator."):]: v for k, v in tensors.items() if k.startswith("generator.")}
    try:
        model.generator.load_canonical_state_dict(gen)
        if with_d and model.discriminator is not None:
            disc = {k[len("discriminator."):]: v for k, v in tensors.items() if k.startswith("discriminator.")}
            model.discriminator.load_state_dict(disc)
    except RuntimeError as exc:
        reason = " ".join(str(exc).split())[:300]
        raise ModelFileError(f"{path}: weights do not match the config ({reason})") from None
    if HASH_KEY in tensors:
        model.train_hashes = tensors[HASH_KEY].cpu().numpy()
    model.eval()
    return model


def load_model(path: Path, device: str | torch.device = "cpu") -> GanModel:
    """Loader registered in :data:`chemaccel.api.MODEL_LOADERS`."""
    return load_gan(path, device=str(device))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if np.isfinite(v) else None
    return obj


def evaluate_folder(model_folder: str | Path, data: Any = None, *, device: str | torch.device = "cpu",
                    n: int | None = None, seed: int = 0) -> dict[str, Any]:
    """The engine contract's evaluate (:mod:`chemaccel.engines`): the model's metrics on ``n`` samples; for
    molecule models ``data`` is an optional reference (a store's test split or SMILES file) for the
    distribution metrics (:meth:`GanModel.evaluate`)."""
    from chemaccel.gan.distribution import read_reference

    model = load_model(Path(model_folder), device)
    if model.spec.kind != "qm9":
        return model.evaluate(n, seed=seed)
    reference = read_reference(data) if data is not None else None
    return model.evaluate(n, seed=seed, reference=reference, distribution=True)
