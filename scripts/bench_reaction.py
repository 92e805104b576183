"""Low-capacity vs. Molecular Transformer configuration, same data and the same training budget.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_reaction.py --minutes 60 --limit-test 500 \
        --json runs/bench-reaction.json

For each preset (``low``, ``mt``): train on the USPTO-50K train split (forward) for the same wall-clock
budget (a reporter cancels the run when the budget is spent; the engine stops cleanly with a
checkpoint), then measure parameters, training tokens/s, and on the first ``--limit-test`` reactions
of the USPTO-50K test split: top-1/top-5 (scored on ``--device``), and inference reactions/s (beam 5, on
the CPU at 1 and 2 threads, over the first ``--speed-n`` of them). The presets can run as separate
processes (``--presets low`` and ``--presets mt`` side by side on one GPU get the same share of it).
``--final MODEL`` instead evaluates one finished model once on the USPTO-MIT test split (held out:
run it only for a final model).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chemaccel.chem.reactions import tokenize  # noqa: E402
from chemaccel.reaction import ReactionConfig, ReactionTrainer, evaluate, load_model  # noqa: E402
from chemaccel.reaction.data import load_pairs  # noqa: E402
from chemaccel.reporting import BaseReporter  # noqa: E402
from chemaccel.runtime import RuntimeConfig  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


class BudgetReporter(BaseReporter):
    """Cancels training once ``seconds`` have passed; sums the tokens of each step."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.deadline = time.monotonic() + seconds
        self.start = self.last = time.monotonic()
        self.tokens = 0.0
        self.steps = 0

    def on_start(self, task, total=None):
        self.start = self.last = time.monotonic()  # the training loop starts now (data prepared)

    def on_progress(self, step, total=None, metrics=None):
        self.tokens += float((metrics or {}).get("tokens", 0.0))
        self.steps += 1
        self.last = time.monotonic()
        if self.last >= self.deadline:
            self.cancel()

    def tokens_per_s(self) -> float:
        return self.tokens / max(1e-9, self.last - self.start)


def bench_preset(name: str, args: argparse.Namespace) -> dict:
    overrides = {"warmup_steps": args.warmup} if args.warmup else {}
    cfg = ReactionConfig.from_preset(name, steps=1_000_000, save_every=1_000_000, valid_every=1_000_000,
                                     keep_checkpoints=1, average_last=1, batch_tokens=args.batch_tokens, **overrides)
    out = Path(args.work) / f"{name}-model"
    trainer = ReactionTrainer(cfg, args.data, out, work_dir=Path(args.work) / f"{name}-work",
                              runtime=RuntimeConfig(device=args.device))
    reporter = BudgetReporter(args.minutes * 60)
    t0 = time.monotonic()
    result = trainer.run(reporter, resume=args.resume)
    seconds = time.monotonic() - t0
    row = {"preset": name, "steps": result.last_step, "train_seconds": seconds,
           "train_tokens_per_s": reporter.tokens_per_s()}
    # accuracy once, on the training device (a GPU scores 500 reactions in seconds) ...
    stats = evaluate(load_model(out, device=args.device), args.data, "test", limit=args.limit_test, k=5)
    row.update({"params": stats["params"], "n_test": stats["n"], "top1": stats["top1"], "top5": stats["top5"],
                "invalid_rate": stats["invalid_rate"]})
    # ... and inference speed on the CPU, k = 5 (predict's beam), on the first --speed-n of the same reactions
    if not args.no_speed:
        row.update(speed_rows([name], args)[0])
    row["cpu"] = cpu_name()
    return row


def speed_rows(presets: list[str], args: argparse.Namespace, repeats: int = 1) -> list[dict]:
    """CPU reactions/s (k = 5: predict's beam, 7 since 2026-12-07; 5 before) of each preset's trained model in ``--work`` (and each ``--model``), at 1 and
    2 threads.

    With several presets the timings interleave (low, mt, low, mt, ...) so that a change of machine load
    falls on both; each figure is the best of ``repeats``. ``mean_top1_tokens`` is the mean length of the
    greedy (k = 1) predictions for the first 64 reactions: an undertrained model that babbles long outputs decodes more steps per reaction.
    """
    models = {name: load_model(Path(args.work) / f"{name}-model", device="cpu") for name in presets}
    for spec in args.model or []:  # NAME=PATH: another model folder timed with them (e.g. the shipped one)
        name, _, path = spec.partition("=")
        models[name] = load_model(path, device="cpu")
    if args.eole_decoding:  # each model also with eole's own decoding code (chemaccel's is the CPU default)
        for name, path in [(n, Path(args.work) / f"{n}-model") for n in presets] + \
                [tuple(spec.partition("=")[::2]) for spec in args.model or []]:
            models[f"{name} (eole decoding)"] = plain = load_model(path, device="cpu")
            plain.use_fast_beam_search(False)
    presets = list(models)
    n = args.speed_n or args.limit_test
    best: dict[str, dict] = {name: {"preset": name} for name in presets}
    for repeat in range(repeats):
        for threads in (1, 2):
            for name, model in models.items():
                torch.set_num_threads(threads)
                speed = evaluate(model, args.data, "test", limit=n, k=5)
                key = f"reactions_per_s_{threads}t"
                best[name][key] = max(best[name].get(key, 0.0), speed["reactions_per_s"])
                _measured(name, key, speed["reactions_per_s"], repeat, repeats)
    pairs, _ = load_pairs(args.data, "test", n)
    if args.fixed_length:
        for repeat in range(repeats):
            for threads in (1, 2):
                for name, model in models.items():
                    torch.set_num_threads(threads)
                    key = f"reactions_per_s_{threads}t_len{args.fixed_length}"
                    rate = model.fixed_length_rate([p.src for p in pairs], args.fixed_length)
                    best[name][key] = max(best[name].get(key, 0.0), rate)
                    _measured(name, key, rate, repeat, repeats)
    for name, model in models.items():
        preds = model.predict([p.src for p in pairs[:64]], k=1, rank=False)
        lengths = [len(tokenize(pr.candidates[0].smiles)) for pr in preds if pr.candidates]
        best[name]["mean_top1_tokens"] = sum(lengths) / max(1, len(lengths))
        best[name]["speed_n"] = n
    return [best[name] for name in presets]


def _measured(name: str, key: str, rate: float, repeat: int, repeats: int) -> None:
    """One timing as soon as it is taken (stderr; the JSON rows come at the end): a long interleaved run
    shows where it is, and a run cut short still leaves its figures in the log."""
    print(f"[{repeat + 1}/{repeats}] {name}: {key} = {rate:.2f}", file=sys.stderr, flush=True)


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (the speed columns are CPU figures), or the platform's word."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DATA / "uspto50k"))
    p.add_argument("--work", default=str(ROOT / "runs" / "bench-reaction"))
    p.add_argument("--minutes", type=float, default=60.0, help="training budget per preset")
    p.add_argument("--batch-tokens", type=int, default=4096)
    p.add_argument("--warmup", type=int, default=0,
                   help="Noam warm-up steps for both presets (default: each preset's own, 2,000 and 8,000)")
    p.add_argument("--limit-test", type=int, default=500, help="test reactions scored for top-1/top-5")
    p.add_argument("--speed-n", type=int, default=0,
                   help="test reactions timed on the CPU at 1 and 2 threads (default: --limit-test)")
    p.add_argument("--presets", default="low,mt")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-speed", action="store_true",
                   help="skip the CPU timing after training (time the models later with --speed-only)")
    p.add_argument("--speed-only", action="store_true",
                   help="only time the trained models in --work for --presets, interleaved, best of --repeats")
    p.add_argument("--repeats", type=int, default=2, help="timing repeats for --speed-only")
    p.add_argument("--eole-decoding", action="store_true",
                   help="with --speed-only: also time every model with eole's own beam-search code instead "
                        "of chemaccel's faster one (the CPU default; same beams: the speed-up alone)")
    p.add_argument("--fixed-length", type=int, default=0, metavar="L",
                   help="with --speed-only, also time beams forced to decode exactly L tokens (equal work)")
    p.add_argument("--model", action="append", metavar="NAME=PATH",
                   help="with --speed-only, also time this model folder (repeatable), e.g. "
                        "shipped=resources/models/uspto-forward-reagents")
    p.add_argument("--resume", action="store_true", help="continue earlier runs (the budget is per run)")
    p.add_argument("--final", metavar="MODEL", help="evaluate MODEL once on the USPTO-MIT test split")
    p.add_argument("--mit", default=str(DATA / "uspto_mit"))
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args(argv)

    if args.final:
        rows = [evaluate(load_model(args.final), args.mit, "test", k=5)]
    elif args.speed_only:
        rows = speed_rows([p for p in args.presets.split(",") if p], args, repeats=args.repeats)
        for row in rows:
            row["cpu"] = cpu_name()
    else:
        rows = [bench_preset(name, args) for name in args.presets.split(",")]
    text = json.dumps(rows, indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
