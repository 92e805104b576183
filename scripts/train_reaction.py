"""Train a low-capacity reaction model (the shipped ones came from this script), forward direction (resumable).

    nohup env OMP_NUM_THREADS=1 .venv/bin/python scripts/train_reaction.py \
        > runs/shipped-reaction.log 2>&1 &

Trains the ``low`` preset on the USPTO-50K train split (reactants -> product), or on a corpus made by
``chemaccel data reactions`` (``--data`` its folder: reactions as typed, reagents mixed in, each written
as the model reads it in use, see ``--reagents``). Every checkpoint
(``--save-every`` steps) is scored by beam search (beam 5) on the first ``--curve-n`` reactions of the
*validation* split; the learning curve (top-1 / top-5 against steps) goes to ``<work>/curve.json``
and the model folder is re-exported (mean of the newest checkpoints), so ``--out`` always holds the
latest usable model: the mean of the newest (up to 5) checkpoints of the last 20 % of the steps, so
that early, fast-changing checkpoints stay out of the average. Selection uses the validation split only; the test splits are for the report.

Running the same command again resumes from the newest checkpoint under ``--work``. SIGTERM / Ctrl-C
stop cleanly at the next step with a checkpoint (``timeout -s TERM 20m python scripts/train_reaction.py``
trains to a wall-clock budget). ``--curve-n 0`` skips the per-checkpoint scoring (and its rdkit work).

On a GPU (the shipped model, 2026-11-26: H200, batch 16,384 tokens, two augmented copies):

    python scripts/train_reaction.py --device cuda --batch-tokens 16384 --augment 2 --warmup 1000 \
        --save-every 500 --curve-n 0
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chemaccel.api import reaction_unit_shape  # noqa: E402
from chemaccel.checkpoint import atomic_write_json  # noqa: E402
from chemaccel.errors import ChemAccelError  # noqa: E402
from chemaccel.reaction.cli import add_student_flags  # noqa: E402
from chemaccel.reaction.config import ReactionConfig  # noqa: E402
from chemaccel.reaction.data import load_pairs  # noqa: E402
from chemaccel.reaction.distill import DistillConfig  # noqa: E402
from chemaccel.reaction.eole_bridge import complete_checkpoints, read_eole_checkpoint  # noqa: E402
from chemaccel.reaction.engine import ReactionTrainer  # noqa: E402
from chemaccel.reaction.evaluate import evaluate_pairs  # noqa: E402
from chemaccel.reaction.model import ReactionModel  # noqa: E402
from chemaccel.checkpoint import read_model_info  # noqa: E402
from chemaccel.reaction.compact import shrink_model  # noqa: E402
from chemaccel.reaction.storage import drop_decoder_layers, export_model, load_model, parse_kept_layers  # noqa: E402
from chemaccel.reaction.unit_gates import shrink_to_gates  # noqa: E402
from chemaccel.reaction.unit_prune import UnitPruneConfig, read_gates  # noqa: E402
from chemaccel.reporting import LoggingReporter  # noqa: E402
from chemaccel.runtime import RuntimeConfig  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "uspto50k"))
    p.add_argument("-o", "--out", default=str(ROOT / "runs" / "uspto-forward"))
    p.add_argument("--work", default=str(ROOT / "runs" / "shipped-reaction"))
    p.add_argument("--preset", default="low", choices=["low", "mt"])
    p.add_argument("--steps", type=int, default=60_000)
    p.add_argument("--batch-tokens", type=int, default=4096)
    p.add_argument("--save-every", type=int, default=1000)
    p.add_argument("--curve-n", type=int, default=200, help="validation reactions scored per checkpoint")
    p.add_argument("--warmup", type=int, default=2000, help="Noam warm-up steps")
    p.add_argument("--lr", type=float, default=2.0,
                   help="Noam scale factor (2.0 as the Molecular Transformer; lower it to anneal a warm start)")
    p.add_argument("--augment", type=int, default=0, help="randomized-reactant copies of each training pair")
    p.add_argument("--reagents", choices=["drop", "mixed"], default="drop",
                   help="what the model reads of a typed reaction: drop = reactants only (known reagents set "
                        "aside, in training as in use), mixed = reactants and reagents")
    p.add_argument("--min-token-count", type=int, default=1,
                   help="tokens rarer than this in the corpus are read as <unk> in training, and the model reads "
                        "unknown tokens in use instead of refusing the reaction (1: refuse, as before)")
    p.add_argument("--device", default="auto")
    p.add_argument("--init-from", metavar="MODEL",
                   help="start from this model folder's weights (e.g. the shipped model, to train it longer)")
    p.add_argument("--decoder-layers", type=int, default=0,
                   help="decoder layers (0: as many as the encoder); must match --init-from's model")
    p.add_argument("--keep-decoder-layers", metavar="I,J",
                   help="with --init-from: keep only these decoder layers of it (numbered from 0) and fine-tune "
                        "the shallower model (faster beam search); e.g. 0,2 of the 3-layer decoder")
    p.add_argument("--keep-heads", type=int, metavar="H",
                   help="with --init-from: keep the H largest heads of every attention module (and --keep-neurons "
                        "neurons of every feed-forward block), removed from the weights "
                        "(chemaccel.reaction.compact), and fine-tune the smaller model")
    p.add_argument("--keep-neurons", type=int, metavar="N", help="with --keep-heads: feed-forward neurons kept per block")
    add_student_flags(p)
    p.add_argument("--prune-budget", type=float, metavar="FRACTION",
                   help="with --init-from: AutoPrune its heads and feed-forward neurons while training "
                        "(chemaccel.reaction.unit_prune) to FRACTION of their parameters; checkpoints are scored "
                        "and --out is written compacted to the units left open")
    p.add_argument("--prune-scope", choices=["all", "decoder", "decoder-heads"], default="all",
                   help="with --prune-budget: what is pruned (decoder-heads: where a decoding step's time goes)")
    p.add_argument("--prune-ramp", type=float, default=0.6, metavar="FRACTION",
                   help="with --prune-budget: fraction of the steps over which the kept target falls to the "
                        "budget (the gates are then frozen and the rest of the run fine-tunes the weights)")
    p.add_argument("--prepare-only", action="store_true",
                   help="do not train: write the corpus as the model reads it (tokenized, vocabulary) into --work "
                        "and stop; a later run with the same --data path string and data flags reuses it "
                        "without reading train.tsv (scripts/pack_reaction_leg.sh packs it for a lent GPU)")
    p.add_argument("--export-from", type=int, metavar="STEP",
                   help="do not train: write --out as the mean of the newest 5 checkpoints in --work at or "
                        "after STEP (to choose an average on the validation split afterwards)")
    args = p.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    log = logging.getLogger("train_reaction")
    work = Path(args.work)
    init_from, decoder_layers = args.init_from, args.decoder_layers
    if args.keep_decoder_layers:
        if not args.init_from:
            p.error("--keep-decoder-layers needs --init-from")
        init_from = work / "init-model"
        try:
            keep = parse_kept_layers(args.keep_decoder_layers)
            if not complete_checkpoints(work):  # a resumed run keeps the copy it started from
                drop_decoder_layers(args.init_from, init_from, keep)
        except ChemAccelError as exc:
            p.error(str(exc))
        decoder_layers = len(keep)
    shape: dict[str, int] = {}
    kept_units = (args.keep_heads, args.keep_neurons, args.keep_decoder_heads, args.keep_decoder_neurons)
    if any(k is not None for k in kept_units):
        if not args.init_from or args.keep_decoder_layers:
            p.error("--keep-heads/--keep-neurons/--keep-decoder-* need --init-from (and not --keep-decoder-layers)")
        init_from = work / "init-model"
        try:
            if not complete_checkpoints(work):  # a resumed run keeps the copy it started from
                shrink_model(args.init_from, init_from, heads=args.keep_heads, neurons=args.keep_neurons,
                             decoder_heads=args.keep_decoder_heads, decoder_neurons=args.keep_decoder_neurons)
            small = ReactionConfig.from_dict(read_model_info(init_from).config)
        except ChemAccelError as exc:
            p.error(str(exc))
        shape = {"heads": small.heads, "head_dim": small.head_width, "ff_size": small.ff_size,
                 "decoder_heads": small.decoder_heads, "decoder_ff_size": small.decoder_ff_size}
    elif args.init_from and not args.keep_decoder_layers:  # a compact model trains on at its own shape
        try:
            shape = reaction_unit_shape(args.init_from)
        except ChemAccelError as exc:
            p.error(str(exc))
        depth = shape.pop("decoder_layers")
        decoder_layers = decoder_layers or depth  # a layer-pruned model trains on at its own depth
    cfg = ReactionConfig.from_preset(args.preset, decoder_layers=decoder_layers, steps=args.steps, **shape,
                                     batch_tokens=args.batch_tokens,
                                     save_every=args.save_every, valid_every=args.save_every,
                                     warmup_steps=args.warmup, learning_rate=args.lr, augment=args.augment,
                                     reagents=args.reagents, min_token_count=args.min_token_count,
                                     keep_checkpoints=5, average_last=5)
    prune = None
    if args.prune_budget is not None:
        if not args.init_from or args.keep_decoder_layers or any(k is not None for k in kept_units):
            p.error("--prune-budget needs --init-from (and none of the --keep-* flags)")
        try:
            prune = UnitPruneConfig(budget=args.prune_budget, scope=args.prune_scope, ramp_fraction=args.prune_ramp)
        except ChemAccelError as exc:
            p.error(str(exc))
    distill = None
    if args.distill_from:
        try:
            distill = DistillConfig(args.distill_from, args.distill_alpha, args.distill_temperature)
        except ChemAccelError as exc:
            p.error(str(exc))
    trainer = ReactionTrainer(cfg, args.data, args.out, work_dir=work, runtime=RuntimeConfig(device=args.device),
                              init_from=init_from, prune=prune, distill=distill)
    reporter = LoggingReporter(log, every=100)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: reporter.cancel())
    curve_pairs = load_pairs(args.data, "valid", args.curve_n)[0] if args.curve_n > 0 else []
    curve_path = work / "curve.json"

    def on_checkpoint(step: int, folder: Path) -> None:
        t0 = time.time()
        if not curve_pairs:
            trainer.export(min_step=int(0.8 * step))
            log.info("step %d: exported %s", step, args.out)
            return
        if prune is not None:  # score what the gates leave: this checkpoint compacted to its open units
            dense, small = work / "curve-dense", work / "curve-compact"
            export_model(dense, cfg, [folder])
            shrink_to_gates(dense, small, read_gates(folder))
            model = load_model(small)
        else:
            eole_config, vocab = read_eole_checkpoint(folder)
            eole_config["data"] = {}
            model = ReactionModel(cfg, eole_config, vocab, folder / "model.00.safetensors")
        scores = evaluate_pairs(model, curve_pairs, k=5)
        curve = json.loads(curve_path.read_text()) if curve_path.is_file() else []
        curve = [row for row in curve if row["step"] != step] + [{
            "step": step, "valid_n": scores["n"], "top1": scores["top1"], "top5": scores["top5"],
            "invalid_rate": scores["invalid_rate"], "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }]
        atomic_write_json(curve_path, curve)
        trainer.export({"valid_curve": curve}, min_step=int(0.8 * step))
        log.info("step %d: valid top1 %.3f top5 %.3f invalid %.3f (%.0f s); exported %s", step, scores["top1"],
                 scores["top5"], scores["invalid_rate"], time.time() - t0, args.out)

    if args.prepare_only:
        try:
            n_train, skipped = trainer.prepare(reporter)
        except ChemAccelError as exc:
            print(f"train_reaction: {exc}", file=sys.stderr)
            return 1
        log.info("prepared %d training pairs (%d skipped) in %s", n_train, skipped, work)
        return 0
    if args.export_from is not None:
        curve = json.loads(curve_path.read_text()) if curve_path.is_file() else []
        try:
            path = trainer.export({"valid_curve": curve}, min_step=args.export_from)
        except ChemAccelError as exc:
            print(f"train_reaction: {exc}", file=sys.stderr)
            return 1
        log.info("exported %s from the checkpoints at step %d or later", path, args.export_from)
        return 0
    resume = bool(complete_checkpoints(work))
    log.info("threads %d, device %s, resume %s, config %s", torch.get_num_threads(), args.device, resume,
             cfg.to_dict())
    result = trainer.run(reporter, resume=resume, on_checkpoint=on_checkpoint)
    curve = json.loads(curve_path.read_text()) if curve_path.is_file() else []
    trainer.export({"valid_curve": curve}, min_step=int(0.8 * result.last_step))  # same rule as above
    log.info("finished at step %d (cancelled: %s); model %s", result.last_step, result.cancelled, result.model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
