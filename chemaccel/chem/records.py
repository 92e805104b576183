"""One molecule read from a file, and the rdkit helpers that turn text or a geometry into a Mol.

A :class:`MoleculeRecord` is either a molecule (``ok``) or an error record that names the file, the
1-based record number and a one-line reason. Readers never raise for one bad record; they yield an
error record and go on.

rdkit reports its reasons through its C++ log, not through exceptions or return values; the helpers
here capture that log per call (:func:`rdkit_log`), so nothing is printed on stderr and the reason ends
up in the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Geometry import Point3D

from chemaccel.errors import InputError

PropValue = str | float | int
GeometrySource = Literal["file", "forcefield"]

#: SMILES longer than this are shortened in error messages.
MAX_SHOWN = 80


@dataclass(frozen=True, eq=False)
class MoleculeRecord:
    """One record of a molecule file: a molecule, or the reason it could not be read.

    Attributes:
        source: the file it came from.
        index: 1-based record number in that file (SMILES/CSV: record, SDF: block, XYZ: frame,
            ASE db: row in select order).
        mol: the rdkit molecule, or None (a bad record, or an XYZ geometry whose bonds could not be
            perceived). Atoms are those of the file: explicit hydrogens are kept when the file has
            them, and the atom order matches ``numbers``/``positions``.
        error: one-line reason when the record could not be read, else None.
        name: title / name column / molecule name, "" when there is none.
        props: SD fields, extra CSV columns, extXYZ comment keys, ASE db key-value pairs and data.
            Values that look like numbers are floats.
        numbers: atomic numbers, shape (n,), when the record has a 3D geometry.
        positions: Cartesian coordinates in Angstrom, shape (n, 3), when it has a 3D geometry.
        charge: total charge of the molecule (elementary charges).
        geometry_source: "file" (coordinates read from the file), "forcefield" (embedded by
            :func:`chemaccel.chem.conformers.embed_records`) or None (no geometry).
    """

    source: str
    index: int
    mol: Chem.Mol | None = None
    error: str | None = None
    name: str = ""
    props: dict[str, PropValue] = field(default_factory=dict)
    numbers: np.ndarray | None = None
    positions: np.ndarray | None = None
    charge: int = 0
    geometry_source: GeometrySource | None = None

    def __post_init__(self) -> None:
        if self.error is not None:  # reasons are always one line
            object.__setattr__(self, "error", " ".join(self.error.split()) or "unknown error")

    @property
    def ok(self) -> bool:
        """True when the record holds a molecule or at least a geometry."""
        return self.error is None and (self.mol is not None or self.positions is not None)

    @property
    def has_3d(self) -> bool:
        return self.positions is not None

    @cached_property
    def smiles(self) -> str:
        """Canonical SMILES (hydrogens implicit), "" when there is no molecule."""
        return mol_to_smiles(self.mol) if self.mol is not None else ""

    def error_line(self) -> str:
        """``"FILE: record N: REASON"`` (the :class:`~chemaccel.errors.InputError` format)."""
        return str(InputError(self.source, self.error or "ok", self.index))

    @classmethod
    def failed(cls, source: str, index: int, reason: str, name: str = "") -> MoleculeRecord:
        """An error record."""
        return cls(source=source, index=index, error=reason, name=name)


# --------------------------------------------------------------------------------------------------
# rdkit log capture


@contextmanager
def rdkit_log() -> Iterator[Any]:
    """Silence rdkit's log and capture its error messages; ``.messages`` is a string afterwards."""
    block = rdBase.BlockLogs()
    try:
        capture_cls = getattr(rdBase, "CaptureErrorLog", None)
        if capture_cls is None:  # older rdkit: no capture, reasons come from exceptions only
            yield _NoCapture()
        else:
            with capture_cls() as capture:
                yield _SafeCapture(capture)
    finally:
        del block


class _NoCapture:
    messages = ""


class _SafeCapture:
    """rdkit's captured log as text; a log that quotes undecodable bytes of the input reads as
    "(unreadable rdkit message)" instead of raising UnicodeDecodeError."""

    def __init__(self, capture: Any) -> None:
        self._capture = capture

    @property
    def messages(self) -> str:
        try:
            return self._capture.messages
        except UnicodeDecodeError:
            return "(unreadable rdkit message: the record holds bytes that are not UTF-8)"


_STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\]\s*")
_NOISE = (
    "moving to the beginning of the next molecule",
    "Could not sanitize molecule ending on line",
    "check for mistakes around position",
)


def log_reason(messages: str, line_offset: int = 0) -> str:
    """The first informative line of captured rdkit messages, without time stamps and prefixes.

    Args:
        messages: what :func:`rdkit_log` captured.
        line_offset: added to "on line N" (rdkit counts lines from the start of the text it was given).
    """
    for raw in (messages or "").splitlines():
        line = _STAMP.sub("", raw).strip()
        for prefix in ("ERROR:", "SMILES Parse Error:"):
            if line.startswith(prefix):
                line = line[len(prefix) :].strip()
        if not line or any(noise in line for noise in _NOISE):
            continue
        if line_offset:
            line = re.sub(r"on line ?(\d+)", lambda m: f"on line {int(m.group(1)) + line_offset}", line)
        return line
    return ""


def _position(messages: str) -> str:
    match = re.search(r"check for mistakes around position (\d+)", messages or "")
    return f" at position {match.group(1)}" if match else ""


def shown(text: str) -> str:
    """A (possibly shortened) quoted form of a SMILES or line for an error message."""
    text = text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."
    return repr(text)


# --------------------------------------------------------------------------------------------------
# SMILES


def parse_smiles(smiles: str) -> tuple[Chem.Mol | None, str | None]:
    """Parse and sanitize a SMILES: ``(mol, None)`` or ``(None, one-line reason)``."""
    with rdkit_log() as log:
        mol = Chem.MolFromSmiles(smiles)
    if mol is not None:
        return mol, None
    reason = log_reason(log.messages)
    if reason:
        # "unclosed ring for input: 'C1CC'" -> "unclosed ring"
        reason = re.sub(r"\s+(for input|while parsing):.*$", "", reason) + _position(log.messages)
    else:
        reason = _sanitize_reason(smiles)
    return None, f"cannot parse SMILES {shown(smiles)}: {reason}"


def _sanitize_reason(smiles: str) -> str:
    with rdkit_log():
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
        if mol is None:
            return "syntax error"
        try:
            Chem.SanitizeMol(mol)
        except Exception as exc:  # rdkit raises several MolSanitizeException subclasses
            return str(exc)
    return "rdkit rejected it"


def canonical_smiles(smiles: str) -> str:
    """Canonical SMILES of ``smiles`` (``"OCC"`` -> ``"CCO"``).

    Raises:
        InputError: ``"<smiles>: cannot parse SMILES '...': reason"``.
    """
    mol, reason = parse_smiles(smiles)
    if mol is None:
        raise InputError("<smiles>", reason or "cannot parse SMILES")
    return Chem.MolToSmiles(mol)


def mol_to_smiles(mol: Chem.Mol) -> str:
    """Canonical SMILES with explicit hydrogens removed (falls back to keeping them)."""
    with rdkit_log():
        try:
            return Chem.MolToSmiles(Chem.RemoveHs(mol))
        except Exception:
            return Chem.MolToSmiles(mol)


# --------------------------------------------------------------------------------------------------
# geometry <-> Mol


def geometry_of(mol: Chem.Mol) -> tuple[np.ndarray, np.ndarray] | None:
    """``(numbers, positions)`` of the first conformer when it is 3D, else None."""
    if mol.GetNumConformers() == 0:
        return None
    conf = mol.GetConformer()
    if not conf.Is3D():
        return None
    numbers = np.array([atom.GetAtomicNum() for atom in mol.GetAtoms()], dtype=np.int64)
    return numbers, np.array(conf.GetPositions(), dtype=np.float64).reshape(-1, 3)


def atoms_mol(numbers: np.ndarray, positions: np.ndarray) -> Chem.Mol:
    """A Mol with the atoms and a 3D conformer but no bonds."""
    rw = Chem.RWMol()
    for z in numbers:
        atom = Chem.Atom(int(z))
        atom.SetNoImplicit(True)
        rw.AddAtom(atom)
    rw.AddConformer(conformer(positions), assignId=True)
    return rw.GetMol()


def conformer(positions: np.ndarray) -> Chem.Conformer:
    """A 3D conformer with these coordinates (Angstrom, shape (n, 3))."""
    xyz = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    conf = Chem.Conformer(len(xyz))
    conf.Set3D(True)
    for i, (x, y, z) in enumerate(xyz.tolist()):
        conf.SetAtomPosition(i, Point3D(x, y, z))
    return conf


def mol_from_geometry(
    numbers: np.ndarray, positions: np.ndarray, charge: int = 0
) -> tuple[Chem.Mol | None, str | None]:
    """Perceive bonds (rdkit ``DetermineBonds``) and stereo from 3D: ``(mol, None)`` or ``(None, reason)``."""
    from rdkit.Chem import rdDetermineBonds

    mol = atoms_mol(numbers, positions)
    with rdkit_log() as log:
        try:
            rdDetermineBonds.DetermineBonds(mol, charge=int(charge))
            Chem.AssignStereochemistryFrom3D(mol)
        except Exception as exc:
            reason = " ".join(str(exc).split()) or log_reason(log.messages) or "bond perception failed"
            return None, reason
    return mol, None


def record_from_geometry(
    source: str, index: int, numbers: np.ndarray, positions: np.ndarray, charge: int, name: str,
    props: dict[str, PropValue],
) -> MoleculeRecord:
    """A record for a 3D geometry (XYZ frame, ASE db row): bonds perceived when possible, else noted in
    ``props["bonds"]`` (the record stays usable for 3D models)."""
    mol, reason = mol_from_geometry(numbers, positions, charge)
    if mol is None:
        props["bonds"] = f"not perceived: {reason}"
    return MoleculeRecord(source, index, mol=mol, name=name, props=props, numbers=numbers,
                          positions=positions, charge=charge, geometry_source="file")


# --------------------------------------------------------------------------------------------------
# property values

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(nan|inf|infinity)$", re.IGNORECASE)


def parse_value(text: str) -> PropValue:
    """``"1.5"`` -> 1.5, ``"3"`` -> 3.0, anything else stays a (stripped) string."""
    stripped = text.strip()
    if _NUMBER.match(stripped):
        return float(stripped)
    return stripped


def clean_props(values: Mapping[str, Any]) -> dict[str, PropValue]:
    """Keep str/int/float/bool values (numpy scalars and size-1 arrays become Python numbers)."""
    out: dict[str, PropValue] = {}
    for key, value in values.items():
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(()).item()
        elif isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool):
            out[str(key)] = int(value)
        elif isinstance(value, (int, float)):
            out[str(key)] = value
        elif isinstance(value, str):
            out[str(key)] = parse_value(value)
        # lists, arrays and nested objects are left out: props are scalars
    return out
