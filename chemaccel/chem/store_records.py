"""Molecule records to and from the HDF5 store (``.h5``), so the store is one more molecule file format.

* :func:`read_store` streams a store as :class:`MoleculeRecord` objects (batched, lazy): atoms and
  positions from the store, the molecule from its SMILES, or perceived from 3D when none is stored.
* :func:`write_store` writes records that carry a 3D geometry (SDF with coordinates, XYZ, ASE db, or
  molecules embedded with ``molecules embed``); a record without coordinates is reported, not written.
  Numeric properties of the first batch become the store's properties (missing values are NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from chemaccel.chem.records import MoleculeRecord, mol_from_geometry, parse_smiles
from chemaccel.chem.store import MoleculeStore
from chemaccel.errors import InputError, StoreError

BATCH = 2048


def read_store(path: str | Path, batch_size: int = BATCH, skip: int = 0) -> Iterator[MoleculeRecord]:
    """Stream every molecule of a store as a record (record number = row + 1), from row ``skip`` on."""
    source = str(path)
    with MoleculeStore.open(path) as store:
        for start in range(max(0, skip), len(store), batch_size):
            batch = store.molecule_slice(start, start + batch_size)
            for i, mol in enumerate(batch):
                index = batch.start + i + 1
                numbers = np.asarray(mol.numbers, dtype=np.int64)
                positions = np.asarray(mol.positions, dtype=np.float64)
                rd, error = parse_smiles(mol.smiles) if mol.smiles else mol_from_geometry(numbers, positions, mol.charge)
                props = {k: v for k, v in mol.properties.items() if isinstance(v, (int, float))}
                if rd is None and error and mol.smiles:
                    yield MoleculeRecord.failed(source, index, f"stored SMILES unreadable: {error}", mol.name)
                    continue
                if rd is None:
                    props["bonds"] = f"not perceived: {error}"
                yield MoleculeRecord(source=source, index=index, mol=rd, name=mol.name, props=props,
                                     numbers=numbers, positions=positions, charge=mol.charge,
                                     geometry_source="file")


def write_store(
    records: Iterable[MoleculeRecord],
    path: str | Path,
    *,
    on_skip: Callable[[str], None] | None = None,
    batch_size: int = BATCH,
) -> int:
    """Write the records that carry 3D coordinates into a new store at ``path``; returns how many.

    Records without coordinates are passed to ``on_skip`` as a one-line reason. The store is written
    under a temporary name and renamed into place when complete.
    """
    batch: list[MoleculeRecord] = []
    store: MoleculeStore | None = None
    names: list[str] = []
    written = 0

    def flush() -> None:
        nonlocal store, names, written
        if not batch:
            return
        if store is None:
            names = sorted({k for r in batch for k, v in r.props.items() if _is_number(v)})
            store = MoleculeStore.create(path, {k: "" for k in names}, overwrite=True)
        props = {k: np.array([_number(r.props.get(k)) for r in batch], dtype=np.float64) for k in names}
        store.append([r.numbers for r in batch], [r.positions for r in batch],
                     charges=[r.charge for r in batch], properties=props,
                     smiles=[r.smiles for r in batch], names=[r.name for r in batch])
        written += len(batch)
        batch.clear()

    try:
        for record in records:
            if not record.ok:
                continue
            if record.numbers is None or record.positions is None:
                if on_skip:
                    on_skip(str(InputError(record.source, "no 3D coordinates (run 'molecules embed' first)",
                                           record.index)))
                continue
            batch.append(record)
            if len(batch) >= batch_size:
                flush()
        flush()
    except BaseException:
        if store is not None:
            store.abort()
        raise
    if store is None:
        raise StoreError(f"{path}: nothing to write: no record has 3D coordinates")
    store.close()
    return written


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: object) -> float:
    return float(value) if _is_number(value) else math.nan
