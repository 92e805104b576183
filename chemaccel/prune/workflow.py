"""One AutoPrune job as a user runs it, for every front end (``chemaccel prune run``, the desktop app's
Train / prune panel, embedding code through :func:`chemaccel.api.run_prune_job`).

Read the training split of an IDX image folder (the first ``limit`` samples), hold out a tenth (at most
5,000) for validation, take the model (a fresh built-in architecture trained dense for ``pretrain_epochs``
first, or a model folder such as a shipped pruned model, whose saved input normalization is kept), and run
:class:`~chemaccel.prune.engine.AutoPrune` with training checkpoints in ``work``: a cancel leaves the last
good one there and ``resume=True`` continues from it (also past the dense training, whose model is kept in
``work/dense``). :func:`save_outcome` writes the finished model folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chemaccel.errors import ChemAccelError
from chemaccel.prune.baselines import fit
from chemaccel.prune.config import PruneConfig
from chemaccel.prune.data import load_image_split, normalization_for, split_validation
from chemaccel.prune.engine import AutoPrune, PruneResult
from chemaccel.prune.models import CLI_NAMES, MODEL_KINDS, build_model, default_architecture
from chemaccel.prune.storage import load_pruned, save_pruned
from chemaccel.reporting import NullReporter, Reporter
from chemaccel.runtime import is_main_process

DENSE = "dense"  # the pre-trained dense model's folder inside ``work``
DENSE_TASK = "dense training"  # the task name of the dense training's progress and epoch messages
PRUNABLE = ("Linear", "Conv1d", "Conv2d")
METRICS = ("compression", "flops_fraction", "val_error")  # what a saved model folder records


@dataclass(frozen=True)
class PruneJobSpec:
    """Everything one job needs.

    Attributes:
        model: a built-in architecture key (``lenet5``, ``lenet300``, ``cnn`` or ``cnn-fashion``) or a prune
            model folder.
        data: an IDX image folder (MNIST layout).
        config: the AutoPrune settings (its ``runtime`` gives the device and seed).
        work: the training checkpoint folder.
        limit: use only the first N training samples (None: all).
        pretrain_epochs: dense training epochs before pruning a built-in architecture.
        resume: continue from the checkpoints in ``work``.
    """

    model: str | Path
    data: Path
    config: PruneConfig
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
    """What :func:`run_job` made (``result`` None: cancelled during dense training)."""

    spec: PruneJobSpec
    result: PruneResult | None = None
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


def run_job(reporter: Reporter | None, spec: PruneJobSpec) -> PruneOutcome:
    """Run one job (see the module docstring). Under torchrun every process trains the same dense model
    from the seed; only process 0 writes files."""
    reporter = reporter or NullReporter()
    config = spec.config
    seed = config.runtime.seed
    builtin = isinstance(spec.model, str) and (spec.model in MODEL_KINDS or spec.model in CLI_NAMES)
    folder = None if builtin else Path(spec.model)
    reporter.on_start(f"Reading {Path(spec.data).name}", None)
    if folder is not None:
        model, info = load_pruned(folder)
        dense_arch = info.architecture.get("dense") or info.architecture["model"]
        saved = info.architecture.get("normalization")
        norm = (saved["mean"], saved["std"]) if saved else normalization_for(spec.data)
    else:
        dense_arch = default_architecture(str(spec.model))
        norm = normalization_for(spec.data)
    x, y = load_image_split(spec.data, "train", spec.limit, norm)
    n_val = min(5000, max(1, len(x) // 10))
    train, val = split_validation(x, y, n_val, seed=seed)
    outcome = PruneOutcome(spec, dense_arch=dense_arch, normalization=norm)
    if folder is None:
        dense_folder = Path(spec.work) / DENSE
        if spec.resume and (dense_folder / "config.json").is_file():
            model, _ = load_pruned(dense_folder)
        else:
            import torch

            torch.manual_seed(seed)
            model = build_model(dense_arch)
            history = fit(model, train, val, spec.pretrain_epochs, reporter=reporter, task=DENSE_TASK, seed=seed)
            if reporter.should_stop():
                reporter.on_message("cancelled during dense training: no checkpoint was written yet")
                return outcome
            if history and "val_error" in history[-1]:
                outcome.dense_error = float(history[-1]["val_error"])
            if is_main_process():
                save_pruned(dense_folder, model, dense_arch, granularity="dense", compacted=False,
                            normalization=norm)
    outcome.result = AutoPrune(config).run(model, train, val, reporter, checkpoint_dir=spec.work,
                                           resume=spec.resume)
    outcome.layers = layer_bars(outcome.result.measurements, dense_arch)
    return outcome


def layer_bars(measurements: dict[str, Any], dense_arch: dict[str, Any]) -> list[LayerBar]:
    """Per prunable layer, the fraction of the DENSE layer's parameters that is gone (removed channels of
    a compacted model and zeros of a masked one alike), from the measured per-layer non-zeros."""
    dense = build_model(dense_arch)
    sizes = [sum(p.numel() for p in m.parameters(recurse=False))
             for m in dense.modules() if type(m).__name__ in PRUNABLE]
    layers = measurements.get("layers", [])
    if len(sizes) != len(layers):
        sizes = [int(layer["params"]) for layer in layers]  # another structure: relative to itself
    return [LayerBar(f"{layer['kind'].replace('Conv2d', 'conv').replace('Linear', 'fc')} {layer['name']}",
                     1.0 - int(layer["nonzero"]) / max(1, size))
            for layer, size in zip(layers, sizes)]


def save_outcome(outcome: PruneOutcome, path: str | Path, notes: str = "") -> Path:
    """Write the pruned model as a model folder (as ``chemaccel prune run -o`` does)."""
    result = outcome.result
    if result is None or result.cancelled:
        raise ChemAccelError("the job was cancelled: there is no finished model to save (resume continues it)")
    config = outcome.spec.config
    return save_pruned(path, result.model, outcome.dense_arch, granularity=config.granularity,
                       compacted=result.compacted, config=config.to_dict(), normalization=outcome.normalization,
                       metrics={k: result.measurements.get(k) for k in METRICS}, notes=notes)
