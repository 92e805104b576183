"""Reaction model folders: eole's checkpoint wrapped in a chemaccel model folder, and averaging.

A reaction model folder::

    config.json        engine "reaction"; "config": the ReactionConfig; "architecture": {"eole_config":
                       eole's own config.json, "vocab": eole's vocab.json (the SMILES tokens), "tokenizer":
                       "molecular-transformer-regex"}; "metrics"; "notes" (which checkpoints were averaged)
    model.safetensors  eole's model.00.safetensors (same tensor names), possibly averaged

eole's checkpoint format is already JSON + safetensors; we keep its two JSON files inside ours so that
:func:`load_model` can lay them out for eole's inference engine without anything pickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from chemaccel.checkpoint import ModelInfo, WEIGHTS_NAME, expect_engine, load_safetensors, read_model_info, save_model_folder
from chemaccel.errors import ConfigError, ModelFileError
from chemaccel.reaction.config import ReactionConfig
from chemaccel.reaction.eole_bridge import read_eole_checkpoint

ENGINE = "reaction"
TOKENIZER = "molecular-transformer-regex"


def average_checkpoints(folders: Sequence[Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the weights of ``folders`` (eole step folders), in float32.

    Averaging the last few checkpoints is the Molecular Transformer's (and OpenNMT's) cheap ensemble.
    """
    if not folders:
        raise ModelFileError("no checkpoints to average")
    total: dict[str, torch.Tensor] = {}
    for folder in folders:
        state = load_safetensors(Path(folder) / "model.00.safetensors")
        if total and set(state) != set(total):
            raise ModelFileError(f"{folder}: checkpoint tensors differ from the others; cannot average")
        for name, tensor in state.items():
            value = tensor.to(torch.float32)
            total[name] = total[name] + value if name in total else value.clone()
    return {name: (t / len(folders)).contiguous() for name, t in total.items()}


def scrub_training_paths(eole_config: dict[str, Any]) -> dict[str, Any]:
    """Drop the training machine's paths from eole's config, in place (they are never opened to load a
    model, and a shared model folder should not carry them): the corpus files, the checkpoint folder,
    the warm-start folder; the vocabulary path (required by eole's schema) becomes a bare name."""
    eole_config.pop("data", None)
    if "src_vocab" in eole_config:
        eole_config["src_vocab"] = "vocab.txt"
    eole_config.pop("tgt_vocab", None)
    training = eole_config.get("training")
    if isinstance(training, dict):
        for key in ("model_path", "train_from"):
            training.pop(key, None)
    return eole_config


def export_model(
    out: str | Path,
    config: ReactionConfig,
    checkpoints: Sequence[Path],
    metrics: dict[str, Any] | None = None,
    notes: str = "",
) -> Path:
    """Write a reaction model folder from eole checkpoints (the mean of their weights).

    Args:
        out: the model folder to write (replaced atomically).
        config: the engine config.
        checkpoints: eole step folders; their weights are averaged (one folder: copied).
        metrics: numbers to keep with the model (validation scores, steps).
        notes: free text; the averaged steps are added.
    """
    checkpoints = list(checkpoints)
    eole_config, vocab = read_eole_checkpoint(checkpoints[-1])
    scrub_training_paths(eole_config)
    # eole stores its sinusoidal position tables (5000 x width, twice) as tensors; they are rebuilt
    # from the config when the model is built, so the folder leaves them out (half the file size).
    weights = {k: v for k, v in average_checkpoints(checkpoints).items() if not k.endswith(".pe.pe")}
    names = ", ".join(p.name for p in checkpoints)
    info = ModelInfo(
        engine=ENGINE,
        config=config.to_dict(),
        architecture={"eole_config": eole_config, "vocab": vocab, "tokenizer": TOKENIZER, "eole_version": "0.6.4"},
        units={"score": "length-normalised log-probability"},
        metrics=dict(metrics or {}),
        notes=(notes + " " if notes else "") + f"weights: mean of {names}",
    )
    return save_model_folder(out, info, weights)


def load_model(path: str | Path, device: str | torch.device = "cpu") -> Any:
    """Load a reaction model folder as a :class:`~chemaccel.reaction.model.ReactionModel`.

    Raises:
        ModelFileError: not a reaction model folder, or its architecture section is incomplete.
    """
    from chemaccel.reaction.model import ReactionModel

    folder = Path(path)
    info = expect_engine(read_model_info(folder), ENGINE, folder)
    arch = info.architecture
    for key in ("eole_config", "vocab"):
        if not isinstance(arch.get(key), dict):
            raise ModelFileError(f"{folder}: config.json lacks architecture.{key}; not a complete reaction model")
    if arch.get("tokenizer", TOKENIZER) != TOKENIZER:
        raise ModelFileError(f"{folder}: unknown tokenizer {arch.get('tokenizer')!r}")
    weights = folder / WEIGHTS_NAME
    load_safetensors(weights)  # a truncated or damaged file fails here with one line
    eole_config = dict(arch["eole_config"])
    eole_config["data"] = {}
    return ReactionModel(ReactionConfig.from_dict(info.config), eole_config, arch["vocab"], weights,
                         device=device, info=info)


def drop_decoder_layers(src: str | Path, out: str | Path, keep: Sequence[int]) -> Path:
    """Write a copy of the reaction model ``src`` whose decoder keeps only the layers ``keep``.

    The structured-pruning step before a fine-tune: beam search runs the decoder once per token and beam,
    so each decoder layer removed saves inference time in proportion, while the encoder (run once per
    input), the embeddings and the generator are kept whole. Layers are renumbered in the order given.

    Raises:
        ConfigError: ``keep`` is empty, repeats a layer or names one the model does not have.
        ModelFileError: ``src`` is not a reaction model folder.
    """
    src = Path(src)
    info = expect_engine(read_model_info(src), ENGINE, src)
    config = ReactionConfig.from_dict(info.config)
    keep = list(keep)
    have = config.n_decoder_layers
    if not keep or len(set(keep)) != len(keep) or any(not 0 <= i < have for i in keep):
        raise ConfigError(f"keep decoder layers {keep}: give distinct layer numbers from 0 to {have - 1}")
    prefix = "decoder.transformer_layers."
    weights: dict[str, torch.Tensor] = {}
    for name, tensor in load_safetensors(src / WEIGHTS_NAME).items():
        if name.startswith(prefix):
            index, rest = name[len(prefix):].split(".", 1)
            if int(index) not in keep:
                continue
            name = f"{prefix}{keep.index(int(index))}.{rest}"
        weights[name] = tensor
    eole_config = dict(info.architecture["eole_config"])
    model = dict(eole_config["model"])
    model["encoder"] = {**model.get("encoder", {}), "layers": config.layers}
    model["decoder"] = {**model.get("decoder", {}), "layers": len(keep)}
    model.pop("layers", None)  # eole's top-level layers would overwrite both sides
    eole_config["model"] = model
    new_config = config.replace(decoder_layers=0 if len(keep) == config.layers else len(keep))
    pruned = ModelInfo(
        engine=ENGINE, config=new_config.to_dict(),
        architecture={**info.architecture, "eole_config": eole_config},
        units=dict(info.units), metrics={},
        notes=f"decoder layers {keep} of {src.name} ({info.notes})",
    )
    return save_model_folder(out, pruned, weights)


def parse_kept_layers(text: str) -> list[int]:
    """``"0,2"`` -> ``[0, 2]`` (``--keep-decoder-layers``); anything else is a :class:`ConfigError`."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--keep-decoder-layers: layer numbers separated by commas, not {text!r}") from None
