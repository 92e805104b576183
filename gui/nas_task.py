"""The tasks behind the NAS panel: a DARTS search built the way ``chemaccel nas search`` builds it, and
what a NAS model folder or a genotype file says.

The search reads the TRAINING split of an IDX image folder (the first ``limit_train`` images; the test split
is never read), runs :func:`chemaccel.api.nas_search` with checkpoints in a work folder (a cancel leaves
the last one there and ``resume=True`` continues from it) and returns the engine's
:class:`~chemaccel.nas.SearchResult` with what a genotype file keeps. Model folders are described from
their ``config.json`` (:func:`chemaccel.api.read_model_info`), the genotype validated against the
operation registry, without running anything from the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chemaccel.nas as nas
from chemaccel import api
from chemaccel_gui.jobs import message_numbers

#: What the distillation switch sets when both weights are 0 (``chemaccel nas search --distill``).
DISTILL_DEFAULTS = {"feature_weight": 1.0, "logit_weight": 1.0}
TEACHER_TASK = "train teacher"


@dataclass(frozen=True)
class NasSearchSpec:
    """Everything one search job needs.

    Attributes:
        data: an IDX image folder (MNIST layout); only its training split is read.
        config: the search settings (``limit_train`` is the panel's "limit").
        work: the checkpoint folder.
        resume: continue from the checkpoint in ``work``.
    """

    data: Path
    config: Any  # chemaccel.nas.SearchConfig
    work: Path
    resume: bool = False


@dataclass
class NasSearchOutcome:
    """A finished or cancelled search: the engine's result and the normalisation of the images."""

    spec: NasSearchSpec
    result: Any  # chemaccel.nas.SearchResult
    normalization: tuple[float, float]

    @property
    def cancelled(self) -> bool:
        return bool(self.result.cancelled)

    @property
    def checkpoint(self) -> Path | None:
        """The checkpoint folder a cancel left (None: cancelled before the search began, e.g. while the
        teacher trained)."""
        ckpt = self.result.checkpoint
        return ckpt if ckpt is not None and (Path(ckpt) / "state.json").is_file() else None

    def summary(self) -> dict[str, Any]:
        """What the genotype file keeps about the search (as ``chemaccel nas search`` writes it)."""
        return {**self.result.summary(), "config": self.spec.config.to_dict(),
                "normalization": list(self.normalization), "data": self.spec.data.name}


@dataclass
class NasModelView:
    """What the panel shows of a NAS model folder."""

    path: Path
    genotype: Any  # chemaccel.nas.Genotype
    params: int | None
    test_accuracy: float | None
    test_samples: int | None
    sizes: dict[str, Any]
    retrain: dict[str, Any]
    notes: str = ""

    def describe(self) -> str:
        """One line: parameters, stored test accuracy, skips per cell, the retrained network's size."""
        parts = [f"{self.params:,} parameters" if self.params is not None else "parameters not recorded"]
        if self.test_accuracy is not None:
            on = f" on {self.test_samples:,} test images" if self.test_samples else ""
            parts.append(f"test accuracy {self.test_accuracy:.2%}{on} (stored)")
        else:
            parts.append("no test accuracy stored")
        skips = self.genotype.skip_counts()
        parts.append(f"skip connections: normal {skips['normal']}, reduce {skips['reduce']}")
        size = ", ".join(f"{label} {self.sizes[key]}" for key, label in
                         (("layers", "cells"), ("init_channels", "channels")) if key in self.sizes)
        epochs = self.retrain.get("epochs")
        if epochs is not None:
            size += f", retrained {epochs} epoch{'' if epochs == 1 else 's'}"
        if size:
            parts.append(size.lstrip(", "))
        return "; ".join(parts)


def epoch_row(text: str) -> dict[str, float] | None:
    """The numbers of the search's end-of-epoch message (``"epoch=2 loss=0.5 val_loss=0.6 val_accuracy=0.8
    skips_before_cap=1 max_skip_per_cell=1 seconds=3.2"``); None for any other message."""
    if not text.startswith("epoch="):
        return None
    return message_numbers(text)


def run_search(reporter: api.Reporter, spec: NasSearchSpec) -> NasSearchOutcome:
    """Read the training images and search (see the module docstring)."""
    reporter.on_start(f"Reading {spec.data.name}", None)
    (x, y), norm = nas.load_images(spec.data, "train", spec.config.limit_train)
    result = api.nas_search((x, y), spec.config, reporter, checkpoint_dir=spec.work, resume=spec.resume)
    return NasSearchOutcome(spec, result, norm)


def save_search_genotype(outcome: NasSearchOutcome, path: str | Path) -> Path:
    """Write the derived genotype as JSON, with the search summary (as ``chemaccel nas search -o``)."""
    return nas.save_genotype(path, outcome.result.genotype, outcome.summary())


def read_genotype(path: str | Path) -> Any:
    """A genotype file (or bare genotype JSON), validated; raises a ChemAccelError with a one-line reason."""
    return nas.load_genotype(path)


def describe_model(path: str | Path) -> NasModelView:
    """What a NAS model folder's ``config.json`` says (genotype validated; weights not read unless the
    parameter count is not recorded).

    Raises:
        chemaccel.api.ModelFileError: not a NAS model folder, or its genotype is invalid (the reason
            says why).
    """
    path = Path(path)
    info = api.expect_engine(api.read_model_info(path), "nas", path)
    arch = info.architecture.get("model")
    if not isinstance(arch, dict):
        raise api.ModelFileError(f"{path}: config.json has no architecture.model")
    try:
        genotype = nas.Genotype.from_dict(arch.get("genotype"))
    except api.ChemAccelError as exc:
        raise api.ModelFileError(f"{path}: bad genotype in config.json ({exc})") from None
    metrics = info.metrics
    params = metrics.get("params")
    if not isinstance(params, int) or isinstance(params, bool):
        model, _ = nas.load_nas(path)  # not recorded: count the rebuilt network's parameters
        params = nas.count_params(model)
    accuracy = metrics.get("test_accuracy")
    samples = metrics.get("test_samples")
    sizes = {k: v for k, v in arch.items() if k not in ("kind", "genotype")}
    retrain = info.config.get("retrain") if isinstance(info.config.get("retrain"), dict) else {}
    return NasModelView(path, genotype, params,
                        float(accuracy) if isinstance(accuracy, (int, float)) else None,
                        int(samples) if isinstance(samples, int) else None, sizes, retrain, info.notes)
