"""Train the shipped QM9 gap models: a dense SchNet, then its attention-pruned (compacted) copy.

Resumable: run it again (same arguments) and each stage continues from its checkpoint
(``<out>.work``); a finished stage (its model folder exists) is skipped. Selection uses the validation
split only; the test MAE is measured at the end and written into each model's ``config.json``.

The shipped models (2026-11-26, one H200 GPU, about 7 minutes in all):

    python scripts/train_property.py --store qm9.h5 --device cuda --limit-train 0 --limit-valid 0 \
        --features 128 --interactions 4 --batch-size 100 --lr 1e-3 --lr-schedule cosine \
        --epochs 40 --time-limit-minutes 4.5 --prune-epochs 3 --finetune-epochs 6

On the CPU (hours; ``OMP_NUM_THREADS=1 nohup ... &``) the defaults train a smaller model on 20,000 molecules.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
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
    ap.add_argument("--limit-train", type=int, default=20000,
                    help="N training molecules, a fixed random subset (0: all)")
    ap.add_argument("--limit-valid", type=int, default=2000,
                    help="N validation molecules, a fixed random subset (0: all)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--time-limit-minutes", type=float, default=0.0, help="dense-phase wall-clock budget (0: none)")
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--interactions", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--lr-schedule", default="plateau", choices=["plateau", "cosine"])
    ap.add_argument("--budget", type=float, default=0.4, help="kept fraction of filter kernels")
    ap.add_argument("--prune-epochs", type=int, default=3)
    ap.add_argument("--finetune-epochs", type=int, default=6)
    ap.add_argument("--polish-epochs", type=int, default=0,
                    help="then fine-tune the compacted pruned model this many more epochs (cosine from --polish-lr)")
    ap.add_argument("--polish-lr", type=float, default=2e-4)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "1")))
    base = PropertyConfig(targets=("gap",), n_atom_basis=args.features, n_filters=args.features,
                          n_interactions=args.interactions, n_rbf=50, cutoff=5.0, batch_size=args.batch_size,
                          lr=args.lr, lr_schedule=args.lr_schedule, max_epochs=args.epochs, patience=6,
                          time_limit_minutes=args.time_limit_minutes, limit_train=args.limit_train or None,
                          limit_valid=args.limit_valid or None, budget=args.budget, prune_epochs=args.prune_epochs,
                          finetune_epochs=args.finetune_epochs, checkpoint_every=200)
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
    if args.polish_epochs and "polish_epochs" not in json.loads((pruned / CONFIG_NAME).read_text())["metrics"]:
        polish(args, base, pruned, runtime, reporter)
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


def polish(args: argparse.Namespace, base: PropertyConfig, pruned: Path, runtime: RuntimeConfig,
           reporter: LoggingReporter) -> None:
    """Fine-tune the compacted pruned model further (best validation epoch kept), then put it in place."""
    cfg = base.replace(prune="none", lr=args.polish_lr, lr_schedule="cosine", max_epochs=args.polish_epochs,
                       time_limit_minutes=0.0, patience=0)
    staged = pruned.with_name(pruned.name + ".polished")
    result = PropertyTrainer(cfg, args.store, staged, runtime=runtime, init_from=pruned).run(reporter, resume=True)
    if result.status != "done":
        raise SystemExit("polishing stopped; run again to resume")
    before = json.loads((pruned / CONFIG_NAME).read_text())
    after = json.loads((staged / CONFIG_NAME).read_text())
    after["config"] = before["config"]  # still the attention-pruned model; the polish is in the metrics
    after["metrics"] = {**{k: v for k, v in before["metrics"].items() if not k.startswith("test_")},
                        **after["metrics"], "polish_epochs": args.polish_epochs, "polish_lr": args.polish_lr}
    after["notes"] = before.get("notes", "") + f"; then {args.polish_epochs} more epochs at lr {args.polish_lr:g} (cosine)"
    atomic_write_json(staged / CONFIG_NAME, after)
    old = pruned.with_name(pruned.name + ".before-polish")
    shutil.rmtree(old, ignore_errors=True)
    pruned.rename(old)
    staged.rename(pruned)
    logging.info("polished %s (the previous one is kept in %s)", pruned, old)


if __name__ == "__main__":
    sys.exit(main())
