"""The models shipped with chemaccel, found by name: ``-m qm9-gap-schnet-ff`` as well as ``-m path/to/folder``.

Shipped models are the folders under ``resources/models``, installed with the package as
``chemaccel_resources`` (``$CHEMACCEL_MODELS`` overrides it), each a ``config.json`` + ``model.safetensors``
folder. :func:`resolve_model` turns what a user typed into a folder: an existing path is taken as it is;
otherwise a shipped model's name.
"""

from __future__ import annotations

import os
from pathlib import Path

from chemaccel.errors import ModelFileError

MODELS_ENV = "CHEMACCEL_MODELS"

#: The model ``predict`` uses when none is named (the CLI's ``-m`` default, the app's first choice): the
#: ones made for a chemist's own input (SMILES without DFT geometry; reactions typed with their reagents).
#: For DFT geometries ``qm9-gap-schnet-pruned`` is the better property model (docs/benchmarks.md).
DEFAULT_MODELS = {"property": "qm9-gap-schnet-ff", "reaction": "uspto-forward-reagents"}

#: Shipped models that left resources/, and what replaced them (a script naming one gets told, not just refused).
RETIRED = {"uspto-forward-small": ("2026-12-07", "uspto-forward-reagents", "it reads reactions typed with their "
                                   "reagents and beats the reactants-only model on USPTO-50K too")}


def resources_dir() -> Path:
    """The installed ``chemaccel_resources`` package (a wheel's package data), else the source tree's ``resources``."""
    try:
        from importlib.resources import files

        folder = Path(str(files("chemaccel_resources")))
        if folder.is_dir():
            return folder
    except (ImportError, TypeError):  # not installed with its resources (a bare source checkout)
        pass
    return Path(__file__).resolve().parents[1] / "resources"


def models_dir() -> Path:
    """The folder of shipped models (``$CHEMACCEL_MODELS``, else the installed resources' ``models``)."""
    env = os.environ.get(MODELS_ENV)
    return Path(env) if env else resources_dir() / "models"


def examples_dir() -> Path:
    """The shipped example files (molecules, reactions)."""
    return resources_dir() / "examples"


def shipped_names() -> list[str]:
    """Names of the shipped model folders (those with a config.json), sorted."""
    folder = models_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "config.json").is_file())


def resolve_model(text: str | Path) -> Path:
    """The model folder ``text`` names: an existing path, or the name of a shipped model.

    Raises:
        ModelFileError: neither (the message lists the shipped names).
    """
    path = Path(text)
    if path.exists():
        return path
    name = str(text)
    if name and "/" not in name and os.sep not in name and (models_dir() / name / "config.json").is_file():
        return models_dir() / name
    if path.name in RETIRED:
        when, new, why = RETIRED[path.name]
        raise ModelFileError(f"{text}: no such model folder; this shipped model was retired on {when}: use {new} ({why})")
    names = shipped_names()
    listed = ", ".join(names) if names else f"none found in {models_dir()}"
    raise ModelFileError(f"{text}: no such model folder, and not the name of a shipped model ({listed})")
