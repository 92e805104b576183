"""Named geometry sets in a molecule store: a second (third ...) set of 3D coordinates per molecule.

The store's own ``atoms/`` hold the reference geometry (for QM9 the B3LYP one, named ``dft``). A
geometry set holds other coordinates for the same molecules, e.g. ETKDG + MMFF embeddings made from
each molecule's SMILES, which is what a user's SMILES will look like at prediction time. Layout::

    geometries/<name>/numbers    uint8   (atoms,)      atomic numbers, in this set's own atom order
    geometries/<name>/positions  float32 (atoms, 3)    Angstrom
    geometries/<name>/offsets    int64   (n + 1,)      molecule i is offsets[i]:offsets[i+1]; 0 atoms = none
    geometries/<name>/status     utf-8   (n,)          "" when made; else why not (error, "skipped")
    attrs: settings (JSON: how the set was made), complete (bool), made_with (chemaccel version)

A set has its own atom order (SMILES order plus hydrogens), not the reference one: the models are
invariant to atom order, and mapping one order onto the other would need a graph match for nothing.
A set is written whole, with ``complete`` set last: a set without it is ignored by readers and
rewritten by the next writer. Adding a set leaves the store's format version at 1: older readers
simply do not see it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from chemaccel._version import __version__
from chemaccel.chem._store_format import STR_DTYPE, as_text
from chemaccel.errors import StoreError

GROUP = "geometries"
#: The name under which the store's own coordinates are offered next to the named sets.
REFERENCE = "dft"


@dataclass(frozen=True, eq=False)
class GeometrySet:
    """One geometry set in memory: flat arrays plus offsets, and a status per molecule ("" = made)."""

    name: str
    numbers: np.ndarray
    positions: np.ndarray
    offsets: np.ndarray
    status: list[str]
    settings: dict[str, Any]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def made(self) -> np.ndarray:
        """Boolean mask of the molecules this set has coordinates for."""
        return np.array([s == "" for s in self.status], dtype=bool) & (np.diff(self.offsets) > 0)

    def molecule(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.numbers[a:b], self.positions[a:b]


def geometry_names(path: str | Path) -> list[str]:
    """Names of the complete geometry sets in the store at ``path`` (without :data:`REFERENCE`)."""
    with h5py.File(path, "r") as h5:
        if GROUP not in h5:
            return []
        return [name for name, g in h5[GROUP].items() if bool(g.attrs.get("complete", False))]


def read_geometry_set(path: str | Path, name: str) -> GeometrySet:
    """Read a complete geometry set.

    Raises:
        StoreError: there is no complete set of that name (the message lists the ones there are).
    """
    with h5py.File(path, "r") as h5:
        group = h5.get(f"{GROUP}/{name}")
        if group is None or not bool(group.attrs.get("complete", False)):
            have = [n for n, g in h5[GROUP].items() if g.attrs.get("complete", False)] if GROUP in h5 else []
            extra = f" (has: {', '.join([REFERENCE, *have])})"
            raise StoreError(f"{path}: no complete geometry set {name!r}{extra}")
        settings = json.loads(as_text(group.attrs.get("settings", "{}")))
        return GeometrySet(name, group["numbers"][:], group["positions"][:], group["offsets"][:].astype(np.int64),
                           [as_text(s) for s in group["status"][:]], settings)


def write_geometry_set(path: str | Path, name: str, numbers: Sequence[np.ndarray],
                       positions: Sequence[np.ndarray], status: Sequence[str], settings: dict[str, Any]) -> None:
    """Write (or replace) the set ``name`` in the store at ``path``, in place; ``complete`` is set last.

    ``numbers[i]``/``positions[i]`` are molecule i's atoms (empty when ``status[i]`` says why not).
    """
    if not name or "/" in name or name == REFERENCE:
        raise StoreError(f"{path}: invalid geometry set name {name!r} ({REFERENCE!r} is the store's own)")
    with h5py.File(path, "a") as h5:
        n = len(h5["molecules/offsets"]) - 1
        if not len(numbers) == len(positions) == len(status) == n:
            raise StoreError(f"{path}: geometry set {name!r} has {len(status)} molecules, the store {n}")
        counts = np.array([len(z) for z in numbers], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        flat_z = np.concatenate([np.asarray(z, np.uint8) for z in numbers]) if n else np.zeros(0, np.uint8)
        flat_r = (np.concatenate([np.asarray(r, np.float32).reshape(-1, 3) for r in positions])
                  if n else np.zeros((0, 3), np.float32))
        if not np.all(np.isfinite(flat_r)):
            raise StoreError(f"{path}: geometry set {name!r} has non-finite coordinates")
        root = h5.require_group(GROUP)
        if name in root:
            del root[name]
        group = root.create_group(name)
        group.attrs["complete"] = False
        opts = dict(compression="gzip", compression_opts=4, chunks=True)
        group.create_dataset("numbers", data=flat_z, shuffle=True, **opts)
        group.create_dataset("positions", data=flat_r, shuffle=True, **opts)
        group.create_dataset("offsets", data=offsets, shuffle=True, **opts)
        group.create_dataset("status", data=np.array(list(status), dtype=object), dtype=STR_DTYPE, **opts)
        group.attrs["settings"] = json.dumps(settings, sort_keys=True)
        group.attrs["made_with"] = __version__
        h5.flush()
        group.attrs["complete"] = True
