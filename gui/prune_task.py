"""The task behind the Train / prune panel: an AutoPrune job built the way ``chemaccel prune run`` builds it.

Read the training split of an IDX image folder (the first ``limit`` samples), hold out a tenth for
validation, take the model (a fresh built-in architecture, trained dense for ``pretrain_epochs`` first,
or a model folder such as a shipped pruned model), and run :class:`chemaccel.prune.AutoPrune` with
training checkpoints in ``work``: a cancel leaves the last good one there and ``resume=True`` continues
from it. Everything goes through the prune engine's public names (``chemaccel.prune``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import chemaccel.prune as prune
from chemaccel import api
from chemaccel_gui.jobs import message_numbers

DENSE = "dense"  # the pre-trained dense model's folder inside ``work``
DENSE_TASK = "dense training"
PRUNABLE = ("Linear", "Conv1d", "Conv2d")


@dataclass(frozen=True)
class PruneJobSpec:
    """Everything one job needs.

    Attributes:
        model: a built-in architecture key (``lenet5``, ``lenet300``, ``cnn``) or a prune model folder.
        data: an IDX image folder (MNIST layout).
        config: the AutoPrune settings.
        work: the training checkpoint folder.
        limit: use only the first N training samples (None: all).
        pretrain_epochs: dense training epochs before pruning a built-in architecture.
        resume: continue from the checkpoints in ``work``.
    """

    model: str | Path
    data: Path
    config: Any  # chemaccel.prune.PruneConfig
    work: Path
    limit: int | None = None
    pretrain_epochs: int = 1
    resume: bool = False


@dataclass
class LayerBar:
    """One prunable layer: the fraction of its dense parameters that were removed."""

    name: str
    sparsity: float


@dataclass
class PruneOutcome:
    """What :func:`run_prune` made (``result`` None: cancelled during dense training)."""

    spec: PruneJobSpec
    result: Any = None  # chemaccel.prune.PruneResult
    dense_arch: dict[str, Any] = field(default_factory=dict)
    normalization: tuple[float, float] | None = None
    layers: list[LayerBar] = field(default_factory=list)
    dense_error: float | None = None

    @property
    def cancelled(self) -> bool:
        return self.result is None or bool(self.result.cancelled)

    @property
    def checkpoint(self) -> Path | None:
        return self.result.checkpoint if self.result is not None else None


def epoch_row(text: str) -> dict[str, float] | None:
    """The numbers of an end-of-epoch message (``"epoch=3 phase=prune loss=0.1 ... val_error=0.02"``, or
    ``"dense training: epoch=1 ..."``), None for any other message."""
    dense = text.startswith(DENSE_TASK + ": ")
    tail = text.removeprefix(DENSE_TASK + ": ")
    if not tail.startswith("epoch="):
        return None
    return {"dense": 1.0, **message_numbers(tail)} if dense else message_numbers(tail)


def run_prune(reporter: api.Reporter, spec: PruneJobSpec) -> PruneOutcome:
    """Run one job (see the module docstring)."""
    config = spec.config
    seed = config.runtime.seed
    builtin = isinstance(spec.model, str) and spec.model in prune.MODEL_KINDS
    folder = None if builtin else Path(spec.model)
    reporter.on_start(f"Reading {spec.data.name}", None)
    if folder is not None:
        model, info = prune.load_pruned(folder)
        dense_arch = info.architecture.get("dense") or info.architecture["model"]
        saved = info.architecture.get("normalization")
        norm = (saved["mean"], saved["std"]) if saved else prune.normalization_for(spec.data)
    else:
        dense_arch = prune.default_architecture(str(spec.model))
        norm = prune.normalization_for(spec.data)
    x, y = prune.load_image_split(spec.data, "train", spec.limit, norm)
    n_val = min(5000, max(1, len(x) // 10))
    train, val = prune.split_validation(x, y, n_val, seed=seed)
    outcome = PruneOutcome(spec, dense_arch=dense_arch, normalization=norm)
    if folder is None:
        dense_folder = spec.work / DENSE
        if spec.resume and (dense_folder / "config.json").is_file():
            model, _ = prune.load_pruned(dense_folder)
        else:
            import torch

            torch.manual_seed(seed)
            model = prune.build_model(dense_arch)
            history = prune.fit(model, train, val, spec.pretrain_epochs, reporter=reporter, task=DENSE_TASK,
                                seed=seed)
            if reporter.should_stop():
                reporter.on_message("cancelled during dense training: no checkpoint was written yet")
                return outcome
            if history and "val_error" in history[-1]:
                outcome.dense_error = float(history[-1]["val_error"])
            prune.save_pruned(dense_folder, model, dense_arch, granularity="dense", compacted=False,
                              normalization=norm)
    outcome.result = prune.AutoPrune(config).run(model, train, val, reporter, checkpoint_dir=spec.work,
                                                 resume=spec.resume)
    outcome.layers = layer_bars(outcome.result.measurements, dense_arch)
    return outcome


def layer_bars(measurements: dict[str, Any], dense_arch: dict[str, Any]) -> list[LayerBar]:
    """Per prunable layer, the fraction of the DENSE layer's parameters that is gone (removed channels of
    a compacted model and zeros of a masked one alike), from the measured per-layer non-zeros."""
    dense = prune.build_model(dense_arch)
    sizes = [sum(p.numel() for p in m.parameters(recurse=False))
             for m in dense.modules() if type(m).__name__ in PRUNABLE]
    layers = measurements.get("layers", [])
    if len(sizes) != len(layers):
        sizes = [int(layer["params"]) for layer in layers]  # another structure: relative to itself
    return [LayerBar(f"{layer['kind'].replace('Conv2d', 'conv').replace('Linear', 'fc')} {layer['name']}",
                     1.0 - int(layer["nonzero"]) / max(1, size))
            for layer, size in zip(layers, sizes)]


def save_outcome(outcome: PruneOutcome, path: str | Path) -> Path:
    """Write the pruned model as a model folder (as ``chemaccel prune run -o`` does)."""
    result = outcome.result
    if result is None or result.cancelled:
        raise api.ChemAccelError("the job was cancelled: there is no finished model to save "
                                 "(Resume continues it)")
    config = outcome.spec.config
    metrics = {k: result.measurements.get(k) for k in ("compression", "flops_fraction", "val_error")}
    return prune.save_pruned(path, result.model, outcome.dense_arch, granularity=config.granularity,
                             compacted=result.compacted, config=config.to_dict(),
                             normalization=outcome.normalization, metrics=metrics,
                             notes=f"AutoPrune in the chemaccel app on {outcome.spec.data.name}")
