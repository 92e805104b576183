"""Benchmark: plain DARTS versus DARTS + distillation on Fashion-MNIST, equal budgets, several seeds, one run.

    OMP_NUM_THREADS=1 python scripts/bench_nas.py                       # the full benchmark (use a GPU)
    OMP_NUM_THREADS=1 python scripts/bench_nas.py --limit-train 640 --search-epochs 2 --retrain-epochs 2 \\
        --layers 3 --channels 4 --nodes 2 --retrain-layers 3 --retrain-channels 8 --batch-size 32 \\
        --teacher-epochs 3 --limit-test 2000 --device cpu             # a tiny CPU smoke run (about 2 minutes)

For every seed, both arms get the same search (epochs, supernet, data) and the same retraining (epochs,
derived network size). The plain arm is DARTS (Liu et al. ICLR 2019) with the skip cap; the distilled arm
first trains a teacher CNN on the same training data (its time is added to the arm's search time), then
distils its stage features and logits into the supernet during search and into the derived network during
retraining. Search and retraining only see the training split (the search splits it into weight and
architecture halves); each final network is measured once on the test split.

Prints one table (test accuracy mean and std over seeds, parameters, skip connections per cell, search
time) and the checks of issue 7: distillation's mean at least 0.3 points above plain DARTS with a smaller
std, and no derived cell with more than 2 skip connections. ``--json FILE`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("CHEMACCEL_SHARED_DATA", ROOT.parent / "shared" / "data"))

from chemaccel.nas import NasRetrain, NasSearch, RetrainConfig, SearchConfig  # noqa: E402
from chemaccel.nas.data import load_images  # noqa: E402
from chemaccel.nas.teacher import train_teacher  # noqa: E402
from chemaccel.reporting import LoggingReporter  # noqa: E402
from chemaccel.runtime import RuntimeConfig, describe_device, resolve_device  # noqa: E402


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(SHARED / "fashion_mnist"))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="32-true", help="of retraining (search always runs in 32-true)")
    p.add_argument("--limit-train", type=int, help="first N training images (default: all 60,000)")
    p.add_argument("--limit-test", type=int, help="first N test images (default: all 10,000)")
    p.add_argument("--search-epochs", type=int, default=10)
    p.add_argument("--retrain-epochs", type=int, default=20)
    p.add_argument("--layers", type=int, default=5, help="supernet cells")
    p.add_argument("--channels", type=int, default=8, help="supernet channels")
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=64, help="search batch")
    p.add_argument("--order", choices=["first", "second"], default="first")
    p.add_argument("--arch-lr", type=float, default=1e-3)
    p.add_argument("--retrain-layers", type=int, default=8)
    p.add_argument("--retrain-channels", type=int, default=16)
    p.add_argument("--retrain-batch-size", type=int, default=128)
    p.add_argument("--teacher-epochs", type=int, default=10)
    p.add_argument("--teacher-width", type=int, default=32)
    p.add_argument("--feature-weight", type=float, default=1.0)
    p.add_argument("--logit-weight", type=float, default=1.0)
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--json", help="write all figures to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.add_argument("--merge", nargs="+", metavar="JSON",
                   help="print one table from the --json files of earlier runs (e.g. one process per seed, "
                        "run side by side on one GPU) instead of running; --json then writes the merged file")
    return p.parse_args(argv)


def run_arm(args, distill: bool, seed: int, train, test, norm) -> dict:
    runtime = RuntimeConfig(device=args.device, seed=seed)
    weights = dict(feature_weight=args.feature_weight, logit_weight=args.logit_weight) if distill else {}
    reporter = LoggingReporter(every=50) if args.verbose else None
    teacher, teacher_stats, teacher_seconds = None, {}, 0.0
    if distill:
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        device = resolve_device(args.device)
        teacher, teacher_stats = train_teacher((train[0].to(device), train[1].to(device)), train[0].shape[1],
                                               int(train[1].max()) + 1, args.teacher_width, args.teacher_epochs,
                                               seed=seed, batch_size=args.retrain_batch_size, use_augment=True)
        teacher_seconds = time.perf_counter() - t0
    search = SearchConfig(layers=args.layers, init_channels=args.channels, nodes=args.nodes,
                          epochs=args.search_epochs, batch_size=args.batch_size, order=args.order,
                          arch_lr=args.arch_lr, temperature=args.temperature, runtime=runtime, **weights)
    found = NasSearch(search).run(train, reporter, teacher=teacher)
    retrain = RetrainConfig(layers=args.retrain_layers, init_channels=args.retrain_channels,
                            epochs=args.retrain_epochs, batch_size=args.retrain_batch_size,
                            temperature=args.temperature,
                            runtime=RuntimeConfig(device=args.device, seed=seed, precision=args.precision),
                            **weights)
    done = NasRetrain(retrain).run(found.genotype, train, None, reporter, test_data=test, normalization=norm,
                                   teacher=teacher)
    skips = found.genotype.skip_counts()
    return {"method": "DARTS + distillation" if distill else "DARTS", "seed": seed,
            "test_accuracy": done.metrics["test_accuracy"], "params": done.metrics["params"],
            "skips_normal": skips["normal"], "skips_reduce": skips["reduce"],
            "skips_before_cap": max(found.skips_before_cap.values()),
            "search_seconds": found.seconds + teacher_seconds, "teacher_seconds": teacher_seconds,
            "retrain_seconds": done.metrics["train_seconds"], "genotype": found.genotype.to_dict(),
            "teacher": teacher_stats}


def table(rows: list[dict]) -> tuple[str, dict]:
    lines = [f"{'method':<22} {'test acc mean':>13} {'std':>7} {'per seed':<26} {'params':>9} "
             f"{'skips/cell n,r (seeds)':<24} {'before cap':>10} {'search s':>9} {'retrain s':>9}"]
    summary = {}
    for method in ("DARTS", "DARTS + distillation"):
        rs = [r for r in rows if r["method"] == method]
        accs = [r["test_accuracy"] for r in rs]
        mean = statistics.fmean(accs)
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        max_skip = max(max(r["skips_normal"], r["skips_reduce"]) for r in rs)
        summary[method] = {"mean": mean, "std": std, "max_skip": max_skip}
        lines.append(f"{method:<22} {mean:>13.4f} {std:>7.4f} {' '.join(f'{a:.4f}' for a in accs):<26} "
                     f"{statistics.fmean(r['params'] for r in rs):>9,.0f} "
                     f"{' '.join(str(r['skips_normal']) + ',' + str(r['skips_reduce']) for r in rs):<24} "
                     f"{max(r['skips_before_cap'] for r in rs):>10} "
                     f"{statistics.fmean(r['search_seconds'] for r in rs):>9.1f} "
                     f"{statistics.fmean(r['retrain_seconds'] for r in rs):>9.1f}")
    return "\n".join(lines), summary


def report(rows: list[dict], args: dict, header: str) -> dict:
    """Print the table and the checks of issue 7; return the per-method summary."""
    text, summary = table(rows)
    print(f"\n{header}")
    print(f"search: {args['layers']} cells, C={args['channels']}, {args['nodes']} nodes, {args['search_epochs']} "
          f"epochs, {args['order']} order; retrain: {args['retrain_layers']} cells, C={args['retrain_channels']}, "
          f"{args['retrain_epochs']} epochs; teacher: width {args['teacher_width']}, {args['teacher_epochs']} epochs\n")
    print(text)
    plain, kd = summary["DARTS"], summary["DARTS + distillation"]
    gain = 100 * (kd["mean"] - plain["mean"])
    std_met = "met" if kd["std"] < plain["std"] else "NOT met"
    print(f"\ndistillation - plain: {gain:+.2f} points (target >= +0.3): {'met' if gain >= 0.3 else 'NOT met'}; "
          f"std {kd['std']:.4f} vs {plain['std']:.4f} (target smaller): {std_met}; "
          f"max skips per cell {max(plain['max_skip'], kd['max_skip'])} (target <= 2)")
    return summary


def merge(files: list[str], out: str | None) -> int:
    """One table from several ``--json`` files of the same settings (e.g. one process per seed)."""
    runs = [json.loads(Path(f).read_text()) for f in files]
    keep = ("seeds", "json", "verbose", "device", "merge")
    first = {k: v for k, v in runs[0]["args"].items() if k not in keep}
    for f, run in zip(files, runs):
        differs = sorted(k for k, v in run["args"].items() if k not in keep and first.get(k) != v)
        if differs:
            raise SystemExit(f"{f}: settings differ from {files[0]} in {', '.join(differs)}; not one benchmark")
    rows = [row for run in runs for row in run["rows"]]
    seeds = sorted({row["seed"] for row in rows})
    header = f"merged from {len(files)} processes (seeds {seeds}); " + "; ".join(r.get("header", "") for r in runs)
    summary = report(rows, runs[0]["args"], header)
    if out:
        Path(out).write_text(json.dumps({"args": runs[0]["args"], "merged": files, "rows": rows,
                                         "summary": summary}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.merge:
        return merge(args.merge, args.json)
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if resolve_device(args.device).type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
    train, norm = load_images(args.data, "train", args.limit_train)
    test, _ = load_images(args.data, "test", args.limit_test, norm)
    t0 = time.perf_counter()
    rows = []
    for seed in args.seeds:
        for distill in (False, True):
            rows.append(run_arm(args, distill, seed, train, test, norm))
            r = rows[-1]
            print(f"seed {seed} {r['method']:<21} test accuracy {r['test_accuracy']:.4f}  skips "
                  f"{r['skips_normal']},{r['skips_reduce']}  search {r['search_seconds']:.1f} s  "
                  f"retrain {r['retrain_seconds']:.1f} s", flush=True)
    device = describe_device(resolve_device(args.device))
    header = (f"Fashion-MNIST, {len(train[0]):,} training / {len(test[0]):,} test images, seeds {args.seeds}, "
              f"{device}, torch threads {torch.get_num_threads()}, {time.perf_counter() - t0:.0f} s in all")
    summary = report(rows, vars(args), header)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "device": device, "header": header,
                                               "rows": rows, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
