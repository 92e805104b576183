"""Batches for SchNet: from a QM9 molecule store (training, evaluation) or from loose geometries (prediction).

A batch is a dict of tensors under schnetpack's keys (:mod:`chemaccel.property.keys`): atomic numbers,
positions (Angstrom), molecule index per atom, atoms per molecule, and the neighbor list within the
cutoff (computed per batch, vectorized: :func:`~chemaccel.property.neighbors.neighbor_list`), plus the
targets (eV) under ``"targets"`` for training. The training store is read once into flat arrays (all of
QM9: about 2.4 M atoms, 30 MB), so a batch is a few NumPy slices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from chemaccel.chem.store import MoleculeStore
from chemaccel.errors import StoreError
from chemaccel.property import keys
from chemaccel.property.model import MAX_Z
from chemaccel.property.neighbors import neighbor_list


def collate_geometries(numbers: Sequence[np.ndarray], positions: Sequence[np.ndarray], cutoff: float) -> dict[str, torch.Tensor]:
    """One batch from per-molecule atomic numbers (n,) and positions (n, 3) in Angstrom."""
    counts = torch.tensor([len(z) for z in numbers], dtype=torch.long)
    z = torch.from_numpy(np.concatenate(numbers).astype(np.int64)) if numbers else torch.zeros(0, dtype=torch.long)
    r = torch.from_numpy(np.concatenate(positions).astype(np.float32)) if positions else torch.zeros(0, 3)
    idx_m = torch.repeat_interleave(torch.arange(len(counts)), counts)
    idx_i, idx_j = neighbor_list(r, idx_m, cutoff)
    return {keys.Z: z, keys.R: r, keys.IDX_M: idx_m, keys.N_ATOMS: counts, keys.IDX_I: idx_i, keys.IDX_J: idx_j}


@dataclass
class StoreArrays:
    """A store's molecules and targets in memory.

    Attributes:
        numbers: (atoms,) uint8; positions: (atoms, 3) float32 Angstrom; offsets: (n + 1,) int64.
        y: (n, T) float64 targets in eV (columns in ``targets`` order).
        atomref: (MAX_Z, T) eV per element (zeros for targets without references).
        splits: the store's named splits (may be empty).
    """

    numbers: np.ndarray
    positions: np.ndarray
    offsets: np.ndarray
    y: np.ndarray
    atomref: np.ndarray
    targets: list[str]
    splits: dict[str, np.ndarray]
    copies: list[str] = field(default_factory=lambda: ["dft"])
    available: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_molecules(self) -> int:
        """Molecules of the store (rows are ``copies x n_molecules``: one block per geometry set)."""
        return len(self) // max(1, len(self.copies))

    def rows(self, indices: np.ndarray, geometry: str) -> np.ndarray:
        """Rows of molecules ``indices`` in geometry set ``geometry``, dropping those the set lacks."""
        if geometry not in self.copies:
            from chemaccel.errors import ConfigError

            raise ConfigError(f"geometry {geometry!r} was not loaded (loaded: {', '.join(self.copies)})")
        rows = np.asarray(indices, dtype=np.int64) + self.copies.index(geometry) * self.n_molecules
        return rows if self.available is None else rows[self.available[rows]]

    def molecule(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.numbers[a:b], self.positions[a:b]


def load_store(path: str | Path, targets: Sequence[str], atomref_targets: Sequence[str] = ("U0",),
               geometries: Sequence[str] = ("dft",)) -> StoreArrays:
    """Read a molecule store (e.g. ``chemaccel data qm9``) into :class:`StoreArrays`.

    ``geometries``: the geometry sets to load, ``dft`` for the store's own coordinates and the names of
    sets made by ``chemaccel data embed`` (:mod:`chemaccel.chem.geometry_sets`); with several, the
    rows are one block of all molecules per set (see :meth:`StoreArrays.rows`).

    Raises:
        StoreError: the store lacks a target or is not readable.
    """
    with MoleculeStore.open(path) as store:
        missing = [t for t in targets if t not in store.property_names]
        if missing:
            raise StoreError(f"{path}: no property {missing} (has {', '.join(store.property_names)})")
        units = store.property_units
        bad = [t for t in targets if units.get(t, "eV") != "eV"]
        if bad:
            raise StoreError(f"{path}: properties {bad} are not in eV ({[units[t] for t in bad]})")
        batch = store.molecule_slice(0, len(store))
        y = np.stack([np.asarray(batch.properties[t], dtype=np.float64) for t in targets], 1)
        atomref = np.zeros((MAX_Z, len(targets)))
        refs = store.atomrefs()
        for col, t in enumerate(targets):
            if t in atomref_targets and t in refs:
                values, unit = refs[t]
                if unit != "eV":
                    raise StoreError(f"{path}: atom references of {t} are in {unit}, not eV")
                atomref[: min(MAX_Z, len(values)), col] = values[:MAX_Z]
        arrays = StoreArrays(np.asarray(batch.numbers), np.asarray(batch.positions, dtype=np.float32),
                             np.asarray(batch.offsets, dtype=np.int64), y, atomref, list(targets), store.splits())
    if list(geometries) == ["dft"]:
        return arrays
    return _with_geometries(path, arrays, list(geometries))


def _with_geometries(path: str | Path, arrays: StoreArrays, geometries: list[str]) -> StoreArrays:
    from chemaccel.chem.geometry_sets import REFERENCE, read_geometry_set

    if len(set(geometries)) != len(geometries) or not geometries:
        raise StoreError(f"{path}: geometry sets must be distinct and at least one: {geometries}")
    numbers, positions, counts, available = [], [], [], []
    for name in geometries:
        if name == REFERENCE:
            numbers.append(arrays.numbers)
            positions.append(arrays.positions)
            counts.append(np.diff(arrays.offsets))
            available.append(np.ones(len(arrays), dtype=bool))
        else:
            g = read_geometry_set(path, name)
            numbers.append(g.numbers)
            positions.append(g.positions.astype(np.float32))
            counts.append(np.diff(g.offsets))
            available.append(g.made)
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(np.int64)
    k = len(geometries)
    return StoreArrays(np.concatenate(numbers), np.concatenate(positions), offsets, np.tile(arrays.y, (k, 1)),
                       arrays.atomref, arrays.targets, arrays.splits, geometries, np.concatenate(available))


class StoreCollate:
    """Collate a list of molecule indices of :class:`StoreArrays` into a batch with targets (picklable).

    ``noise``: standard deviation (Angstrom) of Gaussian noise added to every coordinate (training
    augmentation: DFT minima made to look like force-field geometries), drawn from ``seed`` and the
    indices, so a resumed run sees the same noise.
    """

    def __init__(self, arrays: StoreArrays, cutoff: float, noise: float = 0.0, seed: int = 0) -> None:
        self.arrays, self.cutoff, self.noise, self.seed = arrays, float(cutoff), float(noise), int(seed)

    def __call__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        a = self.arrays
        mols = [a.molecule(int(i)) for i in indices]
        if self.noise > 0:
            rng = np.random.default_rng([self.seed, *[int(i) for i in indices[:4]], len(indices)])
            mols = [(z, r + rng.normal(0.0, self.noise, r.shape).astype(np.float32)) for z, r in mols]
        batch = collate_geometries([m[0] for m in mols], [m[1] for m in mols], self.cutoff)
        batch["targets"] = torch.from_numpy(a.y[np.asarray(indices, dtype=np.int64)]).float()
        return batch


def target_statistics(arrays: StoreArrays, indices: np.ndarray, aggregation: Sequence[str]) -> dict[str, torch.Tensor]:
    """Standardization from the training molecules: per-target mean and std (eV), loss scale.

    For ``avg`` targets: mean and std of the molecular values. For ``sum`` targets: mean and std of the
    per-atom value ``(y - sum of atom references) / n_atoms``. ``scale`` is the std of the molecular values
    (after atom references), used to weigh the targets equally in the loss.
    """
    n_atoms = np.diff(arrays.offsets)[indices].astype(np.float64)
    ref_sum = np.zeros((len(indices), arrays.y.shape[1]))
    for k, i in enumerate(indices):
        z, _ = arrays.molecule(int(i))
        ref_sum[k] = arrays.atomref[z.astype(np.int64)].sum(0)
    y = arrays.y[indices] - ref_sum
    mean, std = np.zeros(y.shape[1]), np.ones(y.shape[1])
    for t, agg in enumerate(aggregation):
        values = y[:, t] if agg == "avg" else y[:, t] / n_atoms
        mean[t], std[t] = values.mean(), max(values.std(), 1e-6)
    scale = np.maximum(y.std(0), 1e-6)
    f = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    return {"mean": f(mean), "std": f(std), "scale": f(scale), "atomref": f(arrays.atomref)}
