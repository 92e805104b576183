"""``chemaccel reaction train|predict|evaluate``: forward reaction prediction on the command line.

    chemaccel reaction train --data ../shared/data/uspto50k --preset low --steps 20000 -o my-model
    chemaccel reaction predict reactions.txt -m resources/models/uspto-forward-reagents -k 5 -o out.csv
    chemaccel reaction evaluate resources/models/uspto-forward-reagents --data ../shared/data/uspto50k \\
        --split test --limit 500 --json

``predict`` reads one reaction per line (reactant SMILES, or ``reactants>>`` / ``reactants>reagents>``)
or a CSV column, streams in chunks and writes one output row per input row, in input order, with a
``status`` column ("ok" or the reason the row was not predicted); the output file is written chunk by
chunk, crash-safe, and ``--resume`` continues it after a kill.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from itertools import islice
from pathlib import Path
from typing import Any

from chemaccel.cli.common import add_ray_flags, cancel_on_sigint, eprint, print_json, read_config_file, run_ray_job
from chemaccel.shipped import DEFAULT_MODELS  # light (the api module is imported when a verb runs)

EXAMPLES = """\
examples:
  chemaccel reaction train --data ../shared/data/uspto50k --preset low --steps 20000 -o my-model
  chemaccel reaction train --data ../shared/data/uspto50k -o my-model --resume      # continue
  chemaccel reaction predict reactions.txt -m resources/models/uspto-forward-reagents -k 5 -o out.csv
  chemaccel reaction predict batch.csv --column reactants -m MODEL -o out.csv
  chemaccel reaction evaluate MODEL --data ../shared/data/uspto50k --split test --limit 500 --json
  chemaccel reaction evaluate MODEL --data ../shared/data/uspto_mit --split test --json
"""
PREDICT_HELP = """\
Predict the top-k products of each reaction of a file and write one CSV row per input row, in input
order, with a status column. Rows are streamed --chunk at a time, so memory does not grow with the
file. A file OUTPUT is written in place, one chunk at a time, each chunk flushed to disk (fsync), and
OUTPUT.resume.json records the model, the input and the options. If the run is killed (kill -9, a
crash, a power cut), the same command with --resume keeps OUTPUT's complete chunks, cuts any partial
line, skips that many input lines and appends the rest: the result is the same file an uninterrupted
run writes. Ctrl-C stops after the current chunk (a second Ctrl-C at once) and leaves OUTPUT ready
for --resume. Without --resume an existing OUTPUT is replaced.

One reaction may be typed instead of a file name (quote it for the shell): its candidates are printed
as numbered lines with the note on what was read and the confidence, or written as a one-row CSV with -o.
"""
PREDICT_EXAMPLES = """\
examples:
  chemaccel reaction predict 'CC(=O)Cl.Nc1ccccc1.CCN(CC)CC'       # one reaction, printed
  chemaccel reaction predict reactions.txt -m resources/models/uspto-forward-reagents -k 5 -o out.csv
  chemaccel reaction predict batch.csv --column reactants -m MODEL -o out.csv
  chemaccel reaction predict reactions.txt -m MODEL -k 5 -o out.csv --resume   # after a kill or Ctrl-C
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reaction", help="reaction prediction as low-capacity SMILES translation",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", required=True)

    t = verbs.add_parser("train", help="train a forward model on a USPTO-50K-format folder or a reaction corpus",
                         epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--data", required=True,
                   help="folder with src-/tgt-{train,valid}.txt (USPTO-50K layout), or a corpus made by "
                        "`chemaccel data reactions` (train.tsv, valid.tsv: reactions as typed, reagents mixed in)")
    t.add_argument("--reagents", choices=["drop", "mixed"],
                   help="what the model reads of a typed reaction: drop (default) = reactants only, known reagents "
                        "set aside in training as in use; mixed = reactants and reagents together")
    t.add_argument("--min-token-count", type=int,
                   help="tokens rarer than this in the training data are read as <unk> in training, and the model "
                        "then reads an unknown token in use instead of refusing the reaction (default 1: refuse)")
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
    t.add_argument("--init-from", metavar="MODEL",
                   help="start from this reaction model folder's weights (same architecture; new optimizer and "
                        "schedule; its vocabulary grows by the tokens the new data adds), e.g. to train a "
                        "shipped model longer")
    t.add_argument("--decoder-layers", type=int,
                   help="decoder layers (default: as many as the encoder); beam search time is mostly "
                        "the decoder's")
    t.add_argument("--keep-decoder-layers", metavar="I,J",
                   help="with --init-from: keep only these decoder layers of that model (numbered from "
                        "0) and fine-tune the shallower model, e.g. 0,2 of a 3-layer decoder")
    t.add_argument("--keep-heads", type=int, metavar="H",
                   help="with --init-from: keep the H largest heads of every attention module of that model, "
                        "removed from the weights (not masked), and fine-tune the smaller, faster model")
    t.add_argument("--keep-neurons", type=int, metavar="N",
                   help="with --init-from: keep the N largest neurons of every feed-forward block likewise")
    add_student_flags(t)
    t.add_argument("--prune-budget", type=float, metavar="FRACTION",
                   help="with --init-from: AutoPrune that model's heads and feed-forward neurons while training "
                        "(gates learnt with the weights) down to FRACTION of their parameters, e.g. 0.5; the "
                        "model written is compacted to the units left open: fine-tune it in a second run")
    t.add_argument("--prune-scope", choices=["all", "decoder", "decoder-heads"], default="all",
                   help="with --prune-budget: prune every head and neuron (all), the decoder's, or the decoder's "
                        "heads only (decoder-heads: a decoding step's time follows them; default: all)")
    t.set_defaults(func=_train)

    r = verbs.add_parser("predict", help="top-k products for each reaction of a file",
                         description=PREDICT_HELP, epilog=PREDICT_EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("input", help="text file (one reaction per line) or .csv/.tsv; '-' reads stdin; or one "
                                 "reaction SMILES typed here (quoted), printed as readable lines")
    r.add_argument("-m", "--model", default=DEFAULT_MODELS["reaction"],
                    help="a reaction model folder or a shipped model's name (default: %(default)s)")
    r.set_defaults(folder_args=("model",))
    r.add_argument("-k", type=int, default=5,
                   help="candidates per reaction, 1-20 (decoded with a beam of k + 2, at least 7)")
    r.add_argument("--column", help="CSV column holding the reactions (default: a reactants/reaction/smiles "
                                    "column, else the first)")
    add_ray_flags(r, "the model in Ray actors")
    r.add_argument("--workers", type=int, default=1, metavar="N",
                   help="processes that each hold the model and predict whole chunks (one thread each); the rows "
                        "are the same as with 1 (default 1)")
    r.add_argument("--chunk", type=int, default=256,
                   help="rows read, predicted and written (fsync-ed) at a time (default 256)")
    r.add_argument("-o", "--output", default="-",
                   help="CSV to write ('-': stdout), replaced unless --resume, "
                        "with OUTPUT.resume.json beside it")
    r.add_argument("--resume", action="store_true",
                   help="continue an interrupted run: keep OUTPUT's complete chunks, skip that many "
                        "input lines, append the rest (same model, input, -k, --column and --chunk, else "
                        "an error); starts afresh when OUTPUT does not exist, does nothing when it is "
                        "complete")
    r.set_defaults(func=_predict)

    e = verbs.add_parser("evaluate", help="top-k exact match on a USPTO-50K or USPTO-MIT folder")
    e.add_argument("model", help="a reaction model folder or a shipped model's name")
    e.set_defaults(folder_args=("model",))
    e.add_argument("--data", required=True, help="uspto50k folder (src-/tgt-SPLIT.txt) or uspto_mit folder")
    e.add_argument("--split", choices=["train", "valid", "test"], default="test")
    e.add_argument("--limit", type=int, help="the first N reactions only")
    e.add_argument("-k", "--beam", type=int, default=5, dest="beam", metavar="K",
                   help="candidates scored per reaction (at least 5; decoded with a beam of k + 2, at least 7)")
    e.add_argument("--batch-size", type=int, default=32,
                   help="reactions decoded together (default 32, as in the recorded figures; "
                        "128 is 10-30 %% faster on the CPU, same predictions)")
    e.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=_evaluate)


# ------------------------------------------------------------------------------------------------ train
def add_student_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that make a smaller student of an ``--init-from`` model: the decoder's kept units and a
    distilling teacher (``chemaccel reaction train`` and scripts/train_reaction.py share them)."""
    parser.add_argument("--keep-decoder-heads", type=int, metavar="H",
                        help="with --init-from: keep the H largest heads of every decoder attention module (the "
                             "encoder keeps --keep-heads, by default all), removed from the weights, and "
                             "fine-tune: the decoder's heads are where a decoding step's time goes")
    parser.add_argument("--keep-decoder-neurons", type=int, metavar="N",
                        help="with --init-from: feed-forward neurons kept per decoder block (default: as the "
                             "encoder's)")
    parser.add_argument("--distill-from", metavar="MODEL",
                        help="a distilling teacher: every step also matches this model's next-token "
                             "distributions (chemaccel.reaction.distill; a model with the same vocabulary, e.g. "
                             "the --init-from a smaller model was cut from)")
    parser.add_argument("--distill-alpha", type=float, default=0.5,
                        help="with --distill-from: the teacher's share of the loss, in (0, 1] (default 0.5)")
    parser.add_argument("--distill-temperature", type=float, default=1.0,
                        help="with --distill-from: the softmax temperature of both distributions (default 1)")


def _train(args: argparse.Namespace) -> int:
    from chemaccel import api
    from chemaccel.errors import ConfigError
    from chemaccel.runtime import is_main_process

    extra = read_config_file(args.config)
    flags = {"steps": args.steps, "batch_tokens": args.batch_tokens, "save_every": args.save_every,
             "augment": args.augment, "decoder_layers": args.decoder_layers, "reagents": args.reagents,
             "min_token_count": args.min_token_count}
    keep = None
    if args.keep_decoder_layers:
        if not args.init_from:
            raise ConfigError("--keep-decoder-layers needs --init-from (the model whose layers are kept)")
        keep = api.reaction_kept_layers(args.keep_decoder_layers)
        if args.decoder_layers not in (None, len(keep)):
            raise ConfigError(f"--decoder-layers {args.decoder_layers} but --keep-decoder-layers keeps "
                              f"{len(keep)} layers")
        flags["decoder_layers"] = len(keep)
    kept_units = (args.keep_heads, args.keep_neurons, args.keep_decoder_heads, args.keep_decoder_neurons)
    if args.init_from and keep is None and all(k is None for k in kept_units) and args.prune_budget is None:
        extra = {**api.reaction_unit_shape(args.init_from), **extra}  # a compacted model trains on at its shape
    fields = {**extra, **{k: v for k, v in flags.items() if v is not None}, "seed": args.seed}
    if args.mit_valid:
        fields["extra_mit_valid"] = True
    config = api.ReactionConfig.from_preset(args.preset, **{k: v for k, v in fields.items() if k != "preset"})
    if config.save_every > config.steps:
        config = config.replace(save_every=config.steps, valid_every=min(config.valid_every, config.steps))
    reporter = api.TqdmReporter(file=sys.stderr, disable=None if is_main_process() else True)
    with cancel_on_sigint(reporter, what="step"):
        try:
            result = api.train_reaction(config, args.data, args.out, reporter, resume=args.resume,
                                        runtime=api.RuntimeConfig(device=args.device, seed=args.seed),
                                        mit_dir=args.mit_valid, limit=args.limit, init_from=args.init_from,
                                        keep_decoder_layers=keep, keep_heads=args.keep_heads,
                                        keep_neurons=args.keep_neurons, prune_budget=args.prune_budget,
                                        prune_scope=args.prune_scope, keep_decoder_heads=args.keep_decoder_heads,
                                        keep_decoder_neurons=args.keep_decoder_neurons,
                                        distill_from=args.distill_from, distill_alpha=args.distill_alpha,
                                        distill_temperature=args.distill_temperature)
        finally:
            reporter.close()
    if not is_main_process():
        return 130 if result.cancelled else 0  # under torchrun, process 0 speaks for all
    print(f"saved {result.model_dir} (step {result.last_step}, {result.n_train} training reactions)")
    if result.cancelled:
        eprint(f"chemaccel: stopped at step {result.last_step} of {config.steps}; the model folder holds that "
               f"state; continue with the same command and --resume")
        return 130
    return 0


# ------------------------------------------------------------------------------------------------ predict
def _predict(args: argparse.Namespace) -> int:
    from chemaccel import api
    from chemaccel.errors import ConfigError, InputError

    if not 1 <= args.k <= 20:
        raise ConfigError(f"-k must be from 1 to 20, got {args.k}")
    if args.chunk < 1:
        raise ConfigError(f"--chunk must be positive, got {args.chunk}")
    if args.resume and args.output == "-":
        raise ConfigError("--resume needs an output file (-o OUT.csv), not stdout")
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    header = api.reaction_csv_header(args.k)
    typed = api.typed_reaction(args.input)
    if typed is not None:
        return _predict_typed(args, typed, header)
    if args.ray is not None:
        return _predict_ray(args)
    rows = api.read_reactions(args.input, args.column)
    writer = None
    if args.output != "-":
        writer = _resumable_output(args, header)
        if writer.complete:
            eprint(f"{args.output}: already complete ({writer.rows_done} rows); nothing to do")
            return 0
        if writer.rows_done or writer.dropped_bytes:
            eprint(writer.resume_note())
        for _ in islice(rows, writer.rows_done):  # skip the rows already written (text only: cheap)
            pass
    done = writer.rows_done if writer else 0
    first = list(islice(rows, args.chunk))
    if not first and not done:
        raise InputError(args.input, "no reactions (the input is empty)")
    chunks = _chunks(first, rows, args.chunk)
    if args.workers > 1:  # each worker process loads the model; this one only checks the folder
        api.expect_engine(api.read_model_info(args.model), "reaction", args.model)
        predictions = api.predict_reaction_chunks(args.model, chunks, args.k, args.workers, str(args.torch_device))
    else:
        model = _load(args)
        predictions = (model.predict(chunk, k=args.k) for chunk in chunks)
    reporter = api.TqdmReporter(file=sys.stderr, disable=None if writer else True)
    n, ok = done, 0
    try:
        with cancel_on_sigint(reporter), (writer or _Stdout(header)) as out:
            reporter.on_start("predict", None)
            for preds in predictions:
                out.write_rows(api.reaction_csv_rows(preds, args.k, first_row=n + 1))
                n += len(preds)
                ok += sum(p.ok for p in preds)
                reporter.on_progress(n, None, {"not_predicted": float(n - done - ok)})
                if reporter.should_stop():
                    break
            else:
                if writer is not None:
                    writer.finish(predicted=ok, not_predicted=n - done - ok)
    finally:
        reporter.close()
        predictions.close()  # a pool of --workers shuts down with the chunks not started
    if reporter.should_stop():
        eprint(f"chemaccel: interrupted after {n} rows" if writer is None else
               f"chemaccel: interrupted; {args.output} holds the first {n} rows; continue with the same "
               "command and --resume")
        return 130
    kept = f" after {done} rows kept from before" if done else ""
    eprint(f"{n - done} rows: {ok} predicted, {n - done - ok} not (see the status column)" + kept
           + ("" if args.output == "-" else f"; wrote {args.output}"))
    return 0


def _predict_typed(args: argparse.Namespace, typed: str, header: list[str]) -> int:
    """One reaction typed on the command line: readable lines on stdout, or a one-row CSV with ``-o``."""
    from chemaccel import api
    from chemaccel.errors import ConfigError

    for flag, used in (("--ray", args.ray is not None), ("--resume", args.resume), ("--column", args.column),
                       ("--workers", args.workers > 1)):
        if used:
            raise ConfigError(f"{flag} is for a file of reactions; {typed!r} is one reaction typed on the command line")
    prediction = _load(args).predict([typed], k=args.k)[0]
    if args.output == "-":
        print("\n".join(api.reaction_text_lines(prediction)))
    else:
        from chemaccel.checkpoint import atomic_write_bytes

        buffer = io.StringIO()
        csv.writer(buffer).writerows([header, *api.reaction_csv_rows([prediction], args.k, first_row=1)])
        atomic_write_bytes(Path(args.output), buffer.getvalue().encode("utf-8"))
        eprint(f"wrote {args.output}")
    return 0 if prediction.ok else 1


def _chunks(first: list[str], rows: Any, size: int) -> Any:
    chunk = first
    while chunk:
        yield chunk
        chunk = list(islice(rows, size))


def _predict_ray(args: argparse.Namespace) -> int:
    import functools

    from chemaccel import api
    from chemaccel.errors import ConfigError

    if args.output == "-":
        raise ConfigError("--ray writes a file (-o OUT.csv), not stdout")
    api.expect_engine(api.read_model_info(args.model), "reaction", args.model)
    job = functools.partial(api.predict_reactions_ray, args.model, args.input, args.output, args.ray,
                            column=args.column, k=args.k, chunk=args.chunk, resume=args.resume)
    return run_ray_job(args, args.output, job, "predicted", "not")


def _resumable_output(args: argparse.Namespace, header: list[str]) -> Any:
    """The crash-safe output file (see :mod:`chemaccel.batch_output`); checks a --resume against it."""
    from chemaccel.batch_output import ResumableCsv, file_fingerprint, model_fingerprint

    fingerprint = {"engine": "reaction", "model_sha256": model_fingerprint(args.model),
                   "input": file_fingerprint(args.input), "column": args.column, "k": args.k,
                   "chunk": args.chunk}
    return ResumableCsv(args.output, header, fingerprint, about={"model": str(Path(args.model).resolve())},
                        resume=args.resume, align=args.chunk)


class _Stdout:
    """``-o -``: the header, then rows on stdout, flushed per chunk."""

    def __init__(self, header: list[str]) -> None:
        self.writer = csv.writer(sys.stdout)
        self.header = header

    def __enter__(self) -> _Stdout:
        self.writer.writerow(self.header)
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.stdout.flush()

    def write_rows(self, rows: list[list[object]]) -> None:
        self.writer.writerows(rows)
        sys.stdout.flush()


def _load(args: argparse.Namespace) -> Any:
    """The reaction model folder of ``args.model`` on the device asked for (another engine's folder is an
    error)."""
    from chemaccel import api

    api.expect_engine(api.read_model_info(args.model), "reaction", args.model)
    return api.load_model(args.model, str(args.torch_device))


# ------------------------------------------------------------------------------------------------ evaluate
def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from chemaccel import api
    from chemaccel.errors import ConfigError

    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be positive, got {args.threads}")
        torch.set_num_threads(args.threads)
    model = _load(args)
    reporter = api.TqdmReporter(file=sys.stderr, disable=args.json or None)
    try:
        stats = api.evaluate_reaction(model, args.data, split=args.split, limit=args.limit, k=args.beam,
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
    conf = stats.get("confidence")
    if conf:
        print(f"  confidence    ECE {conf['ece']:.3f}; top-1 of the most confident half "
              f"{conf['top1_most_confident_half']:.3f}, of the other half {conf['top1_other_half']:.3f}")
    return 0
