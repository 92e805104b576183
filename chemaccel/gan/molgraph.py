"""MolGAN-style molecular graphs: atom types and bond-type adjacency as one flat one-hot vector.

A molecule with at most ``max_atoms`` heavy atoms (N) is encoded, hydrogens implicit and aromatic rings
kekulized, as

* atom types ``(N,)``: index into ``ATOM_TYPES`` (0 = no atom; C, N, O, F for QM9),
* bond types of the upper triangle ``(N (N - 1) / 2,)``: index into ``BOND_TYPES`` (0 = no bond),

and the model sees the concatenated one-hot vectors (N * T + N (N - 1) / 2 * B values). Decoding builds an
rdkit molecule from the argmax types; it is *valid* when rdkit sanitizes it and it is one connected
fragment (MolGAN's rule). Metrics over generated samples (De Cao and Kipf 2018): validity = valid / all,
uniqueness = distinct canonical SMILES / valid, novelty = valid not in the training set / valid.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from rdkit import Chem, RDLogger

ATOM_TYPES: tuple[int, ...] = (0, 6, 7, 8, 9)  # none, C, N, O, F
BOND_TYPES: tuple[str, ...] = ("none", "single", "double", "triple")
_RD_BONDS = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3}
_TO_RD = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}


@dataclass
class EncodeReport:
    """What happened to the input molecules: kept, and skipped by reason."""

    kept: int = 0
    too_many_atoms: int = 0
    unparsable: int = 0
    unsupported: int = 0  # charged atoms or elements outside ATOM_TYPES

    @property
    def skipped(self) -> int:
        return self.too_many_atoms + self.unparsable + self.unsupported


def graph_dims(max_atoms: int) -> tuple[int, int, int]:
    """(atom-part size, bond-part size, total size) of the flat vector for ``max_atoms``."""
    n_pairs = max_atoms * (max_atoms - 1) // 2
    a, b = max_atoms * len(ATOM_TYPES), n_pairs * len(BOND_TYPES)
    return a, b, a + b


def encode_smiles(smiles: Iterable[str], max_atoms: int) -> tuple[np.ndarray, np.ndarray, list[str], EncodeReport]:
    """Encode SMILES as graphs.

    Returns:
        atom indices (n, N) int64, bond indices (n, N (N-1)/2) int64, the canonical SMILES of the kept
        molecules, and an :class:`EncodeReport` counting what was skipped and why.
    """
    report = EncodeReport()
    atoms_out, bonds_out, kept = [], [], []
    iu = np.triu_indices(max_atoms, k=1)
    z_index = {z: i for i, z in enumerate(ATOM_TYPES)}
    RDLogger.DisableLog("rdApp.*")
    try:
        for smi in smiles:
            mol = Chem.MolFromSmiles(smi) if smi else None
            if mol is None:
                report.unparsable += 1
                continue
            if mol.GetNumAtoms() > max_atoms:
                report.too_many_atoms += 1
                continue
            canonical = Chem.MolToSmiles(mol)  # before kekulizing: the form decode() gives back
            Chem.Kekulize(mol, clearAromaticFlags=True)
            atoms = np.zeros(max_atoms, dtype=np.int64)
            ok = True
            for atom in mol.GetAtoms():
                if atom.GetFormalCharge() != 0 or atom.GetAtomicNum() not in z_index:
                    ok = False
                    break
                atoms[atom.GetIdx()] = z_index[atom.GetAtomicNum()]
            adj = np.zeros((max_atoms, max_atoms), dtype=np.int64)
            for bond in mol.GetBonds():
                kind = _RD_BONDS.get(bond.GetBondType())
                if kind is None:
                    ok = False
                    break
                i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
                adj[i, j] = adj[j, i] = kind
            if not ok:
                report.unsupported += 1
                continue
            atoms_out.append(atoms)
            bonds_out.append(adj[iu])
            kept.append(canonical)
    finally:
        RDLogger.EnableLog("rdApp.*")
    report.kept = len(kept)
    n_pairs = max_atoms * (max_atoms - 1) // 2
    atoms_arr = np.stack(atoms_out) if atoms_out else np.zeros((0, max_atoms), dtype=np.int64)
    bonds_arr = np.stack(bonds_out) if bonds_out else np.zeros((0, n_pairs), dtype=np.int64)
    return atoms_arr, bonds_arr, kept, report


def to_onehot(atoms: np.ndarray, bonds: np.ndarray) -> np.ndarray:
    """Flat one-hot vectors (n, N*T + P*B), float32."""
    a = np.eye(len(ATOM_TYPES), dtype=np.float32)[atoms].reshape(len(atoms), -1)
    b = np.eye(len(BOND_TYPES), dtype=np.float32)[bonds].reshape(len(bonds), -1)
    return np.concatenate([a, b], axis=1)


def from_vectors(vectors: np.ndarray, max_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """Argmax atom and bond indices of flat (one-hot or logit) vectors: ((n, N), (n, P))."""
    a_size, _, total = graph_dims(max_atoms)
    if vectors.shape[1] != total:
        raise ValueError(f"graph vectors for {max_atoms} atoms have {total} values, got {vectors.shape[1]}")
    atoms = vectors[:, :a_size].reshape(len(vectors), max_atoms, len(ATOM_TYPES)).argmax(-1)
    bonds = vectors[:, a_size:].reshape(len(vectors), -1, len(BOND_TYPES)).argmax(-1)
    return atoms, bonds


def decode(atoms: np.ndarray, bonds: np.ndarray, max_atoms: int) -> str | None:
    """Canonical SMILES of one graph, or None when it is not a valid, connected molecule."""
    iu = np.triu_indices(max_atoms, k=1)
    mol = Chem.RWMol()
    index = {}
    for i, t in enumerate(atoms):
        if t != 0:
            index[i] = mol.AddAtom(Chem.Atom(ATOM_TYPES[int(t)]))
    if not index:
        return None
    for (i, j), kind in zip(zip(*iu), bonds):
        if kind != 0 and i in index and j in index:
            mol.AddBond(index[i], index[j], _TO_RD[int(kind)])
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # rdkit raises several types for bad valences
        return None
    smi = Chem.MolToSmiles(mol)
    if not smi or "." in smi:
        return None
    return smi


def decode_all(vectors: np.ndarray, max_atoms: int) -> list[str | None]:
    """Decode many flat vectors (rdkit's log silenced)."""
    atoms, bonds = from_vectors(vectors, max_atoms)
    RDLogger.DisableLog("rdApp.*")
    try:
        return [decode(a, b, max_atoms) for a, b in zip(atoms, bonds)]
    finally:
        RDLogger.EnableLog("rdApp.*")


def smiles_hash(smiles: str) -> int:
    """A 63-bit hash of a canonical SMILES (the training set is stored as these, not as text)."""
    return int.from_bytes(hashlib.blake2b(smiles.encode("utf-8"), digest_size=8).digest(), "little") >> 1


def hash_set(smiles: Sequence[str]) -> np.ndarray:
    """Sorted unique int64 hashes of ``smiles``."""
    return np.unique(np.array([smiles_hash(s) for s in smiles], dtype=np.int64))


def in_training_set(smiles: Sequence[str], train_hashes: np.ndarray) -> np.ndarray:
    """Boolean array: is each canonical SMILES one of the training molecules (by :func:`smiles_hash`)."""
    if not len(smiles) or not len(train_hashes):
        return np.zeros(len(smiles), dtype=bool)
    hashes = np.array([smiles_hash(s) for s in smiles], dtype=np.int64)
    pos = np.clip(np.searchsorted(train_hashes, hashes), 0, len(train_hashes) - 1)
    return train_hashes[pos] == hashes


def molecule_metrics(generated: Sequence[str | None], train_hashes: np.ndarray) -> dict[str, float | int]:
    """Validity, uniqueness and novelty (fractions) of decoded samples (None = invalid)."""
    n = len(generated)
    valid = [s for s in generated if s]
    n_valid = len(valid)
    unique = set(valid)
    novel = int((~in_training_set(valid, train_hashes)).sum())
    return {
        "n_samples": n,
        "n_valid": n_valid,
        "validity": n_valid / n if n else 0.0,
        "uniqueness": len(unique) / n_valid if n_valid else 0.0,
        "novelty": novel / n_valid if n_valid else 0.0,
        "n_unique": len(unique),
    }
