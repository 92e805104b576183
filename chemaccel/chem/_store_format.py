"""Layout constants, record types and low-level helpers of :mod:`chemaccel.chem.store` (private)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import h5py
import numpy as np

from chemaccel._version import __version__
from chemaccel.errors import StoreError

FORMAT = "chemaccel-molecule-store"
FORMAT_VERSION = 1

NUMBERS = "atoms/numbers"
POSITIONS = "atoms/positions"
OFFSETS = "molecules/offsets"
CHARGE = "molecules/charge"
SMILES = "molecules/smiles"
NAME = "molecules/name"
PROPERTIES = "properties"
SPLITS = "splits"
ATOMREFS = "atomrefs"

STR_DTYPE = h5py.string_dtype("utf-8")
ATOM_CHUNK = 8192  # atoms per chunk: positions chunks of 96 KiB
MOL_CHUNK = 4096
CACHE_BYTES = 4 * 1024 * 1024  # HDF5 chunk cache per data set while reading (HDF5's default is 1 MiB)
POSITIONS_CACHE_BYTES = 32 * 1024 * 1024  # all of QM9's positions (28 MiB) once read
CORRUPT = "truncated or corrupt HDF5 store"
#: What h5py raises when reading a damaged file: OSError for I/O, KeyError ("Unable to open object")
#: for damaged object headers, ValueError/RuntimeError for inconsistent metadata.
H5_READ_ERRORS = (OSError, KeyError, ValueError, RuntimeError)


@dataclass(frozen=True, eq=False)
class StoredMolecule:
    """One molecule read from a store.

    Attributes:
        numbers: atomic numbers, uint8 (n_atoms,).
        positions: Cartesian coordinates in Angstrom, float32 (n_atoms, 3).
        charge: total charge.
        smiles: SMILES or "".
        name: name or "".
        properties: property name -> float (or array for vector properties), in the store's units.
    """

    numbers: np.ndarray
    positions: np.ndarray
    charge: int
    smiles: str
    name: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class MoleculeBatch:
    """Consecutive molecules ``start:stop`` as flat arrays; ``offsets`` start at 0 (len(batch) + 1)."""

    start: int
    numbers: np.ndarray
    positions: np.ndarray
    offsets: np.ndarray
    charges: np.ndarray
    smiles: list[str]
    names: list[str]
    properties: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> StoredMolecule:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        props = {k: scalar(v[i]) for k, v in self.properties.items()}
        return StoredMolecule(
            self.numbers[a:b], self.positions[a:b], int(self.charges[i]), self.smiles[i], self.names[i], props
        )

    def __iter__(self) -> Iterator[StoredMolecule]:
        return (self[i] for i in range(len(self)))


# --------------------------------------------------------------------- helpers
def check_layout(h5: h5py.File, path: Path) -> np.ndarray:
    """Check format, version and that every data set agrees with the offsets; return the offsets."""
    fmt = h5.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode("utf-8", "replace")
    if fmt != FORMAT:
        what = "format attribute missing" if fmt is None else f"format={fmt!r}"
        raise StoreError(f"{path}: an HDF5 file but not a chemaccel molecule store ({what})")
    version = h5.attrs.get("format_version")
    if not isinstance(version, (int, np.integer)) or version < 1:
        raise StoreError(f"{path}: unknown format_version {version!r}")
    if version > FORMAT_VERSION:
        raise StoreError(
            f"{path}: format_version {int(version)} is newer than this chemaccel "
            f"({__version__}) reads ({FORMAT_VERSION}); upgrade chemaccel"
        )
    for key in (NUMBERS, POSITIONS, OFFSETS, CHARGE, SMILES, NAME, PROPERTIES):
        if key not in h5:
            raise StoreError(f"{path}: {CORRUPT} (missing {key})")
    offsets = np.asarray(h5[OFFSETS][:], dtype=np.int64)
    n = len(offsets) - 1
    total = h5[NUMBERS].shape[0]
    problem = None
    if n < 0 or offsets[0] != 0:
        problem = "molecules/offsets must start at 0"
    elif np.any(np.diff(offsets) < 0):
        problem = "molecules/offsets decrease"
    elif offsets[-1] != total:
        problem = f"molecules/offsets end at {offsets[-1]} but the store holds {total} atoms"
    elif h5[POSITIONS].shape != (total, 3):
        problem = f"atoms/positions has shape {h5[POSITIONS].shape} for {total} atoms"
    else:
        for key in [CHARGE, SMILES, NAME] + [f"{PROPERTIES}/{p}" for p in h5[PROPERTIES]]:
            if h5[key].shape[0] != n:
                problem = f"{key} has {h5[key].shape[0]} rows for {n} molecules"
                break
    if problem:
        raise StoreError(f"{path}: inconsistent offsets: {problem}")
    return offsets


def batch_columns(
    path: Path, m: int, charges: Any, smiles: Sequence[str] | None, names: Sequence[str] | None
) -> tuple[np.ndarray, list[str], list[str]]:
    """Charges (int8), SMILES and names of a batch of ``m`` molecules, defaults filled in, lengths checked."""
    charges_a = np.zeros(m, np.int8) if charges is None else np.asarray(charges)
    smiles_l = [""] * m if smiles is None else [str(s) for s in smiles]
    names_l = [""] * m if names is None else [str(s) for s in names]
    for label, value in (("charges", charges_a), ("smiles", smiles_l), ("names", names_l)):
        if len(value) != m:
            raise StoreError(f"{path}: append got {m} molecules but {len(value)} {label}")
    if charges_a.size and (charges_a.min() < -128 or charges_a.max() > 127):
        raise StoreError(f"{path}: charges must lie in -128..127")
    return charges_a.astype(np.int8), smiles_l, names_l


def make_dataset(
    group: h5py.Group, name: str, shape: tuple[int, ...], dtype: Any, chunk: int
) -> h5py.Dataset:
    return group.create_dataset(
        name,
        shape=shape,
        maxshape=(None,) + shape[1:],
        dtype=dtype,
        chunks=(chunk,) + shape[1:],
        compression="gzip",
        compression_opts=4,
        shuffle=dtype is not STR_DTYPE,
    )


def reshape_empty(group: h5py.Group, name: str, trailing: tuple[int, ...]) -> h5py.Dataset:
    attrs = dict(group[name].attrs)
    del group[name]
    chunk = max(1, MOL_CHUNK // max(1, int(np.prod(trailing))))
    ds = make_dataset(group, name, (0,) + tuple(trailing), np.float64, chunk)
    for key, value in attrs.items():
        ds.attrs[key] = value
    return ds


def extend(ds: h5py.Dataset, data: np.ndarray, at: int) -> None:
    ds.resize(at + len(data), axis=0)
    ds[at : at + len(data)] = data


def flatten_batch(path: Path, numbers: Sequence[np.ndarray], positions: Sequence[np.ndarray]):
    if len(numbers) != len(positions):
        raise StoreError(
            f"{path}: append got {len(numbers)} numbers arrays but {len(positions)} positions arrays"
        )
    counts = np.empty(len(numbers), dtype=np.int64)
    zs, rs = [], []
    for k, (z, r) in enumerate(zip(numbers, positions)):
        z = np.asarray(z)
        r = np.asarray(r, dtype=np.float64)
        if z.ndim != 1 or r.shape != (len(z), 3):
            raise StoreError(
                f"{path}: molecule {k} of the batch: numbers shape {z.shape} and positions shape {r.shape} "
                "do not match (expected (n,) and (n, 3))"
            )
        if z.size and (z.min() < 1 or z.max() > 118):
            raise StoreError(f"{path}: molecule {k} of the batch: atomic numbers must lie in 1..118")
        if not np.all(np.isfinite(r)):
            raise StoreError(f"{path}: molecule {k} of the batch: positions are not finite")
        counts[k] = len(z)
        zs.append(z.astype(np.uint8))
        rs.append(r.astype(np.float32))
    flat_z = np.concatenate(zs) if zs else np.zeros(0, np.uint8)
    flat_r = np.concatenate(rs) if rs else np.zeros((0, 3), np.float32)
    return flat_z, flat_r, counts


def scalar(value: Any) -> Any:
    return float(value) if np.ndim(value) == 0 else np.asarray(value)


def as_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def open_dataset(group: h5py.Group, name: str, cache_bytes: int) -> h5py.Dataset:
    """Open a data set with its own HDF5 chunk cache of ``cache_bytes`` (for random access)."""
    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    dapl.set_chunk_cache(10007, cache_bytes, 0.75)
    return h5py.Dataset(h5py.h5d.open(group.id, name.encode(), dapl=dapl))


def plain(value: Any) -> Any:
    """An HDF5 attribute as a plain Python value (str, int, float, list) for JSON."""
    if isinstance(value, bytes):
        return as_text(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def open_failure(exc: OSError) -> str:
    """Why h5py could not open a file that has an HDF5 signature, in a few words."""
    text = short_error(exc)
    if "lock file" in text.lower() or "file locking" in text.lower():
        return f"locked by another process (HDF5 file locking; close it there first) ({text})"
    if isinstance(exc, PermissionError) or "permission denied" in text.lower():
        return f"permission denied ({text})"
    return f"{CORRUPT} ({text})"


def short_error(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:160]
