"""Property models on the inputs users give: DFT geometry, force-field geometry, SMILES; and where the time goes.

    OMP_NUM_THREADS=1 python scripts/bench_property_inputs.py --store qm9.h5 --split valid \
        --models resources/models/qm9-gap-schnet-pruned runs/ff runs/mixed --geometries dft,mmff

For every model and geometry: the MAE (meV) over the split through the prediction path (failures
counted), and for calibrated models the 90 % interval coverage. Then ``--speed N`` SMILES of the split
are timed through the SMILES path in its parts (ETKDG + MMFF embedding, model forward) in one process,
and the dense and pruned models' forward passes on the same geometries (issue 4's speed rule), all in
the same run. Tune on ``--split valid``; read ``--split test`` once, for final figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date

import numpy as np
import torch

from chemaccel.chem.conformers import embed_3d
from chemaccel.chem.records import parse_smiles
from chemaccel.chem.store import MoleculeStore
from chemaccel.datasets.qm9 import read_qm9_split, split_subset
from chemaccel.property.evaluate_rows import evaluate_rows
from chemaccel.property.model import count_parameters
from chemaccel.property.storage import load_model


def speed(models: dict, store: str, split: str, n: int, repeats: int = 3) -> dict:
    idx = split_subset(read_qm9_split(store)[split], n, seed=7)
    with MoleculeStore.open(store) as s:
        smiles = [s[int(i)].smiles for i in idx]
    t0 = time.perf_counter()
    geoms = []
    for smi in smiles:
        res = embed_3d(parse_smiles(smi)[0], seed=0)
        if res.ok:
            geoms.append((np.array([a.GetAtomicNum() for a in res.mol.GetAtoms()]), res.mol.GetConformer().GetPositions()))
    embed_s = time.perf_counter() - t0
    out = {"n": len(smiles), "embedded": len(geoms), "embed_molecules_per_s": len(smiles) / embed_s, "models": {}}
    for name, model in models.items():
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(0, len(geoms), 100):
                part = geoms[i:i + 100]
                model.predict_details([g[0] for g in part], [g[1] for g in part])
            best = min(best, time.perf_counter() - t0)
        out["models"][name] = {"model_molecules_per_s": len(geoms) / best,
                               "pipeline_molecules_per_s": len(smiles) / (embed_s + best),
                               "params": count_parameters(model.module)}
    return out


def relax_arm(models: dict, store: str, split: str, u0_path: str, n: int) -> dict:
    """MAE on ``n`` molecules of the split: force-field geometry as is vs relaxed with the U0 model (BFGS)."""
    from ase import Atoms
    from ase.optimize import BFGS

    from chemaccel.chem.geometry_sets import read_geometry_set
    from chemaccel.property.calculator import PropertyCalculator
    from chemaccel.property.data import load_store

    u0 = load_model(u0_path)
    idx = split_subset(read_qm9_split(store)[split], n, seed=11)
    g = read_geometry_set(store, "mmff")
    truth = load_store(store, ["gap"]).y[idx, 0]
    raw, relaxed, steps = [], [], []
    for i in idx:
        z, r = g.molecule(int(i))
        atoms = Atoms(numbers=z, positions=r)
        atoms.calc = PropertyCalculator(u0)
        opt = BFGS(atoms, logfile=None)
        opt.run(fmax=0.05, steps=200)
        steps.append(opt.nsteps)
        raw.append((np.asarray(z), np.asarray(r, dtype=np.float64)))
        relaxed.append((np.asarray(z), atoms.get_positions()))
    out = {"n": len(idx), "mean_bfgs_steps": float(np.mean(steps)), "models": {}}
    for name, model in models.items():
        a = model.predict_details([x[0] for x in raw], [x[1] for x in raw])[0].mean(0)[:, 0]
        b = model.predict_details([x[0] for x in relaxed], [x[1] for x in relaxed])[0].mean(0)[:, 0]
        out["models"][name] = {"mae_mev_forcefield": float(np.abs(a - truth).mean() * 1000),
                               "mae_mev_relaxed_with_u0": float(np.abs(b - truth).mean() * 1000)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--split", default="valid", choices=["valid", "test"])
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--geometries", default="dft,mmff", help="dft, smiles and/or geometry sets of the store")
    ap.add_argument("--limit", type=int, default=None, help="N molecules of the split (a fixed random subset)")
    ap.add_argument("--workers", type=int, default=1, help="embedding processes for the smiles geometry")
    ap.add_argument("--speed", type=int, default=500, help="SMILES timed through the pipeline (0: skip)")
    ap.add_argument("--relax-with", default=None, help="a U0 model: also measure relaxing the mmff geometry first")
    ap.add_argument("--relax-n", type=int, default=200, help="molecules for the relaxation arm")
    ap.add_argument("--json", default=None, help="write the figures to this file too")
    args = ap.parse_args()
    torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "1")))
    models = {m.rstrip("/").split("/")[-1]: load_model(m) for m in args.models}
    figures: dict = {"date": str(date.today()), "machine": platform.processor() or platform.machine(),
                     "threads": torch.get_num_threads(), "split": args.split, "accuracy": {}}
    for g in [x.strip() for x in args.geometries.split(",") if x.strip()]:
        for name, model in models.items():
            r = evaluate_rows(model, args.store, split=args.split, geometry=g, limit=args.limit, workers=args.workers)
            row = r["results"][0]
            figures["accuracy"][f"{name} | {g}"] = {
                "mae_mev": row["mae_mev"], "n": r["n"], "failed": r["failed"], "outside_domain": r["outside_domain"],
                **{k: row[k] for k in ("coverage90", "mae_mev_least_certain_10pct", "mae_mev_other_90pct",
                                       "mae_mev_in_domain", "mae_mev_outside_domain") if k in row}}
            print(f"{name:32s} {g:8s} MAE {row['mae_mev']:6.1f} meV  n {r['n']}  failed {r['failed']}  "
                  f"outside {r['outside_domain']}" + (f"  coverage90 {row['coverage90']:.3f}" if "coverage90" in row else ""),
                  flush=True)
    if args.speed:
        figures["speed"] = speed(models, args.store, args.split, args.speed)
        sp = figures["speed"]
        print(f"embedding (ETKDG + MMFF, 1 process): {sp['embed_molecules_per_s']:.1f} molecules/s")
        for name, m in sp["models"].items():
            print(f"{name:32s} model {m['model_molecules_per_s']:8.1f} molecules/s   SMILES pipeline "
                  f"{m['pipeline_molecules_per_s']:6.1f} molecules/s   params {m['params']}")
    if args.relax_with:
        figures["relax"] = relax_arm(models, args.store, args.split, args.relax_with, args.relax_n)
        for name, m in figures["relax"]["models"].items():
            print(f"{name:32s} {figures['relax']['n']} molecules: force-field geometry {m['mae_mev_forcefield']:.1f} meV, "
                  f"relaxed with U0 first {m['mae_mev_relaxed_with_u0']:.1f} meV")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
