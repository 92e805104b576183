"""NAS jobs as a user runs them, for every front end (``chemaccel nas search|retrain``, the desktop app's
NAS panel, embedding code through :mod:`chemaccel.api`).

The search reads the TRAINING split of an IDX image folder (the first ``limit_train`` images; the test split
is never read), runs :class:`~chemaccel.nas.search.NasSearch` with checkpoints in a work folder (a cancel
leaves the last one there and ``resume=True`` continues from it) and returns the engine's
:class:`~chemaccel.nas.search.SearchResult` with what a genotype file keeps. The retrain job trains a
genotype on the training split and, where the folder has one, measures the test split once at the end.
Model folders are described from their ``config.json``, the genotype validated against the operation
registry, without running anything from the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chemaccel.checkpoint import expect_engine, read_model_info
from chemaccel.datasets.images import idx_file
from chemaccel.errors import ChemAccelError, InputError, ModelFileError
from chemaccel.nas.config import RetrainConfig, SearchConfig
from chemaccel.nas.data import load_images
from chemaccel.nas.derived import count_params
from chemaccel.nas.genotype import Genotype, load_genotype, save_genotype
from chemaccel.nas.retrain import NasRetrain, RetrainResult
from chemaccel.nas.search import NasSearch, SearchResult
from chemaccel.nas.storage import load_nas
from chemaccel.reporting import NullReporter, Reporter


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
    config: SearchConfig
    work: Path
    resume: bool = False


@dataclass
class NasSearchOutcome:
    """A finished or cancelled search: the engine's result and the normalisation of the images."""

    spec: NasSearchSpec
    result: SearchResult
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
    genotype: Genotype
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


def run_search(reporter: Reporter | None, spec: NasSearchSpec) -> NasSearchOutcome:
    """Read the training images and search (see the module docstring)."""
    reporter = reporter or NullReporter()
    reporter.on_start(f"Reading {Path(spec.data).name}", None)
    (x, y), norm = load_images(spec.data, "train", spec.config.limit_train)
    result = NasSearch(spec.config).run((x, y), reporter, checkpoint_dir=spec.work, resume=spec.resume)
    return NasSearchOutcome(spec, result, norm)


def save_search_genotype(outcome: NasSearchOutcome, path: str | Path) -> Path:
    """Write the derived genotype as JSON, with the search summary (as ``chemaccel nas search -o``)."""
    return save_genotype(path, outcome.result.genotype, outcome.summary())


def read_genotype(path: str | Path) -> Any:
    """A genotype file (or bare genotype JSON), validated; raises a ChemAccelError with a one-line reason."""
    return load_genotype(path)


def describe_model(path: str | Path) -> NasModelView:
    """What a NAS model folder's ``config.json`` says (genotype validated; weights not read unless the
    parameter count is not recorded).

    Raises:
        chemaccel.errors.ModelFileError: not a NAS model folder, or its genotype is invalid (the reason
            says why).
    """
    path = Path(path)
    info = expect_engine(read_model_info(path), "nas", path)
    arch = info.architecture.get("model")
    if not isinstance(arch, dict):
        raise ModelFileError(f"{path}: config.json has no architecture.model")
    try:
        genotype = Genotype.from_dict(arch.get("genotype"))
    except ChemAccelError as exc:
        raise ModelFileError(f"{path}: bad genotype in config.json ({exc})") from None
    metrics = info.metrics
    params = metrics.get("params")
    if not isinstance(params, int) or isinstance(params, bool):
        model, _ = load_nas(path)  # not recorded: count the rebuilt network's parameters
        params = count_params(model)
    accuracy = metrics.get("test_accuracy")
    samples = metrics.get("test_samples")
    sizes = {k: v for k, v in arch.items() if k not in ("kind", "genotype")}
    retrain = info.config.get("retrain") if isinstance(info.config.get("retrain"), dict) else {}
    return NasModelView(path, genotype, params,
                        float(accuracy) if isinstance(accuracy, (int, float)) else None,
                        int(samples) if isinstance(samples, int) else None, sizes, retrain, info.notes)


@dataclass(frozen=True)
class NasRetrainSpec:
    """Everything one retrain job needs.

    Attributes:
        genotype: a genotype file (``chemaccel nas search -o``).
        data: an IDX image folder: the training split trains; the test split, if the folder has one and
            ``test`` is true, is measured once at the end.
        config: the retrain settings.
        out: the model folder to write.
        work: the checkpoint folder.
        resume: continue from the checkpoint in ``work``.
        test: measure the test split at the end (where there is one).
    """

    genotype: Path
    data: Path
    config: RetrainConfig
    out: Path
    work: Path
    resume: bool = False
    test: bool = True


@dataclass
class NasRetrainOutcome:
    """A finished or cancelled retrain: the engine's result and whether a test split was measured."""

    spec: NasRetrainSpec
    result: RetrainResult
    test_measured: bool

    @property
    def cancelled(self) -> bool:
        return bool(self.result.cancelled)


def has_test_split(data: str | Path) -> bool:
    """Whether an IDX image folder holds a test split."""
    try:
        idx_file(data, "t10k-images-idx3-ubyte")
    except InputError:
        return False
    return True


def run_retrain(reporter: Reporter | None, spec: NasRetrainSpec) -> NasRetrainOutcome:
    """Train the genotype and write the model folder (see the module docstring)."""
    reporter = reporter or NullReporter()
    genotype = load_genotype(spec.genotype)
    (x, y), norm = load_images(spec.data, "train", spec.config.limit_train)
    test = None
    if spec.test and has_test_split(spec.data):  # without one the model folder records no test accuracy
        test, _ = load_images(spec.data, "test", None, norm)
    result = NasRetrain(spec.config).run(genotype, (x, y), spec.out, reporter, test_data=test, normalization=norm,
                                         search_info={"genotype_file": str(spec.genotype)},
                                         checkpoint_dir=spec.work, resume=spec.resume)
    return NasRetrainOutcome(spec, result, test is not None)
