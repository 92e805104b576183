"""Train the shipped QM9 gap models: a dense SchNet, then its attention-pruned (compacted) copy.

Resumable: run it again (same arguments) and each stage continues from its checkpoint
(``<out>.work``); a finished stage (its model folder exists) is skipped. Selection uses the validation
split only; the test MAE is measured at the end and written into each model's ``config.json``.

    OMP_NUM_THREADS=1 nohup .venv/bin/python scripts/train_shipped_property.py --store /tmp/qm9.h5 \
        > /tmp/train_property.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from chemaccel.checkpoint import CONFIG_NAME, atomic_write_json
from chemaccel.property.config import PropertyConfig
from chemaccel.property.evaluate import evaluate_model
from chemaccel.property.storage import load_model
from chemaccel.property.train import PropertyTrainer
from chemaccel.reporting import LoggingReporter
from chemaccel.runtime import RuntimeConfig


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", required=True, help="QM9 store from `chemaccel data qm9`")
    ap.add_argument("--out", default="resources/models", help="parent folder of the model folders")
    ap.add_argument("--limit-train", type=int, default=20000)
    ap.add_argument("--limit-valid", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--interactions", type=int, default=3)
    ap.add_argument("--budget", type=float, default=0.4)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "1")))
    base = PropertyConfig(targets=("gap",), n_atom_basis=args.features, n_filters=args.features,
                          n_interactions=args.interactions, n_rbf=50, cutoff=5.0, batch_size=32, lr=5e-4,
                          max_epochs=args.epochs, patience=6, limit_train=args.limit_train,
                          limit_valid=args.limit_valid, budget=args.budget, prune_epochs=3, finetune_epochs=6,
                          checkpoint_every=200)
    runtime = RuntimeConfig(device=args.device)
    out = Path(args.out)
    dense, pruned = out / "qm9-gap-schnet", out / "qm9-gap-schnet-pruned"
    reporter = LoggingReporter(every=100)
    stages = [(dense, base, None), (pruned, base.replace(prune="attention"), dense)]
    for folder, cfg, init in stages:
        if (folder / CONFIG_NAME).exists():
            logging.info("%s exists, skipping", folder)
            continue
        result = PropertyTrainer(cfg, args.store, folder, runtime=runtime, init_from=init).run(reporter, resume=True)
        if result.status != "done":
            logging.info("stopped (%s); run again to resume", result.status)
            return 1
    for folder in (dense, pruned):
        cfg_path = folder / CONFIG_NAME
        raw = json.loads(cfg_path.read_text())
        if "test_mae_mev_gap" in raw["metrics"]:
            continue
        figures = evaluate_model(load_model(folder), args.store, split="test")
        raw["metrics"].update({"test_mae_mev_gap": figures["results"][0]["mae_mev"], "test_n": figures["n"],
                               "params": figures["params"], "filter_params": figures["filter_params"]})
        atomic_write_json(cfg_path, raw)
        logging.info("%s: %s", folder, json.dumps(raw["metrics"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
