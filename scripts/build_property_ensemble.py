"""Assemble trained property models into a shipped ensemble with an applicability domain and a calibration.

    python scripts/build_property_ensemble.py --store qm9.h5 --members runs/ff-s0 runs/ff-s1 runs/ff-s2 \
        --sets mmff,mmff-c1,mmff-c2 --conformers 1 -o resources/models/qm9-gap-schnet-smiles

Steps (the validation split only; the test split is not read here):

1. the members' weights into one :class:`~chemaccel.property.ensemble.EnsembleSchNet`;
2. the graph rules of the domain (elements, sizes, rings, charges, atom types) from the TRAIN split's
   SMILES and atoms;
3. the latent statistics (per-element means and pooled covariance of member 0's atom features) from a
   fixed random subset of the train split in the first geometry set of ``--sets``;
4. on the VALID split, in the geometry sets of ``--sets`` (one conformer each: the stored ones are made
   with the same seeds as the predict path's conformers): every member's prediction per conformer; the
   validation MAE with 1, 2, ... conformers averaged (printed, to choose ``--conformers``); the latent
   threshold at ``--latent-quantile`` of the validation molecules' scores; the uncertainty calibration
   (``sigma = a + b * spread + c * latent``, then q90) from the same predictions with ``--conformers``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from chemaccel.checkpoint import ModelInfo, save_model_folder
from chemaccel.chem.records import parse_smiles
from chemaccel.chem.store import MoleculeStore
from chemaccel.datasets.qm9 import read_qm9_split, split_subset
from chemaccel.property import keys
from chemaccel.property.data import collate_geometries, load_store
from chemaccel.property.domain import LatentStats, fit_rules, latent_scores
from chemaccel.property.ensemble import ensemble_of
from chemaccel.property.model import MAX_Z
from chemaccel.property.storage import ENGINE, load_property_model
from chemaccel.property.uncertainty import coverage, fit_calibration


def member_outputs(ens, arrays, rows, batch=200):
    """(members, len(rows), targets) predictions, (len(rows),) latent scores (if stats set), features hook."""
    outs, lats = [], []
    with torch.no_grad():
        for i in range(0, len(rows), batch):
            mols = [arrays.molecule(int(r)) for r in rows[i:i + batch]]
            b = collate_geometries([m[0] for m in mols], [m[1] for m in mols], ens.cutoff)
            y, x = ens.forward_all(b)
            outs.append(y.numpy())
            lats.append(latent_scores(x, b[keys.Z], b[keys.IDX_M], len(mols), ens.domain_mean, ens.domain_precision))
    return np.concatenate(outs, 1), np.concatenate(lats)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--members", nargs="+", required=True, help="trained (compacted) model folders")
    ap.add_argument("--sets", default="mmff", help="geometry sets = conformers of the valid split, comma-separated")
    ap.add_argument("--conformers", type=int, default=1, help="conformers averaged at prediction time")
    ap.add_argument("--latent-quantile", type=float, default=0.995)
    ap.add_argument("--latent-train", type=int, default=20000, help="train molecules for the latent statistics")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--notes", default="")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    models, infos = zip(*(load_property_model(m) for m in args.members))
    ens = ensemble_of(list(models)).eval()
    targets = ens.targets
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    if args.conformers > len(sets):
        sys.exit(f"--conformers {args.conformers} needs that many geometry sets in --sets")
    split = read_qm9_split(args.store)
    train, valid = split["train"], split["valid"]

    with MoleculeStore.open(args.store) as store:
        batch = store.molecule_slice(0, len(store))
    mols = (parse_smiles(batch.smiles[int(i)])[0] for i in train)
    numbers = (batch.numbers[batch.offsets[int(i)]:batch.offsets[int(i) + 1]] for i in train)
    rules = fit_rules(mols, numbers)
    print(f"rules: {len(rules.elements)} elements, <= {rules.max_heavy_atoms} heavy atoms, rings {rules.ring_sizes}, "
          f"charges {rules.charges}, {len(rules.atom_types)} atom types ({time.time() - t0:.0f} s)", flush=True)

    arrays = load_store(args.store, targets, geometries=sets)
    for k, t in enumerate(targets):  # the training distribution, shown behind predictions in the app
        density, edges = np.histogram(arrays.y[train, k], bins=40, density=True)
        rules.histograms[t] = {"edges": edges.round(5).tolist(), "density": density.round(6).tolist()}
    sub = split_subset(train, args.latent_train, seed=1)
    rows = arrays.rows(sub, sets[0])
    stats = LatentStats(ens.members[0].representation.embedding.embedding_dim, MAX_Z)
    with torch.no_grad():
        for i in range(0, len(rows), 200):
            mols_ = [arrays.molecule(int(r)) for r in rows[i:i + 200]]
            b = collate_geometries([m[0] for m in mols_], [m[1] for m in mols_], ens.cutoff)
            _, x = ens.members[0].forward_features(b)
            stats.add(x.numpy(), b[keys.Z].numpy())
    mean, precision = stats.finish()
    ens.domain_mean.copy_(torch.tensor(mean, dtype=torch.float32))
    ens.domain_precision.copy_(torch.tensor(precision, dtype=torch.float32))
    print(f"latent statistics from {len(rows)} train molecules ({time.time() - t0:.0f} s)", flush=True)

    # validation: molecules embedded in every set
    ok = np.ones(len(valid), dtype=bool)
    for s in sets:
        ok &= arrays.available[valid + sets.index(s) * arrays.n_molecules]
    vidx = valid[ok]
    y_true = arrays.y[vidx]
    per_set = []
    for s in sets:
        out, lat = member_outputs(ens, arrays, vidx + sets.index(s) * arrays.n_molecules)
        per_set.append((out, lat))
    print(f"valid: {len(vidx)} of {len(valid)} molecules in all sets", flush=True)
    report = {}
    for c in range(1, len(sets) + 1):
        allp = np.concatenate([per_set[k][0] for k in range(c)], 0)  # (members*c, n, T)
        mae = np.abs(allp.mean(0) - y_true).mean(0) * 1000
        report[c] = mae.tolist()
        member_mae = [np.abs(per_set[0][0][m] - y_true).mean(0)[0] * 1000 for m in range(len(models))]
        print(f"valid MAE with {c} conformer(s): {mae.round(1).tolist()} meV (members alone, conformer 1: "
              f"{np.round(member_mae, 1).tolist()})", flush=True)
    c = args.conformers
    allp = np.concatenate([per_set[k][0] for k in range(c)], 0)
    latent = np.max(np.stack([per_set[k][1] for k in range(c)]), 0)
    rules.latent_threshold = float(np.quantile(latent, args.latent_quantile))
    rules.latent_quantile = args.latent_quantile
    rules.elements = sorted(set(rules.elements))
    calib, cov = {}, {}
    for k, t in enumerate(targets):
        err = allp.mean(0)[:, k] - y_true[:, k]
        spread = allp[:, :, k].std(0)
        cal = fit_calibration(err, spread, latent)
        calib[t] = cal.to_json()
        cov[t] = coverage(err, cal.half_width(spread, latent))
        print(f"{t}: calibration {cal} -> valid coverage {cov[t]:.3f}", flush=True)
    arch = ens.architecture()
    arch["elements"] = rules.elements
    arch["domain"] = rules.to_json()
    arch["uncertainty"] = calib
    arch["conformers"] = c
    metrics = {f"valid_mae_mev_{t}": report[c][k] for k, t in enumerate(targets)}
    metrics.update(n_valid=int(len(vidx)), valid_geometry=sets[0], members=len(models),
                   valid_mae_mev_by_conformers={str(k): v for k, v in report.items()},
                   valid_coverage90=cov, latent_threshold=rules.latent_threshold)
    units = {t: "eV" for t in targets}
    units["positions"] = "Angstrom"
    config = dict(infos[0].config)
    info = ModelInfo(engine=ENGINE, config=config, architecture=arch, units=units, metrics=metrics,
                     notes=args.notes or f"ensemble of {len(models)}: {', '.join(Path(m).name for m in args.members)}; "
                                         f"domain and calibration on the valid split ({sets[0]} geometries)")
    save_model_folder(args.out, info, ens)
    print(json.dumps(metrics, indent=1))
    print(f"wrote {args.out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
