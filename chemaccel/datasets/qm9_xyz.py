"""The original QM9 files: ``dsgdb9nsd_NNNNNN.xyz`` texts in ``dsgdb9nsd.xyz.tar.bz2`` (figshare).

Each file is an extended XYZ text::

    5                                         number of atoms n
    gdb 1  157.7118 157.70997 ... 6.469       "gdb", index, then 15 properties (see PROPERTY_UNITS)
    C  -0.0126981359  1.0858041578  0.0080009958  -0.535689     n lines: symbol, x, y, z (Angstrom), Mulliken
    ...
    1341.307  1341.3284 ...                   harmonic frequencies (cm^-1)
    C  C                                      SMILES from GDB-17, SMILES of the relaxed B3LYP geometry
    InChI=1S/CH4/h1H4  InChI=1S/CH4/h1H4      the same as InChI

Numbers may use Mathematica's ``*^`` exponent (``1.2*^-6``). Properties are in Hartree like the CSVs of
qm9pack; the conversion to the store (eV) is shared with :func:`chemaccel.datasets.qm9.convert_qm9`.
The GDB-17 SMILES is stored (the first of the two).
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from chemaccel.datasets.qm9 import (
    QM9_ARCHIVE_NAME,
    SYMBOLS,
    QM9Summary,
    Record,
    write_qm9_store,
)
from chemaccel.errors import InputError
from chemaccel.reporting import Reporter

QM9_ARCHIVE_N = 133_885  # .xyz files in the full archive


def _number(text: str) -> float:
    return float(text.replace("*^", "e"))


def parse_qm9_xyz(text: str, name: str = "") -> Record:
    """One QM9 .xyz text -> (numbers, positions in Angstrom, GDB SMILES, name, 15 properties in QM9 units).

    Raises:
        ValueError: the text is not in QM9's format (the caller adds the file name).
    """
    lines = text.splitlines()
    try:
        n = int(lines[0].strip())
        head = lines[1].split()
        if len(head) < 17 or head[0] != "gdb":
            raise ValueError("line 2 must be 'gdb <index>' followed by 15 properties")
        props = np.array([_number(v) for v in head[2:17]], dtype=np.float64)
        numbers = np.empty(n, dtype=np.uint8)
        positions = np.empty((n, 3), dtype=np.float64)
        for k, line in enumerate(lines[2 : 2 + n]):
            parts = line.split()
            numbers[k] = SYMBOLS[parts[0]]
            positions[k] = [_number(v) for v in parts[1:4]]
        if len(lines) < n + 5:
            raise ValueError(f"expected {n + 5} lines, got {len(lines)}")
        smiles = lines[n + 3].split()[0] if lines[n + 3].split() else ""
    except KeyError as exc:
        raise ValueError(f"unknown element {exc.args[0]!r}") from None
    except IndexError:
        raise ValueError("file ends early") from None
    return numbers, positions, smiles, name or f"gdb_{head[1]}", props


def iter_qm9_archive(archive: str | Path, exclude: Iterable[int] = ()) -> Iterator[Record]:
    """Stream the molecules of a (possibly compressed) tar of QM9 .xyz files, in archive order.

    Args:
        archive: ``dsgdb9nsd.xyz.tar.bz2`` or any tar of such files.
        exclude: QM9 indices to skip (e.g. the 3,054 of ``uncharacterized.txt``, :data:`QM9_EXCLUDED_URL`).
    """
    skip = {int(i) for i in exclude}
    archive = Path(archive)
    try:
        with tarfile.open(archive, "r|*") as tar:  # streaming: memory stays flat
            for member in tar:
                if not member.isfile() or not member.name.endswith(".xyz"):
                    continue
                stem = Path(member.name).stem
                handle = tar.extractfile(member)
                if handle is None:  # pragma: no cover - isfile() members always have data
                    continue
                text = handle.read().decode("utf-8", "replace")
                try:
                    record = parse_qm9_xyz(text, stem)
                except ValueError as exc:
                    raise InputError(f"{archive}:{member.name}", f"not a QM9 .xyz file: {exc}") from None
                if skip and _index(text) in skip:
                    continue
                yield record
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InputError(archive, f"cannot read the QM9 archive: {exc}") from None


def _index(text: str) -> int:
    return int(text.split("\n", 2)[1].split()[1])


def convert_qm9_archive(
    out_path: str | Path,
    archive: str | Path,
    *,
    exclude: Iterable[int] = (),
    limit: int | None = None,
    chunk: int = 5000,
    reporter: Reporter | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> QM9Summary:
    """Convert the original QM9 archive into a store (same properties, units, atomrefs and split rule).

    Rows follow the archive order; ``name`` holds the file stem (``dsgdb9nsd_000001``).
    """
    archive = Path(archive)
    if not archive.is_file():
        raise InputError(archive, "no such QM9 archive")
    skip = {int(i) for i in exclude}
    full = QM9_ARCHIVE_N - len(skip) if archive.name == QM9_ARCHIVE_NAME else None
    return write_qm9_store(
        iter_qm9_archive(archive, skip),
        out_path,
        source=f"QM9 archive {archive.name}",
        total=limit if limit is not None else full,
        limit=limit,
        chunk=chunk,
        reporter=reporter,
        seed=seed,
        overwrite=overwrite,
    )


__all__ = ["QM9_ARCHIVE_N", "convert_qm9_archive", "iter_qm9_archive", "parse_qm9_xyz"]
