"""Molecule files in, molecule files out: SMILES, CSV/TSV, SDF/MOL, XYZ/extXYZ and ASE databases.

``read_molecules(path)`` streams :class:`MoleculeRecord` objects, one per record, whatever the format:
a bad record comes back as an error record (``record.ok`` is False, ``record.error_line()`` names the
file, record number and reason) and the records after it are still read. Problems with the whole file
(missing, empty, binary, unknown type, a CSV without a SMILES column, a file that is not an ASE
database) raise :class:`~chemaccel.errors.InputError` at once, before any record is read.

Example:
    >>> good, bad = read_all("resources/examples/with_errors.smi")  # doctest: +SKIP
    >>> [r.error_line() for r in bad]  # doctest: +SKIP
    ["resources/examples/with_errors.smi: record 3: cannot parse SMILES 'C(C)(C)(C)(C)C': ..."]
"""

from __future__ import annotations

import codecs
import gzip
import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path

from chemaccel.chem.readers import (
    NAME_COLUMNS,
    SMILES_COLUMNS,
    check_ase_db,
    csv_header,
    find_column,
    read_ase_db,
    read_csv,
    read_sdf,
    read_smiles,
)
from chemaccel.chem.records import MoleculeRecord, canonical_smiles
from chemaccel.chem.writers import write_csv, write_sdf
from chemaccel.chem.xyz import read_xyz
from chemaccel.errors import InputError

__all__ = [
    "FORMATS",
    "MoleculeRecord",
    "canonical_smiles",
    "detect_format",
    "read_all",
    "read_molecules",
    "write_csv",
    "write_sdf",
]

#: File name endings and the format each one means (any text format may also end in ``.gz``).
FORMATS: dict[str, str] = {
    ".smi": "smi",
    ".smiles": "smi",
    ".txt": "smi",
    ".csv": "csv",
    ".tsv": "tsv",
    ".sdf": "sdf",
    ".sd": "sdf",
    ".mol": "sdf",
    ".xyz": "xyz",
    ".extxyz": "xyz",
    ".db": "db",
    ".h5": "h5",
    ".hdf5": "h5",
}
FORMAT_NAMES = ("smi", "csv", "tsv", "sdf", "xyz", "db", "h5")

#: Bytes looked at to tell a text file from a binary one.
SNIFF_BYTES = 1024


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """The format name (one of :data:`FORMAT_NAMES`) for ``path``, or ``fmt`` when given.

    Raises:
        InputError: unknown extension or format, listing the known ones.
    """
    if fmt is not None:
        key = fmt.lower().lstrip(".")
        if key in FORMAT_NAMES:
            return key
        if "." + key in FORMATS:
            return FORMATS["." + key]
        raise InputError(path, f"unknown format {fmt!r}; known formats: {', '.join(FORMAT_NAMES)}")
    name = Path(path).name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = Path(name).suffix
    if suffix in FORMATS and not (FORMATS[suffix] in ("db", "h5") and str(path).lower().endswith(".gz")):
        return FORMATS[suffix]
    shown = f"'{suffix}'" if suffix else "(no extension)"
    known = ", ".join(FORMATS)
    raise InputError(path, f"unknown file type {shown}; known: {known} (text formats may be gzipped, .gz)")


def read_molecules(
    path: str | Path, *, smiles_column: str | None = None, fmt: str | None = None, skip: int = 0
) -> Iterator[MoleculeRecord]:
    """Stream the records of a molecule file (see the module docstring).

    Args:
        path: the file; its extension picks the format (:data:`FORMATS`).
        smiles_column: CSV/TSV only: the SMILES column (default: auto-detected from
            :data:`~chemaccel.chem.readers.SMILES_COLUMNS`, case-insensitive).
        fmt: a format name (``"smi"``, ``"csv"``, ``"tsv"``, ``"sdf"``, ``"xyz"``, ``"db"``) that
            overrides the extension.
        skip: pass over the first ``skip`` records without parsing them (cheap: no SMILES parsing, bond
            perception or rdkit work), e.g. to resume a batch job; record numbers stay those of the file.

    Returns:
        a generator of records, in file order, one per record (good or bad).

    Raises:
        InputError: the whole file cannot be read (raised here, before the first record).
    """
    _check_exists(path)
    kind = detect_format(path, fmt)
    _check_file(path, text=kind not in ("db", "h5"))
    return _guarded(path, _records(path, kind, smiles_column, max(0, int(skip))))


def _records(path: str | Path, kind: str, smiles_column: str | None, skip: int) -> Iterator[MoleculeRecord]:
    if kind == "smi":
        return read_smiles(path, skip)
    if kind in ("csv", "tsv"):
        header, delimiter = csv_header(path, tsv=kind == "tsv")
        smiles_col = find_column(path, header, smiles_column, SMILES_COLUMNS)
        if smiles_col is None:
            raise InputError(
                path,
                f"no SMILES column found (the columns are: {', '.join(header)}); "
                "name one with --smiles-column",
            )
        name_col = find_column(path, header, None, NAME_COLUMNS)
        return read_csv(path, smiles_col, delimiter, None if name_col == smiles_col else name_col, skip)
    if kind == "sdf":
        return read_sdf(path, skip)
    if kind == "xyz":
        return read_xyz(path, skip)
    if kind == "h5":
        from chemaccel.chem.store import MoleculeStore
        from chemaccel.chem.store_records import read_store

        MoleculeStore.open(path).close()  # not ours / truncated: StoreError now, before any record
        return read_store(path, skip=skip)
    check_ase_db(path)
    return read_ase_db(path, skip)


def _guarded(path: str | Path, records: Iterator[MoleculeRecord]) -> Iterator[MoleculeRecord]:
    """Turn a read failure in the middle of a file (truncated gzip, I/O error) into InputError."""
    index = 0
    try:
        for record in records:
            index = record.index
            yield record
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError, sqlite3.Error) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(path, f"cannot read beyond record {index}: {reason}") from None


def read_all(
    path: str | Path, *, smiles_column: str | None = None, fmt: str | None = None
) -> tuple[list[MoleculeRecord], list[MoleculeRecord]]:
    """``(good, bad)`` records of a small file (everything in memory)."""
    good: list[MoleculeRecord] = []
    bad: list[MoleculeRecord] = []
    for record in read_molecules(path, smiles_column=smiles_column, fmt=fmt):
        (good if record.ok else bad).append(record)
    return good, bad


def _check_exists(path: str | Path) -> None:
    file = Path(path)
    if not file.exists():
        raise InputError(path, "no such file")
    if file.is_dir():
        raise InputError(path, "is a folder, not a file")


def _check_file(path: str | Path, *, text: bool) -> None:
    """Raise :class:`InputError` for an unreadable, empty or (for text formats) binary file."""
    file = Path(path)
    try:
        size = file.stat().st_size
        if size == 0:
            raise InputError(path, "empty file")
        if not text:
            return
        head = _head(file)
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    if b"\x00" in head:
        raise InputError(path, "binary file (contains NUL bytes), not a text molecule file")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        raise InputError(path, "not a UTF-8 text file (binary or another encoding)") from None
    if not head.strip() and size <= SNIFF_BYTES:
        raise InputError(path, "empty file (only blank lines)")


def _head(file: Path) -> bytes:
    if file.name.lower().endswith(".gz"):
        try:
            with gzip.open(file, "rb") as handle:
                return handle.read(SNIFF_BYTES)
        except (gzip.BadGzipFile, EOFError, zlib.error):
            raise InputError(file, "not a valid gzip file") from None
    with open(file, "rb") as handle:
        return handle.read(SNIFF_BYTES)
