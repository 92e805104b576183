"""QM9 molecular graphs: K = 1 versus K generators in the same run, 10,000 samples each.

    OMP_NUM_THREADS=1 python scripts/bench_gan_qm9.py --store /tmp/qm9.h5 --steps 1500 --k 8

Settings are ``QM9`` in scripts/train_shipped_gan.py; prints one JSON line per model (validity, uniqueness,
novelty against the training molecules, and how many molecules were kept and skipped).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_shipped_gan import QM9  # noqa: E402

from chemaccel.gan import GanConfig, GanTrainer  # noqa: E402
from chemaccel.runtime import RuntimeConfig  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path, required=True, help="molecule store (chemaccel data qm9 -o qm9.h5)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    for k in (1, args.k):
        cfg = GanConfig.from_dict({**QM9, "n_generators": k, "steps": args.steps})
        t0 = time.perf_counter()
        r = GanTrainer(cfg, RuntimeConfig(device="cpu", seed=args.seed)).run(None, data=args.store)
        print(json.dumps({"k": k, "steps": args.steps, "status": r.status, "wall_s": round(time.perf_counter() - t0, 1),
                          "kept": r.data_report.kept, "skipped": r.data_report.skipped,
                          "too_many_atoms": r.data_report.too_many_atoms, **r.metrics}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
