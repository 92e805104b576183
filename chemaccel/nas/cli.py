"""``chemaccel nas search|retrain|evaluate``: DARTS architecture search with distillation on the command line.

    chemaccel nas search --data ../shared/data/fashion_mnist --distill -o genotype.json
    chemaccel nas retrain --genotype genotype.json --data ../shared/data/fashion_mnist --distill -o nas-model
    chemaccel nas evaluate nas-model --data ../shared/data/fashion_mnist --json

``search`` runs DARTS (Liu et al. ICLR 2019) on the TRAINING split of an IDX image folder, split in two
halves (weights / architecture; the test split is never read), and writes the derived genotype as JSON:
two cells of [operation, input] pairs, top-2 inputs per node, at most --max-skip skip connections per
cell. With --distill (or --feature-weight / --logit-weight) a teacher CNN is trained first and its stage
features and temperature-scaled logits are distilled into the supernet. ``retrain`` builds the genotype's
network at the retraining size, trains it from scratch on the training split (distilled from a teacher with
--distill), measures the test accuracy once and writes a model folder. ``evaluate`` re-measures a model
folder: test accuracy (a fraction), parameters and skip connections per cell. Checkpoints go to OUT.work/;
Ctrl-C leaves a valid one and --resume continues from it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from chemaccel.cli.common import eprint, print_json, read_config_file, run_with_progress

EXAMPLES = """\
examples:
  chemaccel nas search --data ../shared/data/fashion_mnist --epochs 10 --distill -o genotype.json
  chemaccel nas search --data ../shared/data/fashion_mnist --order second --limit-train 5000 -o g.json
  chemaccel --device cuda nas retrain --genotype genotype.json --data ../shared/data/fashion_mnist \\
      --layers 8 --channels 20 --epochs 30 --distill -o nas-fashion
  chemaccel nas evaluate resources/models/nas-fashion --data ../shared/data/fashion_mnist --json
"""
#: What --distill switches on (unless the weights are given explicitly).
DISTILL_DEFAULTS = {"feature_weight": 1.0, "logit_weight": 1.0}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("nas", help="DARTS architecture search with distillation: search, retrain, evaluate",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", required=True)

    s = verbs.add_parser("search", help="search a cell architecture on an image folder (IDX), write its genotype",
                         description="DARTS search on the training split (never the test split); writes the "
                                     "derived genotype as JSON.", epilog=EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--data", required=True, help="IDX folder (MNIST layout); only its train split is read")
    s.add_argument("-o", "--out", required=True, help="genotype JSON file to write")
    s.add_argument("--layers", type=int, help="cells of the supernet (default 5)")
    s.add_argument("--channels", type=int, help="channels of the first cells (default 8)")
    s.add_argument("--nodes", type=int, help="intermediate nodes per cell (default 4)")
    s.add_argument("--epochs", type=int, help="search epochs (default 10)")
    s.add_argument("--batch-size", type=int, help="batch size (default 64)")
    s.add_argument("--order", choices=["first", "second"], help="first-order or second-order (unrolled) DARTS")
    s.add_argument("--arch-lr", type=float, help="Adam learning rate of the architecture weights (default 1e-3)")
    s.add_argument("--ops", help="comma-separated candidate operations (default: the eight DARTS operations)")
    s.add_argument("--max-skip", type=int, help="skip connections allowed per derived cell (default 2)")
    s.add_argument("--no-skip-cap", action="store_true", help="derive without capping skip connections")
    s.add_argument("--limit-train", type=int, help="use only the first N training images (quick runs)")
    _distill_flags(s, "3")
    s.add_argument("--config", help="JSON file with further SearchConfig fields (flags win)")
    s.add_argument("--resume", action="store_true", help="continue from OUT.work/ checkpoints")
    s.add_argument("--json", action="store_true", help="print the search summary as one JSON object")
    s.set_defaults(func=_search)

    r = verbs.add_parser("retrain", help="train a genotype's network from scratch, write a model folder",
                         description="Train the derived network of a genotype from scratch on the training split; "
                                     "the test split is used once at the end to record its accuracy.",
                         epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--genotype", required=True, help="genotype JSON (from 'nas search', or written by hand)")
    r.add_argument("--data", required=True, help="IDX folder (MNIST layout)")
    r.add_argument("-o", "--out", required=True, help="model folder to write")
    r.add_argument("--layers", type=int, help="cells (default 8)")
    r.add_argument("--channels", type=int, help="channels of the first cells (default 16)")
    r.add_argument("--epochs", type=int, help="epochs (default 20)")
    r.add_argument("--batch-size", type=int, help="batch size (default 128)")
    r.add_argument("--lr", type=float, help="SGD learning rate, cosine-decayed (default 0.05)")
    r.add_argument("--val-size", type=int, help="training images held out to monitor accuracy (default 0)")
    r.add_argument("--no-augment", action="store_true", help="no random crops and flips")
    r.add_argument("--no-test", action="store_true", help="do not measure the test accuracy at the end")
    r.add_argument("--limit-train", type=int, help="use only the first N training images")
    r.add_argument("--precision", help="32-true (default) or bf16-mixed")
    _distill_flags(r, "10")
    r.add_argument("--config", help="JSON file with further RetrainConfig fields (flags win)")
    r.add_argument("--resume", action="store_true", help="continue from OUT.work/ checkpoints")
    r.set_defaults(func=_retrain)

    e = verbs.add_parser("evaluate", help="re-measure a NAS model folder: test accuracy, parameters, skips",
                         description="Rebuild the network from its JSON genotype and measure it. --json prints "
                                     "test_accuracy (a fraction), params and max_skip_per_cell among others.")
    e.add_argument("model", help="a NAS model folder or a shipped model's name")
    e.set_defaults(folder_args=("model",))
    e.add_argument("--data", help="IDX folder for the accuracy (its test split by default)")
    e.add_argument("--split", choices=["train", "test"], default="test")
    e.add_argument("--limit", type=int, help="only the first N images of the split")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=_evaluate)


def _distill_flags(p: argparse.ArgumentParser, teacher_epochs: str) -> None:
    p.add_argument("--distill", action="store_true",
                   help="distil from a teacher CNN the engine trains first (feature and logit weights 1)")
    p.add_argument("--feature-weight", type=float, help="weight of the feature (MSE) distillation term")
    p.add_argument("--logit-weight", type=float, help="weight of the logit (KL, x T^2) distillation term")
    p.add_argument("--temperature", type=float, help="distillation temperature T (default 4)")
    p.add_argument("--teacher-epochs", type=int, help=f"epochs of training the teacher (default {teacher_epochs})")


def _fields(args: argparse.Namespace, names: dict[str, str]) -> dict[str, Any]:
    fields = {**read_config_file(args.config)}
    if args.distill:
        for key, value in DISTILL_DEFAULTS.items():
            fields.setdefault(key, value)
    for flag, key in {**names, "feature_weight": "feature_weight", "logit_weight": "logit_weight",
                      "temperature": "temperature", "teacher_epochs": "teacher_epochs",
                      "limit_train": "limit_train"}.items():
        value = getattr(args, flag)
        if value is not None:
            fields[key] = value
    runtime = {**fields.get("runtime", {}), "device": args.device, "seed": args.seed}
    if getattr(args, "precision", None):
        runtime["precision"] = args.precision
    fields["runtime"] = runtime
    return fields


def _search(args: argparse.Namespace) -> int:
    from chemaccel import api
    from chemaccel.runtime import is_main_process

    fields = _fields(args, {"layers": "layers", "channels": "init_channels", "nodes": "nodes", "epochs": "epochs",
                            "batch_size": "batch_size", "order": "order", "arch_lr": "arch_lr",
                            "max_skip": "max_skip"})
    if args.ops:
        fields["ops"] = [o.strip() for o in args.ops.split(",") if o.strip()]
    elif args.ops is not None:
        fields["ops"] = []
    if args.no_skip_cap:
        fields["max_skip"] = None
    out = Path(args.out)
    spec = api.NasSearchSpec(Path(args.data), api.SearchConfig.from_dict(fields), out.with_name(out.name + ".work"),
                             resume=args.resume)
    outcome = run_with_progress(lambda reporter: api.run_nas_search_job(reporter, spec))
    result = outcome.result
    if result.cancelled:
        eprint("chemaccel: cancelled; resume with the same command and --resume "
               f"(checkpoint in {result.checkpoint})")
        return 130
    if not is_main_process():
        return 0  # under torchrun every process holds the same genotype; process 0 writes it
    api.save_nas_genotype(outcome, out)
    if args.json:
        print_json({"genotype": result.genotype.to_dict(), "skip_per_cell": result.genotype.skip_counts(),
                    "skips_before_cap": result.skips_before_cap, "seconds": result.seconds, "out": str(out)})
    else:
        print(result.genotype.describe())
        print(f"skip connections per cell {result.genotype.skip_counts()} "
              f"(before the cap {result.skips_before_cap}); search {result.seconds:.1f} s")
        print(f"saved {out}")
    return 0


def _retrain(args: argparse.Namespace) -> int:
    from chemaccel import api

    fields = _fields(args, {"layers": "layers", "channels": "init_channels", "epochs": "epochs",
                            "batch_size": "batch_size", "lr": "lr", "val_size": "val_size"})
    if args.no_augment:
        fields["augment"] = False
    out = Path(args.out)
    spec = api.NasRetrainSpec(Path(args.genotype), Path(args.data), api.RetrainConfig.from_dict(fields), out,
                              out.with_name(out.name + ".work"), resume=args.resume, test=not args.no_test)
    api.read_genotype(spec.genotype)  # a bad genotype file fails before the images are read
    outcome = run_with_progress(lambda reporter: api.run_nas_retrain_job(reporter, spec))
    result = outcome.result
    if spec.test and not outcome.test_measured:
        eprint("chemaccel: no test split in the data folder; the model folder records no test accuracy")
    if result.cancelled:
        eprint("chemaccel: cancelled; resume with the same command and --resume "
               f"(checkpoint in {result.checkpoint})")
        return 130
    if result.folder is None:
        return 0  # the other torchrun processes: process 0 wrote the model folder
    m = result.metrics
    acc = f"test accuracy {m['test_accuracy']:.4f}, " if m.get("test_accuracy") is not None else ""
    print(f"{acc}{m['params']:,} parameters, max {m['max_skip_per_cell']} skip connections per cell")
    print(f"saved {result.folder}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from chemaccel import api

    stats = api.evaluate_nas(args.model, args.data, split=args.split, limit=args.limit, device=args.device)
    if args.json:
        print_json(stats)
        return 0
    acc = stats["test_accuracy"]
    label = f"accuracy ({args.split})"
    print(f"{label:<24} {'-' if acc is None else f'{acc:.4f}'} on {stats['samples']:,} images")
    print(f"{'parameters':<24} {stats['params']:,}")
    print(f"{'skip connections/cell':<24} {stats['skip_per_cell']} (max {stats['max_skip_per_cell']})")
    return 0
