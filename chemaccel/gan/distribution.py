"""The metrics the generative-chemistry field reports beyond validity / uniqueness / novelty.

* ``uniqueness_at(smiles, n)``: distinct valid molecules among the valid ones of the first ``n`` samples
  (MOSES reports it at 1,000 and 10,000 samples: a model that repeats itself slowly looks fine at 1,000).
* ``internal_diversity(smiles)``: MOSES' IntDiv1, one minus the mean Tanimoto similarity of Morgan
  fingerprints (radius 2, 1,024 bits) over all pairs of valid samples, duplicates included (a model
  that repeats molecules is less diverse). Above ``max_molecules`` valid samples a seeded random subset
  is used (all pairs of 10,000 molecules would be 50 million comparisons).
* ``fcd(generated, reference)``: the Fréchet ChemNet Distance (Preuer et al. 2018) with the package
  ``fcd_torch`` (its shipped ChemNet weights); None when the package is not installed.
* ``property_distances(generated, reference)``: the 1-D Wasserstein distance between generated and
  reference molecules of QED, Crippen logP, the SA score (RDKit Contrib's sascorer), the molecular weight
  and the heavy-atom count (MOSES' property panel, with scipy).

Invalid samples (None or "") are left out of every distribution metric.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Sequence

import numpy as np
from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem import QED, Crippen, Descriptors, rdFingerprintGenerator

PROPERTIES = ("qed", "logp", "sa", "weight", "heavy_atoms")


def uniqueness_at(smiles: Sequence[str | None], n: int) -> float:
    """Distinct / valid among the first ``n`` samples (0.0 when none of them is valid)."""
    valid = [s for s in smiles[:n] if s]
    return len(set(valid)) / len(valid) if valid else 0.0


def _mols(smiles: Sequence[str | None]) -> list[Chem.Mol]:
    RDLogger.DisableLog("rdApp.*")
    try:
        mols = [Chem.MolFromSmiles(s) for s in smiles if s]
    finally:
        RDLogger.EnableLog("rdApp.*")
    return [m for m in mols if m is not None]


def internal_diversity(smiles: Sequence[str | None], max_molecules: int = 2000, seed: int = 0) -> float:
    """1 - mean pairwise Tanimoto similarity (Morgan r=2, 1,024 bits) of the valid samples, self-pairs
    excluded; NaN with fewer than two valid molecules."""
    valid = [s for s in smiles if s]
    if len(valid) > max_molecules:
        pick = np.random.default_rng(seed).choice(len(valid), max_molecules, replace=False)
        valid = [valid[i] for i in sorted(pick)]
    mols = _mols(valid)
    if len(mols) < 2:
        return math.nan
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    fps = [gen.GetFingerprint(m) for m in mols]
    total, pairs = 0.0, 0
    for i in range(len(fps) - 1):
        sims = DataStructs.BulkTanimotoSimilarity(fps[i], fps[i + 1:])
        total += float(np.sum(sims))
        pairs += len(sims)
    return 1.0 - total / pairs


def molecule_properties(smiles: Sequence[str | None]) -> dict[str, np.ndarray]:
    """QED, logP, SA score, molecular weight and heavy-atom count of each valid molecule."""
    from rdkit.Contrib.SA_Score import sascorer  # RDKit ships it under Contrib

    mols = _mols(smiles)
    return {
        "qed": np.array([QED.qed(m) for m in mols]),
        "logp": np.array([Crippen.MolLogP(m) for m in mols]),
        "sa": np.array([sascorer.calculateScore(m) for m in mols]),
        "weight": np.array([Descriptors.MolWt(m) for m in mols]),
        "heavy_atoms": np.array([m.GetNumHeavyAtoms() for m in mols], dtype=float),
    }


def property_distances(generated: Sequence[str | None], reference: Sequence[str | None]) -> dict[str, float]:
    """Wasserstein-1 distance of each of :data:`PROPERTIES` between generated and reference molecules
    (NaN for a side without valid molecules)."""
    from scipy.stats import wasserstein_distance

    gen, ref = molecule_properties(generated), _reference_properties(tuple(s for s in reference if s))
    return {name: (float(wasserstein_distance(gen[name], ref[name])) if len(gen[name]) and len(ref[name])
                   else math.nan) for name in PROPERTIES}


@functools.lru_cache(maxsize=2)
def _reference_properties(reference: tuple[str, ...]) -> dict[str, np.ndarray]:
    return molecule_properties(reference)


def fcd_available() -> bool:
    try:
        import fcd_torch  # noqa: F401
    except ImportError:
        return False
    return True


def fcd(generated: Sequence[str | None], reference: Sequence[str | None], device: str = "cpu") -> float | None:
    """Fréchet ChemNet Distance between the valid generated and reference molecules (``fcd_torch``);
    None when ``fcd_torch`` is not installed, NaN with fewer than two valid molecules on a side. The
    reference statistics are kept for the next call with the same reference set."""
    if not fcd_available():
        return None
    gen = [s for s in generated if s]
    ref = tuple(s for s in reference if s)
    if len(gen) < 2 or len(ref) < 2:
        return math.nan
    return float(_chemnet(device).metric(_reference_stats(ref, device), _chemnet(device).precalc(gen)))


@functools.lru_cache(maxsize=2)
def _chemnet(device: str):
    from fcd_torch import FCD

    return FCD(device=device, n_jobs=1, batch_size=512)


@functools.lru_cache(maxsize=2)
def _reference_stats(reference: tuple[str, ...], device: str) -> dict[str, np.ndarray]:
    return _chemnet(device).precalc(list(reference))


def distribution_metrics(smiles: Sequence[str | None], reference: Sequence[str] | None = None,
                         device: str = "cpu") -> dict[str, float | int | None]:
    """Uniqueness at 1,000 and 10,000 samples (where there are that many), internal diversity, and with
    ``reference`` the FCD (None without ``fcd_torch``), the property distances and ``n_reference``."""
    out: dict[str, float | int | None] = {}
    for n in (1000, 10000):
        if len(smiles) >= n:
            out[f"uniqueness_{n}"] = uniqueness_at(smiles, n)
    out["internal_diversity"] = internal_diversity(smiles)
    if reference is not None:
        out["n_reference"] = len(reference)
        out["fcd"] = fcd(smiles, reference, device)
        out.update({f"w_{k}": v for k, v in property_distances(smiles, reference).items()})
    return out


def read_reference(path: str | Path) -> list[str]:
    """Reference molecules for :func:`distribution_metrics`: a molecule store's test split (all of it when
    it has no splits) or a SMILES file (first column; a header line ``smiles`` is skipped). Unparsable
    SMILES are left out; none left is an :class:`~chemaccel.errors.InputError` naming the file."""
    from chemaccel.errors import InputError

    path = Path(path)
    if not path.exists():
        raise InputError(path, "reference file not found")
    if path.suffix.lower() in (".h5", ".hdf5"):
        from chemaccel.gan.data import store_smiles

        smiles = store_smiles(path, "test")
    else:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise InputError(path, f"not a text SMILES file ({exc.reason} at byte {exc.start})") from None
        smiles = [line.replace(",", " ").split()[0] for line in lines if line.strip()]
        if smiles and smiles[0].lower() == "smiles":
            smiles = smiles[1:]
    RDLogger.DisableLog("rdApp.*")
    try:
        good = [s for s in smiles if s and Chem.MolFromSmiles(s) is not None]
    finally:
        RDLogger.EnableLog("rdApp.*")
    if not good:
        raise InputError(path, f"no readable reference molecule (of {len(smiles)} records)")
    return good
