"""``chemaccel reaction train|predict|evaluate``: forward reaction prediction on the command line.

    chemaccel reaction train --data ../shared/data/uspto50k --preset low --steps 20000 -o my-model
    chemaccel reaction predict reactions.txt -m resources/models/uspto-forward-small -k 5 -o out.csv
    chemaccel reaction evaluate resources/models/uspto-forward-small --data ../shared/data/uspto50k \\
        --split test --limit 500 --json

``predict`` reads one reaction per line (reactant SMILES, or ``reactants>>`` / ``reactants>reagents>``)
or a CSV column, streams in chunks and writes one output row per input row, in input order, with a
``status`` column ("ok" or the reason the row was not predicted).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import signal
import sys
import tempfile
from itertools import islice
from pathlib import Path
from typing import Iterator, TextIO

from chemaccel.cli.common import eprint, print_json, read_config_file

EXAMPLES = """\
examples:
  chemaccel reaction train --data ../shared/data/uspto50k --preset low --steps 20000 -o my-model
  chemaccel reaction train --data ../shared/data/uspto50k -o my-model --resume      # continue
  chemaccel reaction predict reactions.txt -m resources/models/uspto-forward-small -k 5 -o out.csv
  chemaccel reaction predict batch.csv --column reactants -m MODEL -o out.csv
  chemaccel reaction evaluate MODEL --data ../shared/data/uspto50k --split test --limit 500 --json
  chemaccel reaction evaluate MODEL --data ../shared/data/uspto_mit --split test --json
"""
_COLUMN_GUESSES = ("reactants", "reaction", "rxn_smiles", "reaction_smiles", "smiles", "input")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reaction", help="reaction prediction as low-capacity SMILES translation",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", required=True)

    t = verbs.add_parser("train", help="train a forward model on a USPTO-50K-format folder", epilog=EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--data", required=True, help="folder with src-/tgt-{train,valid}.txt (USPTO-50K layout)")
    t.add_argument("--preset", choices=["low", "mt"], default="low",
                   help="low: the low-capacity model (default); mt: the Molecular Transformer baseline")
    t.add_argument("--steps", type=int, help="optimizer steps in total (default: the config's)")
    t.add_argument("--batch-tokens", type=int, help="tokens per batch (default 4096)")
    t.add_argument("--save-every", type=int, help="steps between checkpoints")
    t.add_argument("--augment", type=int, help="random-SMILES copies of each training reaction")
    t.add_argument("--mit-valid", metavar="DIR", help="also train on this USPTO-MIT folder's validation split")
    t.add_argument("--limit", type=int, help="use only the first N reactions of each split")
    t.add_argument("--config", help="JSON file with further ReactionConfig fields (flags win)")
    t.add_argument("-o", "--out", required=True, help="model folder to write (checkpoints in OUT.work/)")
    t.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in OUT.work/")
    t.set_defaults(func=_train)

    r = verbs.add_parser("predict", help="top-k products for each reaction of a file")
    r.add_argument("input", help="text file (one reaction per line) or .csv/.tsv; '-' reads stdin")
    r.add_argument("-m", "--model", required=True, help="reaction model folder")
    r.add_argument("-k", type=int, default=5, help="candidates per reaction (beam size), 1-20")
    r.add_argument("--column", help="CSV column holding the reactions (default: a reactants/reaction/smiles "
                                    "column, else the first)")
    r.add_argument("--chunk", type=int, default=256, help="rows read, predicted and written at a time")
    r.add_argument("-o", "--output", default="-", help="CSV to write ('-': stdout)")
    r.set_defaults(func=_predict)

    e = verbs.add_parser("evaluate", help="top-k exact match on a USPTO-50K or USPTO-MIT folder")
    e.add_argument("model")
    e.add_argument("--data", required=True, help="uspto50k folder (src-/tgt-SPLIT.txt) or uspto_mit folder")
    e.add_argument("--split", choices=["train", "valid", "test"], default="test")
    e.add_argument("--limit", type=int, help="the first N reactions only")
    e.add_argument("--beam", type=int, default=5, help="beam size (at least 5)")
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=_evaluate)


# ------------------------------------------------------------------------------------------------ train
def _train(args: argparse.Namespace) -> int:
    from chemaccel.reaction import ReactionConfig, ReactionTrainer
    from chemaccel.reporting import TqdmReporter
    from chemaccel.runtime import RuntimeConfig

    extra = read_config_file(args.config)
    flags = {"steps": args.steps, "batch_tokens": args.batch_tokens, "save_every": args.save_every,
             "augment": args.augment}
    fields = {**extra, **{k: v for k, v in flags.items() if v is not None}, "seed": args.seed}
    if args.mit_valid:
        fields["extra_mit_valid"] = True
    config = ReactionConfig.from_preset(args.preset, **{k: v for k, v in fields.items() if k != "preset"})
    if config.save_every > config.steps:
        config = config.replace(save_every=config.steps, valid_every=min(config.valid_every, config.steps))
    trainer = ReactionTrainer(config, args.data, args.out, mit_dir=args.mit_valid,
                              runtime=RuntimeConfig(device=args.device, seed=args.seed), limit=args.limit)
    reporter = TqdmReporter(file=sys.stderr)
    previous = signal.signal(signal.SIGINT, lambda *_: reporter.cancel())
    try:
        result = trainer.run(reporter, resume=args.resume)
    finally:
        signal.signal(signal.SIGINT, previous)
        reporter.close()
    print(f"saved {result.model_dir} (step {result.last_step}, {result.n_train} training reactions)")
    if result.cancelled:
        eprint(f"chemaccel: stopped at step {result.last_step} of {config.steps}; the model folder holds that "
               f"state; continue with the same command and --resume")
        return 130
    return 0


# ------------------------------------------------------------------------------------------------ predict
def _predict(args: argparse.Namespace) -> int:
    from chemaccel.errors import ConfigError, InputError
    from chemaccel.reaction.storage import load_model

    if not 1 <= args.k <= 20:
        raise ConfigError(f"-k must be from 1 to 20, got {args.k}")
    if args.chunk < 1:
        raise ConfigError(f"--chunk must be positive, got {args.chunk}")
    rows = _read_inputs(args.input, args.column)
    first = list(islice(rows, args.chunk))
    if not first:
        raise InputError(args.input, "no reactions (the input is empty)")
    model = load_model(args.model, device=_device(args.device))
    header = ["row", "input", "status"]
    for i in range(1, args.k + 1):
        header += [f"product_{i}", f"valid_{i}", f"score_{i}"]
    n = ok = 0
    with _open_output(args.output) as out:
        writer = csv.writer(out)
        writer.writerow(header)
        chunk = first
        while chunk:
            for pred in model.predict(chunk, k=args.k):
                n += 1
                ok += pred.ok
                row: list[object] = [n, pred.input, pred.status]
                for c in pred.candidates:
                    row += [c.smiles, int(c.valid), f"{c.score:.4f}"]
                writer.writerow(row + [""] * (len(header) - len(row)))
            out.flush()
            chunk = list(islice(rows, args.chunk))
    eprint(f"{n} rows: {ok} predicted, {n - ok} not (see the status column)"
           + ("" if args.output == "-" else f"; wrote {args.output}"))
    return 0


def _device(spec: str) -> str:
    from chemaccel.runtime import resolve_device

    return str(resolve_device(spec))


def _read_inputs(path: str, column: str | None) -> Iterator[str]:
    """Reactions of a text file (one per line) or a CSV/TSV column, streamed; checks the file first."""
    from chemaccel.errors import InputError

    if path != "-":
        p = Path(path)
        if not p.is_file():
            raise InputError(path, "file not found")
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv"):
        return _csv_column(path, column, "\t" if suffix == ".tsv" else ",")
    if column:
        raise InputError(path, "--column needs a .csv or .tsv file")
    return _lines(path)


def _lines(path: str) -> Iterator[str]:
    handle: TextIO = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")
    try:
        for line in handle:
            yield line.rstrip("\r\n")
    finally:
        if handle is not sys.stdin:
            handle.close()


def _csv_column(path: str, column: str | None, delimiter: str) -> Iterator[str]:
    from chemaccel.errors import InputError

    handle = open(path, encoding="utf-8", errors="replace", newline="")
    reader = csv.reader(handle, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        handle.close()
        raise InputError(path, "no reactions (the input is empty)")
    names = [h.strip() for h in header]
    if column is not None:
        if column not in names:
            handle.close()
            raise InputError(path, f"no column {column!r} (columns: {', '.join(names)})")
        index = names.index(column)
    else:
        lowered = [n.lower() for n in names]
        index = next((lowered.index(g) for g in _COLUMN_GUESSES if g in lowered), 0)

    def rows() -> Iterator[str]:
        with handle:
            for fields in reader:
                yield fields[index] if index < len(fields) else ""

    return rows()


class _open_output:
    """stdout, or a file written under a temporary name and renamed when complete."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tmp: str | None = None
        self.handle: TextIO | io.TextIOBase | None = None

    def __enter__(self) -> TextIO:
        if self.path == "-":
            return sys.stdout
        target = Path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        self.handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        return self.handle  # type: ignore[return-value]

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.handle is None:
            return
        self.handle.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)  # type: ignore[arg-type]
        else:
            Path(self.tmp).unlink(missing_ok=True)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ evaluate
def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from chemaccel.errors import ConfigError
    from chemaccel.reaction.evaluate import evaluate
    from chemaccel.reaction.storage import load_model
    from chemaccel.reporting import TqdmReporter

    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be positive, got {args.threads}")
        torch.set_num_threads(args.threads)
    model = load_model(args.model, device=_device(args.device))
    reporter = TqdmReporter(file=sys.stderr, disable=args.json or None)
    try:
        stats = evaluate(model, args.data, split=args.split, limit=args.limit, k=args.beam,
                         batch_size=args.batch_size, reporter=reporter)
    finally:
        reporter.close()
    stats["model"] = str(args.model)
    if args.json:
        print_json(stats)
        return 0
    print(f"{stats['n']} reactions of {args.data} ({stats['format']}, {args.split}), beam {stats['beam']}")
    for key in ("top1", "top2", "top3", "top5", "invalid_rate"):
        print(f"  {key:<13} {stats[key]:.4f}")
    print(f"  {'params':<13} {stats['params']:,}")
    print(f"  {'reactions/s':<13} {stats['reactions_per_s']:.2f} ({stats['threads']} thread(s), {stats['device']})")
    for cls, row in stats.get("per_class", {}).items():
        print(f"  class {cls:>2}: n={row['n']:<5} top1 {row['top1']:.3f}  top5 {row['top5']:.3f}")
    return 0
