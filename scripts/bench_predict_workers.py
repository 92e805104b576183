"""SMILES in, ``property predict`` with 1 process against ``--workers N`` (and, with ``--ray``, against a
local Ray instance of N CPUs): molecules/s and identical rows.

    OMP_NUM_THREADS=1 python scripts/bench_predict_workers.py --n 1000 --workers 2 --conformers 1 [--ray]

Input: the first ``--n`` SMILES of ``resources/examples/qm9_gap_2k.csv`` (QM9 molecules), written to a
.smi file. Each run is one ``python -m chemaccel.cli property predict`` child (start-up and model loading
included in its wall time); the two settings alternate, ``--repeats`` times each, and the best time of
each is reported, with their ratio and whether the two CSVs are byte for byte the same.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--conformers", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("-m", "--model", default="qm9-gap-schnet-ff")
    ap.add_argument("--chunk", type=int, default=100, help="--chunk of every run (Ray parallelizes whole chunks)")
    ap.add_argument("--ray", action="store_true", help="also --ray on a local instance of --workers CPUs")
    args = ap.parse_args()
    with open(ROOT / "resources" / "examples" / "qm9_gap_2k.csv", newline="") as fh:
        smiles = [row["smiles"] for row in csv.DictReader(fh)][: args.n]
    work = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    src = work / "mols.smi"
    src.write_text("\n".join(smiles) + "\n")
    best: dict[str, float] = {}
    outputs: dict[str, bytes] = {}
    arms = {"1": ["--workers", "1"], str(args.workers): ["--workers", str(args.workers)]}
    if args.ray:
        arms["ray"] = ["--ray", "--ray-cpus", str(args.workers)]
    for _ in range(args.repeats):
        for arm, flags in arms.items():
            out = work / f"{arm}.csv"
            cmd = [sys.executable, "-m", "chemaccel.cli", "property", "predict", str(src), "-m", args.model,
                   "-o", str(out), "--conformers", str(args.conformers), "--chunk", str(args.chunk), *flags]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
            seconds = time.perf_counter() - t0
            best[arm] = min(best.get(arm, float("inf")), seconds)
            outputs[arm] = out.read_bytes()
    rates = {arm: len(smiles) / s for arm, s in best.items()}
    print(json.dumps({"n": len(smiles), "conformers": args.conformers, "seconds": best,
                      "molecules_per_s": rates, "speedup": {arm: rates[arm] / rates["1"] for arm in rates},
                      "identical_rows": {arm: outputs[arm] == outputs["1"] for arm in outputs}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
