"""``chemaccel prune run|evaluate|report``: the AutoPrune engine on the command line.

    chemaccel prune run --model lenet5 --data ../shared/data/mnist --budget 0.005 -o lenet5-pruned
    chemaccel prune evaluate lenet5-pruned --data ../shared/data/mnist --json
    chemaccel prune report lenet5-pruned

``run`` trains the dense model first (``--pretrain-epochs``) unless ``--dense FOLDER`` gives one, holds out
a validation slice of the train split, prunes, and writes the model folder ``-o``. Training checkpoints go
to ``OUT.work/``; Ctrl-C leaves a valid one and ``--resume`` continues from it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chemaccel.cli.common import eprint, print_json, read_config_file, run_with_progress

EXAMPLES = """\
examples:
  chemaccel prune run --model lenet5 --data ../shared/data/mnist --budget 0.005 --epochs 30 -o lenet5-pruned
  chemaccel prune run --model cnn-fashion --data ../shared/data/fashion_mnist --granularity structured \\
      --target flops --budget 0.25 -o cnn-pruned
  chemaccel prune evaluate resources/models/lenet5-mnist-autoprune --data ../shared/data/mnist --json
  chemaccel prune report resources/models/lenet5-mnist-autoprune
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prune", help="AutoPrune: prune a model by training auxiliary gate parameters",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", required=True)

    r = verbs.add_parser("run", help="prune a model on an image folder (IDX)", epilog=EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--model", choices=["lenet5", "lenet300", "cnn-fashion"], required=True)
    r.add_argument("--data", required=True, help="IDX folder (MNIST layout)")
    r.add_argument("--dense", help="a dense model folder to start from (default: train one first)")
    r.add_argument("--pretrain-epochs", type=int, default=10)
    r.add_argument("--budget", type=float, default=0.01, help="fraction of --target to keep, in (0, 1]")
    r.add_argument("--target", choices=["params", "flops"], default="params")
    r.add_argument("--granularity", choices=["unstructured", "structured"], default="unstructured")
    r.add_argument("--estimator", choices=["identity", "leaky", "softplus"], default="identity")
    r.add_argument("--epochs", type=int, default=20)
    r.add_argument("--finetune-epochs", type=int, default=5)
    r.add_argument("--distill", type=float, metavar="WEIGHT",
                   help="distil from the dense model with this weight in [0, 1] while pruning and fine-tuning "
                        "(0.5 for the shipped LeNet-5; default 0: labels only)")
    r.add_argument("--augment-shift", type=int, metavar="PIXELS",
                   help="move each training image by up to PIXELS in x and y (2 for the shipped LeNet-5; default 0)")
    r.add_argument("--limit", type=int, help="use only the first N training samples")
    r.add_argument("--config", help="JSON file with further PruneConfig fields (flags win)")
    r.add_argument("-o", "--out", required=True, help="model folder to write")
    r.add_argument("--resume", action="store_true", help="continue from OUT.work/ checkpoints")
    r.set_defaults(func=_run)

    e = verbs.add_parser("evaluate", help="measure a pruned model folder (size, FLOPs, latency, error)")
    e.add_argument("model", help="a pruned model folder or a shipped model's name")
    e.set_defaults(folder_args=("model",))
    e.add_argument("--data", help="IDX folder for the test error")
    e.add_argument("--split", choices=["train", "test"], default="test")
    e.add_argument("--limit", type=int)
    e.add_argument("--repeats", type=int, default=50, help="latency repeats (median)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=_evaluate)

    t = verbs.add_parser("report", help="per-layer table of a pruned model folder")
    t.add_argument("model", help="a pruned model folder or a shipped model's name")
    t.set_defaults(folder_args=("model",))
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=_report)


def _run(args: argparse.Namespace) -> int:
    from chemaccel import api
    from chemaccel.runtime import is_main_process

    extra = read_config_file(args.config)
    fields = {**extra, "granularity": args.granularity, "target": args.target, "budget": args.budget,
              "estimator": args.estimator, "epochs": args.epochs, "finetune_epochs": args.finetune_epochs,
              "runtime": {"device": args.device, "seed": args.seed}}
    if args.distill is not None:
        fields["distill"] = args.distill
    if args.augment_shift is not None:
        fields["augment_shift"] = args.augment_shift
    if fields.get("recovery_epochs") is not None and fields["recovery_epochs"] > args.epochs:
        fields["recovery_epochs"] = args.epochs
    out = Path(args.out)
    work = out.with_name(out.name + ".work")
    spec = api.PruneJobSpec(args.dense or args.model, Path(args.data), api.PruneConfig.from_dict(fields), work,
                            limit=args.limit, pretrain_epochs=args.pretrain_epochs, resume=args.resume)
    outcome = run_with_progress(lambda reporter: api.run_prune_job(reporter, spec))
    if outcome.result is None:
        eprint("chemaccel: interrupted during dense training")
        return 130
    if outcome.cancelled:
        eprint(f"chemaccel: cancelled; resume with the same command and --resume (checkpoint in {work})")
        return 130
    if not is_main_process():
        return 0  # process 0 writes the model under torchrun
    api.save_prune_outcome(outcome, out)
    print(api.prune_table(outcome.result.measurements))
    print(f"saved {out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    return _show(args, args.data, args.repeats)


def _report(args: argparse.Namespace) -> int:
    return _show(args, None, 0)


def _show(args: argparse.Namespace, data: str | None, repeats: int) -> int:
    from chemaccel import api

    stats = api.evaluate_pruned(args.model, data, split=getattr(args, "split", "test"),
                                limit=getattr(args, "limit", None), latency_repeats=repeats, device=args.torch_device)
    print_json(stats) if args.json else print(api.prune_table(stats))
    return 0
