"""Benchmark AutoPrune against magnitude and L1-filter pruning, all in one run.

    OMP_NUM_THREADS=1 python scripts/bench_autoprune.py                 # LeNet-300-100, LeNet-5, CNN
    OMP_NUM_THREADS=1 python scripts/bench_autoprune.py --models lenet5 --ship
    OMP_NUM_THREADS=1 python scripts/bench_autoprune.py --quick         # smoke run, a minute

For each model: train it dense (or reuse ``--work/<model>/dense``) on the train split minus a 5,000-sample
validation slice; prune it with AutoPrune (Xiao, Wang and Rajasekaran, NeurIPS 2019; settings from
``scripts/train_shipped_prune.py``'s PRESETS, tuned on the validation slice only); then, from the same
dense weights:

* unstructured models: global L1 magnitude pruning (torch.nn.utils.prune.global_unstructured) to exactly
  AutoPrune's number of non-zero parameters, fine-tuned for as many epochs as AutoPrune trained in total
  (pruning + fine-tuning), same optimizer and learning rate as AutoPrune's fine-tuning;
* unstructured models, also: Torch-Pruning (DepGraph; `pip install torch-pruning`) structured pruning of
  whole channels and neurons to at most AutoPrune's parameter count, group-L2 and LAMP importance
  (:func:`chemaccel.prune.baselines.torch_pruning_prune`), fine-tuned likewise;
* the structured CNN: L1-norm filter pruning (Li et al. 2017) to AutoPrune's FLOPs fraction, compacted,
  fine-tuned likewise; CPU latency of the dense and compacted models measured in the same process.

Test errors are on the test split, which nothing was tuned on. Prints a table and writes JSON (``--json``).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from chemaccel.prune.baselines import (  # noqa: E402
    TP_IMPORTANCE,
    fit,
    l1_filter_prune,
    magnitude_prune,
    make_permanent,
    torch_pruning_prune,
)
from chemaccel.prune.config import PruneConfig  # noqa: E402
from chemaccel.prune.data import load_image_split, normalization_for, split_validation  # noqa: E402
from chemaccel.prune.engine import AutoPrune  # noqa: E402
from chemaccel.prune.evaluate import classification_error  # noqa: E402
from chemaccel.prune.measure import count_params, latency_ms, measure  # noqa: E402
from chemaccel.prune.models import build_model, default_architecture  # noqa: E402
from chemaccel.prune.storage import load_pruned, save_pruned  # noqa: E402
from chemaccel.reporting import LoggingReporter  # noqa: E402
from train_shipped_prune import PRESETS  # noqa: E402


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except Exception:  # noqa: BLE001 - informative only
        return platform.processor() or "unknown"


def figures(model, dense, example, test, repeats: int) -> dict:
    stats = measure(model, example, reference=dense, latency_repeats=0)
    out = {k: stats[k] for k in ("params_total", "params_nonzero", "compression", "flops", "flops_dense",
                                 "flops_fraction")}
    out["test_error"] = classification_error(model, test)
    if repeats:
        out["latency_ms_b1"] = latency_ms(model, example, repeats)
        batch = example.expand(64, *example.shape[1:]).contiguous()
        out["latency_ms_b64"] = latency_ms(model, batch, max(5, repeats // 5))
    return out


def bench_model(name: str, args, reporter) -> dict:
    preset = PRESETS[name]
    data = preset["data"]
    norm = normalization_for(data)
    limit = 3000 if args.quick else None
    x, y = load_image_split(data, "train", limit, norm)
    train, val = split_validation(x, y, 500 if args.quick else 5000, seed=0)
    test = load_image_split(data, "test", 1000 if args.quick else None, norm)
    cfg_dict = dict(preset["config"])
    pretrain = preset["pretrain"]
    if args.quick:
        cfg_dict.update(epochs=2, finetune_epochs=1, recovery_epochs=1)
        pretrain = 1
    config = PruneConfig.from_dict({**cfg_dict, "runtime": {"device": "cpu", "seed": 0}})
    arch = default_architecture(name)
    work = Path(args.work) / name
    dense_dir = work / "dense"
    t0 = time.time()
    if (dense_dir / "config.json").exists() and not args.quick:
        dense, _ = load_pruned(dense_dir)
    else:
        torch.manual_seed(0)
        dense = build_model(arch)
        fit(dense, train, val, pretrain, lr=1e-3, reporter=reporter, task=f"{name} dense")
        save_pruned(dense_dir, dense, arch, granularity="dense", compacted=False, normalization=norm)
    dense.eval()
    example = torch.zeros(1, *test[0].shape[1:])
    rows = {"dense": figures(dense, dense, example, test, args.repeats)}
    rows["dense"]["seconds"] = time.time() - t0

    t0 = time.time()
    if args.autoprune_from:  # the AutoPrune arm re-measured from a model folder (e.g. the shipped one)
        pruned, info = load_pruned(Path(args.autoprune_from))
        pruned.eval()
        config = PruneConfig.from_dict({**info.config, "runtime": {"device": "cpu", "seed": 0}})
        rows["autoprune"] = figures(pruned, dense, example, test, args.repeats)
        rows["autoprune"].update(seconds=0.0, source=str(args.autoprune_from))
    else:
        model = copy.deepcopy(dense)
        result = AutoPrune(config).run(model, train, val, reporter,
                                       checkpoint_dir=None if args.quick else work / "autoprune", resume=True)
        pruned = result.model.eval()
        rows["autoprune"] = figures(pruned, dense, example, test, args.repeats)
        rows["autoprune"].update(seconds=time.time() - t0, val_error=result.measurements.get("val_error"),
                                 compacted=result.compacted, widths=result.widths)
    if args.ship and not args.quick and not args.autoprune_from:
        save_pruned(ROOT / preset["out"], pruned, arch, granularity=config.granularity, compacted=result.compacted,
                    config=config.to_dict(), normalization=norm,
                    metrics={k: rows["autoprune"][k] for k in ("compression", "flops_fraction", "test_error")},
                    notes=f"AutoPrune of {name} by scripts/bench_autoprune.py --ship; tuned on a validation slice")
    total_epochs = args.baseline_epochs or (config.epochs + config.finetune_epochs)
    # the baselines are fine-tuned with AutoPrune's recipe (shift augmentation, distillation from the dense model)
    recipe = dict(shift=config.augment_shift, teacher=copy.deepcopy(dense) if config.distill else None,
                  distill=config.distill, temperature=config.distill_temperature)

    t0 = time.time()
    base = copy.deepcopy(dense).train()
    if config.granularity == "unstructured":
        n_bias = sum(m.bias.numel() for m in base.modules() if getattr(m, "bias", None) is not None
                     and isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
        n_keep = max(1, rows["autoprune"]["params_nonzero"] - n_bias)
        magnitude_prune(base, n_keep)
        label = "magnitude"
    else:
        base, ratio = l1_filter_prune(base, example, rows["autoprune"]["flops_fraction"])
        label = "l1-filter"
    fit(base, train, val, total_epochs, lr=config.finetune_lr, reporter=reporter, task=f"{name} {label} fine-tune",
        **recipe)
    base = make_permanent(base).eval()
    rows[label] = figures(base, dense, example, test, args.repeats)
    rows[label]["seconds"] = time.time() - t0
    rows[label]["finetune_epochs"] = total_epochs
    if config.granularity == "unstructured" and args.torch_pruning:
        for importance in TP_IMPORTANCE:  # Torch-Pruning, structured, at AutoPrune's parameter count
            t0 = time.time()
            label = f"tp-{importance}"
            base, ratio = torch_pruning_prune(dense, example, rows["autoprune"]["params_nonzero"], importance)
            fit(base.train(), train, val, total_epochs, lr=config.finetune_lr, reporter=reporter,
                task=f"{name} {label} fine-tune", **recipe)
            rows[label] = figures(base.eval(), dense, example, test, args.repeats)
            rows[label].update(seconds=time.time() - t0, finetune_epochs=total_epochs, ratio=ratio,
                               widths=[m.weight.shape[0] for m in base.modules()
                                       if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))])
    return {"model": name, "config": config.to_dict(), "rows": rows, "dense_params": count_params(dense)}


def print_table(results: list[dict]) -> None:
    head = (f"{'model':<12}{'method':<12}{'params nz':>10}{'compr.':>9}{'FLOPs %':>9}{'test err':>9}"
            f"{'ms b1':>8}{'ms b64':>8}")
    print(head)
    print("-" * len(head))
    for res in results:
        for method, r in res["rows"].items():
            print(f"{res['model']:<12}{method:<12}{r['params_nonzero']:>10}{r['compression']:>8.1f}x"
                  f"{100 * r['flops_fraction']:>8.2f}%{100 * r['test_error']:>8.2f}%"
                  f"{r.get('latency_ms_b1', float('nan')):>8.3f}{r.get('latency_ms_b64', float('nan')):>8.2f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="lenet300,lenet5,cnn-fashion")
    p.add_argument("--work", default="runs/bench")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--repeats", type=int, default=50, help="latency repeats (median)")
    p.add_argument("--baseline-epochs", type=int,
                   help="fine-tuning epochs of the baselines (default: AutoPrune's pruning + fine-tuning epochs)")
    p.add_argument("--ship", action="store_true", help="also write the AutoPrune models to resources/models")
    p.add_argument("--autoprune-from", metavar="FOLDER",
                   help="take the AutoPrune arm from this model folder (e.g. the shipped one, with one --models) "
                        "instead of pruning again; its config sets the baselines' fine-tuning epochs")
    p.add_argument("--no-torch-pruning", dest="torch_pruning", action="store_false",
                   help="skip the Torch-Pruning arms (structured, group-L2 and LAMP, at AutoPrune's parameter "
                        "count; they need `pip install torch-pruning`)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3,000 samples, 1-2 epochs")
    args = p.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    reporter = LoggingReporter(every=200)
    results = []
    for name in args.models.split(","):
        results.append(bench_model(name.strip(), args, reporter))
        print_table(results[-1:])
    meta = {"cpu": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "command": " ".join(sys.argv),
            "quick": args.quick}
    print()
    print(f"CPU: {meta['cpu']}, torch threads: {meta['threads']}, {meta['date']}")
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
