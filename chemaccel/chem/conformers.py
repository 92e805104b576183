"""3D coordinates for molecules that have none: rdkit ETKDGv3 embedding, then a force-field minimum.

The force field is MMFF94; when MMFF94 has no parameters for a molecule (unusual elements, some
hypervalent atoms) UFF is used instead and :attr:`EmbedResult.note` says so. Everything is seeded:
the same molecule and seed give the same coordinates, bit for bit, on one machine.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rdkit import Chem
from rdkit.Chem import rdDistGeom, rdForceFieldHelpers

from chemaccel.chem.records import MoleculeRecord, geometry_of, rdkit_log

#: Default number of ETKDG attempts (each with the next seed). The first starts from ETKDG's eigenvector
#: coordinates, the others from random coordinates, the last with chirality not enforced and smoothing
#: failures ignored. When all fail (strained polycyclic cages fail rdkit's tetrahedral-centre check
#: every time), the molecule is laid out in 2D, given random heights and relaxed with the force field
#: from a few starts; the lowest-energy result is kept and the note says so.
MAX_ATTEMPTS = 3
LAYOUT_STARTS = 4
RETRY_ITERATIONS = 50  # ETKDG's internal tries per retry (its default is 10 x atoms)
#: Default maximum number of force-field minimisation steps.
MAX_ITERS = 2000
#: Default wall-clock limit per molecule (embedding and minimisation together), seconds.
TIME_LIMIT_S = 10.0
_MINIMIZE_STEP = 200  # minimisation runs in slices of this many steps, checking the deadline between them


@dataclass(frozen=True)
class EmbedResult:
    """What :func:`embed_3d` made.

    Attributes:
        mol: the molecule with explicit hydrogens and one 3D conformer (Angstrom), or None.
        error: why embedding failed, or None.
        energy: force-field energy of the returned conformer in kcal/mol (None when not optimized).
        forcefield: "MMFF94", "UFF", or None (not optimized).
        note: a remark worth showing the user (a UFF fallback, no convergence, relaxed chirality), or None.
        attempts: embedding attempts used.
        seconds: wall-clock time spent.
    """

    mol: Chem.Mol | None
    error: str | None = None
    energy: float | None = None
    forcefield: str | None = None
    note: str | None = None
    attempts: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.mol is not None and self.error is None


def embed_3d(
    mol: Chem.Mol,
    seed: int = 0,
    max_attempts: int = MAX_ATTEMPTS,
    optimize: bool = True,
    max_iters: int = MAX_ITERS,
    time_limit: float | None = TIME_LIMIT_S,
) -> EmbedResult:
    """Add hydrogens, embed in 3D with ETKDGv3, and minimise with MMFF94 (UFF as a fallback).

    Args:
        mol: a sanitized molecule (existing conformers are ignored).
        seed: random seed; attempt ``k`` uses ``seed + k``.
        max_attempts: embedding attempts before giving up (see :data:`MAX_ATTEMPTS` for the ladder).
        optimize: minimise the embedded geometry with a force field.
        max_iters: force-field minimisation steps at most.
        time_limit: seconds for this molecule, embedding and minimisation together (None or 0: no
            limit). When it runs out the result is an error saying so (embedding), or the geometry
            reached so far with a note (minimisation).
    """
    start = time.perf_counter()
    if mol is None or mol.GetNumAtoms() == 0:
        return EmbedResult(None, error="no atoms to embed")
    deadline = start + time_limit if time_limit else None
    work = Chem.Mol(mol)
    work.RemoveAllConformers()
    with rdkit_log():
        work = Chem.AddHs(work)
    attempts = 0
    conf_id = -1
    relaxed_from = max(1, max_attempts - 1)
    timed_out = False
    for attempt in range(max(1, max_attempts)):
        left = None if deadline is None else deadline - time.perf_counter()
        if left is not None and left <= 0:
            timed_out = True
            break
        attempts = attempt + 1
        params = rdDistGeom.ETKDGv3()
        params.randomSeed = (int(seed) + attempt) & 0x7FFFFFFF
        params.useRandomCoords = attempt > 0
        if attempt > 0:  # retries are short: what the first full attempt cannot embed goes to the layout
            params.maxIterations = RETRY_ITERATIONS
        params.numThreads = 1
        if left is not None:
            params.timeout = max(1, int(math.ceil(left)))
        if attempt >= relaxed_from:
            params.enforceChirality = False
            params.ignoreSmoothingFailures = True
        with rdkit_log():
            conf_id = rdDistGeom.EmbedMolecule(work, params)
        if conf_id >= 0:
            break
    relaxed = "embedded with chirality not enforced (strict attempts failed)" if attempts > relaxed_from else None
    out_of_time = timed_out or (deadline is not None and time.perf_counter() >= deadline)
    if conf_id < 0 and optimize and not out_of_time:
        if _layout_embedding(work, seed):
            conf_id = 0
            relaxed = (f"ETKDG failed {attempts} times, so force-field relaxation from a 2D layout "
                       f"(best of {LAYOUT_STARTS} starts)")
    if conf_id < 0:
        seconds = time.perf_counter() - start
        if out_of_time:
            return EmbedResult(None, error=f"3D embedding ran out of its time limit ({time_limit:g} s) after "
                               f"{attempts} attempt(s)", attempts=attempts, seconds=seconds)
        return EmbedResult(None, error=f"3D embedding failed after {attempts} attempts", attempts=attempts,
                           seconds=seconds)
    if not optimize:
        return EmbedResult(work, note=relaxed, attempts=attempts, seconds=time.perf_counter() - start)
    result = _optimize(work, max_iters, attempts, deadline)
    note = "; ".join(n for n in (relaxed, result.note) if n) or None
    return dataclasses.replace(result, note=note, seconds=time.perf_counter() - start)


def _layout_embedding(mol: Chem.Mol, seed: int, starts: int = LAYOUT_STARTS) -> bool:
    """Coordinates for a molecule ETKDG cannot embed: 2D layout, random heights, force-field relaxation.

    Keeps the lowest-energy of ``starts`` relaxations as the molecule's only conformer; False when no
    force field has parameters for it.
    """
    import numpy as np
    from rdkit.Chem import rdDepictor
    from rdkit.Geometry import Point3D

    with rdkit_log():
        if rdForceFieldHelpers.MMFFHasAllMoleculeParams(mol):
            props = rdForceFieldHelpers.MMFFGetMoleculeProperties(mol, mmffVariant="MMFF94")
            make = lambda m: rdForceFieldHelpers.MMFFGetMoleculeForceField(m, props)  # noqa: E731
        elif rdForceFieldHelpers.UFFHasAllMoleculeParams(mol):
            make = rdForceFieldHelpers.UFFGetMoleculeForceField
        else:
            return False
        rng = np.random.default_rng(int(seed) & 0x7FFFFFFF)
        best = None
        for _ in range(max(1, starts)):
            mol.RemoveAllConformers()
            rdDepictor.Compute2DCoords(mol)
            conf = mol.GetConformer()
            pos = conf.GetPositions()
            pos[:, 2] = rng.normal(0.0, 1.0, len(pos))
            pos[:, :2] += rng.normal(0.0, 0.3, (len(pos), 2))
            for i, p in enumerate(pos):
                conf.SetAtomPosition(i, Point3D(*p))
            conf.Set3D(True)
            ff = make(mol)
            if ff is None:
                return False
            ff.Initialize()
            ff.Minimize(maxIts=5000)
            energy = float(ff.CalcEnergy())
            if best is None or energy < best[0]:
                best = (energy, mol.GetConformer().GetPositions().copy())
        conf = mol.GetConformer()
        for i, p in enumerate(best[1]):  # type: ignore[index]
            conf.SetAtomPosition(i, Point3D(*p))
    return True


def _optimize(mol: Chem.Mol, max_iters: int, attempts: int, deadline: float | None = None) -> EmbedResult:
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
        done, not_converged, out_of_time = 0, 1, False
        while done < max_iters and not_converged:
            if deadline is not None and time.perf_counter() >= deadline:
                out_of_time = True
                break
            steps = min(_MINIMIZE_STEP, max_iters - done)
            not_converged = ff.Minimize(maxIts=steps)
            done += steps
        energy = float(ff.CalcEnergy())
    if out_of_time:
        extra = f"{forcefield} minimisation stopped at the time limit after {done} steps"
        note = f"{note}; {extra}" if note else extra
    elif not_converged:
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
    time_limit: float | None = TIME_LIMIT_S,
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
        time_limit: seconds per molecule, see :func:`embed_3d`: one molecule never holds up a batch.
    """
    for record in records:
        if not record.ok or (keep_existing and record.has_3d):
            yield record
            continue
        if record.mol is None:
            yield dataclasses.replace(record, error="no molecular graph to embed (bonds not perceived)")
            continue
        result = embed_3d(record.mol, seed=seed, max_attempts=max_attempts, optimize=optimize,
                          time_limit=time_limit)
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
