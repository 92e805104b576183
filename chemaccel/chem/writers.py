"""Streaming, atomic writers: CSV (one row per record) and SDF (the records that hold a molecule).

Both accept any iterable of :class:`~chemaccel.chem.records.MoleculeRecord` (a generator from
:func:`~chemaccel.chem.molecules.read_molecules` works; nothing is held in memory beyond one record),
write to a temporary name in the destination folder and rename it into place, so a crash or a Ctrl-C
never leaves half a file behind.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rdkit import Chem
from rdkit.Chem import rdDepictor

from chemaccel.chem.records import MoleculeRecord, conformer, rdkit_log

#: The fixed leading columns of :func:`write_csv`.
CSV_COLUMNS = ("index", "name", "smiles", "status")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary path next to ``path`` (not created yet); on success rename it to
    ``path``, on any exception delete it. Files get the usual permissions (umask)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def write_csv(
    records: Iterable[MoleculeRecord], path: str | Path, extra_columns: Sequence[str] | None = None
) -> int:
    """Write one row per record: ``index, name, smiles, status`` then the property columns.

    ``status`` is ``"ok"`` or the record's error. The property columns are ``extra_columns`` when
    given (other props are left out), else every property name in order of first appearance (the rows
    are spooled to a temporary file while the names are collected, so memory stays bounded).

    Returns:
        the number of rows written.
    """
    target = Path(path)
    if extra_columns is not None:
        with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow([*CSV_COLUMNS, *extra_columns])
            count = 0
            for record in records:
                writer.writerow([*_fixed(record), *(_cell(record.props.get(c, "")) for c in extra_columns)])
                count += 1
        return count

    columns: dict[str, None] = {}
    count = 0
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        for record in records:
            for key in record.props:
                columns.setdefault(key, None)
            spool.write(json.dumps([_fixed(record), {k: _cell(v) for k, v in record.props.items()}]) + "\n")
            count += 1
        spool.seek(0)
        with atomic_path(target) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow([*CSV_COLUMNS, *columns])
            for line in spool:
                fixed, props = json.loads(line)
                writer.writerow([*fixed, *(props.get(c, "") for c in columns)])
    return count


def _fixed(record: MoleculeRecord) -> list[str]:
    status = "ok" if record.ok else (record.error or "no molecule")
    return [str(record.index), record.name, record.smiles, status]


def write_sdf(records: Iterable[MoleculeRecord], path: str | Path) -> int:
    """Write the records that hold a molecule as SD blocks: name as title, props as SD fields.

    3D coordinates are written when the record has them (``positions``, or a 3D conformer of the
    mol); molecules without coordinates (from SMILES) get 2D depiction coordinates. Error records and
    geometries without a molecular graph are skipped.

    Returns:
        the number of molecules written.
    """
    count = 0
    with atomic_path(path) as tmp:
        writer = Chem.SDWriter(str(tmp))
        try:
            for record in records:
                mol = sdf_mol(record)
                if mol is None:
                    continue
                with rdkit_log():
                    writer.write(mol)
                count += 1
        finally:
            writer.close()
    return count


def sdf_mol(record: MoleculeRecord) -> Chem.Mol | None:
    """A copy of the record's mol ready for an SD file (coordinates, name, props), or None."""
    if not record.ok or record.mol is None:
        return None
    mol = Chem.Mol(record.mol)
    if record.positions is not None and len(record.positions) == mol.GetNumAtoms():
        mol.RemoveAllConformers()
        mol.AddConformer(conformer(record.positions), assignId=True)
    elif mol.GetNumConformers() == 0:
        with rdkit_log():
            rdDepictor.Compute2DCoords(mol)
    for key in list(mol.GetPropNames()):
        mol.ClearProp(key)
    mol.SetProp("_Name", record.name)
    for key, value in record.props.items():
        mol.SetProp(str(key), _cell(value))
    return mol
