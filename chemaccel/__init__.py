"""chemaccel: make neural networks for chemistry smaller and faster.

The public names live in :mod:`chemaccel.api` and are importable from here too
(``from chemaccel import load_model, read_molecules``); they are loaded lazily so that
``chemaccel --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from chemaccel._version import __version__


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    api = importlib.import_module("chemaccel.api")

    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'chemaccel' has no attribute {name!r}")


def __dir__() -> list[str]:
    api = importlib.import_module("chemaccel.api")

    return sorted(set(globals()) | set(api.__all__))


__all__ = ["__version__"]
