"""A frame-by-frame reader of (multi-frame) XYZ and extXYZ text.

Each frame is a count line, a comment line and one line per atom (symbol or atomic number, then x y z
in Angstrom, then optional extra columns). ``ase.io.iread`` stops at the first malformed frame; this
reader turns a malformed frame into an error record and resumes at the next count line, so the frames
after it are kept. An extXYZ comment (``key=value`` pairs, ``Properties=species:S:1:pos:R:3:...``) is
parsed with ASE's own parser into ``props``; a plain comment becomes the name.

Bonds are perceived with rdkit's ``DetermineBonds`` (``charge=`` from the comment, default 0). When
that fails the record still holds its geometry (``ok`` is True, ``mol`` is None) and
``props["bonds"]`` says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from chemaccel.chem.readers import open_text
from chemaccel.chem.records import MoleculeRecord, clean_props, record_from_geometry, shown

#: extXYZ comment keys that describe the file, not the molecule; not copied into props.
LAYOUT_KEYS = ("Properties", "pbc", "Lattice")


class _Lines:
    """Lines of a text stream with one-line push-back."""

    def __init__(self, handle: IO[str]) -> None:
        self._it = iter(handle)
        self._back: list[str] = []

    def next(self) -> str | None:
        if self._back:
            return self._back.pop()
        return next(self._it, None)

    def push(self, line: str) -> None:
        self._back.append(line)


def _is_count(line: str) -> bool:
    return line.strip().isdigit()


def _is_atom(line: str) -> bool:
    return len(line.split()) >= 4 and not _is_count(line)


def read_xyz(path: str | Path, skip: int = 0) -> Iterator[MoleculeRecord]:
    """Frames of an XYZ/extXYZ file; record N is the N-th frame.

    The first ``skip`` frames are passed over (their lines consumed exactly as when reading them, so
    the frame numbering stays the same) without parsing atoms or perceiving bonds.
    """
    source = str(path)
    with open_text(path) as handle:
        lines = _Lines(handle)
        index = 0
        while True:
            line = lines.next()
            if line is None:
                return
            if not line.strip():
                continue
            index += 1
            if not _is_count(line):
                _skip_to_count(lines)
                if index > skip:
                    reason = f"expected an atom count line, got {shown(line.strip())}"
                    yield MoleculeRecord.failed(source, index, reason)
                continue
            if index <= skip:
                _frame(source, index, int(line), lines, build=False)
                continue
            yield _frame(source, index, int(line), lines)


def _skip_to_count(lines: _Lines) -> None:
    while (line := lines.next()) is not None:
        if _is_count(line):
            lines.push(line)
            return


def _frame(source: str, index: int, count: int, lines: _Lines, build: bool = True) -> MoleculeRecord | None:
    """The frame after its count line; ``build=False`` only consumes its lines and returns None."""
    comment = lines.next()
    if comment is None:
        ended = "the file ends after the atom count line"
        return MoleculeRecord.failed(source, index, ended) if build else None
    name, props, layout = _comment(comment) if build else ("", {}, (0, 1))
    atom_lines: list[str] = []
    while len(atom_lines) < count:
        line = lines.next()
        if line is None or not line.strip() or _is_count(line):
            if line is not None and line.strip():
                lines.push(line)
            break
        atom_lines.append(line)
    if len(atom_lines) < count:
        return MoleculeRecord.failed(
            source, index, f"frame says {count} atoms but has {len(atom_lines)} atom lines", name=name
        )
    extra = 0
    while (line := lines.next()) is not None:
        if not _is_atom(line):
            lines.push(line)
            break
        extra += 1
    if not build:
        return None
    if extra:
        return MoleculeRecord.failed(
            source, index, f"frame says {count} atoms but has {count + extra} atom lines", name=name
        )
    try:
        numbers, positions = _atoms(atom_lines, layout)
    except ValueError as exc:
        return MoleculeRecord.failed(source, index, str(exc), name=name)
    charge = props.get("charge", 0)
    charge = int(round(charge)) if isinstance(charge, (int, float)) else 0
    return record_from_geometry(source, index, numbers, positions, charge, name, props)


def _comment(comment: str) -> tuple[str, dict[str, Any], tuple[int, int]]:
    """``(name, props, (species column, first position column))`` from a comment line."""
    text = comment.strip()
    if "=" not in text:
        return text, {}, (0, 1)
    from ase.io.extxyz import key_val_str_to_dict

    try:
        raw = key_val_str_to_dict(text)
    except Exception:
        return "", {"comment": text}, (0, 1)
    layout = _layout(str(raw.get("Properties", "")))
    props = clean_props({k: v for k, v in raw.items() if k not in LAYOUT_KEYS and v is not True})
    name = props.pop("name", "")
    return str(name), props, layout


def _layout(spec: str) -> tuple[int, int]:
    """Columns of the species (symbol or Z) and of x from an extXYZ ``Properties`` spec."""
    parts = spec.split(":")
    if len(parts) < 3 or len(parts) % 3:
        return 0, 1
    offsets: dict[str, int] = {}
    column = 0
    for name, _kind, width in zip(parts[0::3], parts[1::3], parts[2::3]):
        offsets[name] = column
        column += int(width) if width.isdigit() else 1
    species = offsets.get("species", offsets.get("Z", 0))
    return species, offsets.get("pos", 1)


def _atoms(atom_lines: list[str], layout: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from ase.data import atomic_numbers

    species_col, pos_col = layout
    numbers = np.empty(len(atom_lines), dtype=np.int64)
    positions = np.empty((len(atom_lines), 3), dtype=np.float64)
    for i, line in enumerate(atom_lines):
        tokens = line.split()
        try:
            symbol = tokens[species_col]
            positions[i] = [float(t) for t in tokens[pos_col : pos_col + 3]]
        except (IndexError, ValueError):
            raise ValueError(f"bad atom line {shown(line.strip())}") from None
        if symbol.isdigit():
            numbers[i] = int(symbol)
        elif symbol.capitalize() in atomic_numbers:
            numbers[i] = atomic_numbers[symbol.capitalize()]
        else:
            raise ValueError(f"unknown element {symbol!r} in atom line {shown(line.strip())}")
        if not 0 < numbers[i] <= 118:
            raise ValueError(f"unknown element {symbol!r} in atom line {shown(line.strip())}")
    return numbers, positions
