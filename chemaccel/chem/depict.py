"""2D depictions of molecules (rdkit ``rdMolDraw2D``) as PNG bytes or SVG text.

Used by the desktop app for table thumbnails and the details pane, and by scripts that want a
picture of a record. Molecules read with 3D coordinates (SDF, XYZ) are drawn from fresh 2D
coordinates, with explicit hydrogens removed, so a depiction looks the same whatever the source.

Example:
    >>> png = depict_png("c1ccccc1O", 200)  # doctest: +SKIP
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"  # doctest: +SKIP
    True
"""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem import rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D

from chemaccel.chem.records import parse_smiles, rdkit_log
from chemaccel.errors import InputError

__all__ = ["depict_png", "depict_svg", "PNG_MAGIC"]

#: The first eight bytes of every PNG file.
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

Size = int | tuple[int, int]


def depict_png(mol: Chem.Mol | str, size: Size = 300, *, legend: str = "") -> bytes:
    """A 2D depiction as PNG bytes.

    Args:
        mol: an rdkit molecule (e.g. ``record.mol``) or a SMILES string.
        size: width and height in pixels (one int: a square).
        legend: text drawn under the molecule.

    Raises:
        InputError: the SMILES cannot be parsed, ``mol`` is None, or ``size`` is not positive.
    """
    width, height = _size(size)
    drawer = rdMolDraw2D.MolDraw2DCairo(width, height)
    _draw(drawer, _prepare(mol), legend)
    return drawer.GetDrawingText()


def depict_svg(mol: Chem.Mol | str, size: Size = 300, *, legend: str = "") -> str:
    """A 2D depiction as SVG text (same arguments as :func:`depict_png`)."""
    width, height = _size(size)
    drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
    _draw(drawer, _prepare(mol), legend)
    return drawer.GetDrawingText()


def _size(size: Size) -> tuple[int, int]:
    width, height = (size, size) if isinstance(size, int) else size
    if int(width) <= 0 or int(height) <= 0:
        raise InputError("<depiction>", f"size must be positive, got {width}x{height}")
    return int(width), int(height)


def _prepare(mol: Chem.Mol | str | None) -> Chem.Mol:
    """A copy of ``mol`` without explicit hydrogens and with fresh 2D coordinates, ready to draw."""
    if mol is None:
        raise InputError("<depiction>", "no molecule to draw")
    if isinstance(mol, str):
        parsed, reason = parse_smiles(mol)
        if parsed is None:
            raise InputError("<smiles>", reason or "cannot parse SMILES")
        mol = parsed
    with rdkit_log():
        copy = Chem.Mol(mol)
        try:
            copy = Chem.RemoveHs(copy)
        except Exception:  # unsanitizable leftovers: draw them with their hydrogens
            copy = Chem.Mol(mol)
        copy.RemoveAllConformers()
        rdDepictor.Compute2DCoords(copy)
        try:
            return rdMolDraw2D.PrepareMolForDrawing(copy)
        except Exception:  # kekulization can fail on odd aromatic input: draw it as it is
            return copy


def _draw(drawer: rdMolDraw2D.MolDraw2D, mol: Chem.Mol, legend: str) -> None:
    with rdkit_log():
        drawer.DrawMolecule(mol, legend=legend)
        drawer.FinishDrawing()
