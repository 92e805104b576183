"""Compare AutoPrune's straight-through estimators (identity, leaky, softplus) on one small problem.

    OMP_NUM_THREADS=1 python scripts/compare_estimators.py [--limit 20000] [--epochs 8] [--budget 0.02]

LeNet-300-100 on a slice of the MNIST train split (validation slice held out; no test data is used):
train dense once, then prune a copy with each estimator (Xiao, Wang and Rajasekaran, NeurIPS 2019,
section 3) under the same settings and budget, and print kept parameters and validation error.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from chemaccel.prune.baselines import fit  # noqa: E402
from chemaccel.prune.config import PruneConfig  # noqa: E402
from chemaccel.prune.data import load_image_split, split_validation  # noqa: E402
from chemaccel.prune.engine import AutoPrune  # noqa: E402
from chemaccel.prune.models import build_model, default_architecture  # noqa: E402
from train_shipped_prune import PRESETS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
    p.add_argument("--limit", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--budget", type=float, default=0.02)
    args = p.parse_args(argv)
    x, y = load_image_split(args.data, "train", args.limit)
    train, val = split_validation(x, y, max(1000, args.limit // 10), seed=0)
    torch.manual_seed(0)
    dense = build_model(default_architecture("lenet300"))
    fit(dense, train, val, 6)
    base = dict(PRESETS["lenet300"]["config"], budget=args.budget, epochs=args.epochs,
                finetune_epochs=max(1, args.epochs // 2), recovery_epochs=args.epochs * 2 // 3)
    print(f"{'estimator':<10}{'kept params':>12}{'val error':>10}")
    for est in ("identity", "leaky", "softplus"):
        cfg = PruneConfig.from_dict({**base, "estimator": est, "runtime": {"device": "cpu", "seed": 0}})
        res = AutoPrune(cfg).run(copy.deepcopy(dense), train, val)
        m = res.measurements
        print(f"{est:<10}{m['params_nonzero'] / m['params_total']:>12.4f}{m['val_error']:>10.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
