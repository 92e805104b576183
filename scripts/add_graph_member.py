"""Add a 2D graph member (a D-MPNN read from the SMILES) to a shipped 3D property model, blend, recalibrate.

    python scripts/add_graph_member.py --store qm9.h5 --model resources/models/qm9-gap-schnet-ff \
        --graph runs/graph-gap --sets mmff,mmff-c1,mmff-c2 -o qm9-gap-schnet-ff2d

``--graph PREFIX``: ``PREFIX.safetensors`` + ``PREFIX.json`` written by ``scripts/train_graph_member.py``.
The VALIDATION split only (the test split is not read here): the 3D model's predictions on the stored
force-field conformers of ``--sets`` (as many as the model averages, made with the predict path's seeds),
the graph member's on the stored SMILES; the 3D share of the blend per target by the validation MAE (a grid
of 0.00-1.00; the two-fold figure printed beside it says how much choosing it on the same molecules
flatters); then the uncertainty refitted with the two members' disagreement as a fourth term. The domain
(rules, latent statistics and threshold) is the 3D model's, kept as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_property_ensemble import member_outputs  # noqa: E402  (a sibling script)

from chemaccel.checkpoint import ModelInfo, save_model_folder  # noqa: E402
from chemaccel.chem.store import MoleculeStore  # noqa: E402
from chemaccel.datasets.qm9 import read_qm9_split  # noqa: E402
from chemaccel.property.data import load_store  # noqa: E402
from chemaccel.property.ensemble import EnsembleSchNet, build_property_module  # noqa: E402
from chemaccel.property.graph_model import GraphMPNN, from_chemprop_state  # noqa: E402
from chemaccel.property.storage import load_property_model  # noqa: E402
from chemaccel.property.uncertainty import coverage, fit_calibration  # noqa: E402


def best_weight(p3: np.ndarray, p2: np.ndarray, y: np.ndarray) -> float:
    """The 3D share (0.00-1.00) with the lowest MAE of ``w * p3 + (1 - w) * p2``."""
    grid = np.linspace(0.0, 1.0, 101)
    return float(grid[int(np.argmin([np.abs(w * p3 + (1 - w) * p2 - y).mean() for w in grid]))])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--model", required=True, help="a 3D property model folder with a domain and a calibration")
    ap.add_argument("--graph", required=True, help="PREFIX of PREFIX.safetensors / PREFIX.json")
    ap.add_argument("--sets", default="mmff,mmff-c1,mmff-c2", help="stored conformers of the valid split")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    model, info = load_property_model(args.model)
    if not isinstance(model, EnsembleSchNet) or not info.architecture.get("uncertainty"):
        sys.exit(f"{args.model}: needs a model with a domain and a calibration (scripts/build_property_ensemble.py)")
    arch = dict(info.architecture)
    targets = list(model.targets)
    graph_arch = json.loads(Path(args.graph + ".json").read_text())
    graph_arch["targets"] = targets
    graph = GraphMPNN(graph_arch).eval()
    tensors = load_file(args.graph + ".safetensors")
    if "message_passing.W_i.weight" in tensors:  # chemprop's own names
        tensors = from_chemprop_state(tensors)
    graph.load_state_dict(tensors)

    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    n_conf = int(arch.get("conformers", 1))
    if len(sets) < n_conf:
        sys.exit(f"the model averages {n_conf} conformers: --sets needs that many")
    sets = sets[:n_conf]
    valid = read_qm9_split(args.store)["valid"]
    arrays = load_store(args.store, targets, geometries=sets)
    ok = np.ones(len(valid), dtype=bool)
    for k in range(len(sets)):
        ok &= arrays.available[valid + k * arrays.n_molecules]
    vidx = valid[ok]
    y = arrays.y[vidx]
    outs, lats = zip(*(member_outputs(model, arrays, vidx + k * arrays.n_molecules) for k in range(len(sets))))
    allp = np.concatenate(outs, 0)  # (members * conformers, n, T)
    p3, spread, latent = allp.mean(0), allp.std(0), np.max(np.stack(lats), 0)
    with MoleculeStore.open(args.store) as store:
        smiles = store.molecule_slice(0, len(store)).smiles
    p2 = graph.predict_smiles([smiles[int(i)] for i in vidx])
    print(f"valid: {len(vidx)} molecules, 3D on {n_conf} conformer(s), graph from the SMILES ({time.time() - t0:.0f} s)")

    rng = np.random.default_rng(0)
    halves = np.array_split(rng.permutation(len(vidx)), 2)
    weights, calib, metrics = [], {}, {}
    for k, t in enumerate(targets):
        w = best_weight(p3[:, k], p2[:, k], y[:, k])
        cross = [np.abs(best_weight(p3[a, k], p2[a, k], y[a, k]) * p3[b, k]
                        + (1 - best_weight(p3[a, k], p2[a, k], y[a, k])) * p2[b, k] - y[b, k]).mean()
                 for a, b in (halves, halves[::-1])]
        blend = w * p3[:, k] + (1 - w) * p2[:, k]
        err = blend - y[:, k]
        disagreement = np.abs(p3[:, k] - p2[:, k])
        cal = fit_calibration(err, spread[:, k], latent, disagreement)
        cov = coverage(err, cal.half_width(spread[:, k], latent, disagreement))
        corr = float(np.corrcoef(p3[:, k] - y[:, k], p2[:, k] - y[:, k])[0, 1])
        figures = {"mae_3d": np.abs(p3[:, k] - y[:, k]).mean() * 1000, "mae_2d": np.abs(p2[:, k] - y[:, k]).mean() * 1000,
                   "mae_blend": np.abs(err).mean() * 1000, "mae_blend_two_fold": float(np.mean(cross)) * 1000}
        print(f"{t}: 3D share {w:.2f}; valid MAE 3D {figures['mae_3d']:.1f}, 2D {figures['mae_2d']:.1f}, blend "
              f"{figures['mae_blend']:.1f} meV (weight chosen on the other half: {figures['mae_blend_two_fold']:.1f}); "
              f"error correlation {corr:.3f}; calibration {cal} -> valid coverage {cov:.3f}", flush=True)
        weights.append(w)
        calib[t] = cal.to_json()
        metrics.update({f"valid_{name}_mev_{t}": round(float(v), 2) for name, v in figures.items()})
        metrics[f"valid_error_correlation_{t}"] = round(corr, 4)
        metrics[f"valid_coverage90_{t}"] = cov

    graph_arch["weight_3d"] = weights
    arch["graph"] = graph_arch
    arch["uncertainty"] = calib
    out = build_property_module(arch)
    state = {**model.state_dict(), **{f"graph.{k}": v for k, v in graph.state_dict().items()}}
    out.load_state_dict(state)
    units = dict(info.units)
    merged = {**info.metrics, **metrics, "graph_member": Path(args.graph).name}
    for k, t in enumerate(targets):
        merged[f"valid_mae_mev_{t}"] = metrics[f"valid_mae_blend_mev_{t}"]
    new = ModelInfo(engine=info.engine, config=dict(info.config), architecture=arch, units=units, metrics=merged,
                    notes=f"{info.notes}; plus a 2D graph member ({Path(args.graph).name}), blended with 3D share "
                          f"{', '.join(f'{w:.2f}' for w in weights)} and recalibrated on the valid split")
    save_model_folder(args.out, new, out.eval())
    print(f"wrote {args.out} in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
