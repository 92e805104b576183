"""Where the app finds shipped models and the public data sets.

Shipped models are the folders under ``resources/models`` of the source tree (``$CHEMACCEL_MODELS``
overrides it); each is described by its ``config.json``, read with :func:`chemaccel.api.read_model_info`,
so the panels list the models of their engine without loading any weights. Image data sets (MNIST,
Fashion-MNIST) are looked up in ``../shared/data`` next to the repository (``$CHEMACCEL_SHARED_DATA``);
job checkpoints go to the user's application data folder (:func:`jobs_dir`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from chemaccel import api

ROOT = Path(__file__).resolve().parents[1]
DATA_ENV = "CHEMACCEL_SHARED_DATA"
#: Image data sets the prune panel offers: label -> folder name under the shared data folder.
IMAGE_DATASETS = {"MNIST": "mnist", "Fashion-MNIST": "fashion_mnist"}


@dataclass(frozen=True)
class ModelEntry:
    """A model folder and what its ``config.json`` says."""

    path: Path
    info: api.ModelInfo

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def engine(self) -> str:
        return self.info.engine

    def summary(self) -> str:
        """One line for a tooltip or an info label: its notes and scalar metrics."""
        metrics = ", ".join(
            f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
            for key, value in self.info.metrics.items()
            if isinstance(value, (int, float, str)) and not isinstance(value, bool)
        )
        parts = [part for part in (self.info.notes, metrics) if part]
        return "; ".join(parts) or f"a {self.engine} model"


def models_dir() -> Path:
    from chemaccel.shipped import models_dir as shipped_models_dir

    return shipped_models_dir()


def shared_data_dir() -> Path:
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else ROOT.parent / "shared" / "data"


def jobs_dir(kind: str) -> Path:
    """Where the app keeps a kind of job's checkpoint folders ("prune-jobs", "gan-jobs"): the user's
    application data folder (created when a job starts)."""
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".chemaccel") / kind


def describe_model(path: str | Path) -> ModelEntry:
    """Read a model folder's ``config.json``.

    Raises:
        chemaccel.api.ModelFileError: not a chemaccel model folder (the reason says why).
    """
    return ModelEntry(Path(path), api.read_model_info(path))


def shipped_models(engine: str, folder: Path | None = None) -> list[ModelEntry]:
    """The shipped models of ``engine`` ("property", "prune", "gan", ...), by name; unreadable folders
    are left out."""
    folder = folder or models_dir()
    entries = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not (path / "config.json").is_file():
            continue
        try:
            entry = describe_model(path)
        except api.ChemAccelError:
            continue
        if entry.engine == engine:
            entries.append(entry)
    return entries


def image_datasets(folder: Path | None = None) -> dict[str, Path]:
    """The image data sets found: label -> IDX folder (MNIST layout)."""
    folder = folder or shared_data_dir()
    found = {}
    for label, name in IMAGE_DATASETS.items():
        path = folder / name
        if (path / "train-images-idx3-ubyte.gz").is_file() or (path / "train-images-idx3-ubyte").is_file():
            found[label] = path
    return found
