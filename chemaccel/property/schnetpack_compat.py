"""The one place that imports schnetpack (2.0.4), with a shim for torch 2.13.

schnetpack 2.0.4's ``schnetpack/data/loader.py`` does ``from torch.utils.data.dataloader import T_co``;
torch removed that private TypeVar, so a plain ``import schnetpack`` fails with an ImportError. Before the
import we put an equivalent ``TypeVar`` back into ``torch.utils.data.dataloader`` (only if it is missing).
Everything else in :mod:`chemaccel.property` imports schnetpack through :func:`schnetpack_modules`.
"""

from __future__ import annotations

import types
from typing import TypeVar

from chemaccel.errors import NotAvailableError

INSTALL_HINT = 'pip install "chemaccel[property]" (schnetpack==2.0.4)'


def _patch_torch() -> None:
    import torch.utils.data.dataloader as dl

    if not hasattr(dl, "T_co"):
        dl.T_co = TypeVar("T_co", covariant=True)  # type: ignore[attr-defined]


def schnetpack_modules() -> types.SimpleNamespace:
    """``spk``, ``snn`` (schnetpack.nn), ``properties`` and ``atomistic``, imported once with the shim.

    Raises:
        NotAvailableError: schnetpack is not installed.
    """
    _patch_torch()
    try:
        import schnetpack as spk
        import schnetpack.atomistic as atomistic
        import schnetpack.nn as snn
        import schnetpack.properties as properties
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise NotAvailableError(f"the property engine needs schnetpack: {INSTALL_HINT} ({exc})") from None
    return types.SimpleNamespace(spk=spk, snn=snn, properties=properties, atomistic=atomistic)
