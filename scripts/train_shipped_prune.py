"""Train the shipped AutoPrune models (resumable; run it with nohup, see docs/benchmarks.md).

    OMP_NUM_THREADS=1 python scripts/train_shipped_prune.py lenet5        # -> resources/models/lenet5-mnist-autoprune
    OMP_NUM_THREADS=1 python scripts/train_shipped_prune.py cnn-fashion   # -> resources/models/cnn-fashion-autoprune
    OMP_NUM_THREADS=1 python scripts/train_shipped_prune.py lenet5 --skip-test --seed 1 --work runs/seed1 -o runs/seed1/model  # a trial

Steps: train the dense model on the train split minus a 5,000-sample validation slice (held-out rule:
everything is tuned on that slice, the test split is only used for the final report), prune it with
AutoPrune (Xiao, Wang and Rajasekaran, NeurIPS 2019), save the model folder and evaluate it on the test
split. The dense model and the pruning state are checkpointed under ``--work``; running the same command
again resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("CHEMACCEL_SHARED_DATA", ROOT.parent / "shared" / "data"))

from chemaccel.errors import ChemAccelError  # noqa: E402
from chemaccel.prune.baselines import fit  # noqa: E402
from chemaccel.prune.config import PruneConfig  # noqa: E402
from chemaccel.prune.data import load_image_split, normalization_for, split_validation  # noqa: E402
from chemaccel.prune.engine import AutoPrune  # noqa: E402
from chemaccel.prune.evaluate import evaluate  # noqa: E402
from chemaccel.prune.models import build_model, default_architecture  # noqa: E402
from chemaccel.prune.storage import load_pruned, save_pruned  # noqa: E402
from chemaccel.reporting import LoggingReporter  # noqa: E402

_COMMON = dict(lambda_init=0.02, lambda_rate=0.02, schedule_every=5, gate_optimizer="normalized", gate_lr=3e-4,
               gate_momentum=0.0, gate_init=0.05, gate_init_mode="magnitude", lr=2e-4, finetune_lr=3e-4,
               ramp_fraction=0.7)
PRESETS = {
    "lenet5": dict(data=str(SHARED / "mnist"), out="resources/models/lenet5-mnist-autoprune", pretrain=12,
                   config=dict(_COMMON, granularity="unstructured", target="params", budget=0.006, cost_mix=0.0,
                               epochs=24, finetune_epochs=12, recovery_epochs=16)),
    "lenet300": dict(data=str(SHARED / "mnist"), out="resources/models/lenet300-mnist-autoprune", pretrain=15,
                     config=dict(_COMMON, granularity="unstructured", target="params", budget=0.015, cost_mix=0.0,
                                 epochs=24, finetune_epochs=12, recovery_epochs=16)),
    "cnn-fashion": dict(data=str(SHARED / "fashion_mnist"), out="resources/models/cnn-fashion-autoprune",
                        pretrain=8,
                        config=dict(_COMMON, granularity="structured", target="flops", budget=0.25, epochs=8,
                                    finetune_epochs=5, recovery_epochs=5)),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", choices=sorted(PRESETS))
    p.add_argument("--data")
    p.add_argument("-o", "--out")
    p.add_argument("--work", help="checkpoint folder (default runs/shipped-<model>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a PruneConfig field")
    p.add_argument("--pretrain-epochs", type=int)
    p.add_argument("--pretrain-shift", type=int, default=0, metavar="PIXELS",
                   help="train the dense model with random shifts of up to PIXELS (0: none)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the pruning run (batch order, shifts); the dense model is always trained with seed 0")
    p.add_argument("--start-from", metavar="FOLDER",
                   help="prune this model folder (an already pruned model) further instead of the dense model; "
                        "sets continue_pruned, so its zeros stay pruned and the ramp starts at its kept fraction")
    p.add_argument("--train-on-all", action="store_true",
                   help="the final run of a recipe chosen on the validation slice: train the dense model and prune on "
                        "the whole training split (no validation figures; use a fresh --work)")
    p.add_argument("--quick", action="store_true", help="tiny smoke run (2,000 samples, 1 epoch each)")
    p.add_argument("--skip-test", action="store_true",
                   help="stop after saving the model (print the validation figures only): for trying settings "
                        "without reading the held-out test split")
    args = p.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    preset = PRESETS[args.model]
    data = args.data or preset["data"]
    out = Path(args.out or preset["out"])
    work = Path(args.work or f"runs/shipped-{args.model}")
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    cfg_dict = {**preset["config"], **({"continue_pruned": True} if args.start_from else {}), **overrides}
    pretrain = args.pretrain_epochs if args.pretrain_epochs is not None else preset["pretrain"]
    limit = 2000 if args.quick else None
    if args.quick:
        cfg_dict.update(epochs=1, finetune_epochs=1, recovery_epochs=1)
        pretrain = 1
    config = PruneConfig.from_dict({**cfg_dict, "runtime": {"device": "cpu", "seed": args.seed}})
    try:  # a missing or broken data set or model folder: one line, no traceback
        norm = normalization_for(data)
        x, y = load_image_split(data, "train", limit, norm)
        start = load_pruned(args.start_from)[0] if args.start_from else None
    except (ChemAccelError, OSError) as exc:
        raise SystemExit(f"train_shipped_prune.py: {exc}") from None
    train, val = split_validation(x, y, 5000 if limit is None else 500, seed=0)
    if args.train_on_all:
        train, val = (x, y), None
    arch = default_architecture(args.model)
    reporter = LoggingReporter(every=100)
    dense_dir = work / "dense"
    if start is not None:
        model = start
        reporter.on_message(f"pruning {args.start_from} further")
    elif (dense_dir / "config.json").exists():
        model, _ = load_pruned(dense_dir)
        reporter.on_message(f"loaded the dense model from {dense_dir}")
    else:
        torch.manual_seed(0)
        model = build_model(arch)
        t0 = time.time()
        hist = fit(model, train, val, pretrain, lr=1e-3, reporter=reporter, task="dense", shift=args.pretrain_shift)
        save_pruned(dense_dir, model, arch, granularity="dense", compacted=False, normalization=norm,
                    metrics={"val_error": hist[-1].get("val_error"), "seconds": time.time() - t0})
    t0 = time.time()
    result = AutoPrune(config).run(model, train, val, reporter, checkpoint_dir=work / "autoprune", resume=True)
    if result.cancelled:
        return 130
    metrics = {k: result.measurements.get(k) for k in ("params_total", "params_nonzero", "compression", "flops",
                                                        "flops_dense", "flops_fraction", "val_error")}
    metrics["prune_seconds"] = time.time() - t0
    save_pruned(out, result.model, arch, granularity=config.granularity, compacted=result.compacted,
                config=config.to_dict(), metrics=metrics, normalization=norm,
                notes=f"AutoPrune of {args.model} by scripts/train_shipped_prune.py"
                + (" on the whole training split (recipe chosen on a validation slice)" if args.train_on_all else "")
                + "; test split never used for tuning")
    (work / "history.json").write_text(json.dumps(result.history, indent=1))
    if args.skip_test:
        print(json.dumps(metrics))
        return 0
    report = evaluate(out, data, split="test", limit=limit, latency_batch=1)
    report.pop("layers")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
