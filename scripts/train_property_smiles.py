"""Train the shipped SMILES-ready gap model: force-field geometries, fine-tuned members, domain, calibration.

    python scripts/train_property_smiles.py --store qm9.h5 --work runs/smiles \
        -o resources/models/qm9-gap-schnet-ff

Each step is skipped when its output exists, so the same command resumes after a kill (the training
steps also resume mid-epoch from their checkpoints):

1. ``chemaccel data embed STORE --name mmff``: ETKDG + MMFF geometries of all 130,831 QM9 molecules;
2. ``chemaccel data embed STORE --name mmff-c1 --seed 1000 --splits valid,test`` (and ``-c2``, seed 2000):
   two more conformers of the validation and test molecules, made with the seeds the prediction path
   uses for its 2nd and 3rd conformer (they serve the conformer and calibration choices on valid);
3. the members: the shipped pruned DFT model (``qm9-gap-schnet-pruned``) fine-tuned with a cosine
   schedule from ``--lr``, each on its own geometry recipe (``--members``: ``mmff:4`` = 4 epochs on the
   force-field geometries, ``dft+mmff:2`` = 2 epochs on both, the same number of steps), selected on
   the validation split in its force-field geometry;
4. ``scripts/build_property_ensemble.py``: the ensemble, its applicability domain and its uncertainty
   calibration, all from the train and validation splits.

Run the two members side by side with one thread each (``OMP_NUM_THREADS=1``); 2 cores take about
30 minutes for both at 4,400 steps each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CLI = [sys.executable, "-m", "chemaccel.cli"]


def run(cmd: list[str], log: Path | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    with open(log, "a") if log else open(os.devnull, "w") as fh:
        subprocess.run(cmd, check=True, stdout=fh if log else None, stderr=subprocess.STDOUT if log else None)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--base", default="resources/models/qm9-gap-schnet-pruned")
    ap.add_argument("--members", default="mmff:4,dft+mmff:2", help="geometry:epochs per member, comma-separated")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--conformers", type=int, default=3, help="conformers averaged per SMILES in the shipped model")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    from chemaccel.chem.geometry_sets import geometry_names

    have = geometry_names(args.store)
    if "mmff" not in have:
        run(CLI + ["data", "embed", args.store, "--name", "mmff", "--workers", str(args.workers)])
    for k in range(1, args.conformers):
        if f"mmff-c{k}" not in have:
            run(CLI + ["--seed", str(1000 * k), "data", "embed", args.store, "--name", f"mmff-c{k}",
                       "--splits", "valid,test", "--workers", str(args.workers)])
    config = args.work / "finetune.json"
    config.write_text(json.dumps({"lr": args.lr, "lr_schedule": "cosine", "batch_size": 100, "patience": 20,
                                  "time_limit_minutes": 0, "checkpoint_every": 200, "limit_train": None,
                                  "limit_valid": None}))
    members = []
    jobs = []
    for spec in args.members.split(","):
        geometry, epochs = spec.split(":")
        out = args.work / f"member-{geometry.replace('+', '-')}"
        members.append(out)
        if (out / "config.json").is_file():
            continue
        jobs.append(CLI + ["property", "train", "--data", args.store, "--init-from", args.base, "--geometry", geometry,
                           "--valid-geometry", "mmff", "--epochs", epochs, "--config", str(config), "-o", str(out),
                           "--resume"])
    env_threads = {"OMP_NUM_THREADS": "1"}
    os.environ.update(env_threads)
    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        list(pool.map(lambda cmd: run(cmd, args.work / (Path(cmd[cmd.index("-o") + 1]).name + ".log")), jobs))
    sets = ",".join(["mmff"] + [f"mmff-c{k}" for k in range(1, args.conformers)])
    run([sys.executable, "scripts/build_property_ensemble.py", "--store", args.store, "--members",
         *map(str, members), "--sets", sets, "--conformers", str(args.conformers), "-o", args.out])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
