"""A 2D member for SMILES input: a directed message-passing network (D-MPNN) on the bond graph.

A SMILES carries no geometry; the 3D SchNet members read force-field conformers, which differ from the DFT
minima they should stand for. A graph model reads what the SMILES does say (elements, bonds, aromaticity,
charges) and errs differently: on QM9's validation split the two models' gap errors correlate at 0.67,
so their blend is better than either (docs/benchmarks.md, issue 19). The blend weight is fitted on the
validation split and stored with the model.

The network is Chemprop 2's default D-MPNN (Yang et al., J. Chem. Inf. Model. 2019; Heid et al. 2024):
``BondMessagePassing`` with its default atom (``MultiHotAtomFeaturizer.v2``, 72 features) and bond
(``MultiHotBondFeaturizer``, 14) features, mean aggregation, batch norm, a feed-forward head and the target
scaling. It is trained with chemprop (``scripts/train_graph_member.py``) and its weights are read here by
name (:func:`from_chemprop_state`), so prediction needs neither chemprop nor its pickled checkpoints; a test
holds these predictions equal to chemprop's on fixed molecules.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

#: Chemprop 2's MultiHotAtomFeaturizer.v2 choices (each one-hot block has one more "other" slot)
ATOMIC_NUMS = list(range(1, 37)) + [53]
DEGREES = list(range(6))
FORMAL_CHARGES = [-1, -2, 1, 2, 0]
CHIRAL_TAGS = list(range(4))
NUM_HS = list(range(5))
HYBRIDIZATIONS = ("S", "SP", "SP2", "SP2D", "SP3", "SP3D", "SP3D2")
ATOM_FDIM = sum(len(c) + 1 for c in (ATOMIC_NUMS, DEGREES, FORMAL_CHARGES, CHIRAL_TAGS, NUM_HS, HYBRIDIZATIONS)) + 2
BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
BOND_STEREOS = list(range(6))
BOND_FDIM = 1 + len(BOND_TYPES) + 2 + len(BOND_STEREOS) + 1


def _one_hot_blocks(values: Sequence[Any], choices: Sequence[Sequence[Any]]) -> list[int]:
    """Set-bit positions of consecutive one-hot blocks, each with a final slot for unlisted values."""
    bits, start = [], 0
    for value, options in zip(values, choices):
        bits.append(start + (options.index(value) if value in options else len(options)))
        start += len(options) + 1
    return bits


def atom_features(atom: Any) -> np.ndarray:
    """Chemprop 2's default atom features: element, degree, charge, chiral tag, H count, hybridization
    (one-hot with an "other" slot each), aromatic flag, mass / 100."""
    from rdkit.Chem.rdchem import HybridizationType

    hybrid = [getattr(HybridizationType, h) for h in HYBRIDIZATIONS]
    x = np.zeros(ATOM_FDIM, dtype=np.float32)
    values = [atom.GetAtomicNum(), atom.GetTotalDegree(), atom.GetFormalCharge(), int(atom.GetChiralTag()),
              int(atom.GetTotalNumHs()), atom.GetHybridization()]
    x[_one_hot_blocks(values, [ATOMIC_NUMS, DEGREES, FORMAL_CHARGES, CHIRAL_TAGS, NUM_HS, hybrid])] = 1.0
    x[-2] = float(atom.GetIsAromatic())
    x[-1] = 0.01 * atom.GetMass()
    return x


def bond_features(bond: Any) -> np.ndarray:
    """Chemprop 2's default bond features: (not null), type, conjugated, in ring, stereo (+ "other").

    As chemprop does, an unlisted bond type sets the slot after the four types, which is also the
    conjugation slot."""
    from rdkit.Chem.rdchem import BondType

    types = [getattr(BondType, t) for t in BOND_TYPES]
    x = np.zeros(BOND_FDIM, dtype=np.float32)
    kind = bond.GetBondType()
    x[1 + (types.index(kind) if kind in types else len(types))] = 1.0
    x[1 + len(types)] = float(bond.GetIsConjugated())
    x[2 + len(types)] = float(bond.IsInRing())
    stereo = int(bond.GetStereo())
    x[3 + len(types) + (BOND_STEREOS.index(stereo) if stereo in BOND_STEREOS else len(BOND_STEREOS))] = 1.0
    return x


def graph_mol(smiles: str) -> Any:
    """The heavy-atom molecule the graph member reads (hydrogens implicit, as in training), or None."""
    from rdkit import Chem

    from chemaccel.chem.records import rdkit_log

    with rdkit_log():
        mol = Chem.MolFromSmiles(smiles)
    return mol if mol is not None and mol.GetNumAtoms() > 0 else None


def featurize(mols: Sequence[Any]) -> dict[str, torch.Tensor]:
    """One batch: atom features ``V``, directed-bond features ``E`` (two per bond), ``src``/``dst`` atom of
    each directed bond, ``rev`` (the index of its reverse), ``mol`` (the molecule of each atom)."""
    V, E, src, dst, rev, owner = [], [], [], [], [], []
    atoms = edges = 0
    for k, mol in enumerate(mols):
        V += [atom_features(a) for a in mol.GetAtoms()]
        owner += [k] * mol.GetNumAtoms()
        for bond in mol.GetBonds():
            u, v = bond.GetBeginAtomIdx() + atoms, bond.GetEndAtomIdx() + atoms
            e = bond_features(bond)
            E += [e, e]
            src += [u, v]
            dst += [v, u]
            rev += [edges + 1, edges]
            edges += 2
        atoms += mol.GetNumAtoms()
    return {"V": torch.from_numpy(np.stack(V)) if V else torch.zeros(0, ATOM_FDIM),
            "E": torch.from_numpy(np.stack(E)) if E else torch.zeros(0, BOND_FDIM),
            "src": torch.tensor(src, dtype=torch.long), "dst": torch.tensor(dst, dtype=torch.long),
            "rev": torch.tensor(rev, dtype=torch.long), "mol": torch.tensor(owner, dtype=torch.long)}


def _sum_into(rows: int, index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return torch.zeros(rows, values.shape[1], dtype=values.dtype).index_add_(0, index, values)


class GraphMPNN(nn.Module):
    """D-MPNN -> mean over atoms -> batch norm -> feed-forward -> ``y * scale + mean`` (eV per target).

    ``arch``: ``{"d_h", "depth", "ffn_hidden", "ffn_layers", "targets"}`` (and the feature sizes, checked)."""

    def __init__(self, arch: Mapping[str, Any]) -> None:
        super().__init__()
        if int(arch.get("d_v", ATOM_FDIM)) != ATOM_FDIM or int(arch.get("d_e", BOND_FDIM)) != BOND_FDIM:
            raise ValueError(f"graph member features {arch.get('d_v')}/{arch.get('d_e')} are not "
                             f"{ATOM_FDIM}/{BOND_FDIM} (chemprop 2's defaults)")
        self.arch = dict(arch)
        d_h, self.depth = int(arch["d_h"]), int(arch["depth"])
        self.targets = list(arch["targets"])
        self.W_i = nn.Linear(ATOM_FDIM + BOND_FDIM, d_h, bias=False)
        self.W_h = nn.Linear(d_h, d_h, bias=False)
        self.W_o = nn.Linear(ATOM_FDIM + d_h, d_h)
        self.bn = nn.BatchNorm1d(d_h)
        hidden, layers = int(arch["ffn_hidden"]), int(arch["ffn_layers"])
        dims = [d_h] + [hidden] * layers + [len(self.targets)]
        ffn: list[nn.Module] = [nn.Linear(dims[0], dims[1])]
        for a, b in zip(dims[1:-1], dims[2:]):
            ffn += [nn.ReLU(), nn.Linear(a, b)]
        self.ffn = nn.Sequential(*ffn)
        self.register_buffer("y_mean", torch.zeros(len(self.targets)))
        self.register_buffer("y_scale", torch.ones(len(self.targets)))

    def forward(self, g: Mapping[str, torch.Tensor]) -> torch.Tensor:
        n_atoms = g["V"].shape[0]
        h0 = self.W_i(torch.cat([g["V"][g["src"]], g["E"]], dim=1))
        h = torch.relu(h0)
        for _ in range(1, self.depth):
            m = _sum_into(n_atoms, g["dst"], h)[g["src"]] - h[g["rev"]]
            h = torch.relu(h0 + self.W_h(m))
        atom_h = torch.relu(self.W_o(torch.cat([g["V"], _sum_into(n_atoms, g["dst"], h)], dim=1)))
        n_mols = int(g["mol"].max()) + 1 if n_atoms else 0
        counts = torch.bincount(g["mol"], minlength=n_mols).clamp(min=1).unsqueeze(1).to(atom_h.dtype)
        pooled = _sum_into(n_mols, g["mol"], atom_h) / counts
        return self.ffn(self.bn(pooled)) * self.y_scale + self.y_mean

    @torch.no_grad()
    def predict_smiles(self, smiles: Sequence[str], batch: int = 500) -> np.ndarray:
        """(molecules, targets) in eV; NaN rows where the SMILES cannot be read."""
        out = np.full((len(smiles), len(self.targets)), np.nan)
        mols = [graph_mol(s) for s in smiles]
        ok = [i for i, m in enumerate(mols) if m is not None]
        device, dtype = self.y_mean.device, self.y_mean.dtype
        for i in range(0, len(ok), batch):
            part = ok[i:i + batch]
            g = {k: v.to(device, dtype=dtype) if v.is_floating_point() else v.to(device)
                 for k, v in featurize([mols[j] for j in part]).items()}
            out[part] = self(g).cpu().numpy()
        return out


def from_chemprop_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A chemprop 2 ``MPNN`` (BondMessagePassing, mean aggregation, batch norm, RegressionFFN) state dict
    renamed to :class:`GraphMPNN`'s tensors."""
    out = {"W_i.weight": state["message_passing.W_i.weight"], "W_h.weight": state["message_passing.W_h.weight"],
           "W_o.weight": state["message_passing.W_o.weight"], "W_o.bias": state["message_passing.W_o.bias"],
           "y_mean": state["predictor.output_transform.mean"].reshape(-1),
           "y_scale": state["predictor.output_transform.scale"].reshape(-1)}
    for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        out[f"bn.{name}"] = state[f"bn.{name}"]
    layer = 0
    while f"predictor.ffn.{layer}.{0 if layer == 0 else 2}.weight" in state:
        sub = 0 if layer == 0 else 2
        for name in ("weight", "bias"):
            out[f"ffn.{2 * layer}.{name}"] = state[f"predictor.ffn.{layer}.{sub}.{name}"]
        layer += 1
    return out
