"""3D coordinates for molecules that have none: rdkit ETKDGv3 embedding, then a force-field minimum.

The force field is MMFF94; when MMFF94 has no parameters for a molecule (unusual elements, some
hypervalent atoms) UFF is used instead and :attr:`EmbedResult.note` says so. Everything is seeded:
the same molecule and seed give the same coordinates, bit for bit, on one machine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rdkit import Chem
from rdkit.Chem import rdDistGeom, rdForceFieldHelpers

from chemaccel.chem.records import MoleculeRecord, geometry_of, rdkit_log

#: Default number of embedding attempts (each with the next seed; later ones from random coordinates).
MAX_ATTEMPTS = 5
#: Default maximum number of force-field minimisation steps.
MAX_ITERS = 2000


@dataclass(frozen=True)
class EmbedResult:
    """What :func:`embed_3d` made.

    Attributes:
        mol: the molecule with explicit hydrogens and one 3D conformer (Angstrom), or None.
        error: why embedding failed, or None.
        energy: force-field energy of the returned conformer in kcal/mol (None when not optimized).
        forcefield: "MMFF94", "UFF", or None (not optimized).
        note: a remark worth showing the user (a UFF fallback, no convergence), or None.
        attempts: embedding attempts used.
    """

    mol: Chem.Mol | None
    error: str | None = None
    energy: float | None = None
    forcefield: str | None = None
    note: str | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.mol is not None and self.error is None


def embed_3d(
    mol: Chem.Mol,
    seed: int = 0,
    max_attempts: int = MAX_ATTEMPTS,
    optimize: bool = True,
    max_iters: int = MAX_ITERS,
) -> EmbedResult:
    """Add hydrogens, embed in 3D with ETKDGv3, and minimise with MMFF94 (UFF as a fallback).

    Args:
        mol: a sanitized molecule (existing conformers are ignored).
        seed: random seed; attempt ``k`` uses ``seed + k``.
        max_attempts: embedding attempts before giving up.
        optimize: minimise the embedded geometry with a force field.
        max_iters: force-field minimisation steps at most.
    """
    if mol is None or mol.GetNumAtoms() == 0:
        return EmbedResult(None, error="no atoms to embed")
    work = Chem.Mol(mol)
    work.RemoveAllConformers()
    with rdkit_log():
        work = Chem.AddHs(work)
    attempts = 0
    conf_id = -1
    for attempt in range(max(1, max_attempts)):
        attempts = attempt + 1
        params = rdDistGeom.ETKDGv3()
        params.randomSeed = (int(seed) + attempt) & 0x7FFFFFFF
        params.useRandomCoords = attempt > 0
        params.numThreads = 1
        with rdkit_log():
            conf_id = rdDistGeom.EmbedMolecule(work, params)
        if conf_id >= 0:
            break
    if conf_id < 0:
        return EmbedResult(None, error=f"3D embedding failed after {attempts} attempts", attempts=attempts)
    if not optimize:
        return EmbedResult(work, attempts=attempts)
    return _optimize(work, max_iters, attempts)


def _optimize(mol: Chem.Mol, max_iters: int, attempts: int) -> EmbedResult:
    with rdkit_log():
        forcefield = None
        note = None
        if rdForceFieldHelpers.MMFFHasAllMoleculeParams(mol):
            props = rdForceFieldHelpers.MMFFGetMoleculeProperties(mol, mmffVariant="MMFF94")
            ff = rdForceFieldHelpers.MMFFGetMoleculeForceField(mol, props)
            forcefield = "MMFF94"
        elif rdForceFieldHelpers.UFFHasAllMoleculeParams(mol):
            ff = rdForceFieldHelpers.UFFGetMoleculeForceField(mol)
            forcefield = "UFF"
            note = "MMFF94 has no parameters for this molecule; optimized with UFF"
        else:
            return EmbedResult(
                mol, note="no MMFF94 or UFF parameters; geometry not optimized", attempts=attempts
            )
        if ff is None:
            note = f"{forcefield} setup failed; geometry not optimized"
            return EmbedResult(mol, note=note, attempts=attempts)
        ff.Initialize()
        not_converged = ff.Minimize(maxIts=max_iters)
        energy = float(ff.CalcEnergy())
    if not_converged:
        extra = f"{forcefield} minimisation did not converge in {max_iters} steps"
        note = f"{note}; {extra}" if note else extra
    return EmbedResult(mol, energy=energy, forcefield=forcefield, note=note, attempts=attempts)


def embed_records(
    records: Iterable[MoleculeRecord],
    seed: int = 0,
    *,
    keep_existing: bool = True,
    max_attempts: int = MAX_ATTEMPTS,
    optimize: bool = True,
) -> Iterator[MoleculeRecord]:
    """Embed each record's molecule in 3D; yields one record per input record, in order.

    Good records come back with explicit hydrogens, ``numbers``/``positions`` filled,
    ``geometry_source="forcefield"`` and the props ``forcefield`` and ``forcefield_energy``
    (kcal/mol), plus ``embed_note`` when there is a remark (UFF fallback, no convergence). A
    record that cannot be embedded comes back as an error record with the reason; error records
    pass through unchanged.

    Args:
        records: any iterable (a generator from ``read_molecules`` streams).
        seed: random seed, the same for every molecule.
        keep_existing: pass records that already have 3D coordinates through unchanged.
        max_attempts: see :func:`embed_3d`.
        optimize: see :func:`embed_3d`.
    """
    for record in records:
        if not record.ok or (keep_existing and record.has_3d):
            yield record
            continue
        if record.mol is None:
            yield dataclasses.replace(record, error="no molecular graph to embed (bonds not perceived)")
            continue
        result = embed_3d(record.mol, seed=seed, max_attempts=max_attempts, optimize=optimize)
        if not result.ok or result.mol is None:
            yield dataclasses.replace(record, error=result.error or "3D embedding failed")
            continue
        geometry = geometry_of(result.mol)
        if geometry is None:  # pragma: no cover - EmbedMolecule always makes a 3D conformer
            yield dataclasses.replace(record, error="3D embedding made no 3D conformer")
            continue
        props = dict(record.props)
        if result.forcefield is not None:
            props["forcefield"] = result.forcefield
            props["forcefield_energy"] = result.energy if result.energy is not None else float("nan")
        if result.note:
            props["embed_note"] = result.note
        yield dataclasses.replace(
            record,
            mol=result.mol,
            numbers=geometry[0],
            positions=geometry[1],
            props=props,
            geometry_source="forcefield",
        )
