"""Streaming readers for SMILES, CSV/TSV, SDF and ASE db files (XYZ lives in :mod:`.xyz`).

Each reader is a generator of :class:`~chemaccel.chem.records.MoleculeRecord` that holds one record in
memory at a time. Whole-file checks (missing, empty, binary, unknown type, no SMILES column) are done
before a reader starts, in :func:`chemaccel.chem.molecules.read_molecules`; the readers only turn
single bad records into error records.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
from rdkit import Chem

from chemaccel.chem.records import (
    MoleculeRecord,
    clean_props,
    geometry_of,
    log_reason,
    record_from_geometry,
    parse_smiles,
    parse_value,
    rdkit_log,
)
from chemaccel.errors import InputError

#: Column names taken for SMILES when ``smiles_column`` is not given (case-insensitive, in this order).
SMILES_COLUMNS = (
    "smiles",
    "canonical_smiles",
    "isomeric_smiles",
    "smiles_string",
    "smi",
    "mol",
    "molecule",
    "structure",
)
#: Column names taken for the molecule name (case-insensitive, in this order).
NAME_COLUMNS = ("name", "id", "title", "mol_id", "molecule_id", "compound_id", "compound")
#: Longest SD block read (lines); longer ones become error records.
MAX_BLOCK_LINES = 500_000


def open_text(path: str | Path) -> IO[str]:
    """Open a text file (or its ``.gz``) for streaming; undecodable bytes become U+FFFD."""
    if str(path).lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


# --------------------------------------------------------------------------------------------------
# SMILES


def read_smiles(path: str | Path, skip: int = 0) -> Iterator[MoleculeRecord]:
    """One SMILES per line, an optional name after whitespace; blank lines and ``#`` comments skipped.

    A first line whose first word is ``smiles`` (any case) is a header and skipped. The first ``skip``
    records are passed over without being parsed.
    """
    with open_text(path) as handle:
        yield from smiles_lines(handle, str(path), skip)


def smiles_lines(lines: Iterable[str], source: str, skip: int = 0) -> Iterator[MoleculeRecord]:
    """The records of SMILES text lines (the ``.smi`` rules of :func:`read_smiles`), ``source`` in errors."""
    index = 0
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split(None, 1)
        if index == 0 and parts[0].lower() == "smiles":
            continue
        index += 1
        if index <= skip:
            continue
        name = parts[1].strip() if len(parts) > 1 else ""
        yield smiles_record(source, index, parts[0], name)


def molecules_from_text(text: str, source: str = "typed SMILES") -> list[MoleculeRecord]:
    """Records of typed or pasted SMILES: one per line (a name may follow after a space), or several on
    one line separated by commas or semicolons; each bad one is an error record with its reason."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if (";" in stripped or "," in stripped) and " " not in stripped:
            lines += [p for p in re.split(r"[;,]", stripped) if p.strip()]
        else:
            lines.append(stripped)
    return list(smiles_lines(lines, source))


def smiles_record(
    source: str, index: int, smiles: str, name: str = "", props: dict | None = None
) -> MoleculeRecord:
    mol, reason = parse_smiles(smiles)
    if mol is None:
        return MoleculeRecord(source, index, error=reason, name=name, props=props or {})
    charge = Chem.GetFormalCharge(mol)
    return MoleculeRecord(source, index, mol=mol, name=name, props=props or {}, charge=charge)


# --------------------------------------------------------------------------------------------------
# CSV / TSV


def csv_delimiter(header_line: str, tsv: bool) -> str:
    if tsv:
        return "\t"
    if "," not in header_line:
        for candidate in ("\t", ";"):
            if candidate in header_line:
                return candidate
    return ","


def csv_header(path: str | Path, tsv: bool) -> tuple[list[str], str]:
    """The header fields and the delimiter (read from the first line only)."""
    with open_text(path) as handle:
        first = handle.readline()
    delimiter = csv_delimiter(first, tsv)
    fields = next(csv.reader([first], delimiter=delimiter), [])
    return [f.strip() for f in fields], delimiter


def find_column(
    path: str | Path, header: list[str], wanted: str | None, candidates: tuple[str, ...]
) -> int | None:
    """Index of ``wanted`` (exact, then case-insensitive) or of the first of ``candidates``."""
    lowered = [h.lower() for h in header]
    if wanted is not None:
        if wanted in header:
            return header.index(wanted)
        if wanted.lower() in lowered:
            return lowered.index(wanted.lower())
        raise InputError(path, f"no column {wanted!r}; the columns are: {', '.join(header)}")
    for name in candidates:
        if name in lowered:
            return lowered.index(name)
    return None


def read_csv(
    path: str | Path, smiles_col: int, delimiter: str, name_col: int | None = None, skip: int = 0
) -> Iterator[MoleculeRecord]:
    """Rows of a CSV/TSV file with a header; record N is the N-th data row (blank rows skipped).

    The first ``skip`` records are passed over without being parsed.
    """
    source = str(path)
    index = 0
    with open_text(path) as handle:
        rows = csv.reader(handle, delimiter=delimiter)
        header = [h.strip() for h in next(rows, [])]
        for row in rows:
            if not row or all(not cell.strip() for cell in row):
                continue
            index += 1
            if index <= skip:
                continue
            if len(row) > len(header):
                yield MoleculeRecord.failed(
                    source, index, f"row has {len(row)} fields but the header has {len(header)}"
                )
                continue
            row = row + [""] * (len(header) - len(row))
            name = row[name_col].strip() if name_col is not None else ""
            props = {
                key: parse_value(cell)
                for i, (key, cell) in enumerate(zip(header, row))
                if i not in (smiles_col, name_col) and cell.strip()
            }
            smiles = row[smiles_col].strip()
            if not smiles:
                yield MoleculeRecord(source, index, error="empty SMILES", name=name, props=props)
                continue
            yield smiles_record(source, index, smiles, name, props)


# --------------------------------------------------------------------------------------------------
# SDF / MOL


def _sdf_blocks(handle: IO[str]) -> Iterator[tuple[int, str | None]]:
    """``(first line number, block text)`` for each ``$$$$``-terminated block (the last may lack it).

    A block longer than :data:`MAX_BLOCK_LINES` comes back as ``(start, None)`` and is skipped up to
    its ``$$$$``, so a huge file without separators cannot fill the memory.
    """
    lines: list[str] = []
    start = 1
    too_long = False
    for number, line in enumerate(handle, start=1):
        if not lines and not too_long:
            start = number
        if not too_long:
            lines.append(line if line.endswith("\n") else line + "\n")
            if len(lines) > MAX_BLOCK_LINES:
                too_long, lines = True, []
        if line.rstrip() == "$$$$":
            yield start, None if too_long else "".join(lines)
            lines, too_long = [], False
    if too_long:
        yield start, None
    elif any(line.strip() for line in lines):
        yield start, "".join(lines)


def read_sdf(path: str | Path, skip: int = 0) -> Iterator[MoleculeRecord]:
    """Molfile blocks; record N is the N-th block. Explicit hydrogens and 3D coordinates are kept.

    The first ``skip`` blocks are passed over without being parsed.
    """
    source = str(path)
    with open_text(path) as handle:
        for index, (start, block) in enumerate(_sdf_blocks(handle), start=1):
            if index <= skip:
                continue
            if block is None:
                too_long = f"more than {MAX_BLOCK_LINES} lines without '$$$$'"
                yield MoleculeRecord.failed(source, index, f"block starting on line {start} has {too_long}")
            else:
                yield _sdf_record(source, index, start, block)


def _sdf_record(source: str, index: int, start: int, block: str) -> MoleculeRecord:
    title = block.split("\n", 1)[0].strip()
    with rdkit_log() as log:
        try:
            supplier = Chem.ForwardSDMolSupplier(io.BytesIO(block.encode("utf-8")), removeHs=False)
            mol = next(iter(supplier), None)
        except Exception as exc:  # pragma: no cover - rdkit raises rarely here
            mol, log_text = None, str(exc)
        else:
            log_text = log.messages
    if mol is None:
        reason = log_reason(log_text, line_offset=start - 1)
        sanitize = "valence" in reason or "kekulize" in reason.lower() or "aromatic" in reason
        prefix = "cannot sanitize molecule" if sanitize else "cannot parse molfile block"
        message = f"{prefix}: {reason}" if reason else f"cannot parse molfile block starting on line {start}"
        return MoleculeRecord.failed(source, index, message, name=title)
    name = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
    props = {key: parse_value(mol.GetProp(key)) for key in mol.GetPropNames()}
    geometry = geometry_of(mol)
    numbers, positions = geometry if geometry is not None else (None, None)
    return MoleculeRecord(
        source,
        index,
        mol=mol,
        name=name,
        props=props,
        numbers=numbers,
        positions=positions,
        charge=Chem.GetFormalCharge(mol),
        geometry_source="file" if geometry is not None else None,
    )


# --------------------------------------------------------------------------------------------------
# ASE database

SQLITE_MAGIC = b"SQLite format 3\x00"


def check_ase_db(path: str | Path) -> None:
    """Raise :class:`InputError` unless ``path`` is an ASE SQLite database (opened read-only)."""
    with open(path, "rb") as handle:
        magic = handle.read(len(SQLITE_MAGIC))
    if magic != SQLITE_MAGIC:
        raise InputError(path, "not an ASE database (not an SQLite file)")
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
        try:
            found = con.execute("SELECT COUNT(*) FROM sqlite_master WHERE name='systems'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise InputError(path, f"not an ASE database: {exc}") from None
    if not found:
        raise InputError(path, "not an ASE database (an SQLite file without a 'systems' table)")


def read_ase_db(path: str | Path, skip: int = 0) -> Iterator[MoleculeRecord]:
    """Rows of an ASE database in ``select()`` order; bonds perceived from the geometry.

    The first ``skip`` rows are not read (``select(offset=skip)``).
    """
    import ase.db

    source = str(path)
    db = ase.db.connect(str(path), type="db", use_lock_file=False)
    for index, row in enumerate(db.select(offset=skip), start=skip + 1):
        try:
            yield _db_record(source, index, row)
        except Exception as exc:  # a damaged row must not stop the batch
            reason = str(exc) or type(exc).__name__
            yield MoleculeRecord.failed(source, index, f"cannot read row id={row.id}: {reason}")


def _db_record(source: str, index: int, row: Any) -> MoleculeRecord:
    numbers = np.asarray(row.numbers, dtype=np.int64)
    positions = np.asarray(row.positions, dtype=np.float64).reshape(-1, 3)
    props = clean_props(dict(row.key_value_pairs))
    props.update({k: v for k, v in clean_props(dict(row.data)).items() if k not in props})
    name = str(props.pop("name", "")) if isinstance(props.get("name"), str) else ""
    charge = int(round(float(row.get("charge", 0.0) or 0.0)))
    if isinstance(props.get("charge"), (int, float)):
        charge = int(round(props["charge"]))
    return record_from_geometry(source, index, numbers, positions, charge, name, props)
