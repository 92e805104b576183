"""Train the shipped SMILES-ready gap model: force-field geometries, fine-tuned members, domain, calibration.

    python scripts/train_property_smiles.py --store qm9.h5 --work runs/smiles \
        -o resources/models/qm9-gap-schnet-ff [--ablation]

Each step is skipped when its output exists, so the same command resumes after a kill (the training
steps also resume mid-epoch from their checkpoints):

1. ``chemaccel data embed STORE --name mmff``: ETKDG + MMFF geometries of all 130,831 QM9 molecules;
2. ``chemaccel --seed 1000 data embed STORE --name mmff-c1 --splits valid`` (and ``-c2``, seed 2000):
   two more conformers of the validation molecules, made with the seeds the prediction path uses for
   its 2nd and 3rd conformer (they serve the conformer and calibration choices); and
   ``chemaccel --seed 3000 data embed STORE --name mmff-t1 --splits train`` and ``--seed 4000 ... --name
   mmff-t2``: a second and a third conformer of every training molecule (other seeds than the prediction
   path's);
3. the model: the shipped pruned DFT model (``qm9-gap-schnet-pruned``) fine-tuned on the force-field
   geometries for 4 epochs (cosine from 3e-4, seed 0: ``stage1``), then 8 more epochs (cosine from 2e-4,
   seed 1: ``stage2``), then 8 more on two conformers of each training molecule (``mmff+mmff-t1``, cosine
   from 1.5e-4, seed 2: ``stage3``), then 5 more on three (``mmff+mmff-t1+mmff-t2``, cosine from 1e-4, seed 3:
   ``stage4``), then 5 more on the same three (cosine from 7e-5, seed 4: ``stage5``), each selected on the
   validation split in its force-field geometry; with
   ``--ablation`` also the arm trained on both geometry sets for the same steps (``dft+mmff``, 2 epochs);
4. ``scripts/build_property_ensemble.py``: the model (a one-member ensemble; ``--members`` may add more)
   with its applicability domain and uncertainty calibration, all from the train and validation splits.

The shipped ``qm9-gap-schnet-ff`` is this recipe's output (2026-12-06, this CPU, one thread per job: about
16 minutes per stage-1 run, 32 for stage 2, 25 for the mmff-t1 set, 90 for stage 3, 13 for the mmff-t2 set
on 2 processes, about 85 for stage 4 and about 95 for stage 5 beside another job).
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
    ap.add_argument("--members", nargs="*", default=None, help="further trained model folders for the ensemble")
    ap.add_argument("--ablation", action="store_true", help="also train the dft+mmff arm (side by side with stage 1)")
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
                       "--splits", "valid", "--workers", str(args.workers)])
    for k in (1, 2):
        if f"mmff-t{k}" not in have:
            run(CLI + ["--seed", str(2000 + 1000 * k), "data", "embed", args.store, "--name", f"mmff-t{k}",
                       "--splits", "train", "--workers", str(args.workers)])

    def finetune(name: str, init: str, geometry: str, epochs: int, lr: float, seed: int) -> Path:
        out = args.work / name
        if not (out / "config.json").is_file():
            config = args.work / f"{name}.json"
            config.write_text(json.dumps({"lr": lr, "lr_schedule": "cosine", "batch_size": 100, "patience": 20,
                                          "time_limit_minutes": 0, "checkpoint_every": 200, "limit_train": None,
                                          "limit_valid": None}))
            run(CLI + ["--seed", str(seed), "property", "train", "--data", args.store, "--init-from", init,
                       "--geometry", geometry, "--valid-geometry", "mmff", "--epochs", str(epochs), "--config",
                       str(config), "-o", str(out), "--resume"], args.work / f"{name}.log")
        return out

    os.environ["OMP_NUM_THREADS"] = "1"
    jobs = [lambda: finetune("stage1", args.base, "mmff", 4, 3e-4, 0)]
    if args.ablation:
        jobs.append(lambda: finetune("ablation-dft-mmff", args.base, "dft+mmff", 2, 3e-4, 0))
    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        stage1 = [f.result() for f in [pool.submit(job) for job in jobs]][0]
    stage2 = finetune("stage2", str(stage1), "mmff", 8, 2e-4, 1)
    stage3 = finetune("stage3", str(stage2), "mmff+mmff-t1", 8, 1.5e-4, 2)
    stage4 = finetune("stage4", str(stage3), "mmff+mmff-t1+mmff-t2", 5, 1e-4, 3)
    members = [finetune("stage5", str(stage4), "mmff+mmff-t1+mmff-t2", 5, 7e-5, 4), *map(Path, args.members or [])]
    sets = ",".join(["mmff"] + [f"mmff-c{k}" for k in range(1, args.conformers)])
    run([sys.executable, "scripts/build_property_ensemble.py", "--store", args.store, "--members",
         *map(str, members), "--sets", sets, "--conformers", str(args.conformers), "-o", args.out])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
