"""Applicability domain: is a molecule like those the model was trained on? A verdict with reasons.

Three kinds of checks, all cheap:

* the graph (when there is one): elements, heavy-atom and atom counts, ring sizes, net charge and atom
  types (element, aromaticity, degree, hydrogens, formal charge) against the sets seen in training;
* the geometry: atoms on top of each other (< 0.5 Angstrom), a geometry that falls apart into more
  pieces than the molecule has (an atom flung away, a torn bond), coordinates beyond 1e4 Angstrom;
  non-finite coordinates are an error, not a verdict;
* the learned representation: each atom's SchNet feature vector against the training atoms of its
  element, as a Mahalanobis distance (per-element means, one pooled covariance); the molecule's score is
  its largest atom distance, and the threshold is a high quantile of the validation molecules' scores,
  so about that fraction of validation molecules falls outside by this test alone.

A molecule outside the domain still gets its value; the verdict says why it may not be trusted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import torch

OVERLAP_ANGSTROM = 0.5
FAR_ANGSTROM = 1.0e4
BOND_SCALE = 1.3  # atoms closer than 1.3 x the sum of covalent radii count as bonded for the fragment check


def atom_type(atom: Any) -> str:
    """``C:ar0:d4:h3:q0``-style key of an rdkit atom (element, aromatic, degree with hydrogens, hydrogens,
    charge); the same whether the hydrogens are explicit atoms or implicit counts."""
    return (f"{atom.GetSymbol()}:ar{int(atom.GetIsAromatic())}:d{atom.GetTotalDegree()}"
            f":h{atom.GetTotalNumHs(includeNeighbors=True)}:q{atom.GetFormalCharge()}")


@dataclass
class GraphFacts:
    """What the graph checks look at, from an rdkit molecule."""

    heavy_atoms: int
    atoms: int
    charge: int
    ring_sizes: set[int]
    atom_types: set[str]
    fragments: int


def graph_facts(mol: Any) -> GraphFacts:
    from rdkit import Chem

    heavy = sum(1 for a in mol.GetAtoms() if a.GetAtomicNum() > 1)
    atoms = heavy + sum(a.GetTotalNumHs(includeNeighbors=True) for a in mol.GetAtoms() if a.GetAtomicNum() > 1)
    rings = {len(r) for r in mol.GetRingInfo().AtomRings()}
    types = {atom_type(a) for a in mol.GetAtoms() if a.GetAtomicNum() > 1}
    return GraphFacts(heavy, atoms, Chem.GetFormalCharge(mol), rings, types, len(Chem.GetMolFrags(mol)))


@dataclass
class DomainRules:
    """The JSON part of a domain (the two latent matrices live with the weights).

    Attributes:
        elements: atomic numbers seen in training.
        max_heavy_atoms, max_atoms: the largest training molecule.
        ring_sizes, charges, atom_types: what training molecules contain.
        latent_threshold: largest per-atom Mahalanobis distance still in domain (0: latent check off).
        latent_quantile: the validation quantile the threshold was set at.
        histograms: target -> ``{"edges": [...], "density": [...]}``, the training distribution of the
            target in eV (shown behind the predictions in the app).
    """

    elements: list[int] = field(default_factory=list)
    max_heavy_atoms: int = 0
    max_atoms: int = 0
    ring_sizes: list[int] = field(default_factory=list)
    charges: list[int] = field(default_factory=list)
    atom_types: list[str] = field(default_factory=list)
    latent_threshold: float = 0.0
    latent_quantile: float = 0.0
    histograms: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "DomainRules | None":
        if not data:
            return None
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def fit_rules(mols: Iterable[Any], numbers: Iterable[np.ndarray]) -> DomainRules:
    """The graph part of a domain from training molecules (rdkit Mols) and their atomic numbers."""
    rules = DomainRules()
    elements: set[int] = set()
    rings: set[int] = set()
    charges: set[int] = set()
    types: set[str] = set()
    for z in numbers:
        elements.update(int(v) for v in np.unique(z))
        rules.max_atoms = max(rules.max_atoms, len(z))
    for mol in mols:
        if mol is None:
            continue
        f = graph_facts(mol)
        rules.max_heavy_atoms = max(rules.max_heavy_atoms, f.heavy_atoms)
        rings |= f.ring_sizes
        charges.add(f.charge)
        types |= f.atom_types
    rules.elements, rules.ring_sizes = sorted(elements), sorted(rings)
    rules.charges, rules.atom_types = sorted(charges), sorted(types)
    return rules


def graph_reasons(facts: GraphFacts, rules: DomainRules) -> list[str]:
    """Why a molecule's graph lies outside ``rules`` (empty: inside)."""
    out = []
    if facts.heavy_atoms > rules.max_heavy_atoms:
        out.append(f"{facts.heavy_atoms} heavy atoms (training molecules: at most {rules.max_heavy_atoms})")
    unseen_rings = sorted(facts.ring_sizes - set(rules.ring_sizes))
    if unseen_rings:
        out.append(f"ring size(s) {', '.join(map(str, unseen_rings))} not seen in training")
    if rules.charges and facts.charge not in rules.charges:
        out.append(f"net charge {facts.charge:+d} not seen in training")
    unseen = sorted(facts.atom_types - set(rules.atom_types))
    if unseen:
        shown = ", ".join(unseen[:3]) + (" ..." if len(unseen) > 3 else "")
        out.append(f"{len(unseen)} atom type(s) not seen in training ({shown})")
    return out


def geometry_reasons(numbers: np.ndarray, positions: np.ndarray, expected_fragments: int = 1) -> list[str]:
    """Why a geometry lies outside what a model trained on sensible molecules can judge (empty: fine).

    Call only with finite positions (non-finite ones are an error, see :func:`nonfinite`).
    """
    from ase.data import covalent_radii
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pos = np.asarray(positions, dtype=np.float64)
    out = []
    if len(pos) and np.abs(pos).max() > FAR_ANGSTROM:
        out.append(f"coordinates beyond {FAR_ANGSTROM:g} Angstrom")
    if len(pos) < 2:
        return out
    tree = cKDTree(pos)  # neighbours by a k-d tree: a 100,000-atom file needs no n x n matrix
    dist, nearest = tree.query(pos, k=2)
    closest = int(np.argmin(dist[:, 1]))
    if dist[closest, 1] < OVERLAP_ANGSTROM:
        i, j = sorted((closest, int(nearest[closest, 1])))
        out.append(f"atoms {i + 1} and {j + 1} on top of each other ({dist[closest, 1]:.2f} Angstrom apart)")
    radii = covalent_radii[np.asarray(numbers, dtype=np.int64)]
    pairs = tree.query_pairs(r=BOND_SCALE * 2 * float(radii.max()), output_type="ndarray")
    if len(pairs):
        d = np.linalg.norm(pos[pairs[:, 0]] - pos[pairs[:, 1]], axis=1)
        pairs = pairs[d < BOND_SCALE * (radii[pairs[:, 0]] + radii[pairs[:, 1]])]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])) if len(pairs) else ([], ([], [])),
                       shape=(len(pos), len(pos)))
    n_frag = connected_components(graph, directed=False)[0]
    if n_frag > max(1, expected_fragments):
        out.append(f"the geometry falls apart into {n_frag} pieces (the molecule has {max(1, expected_fragments)})")
    return out


def nonfinite(positions: np.ndarray) -> bool:
    return not bool(np.all(np.isfinite(np.asarray(positions, dtype=np.float64))))


# ------------------------------------------------------------------ the latent (representation) check
class LatentStats:
    """Accumulates per-element feature sums and the pooled scatter, then gives means and a precision."""

    def __init__(self, width: int, max_z: int) -> None:
        self.sum = np.zeros((max_z, width))
        self.count = np.zeros(max_z)
        self.outer = np.zeros((width, width))
        self.raw: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, features: np.ndarray, numbers: np.ndarray) -> None:
        f = np.asarray(features, dtype=np.float64)
        z = np.asarray(numbers, dtype=np.int64)
        np.add.at(self.sum, z, f)
        np.add.at(self.count, z, 1)
        self.raw.append((f, z))

    def finish(self, ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
        """(per-element mean, precision): the inverse of the pooled within-element covariance (+ ridge)."""
        mean = self.sum / np.maximum(self.count, 1)[:, None]
        width = self.sum.shape[1]
        scatter, n = np.zeros((width, width)), 0
        for f, z in self.raw:
            c = f - mean[z]
            scatter += c.T @ c
            n += len(z)
        cov = scatter / max(1, n - 1)
        cov += ridge * np.trace(cov) / width * np.eye(width)
        return mean, np.linalg.inv(cov)


def latent_scores(features: torch.Tensor, numbers: torch.Tensor, idx_m: torch.Tensor, n_molecules: int,
                  mean: torch.Tensor, precision: torch.Tensor) -> np.ndarray:
    """Per molecule, the largest Mahalanobis distance of its atoms' features (0 where no stats)."""
    c = features - mean[numbers]
    d2 = ((c @ precision) * c).sum(1).clamp_min(0).sqrt()
    out = torch.zeros(n_molecules, dtype=d2.dtype, device=d2.device)
    out = out.scatter_reduce(0, idx_m, d2, reduce="amax", include_self=True)
    return out.detach().cpu().numpy().astype(np.float64)


def verdict(reasons: Sequence[str]) -> tuple[str, str]:
    """(``in`` | ``outside``, the reasons joined)."""
    return ("outside", "; ".join(reasons)) if reasons else ("in", "")
