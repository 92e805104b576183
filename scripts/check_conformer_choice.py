"""Average the conformers, or pick one by its force-field energy? Measured on the validation split.

    python scripts/check_conformer_choice.py --store qm9.h5 --model runs/A4-mmff-long \
        --sets mmff,mmff-c1,mmff-c2

For each validation molecule present in every geometry set (``chemaccel data embed``), predicts the gap
on each conformer with the model, computes each conformer's MMFF94 energy with rdkit, and prints the MAE
of: the first conformer, the mean over conformers, the lowest-energy conformer, and Boltzmann-weighted
means at a few kT. Reads the validation split only.
"""

from __future__ import annotations

import argparse

import h5py
import numpy as np
import torch


def mmff_energy(smiles: str, numbers: np.ndarray, positions: np.ndarray) -> float:
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from chemaccel.chem.records import parse_smiles

    mol, _ = parse_smiles(smiles)
    if mol is None:
        return float("nan")
    mol = Chem.AddHs(mol)
    if mol.GetNumAtoms() != len(numbers) or any(a.GetAtomicNum() != int(z) for a, z in zip(mol.GetAtoms(), numbers)):
        return float("nan")  # not the atom order of the embedding
    conf = Chem.Conformer(mol.GetNumAtoms())
    for i, p in enumerate(positions):
        conf.SetAtomPosition(i, p.tolist())
    mol.AddConformer(conf, assignId=True)
    props = AllChem.MMFFGetMoleculeProperties(mol)
    return float(AllChem.MMFFGetMoleculeForceField(mol, props).CalcEnergy()) if props is not None else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--model", required=True, help="a property model folder")
    ap.add_argument("--sets", default="mmff,mmff-c1,mmff-c2", help="geometry sets, comma-separated")
    args = ap.parse_args()
    from chemaccel.chem.geometry_sets import read_geometry_set
    from chemaccel.datasets.qm9 import read_qm9_split
    from chemaccel.property.storage import load_model

    torch.set_num_threads(1)
    model = load_model(args.model)
    sets = [read_geometry_set(args.store, name) for name in args.sets.split(",")]
    idx = read_qm9_split(args.store)["valid"]
    with h5py.File(args.store, "r") as h5:
        truth = h5["properties/gap"][:][idx]
        smiles = [s.decode() if isinstance(s, bytes) else str(s) for s in h5["molecules/smiles"][:]]
    preds = np.full((len(idx), len(sets)), np.nan)
    energy = np.full_like(preds, np.nan)
    for c, gs in enumerate(sets):
        ok = [k for k, i in enumerate(idx) if gs.made[i]]
        for start in range(0, len(ok), 500):
            part = ok[start:start + 500]
            geoms = [gs.molecule(idx[k]) for k in part]
            preds[part, c] = model.predict_geometries([g[0] for g in geoms], [g[1] for g in geoms])[:, 0]
        for k in ok:
            z, r = gs.molecule(idx[k])
            energy[k, c] = mmff_energy(smiles[idx[k]], z, r)
    keep = ~np.isnan(preds).any(1) & ~np.isnan(energy).any(1)
    p, e, t = preds[keep], energy[keep], truth[keep]

    def mae(values: np.ndarray) -> float:
        return float(1000 * np.mean(np.abs(values - t)))

    print(f"{keep.sum()} validation molecules with {len(sets)} conformers and their MMFF94 energies")
    print(f"first conformer {mae(p[:, 0]):.1f} meV; mean of {len(sets)}: {mae(p.mean(1)):.1f} meV")
    print(f"lowest MMFF energy: {mae(p[np.arange(len(p)), e.argmin(1)]):.1f} meV")
    for kt in (0.3, 0.6, 1.0, 2.0):
        w = np.exp(-(e - e.min(1, keepdims=True)) / kt)
        print(f"Boltzmann kT {kt} kcal/mol: {mae((w / w.sum(1, keepdims=True) * p).sum(1)):.1f} meV")
    print(f"median energy spread of a molecule's conformers: {np.median(e.max(1) - e.min(1)):.2f} kcal/mol")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
