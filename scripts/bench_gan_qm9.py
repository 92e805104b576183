"""QM9 molecular graphs: K = 1 versus K generators in the same run, 10,000 samples each, over seeds.

    OMP_NUM_THREADS=1 python scripts/bench_gan_qm9.py --store /tmp/qm9.h5 --steps 1500 --k 8
    OMP_NUM_THREADS=1 python scripts/bench_gan_qm9.py --store /tmp/qm9.h5 --steps 2000 --k 32 \\
        --seeds 0 1 2 --set private_layers=2

Settings are ``QM9`` in scripts/train_shipped_gan.py (``--set NAME=VALUE`` changes one for both K;
``--kset NAME=VALUE`` for the K-generator model only, so that K = 1 stays a plain GAN; ``--ablate`` adds
a K = 1 model with the ``--kset`` settings, to show what they do without K generators).
Each trained model is decoded two ways: ``argmax`` (each atom and bond its most likely type: what
``chemaccel gan sample`` writes) and ``sample`` (each atom and bond type drawn from the generator's
probabilities, the way the discriminator saw the graphs in training through the Gumbel-softmax). Prints
one JSON line per model and a table of validity, uniqueness and novelty (against the training molecules),
mean over the seeds, with K's uniqueness as a multiple of K = 1's and a 95 % bootstrap interval of that
ratio over the seeds (the plain GAN's uniqueness moves several-fold between seeds).

Seeds split over processes are put back together from their output:

    python scripts/bench_gan_qm9.py --combine run-a.log run-b.log
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_shipped_gan import QM9  # noqa: E402

from chemaccel.gan import GanConfig, GanTrainer  # noqa: E402
from chemaccel.gan.metrics import ratio_interval  # noqa: E402
from chemaccel.gan.molgraph import ATOM_TYPES, BOND_TYPES, decode_all, graph_dims, molecule_metrics  # noqa: E402
from chemaccel.runtime import RuntimeConfig  # noqa: E402

METRICS = ("validity", "uniqueness", "novelty")


def sampled_graphs(probs: torch.Tensor, max_atoms: int, seed: int) -> torch.Tensor:
    """One-hot graphs with every atom and bond type drawn from the per-position probabilities."""
    gen = torch.Generator().manual_seed(seed)
    a_size, _, _ = graph_dims(max_atoms)
    n = len(probs)
    parts = []
    for block, types in ((probs[:, :a_size], len(ATOM_TYPES)), (probs[:, a_size:], len(BOND_TYPES))):
        index = torch.multinomial(block.reshape(-1, types), 1, generator=gen).squeeze(1)
        parts.append(torch.nn.functional.one_hot(index, types).reshape(n, -1).float())
    return torch.cat(parts, dim=1)


def parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_settings(items: list[str]) -> dict:
    """``["name=value", ...]`` -> ``{name: value}`` (values parsed as JSON where they are JSON)."""
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        out[name.strip()] = parse_value(value.strip())
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path,
                   help="molecule store (chemaccel data qm9 -o qm9.h5); needed unless --combine")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="change a QM9 setting of every model")
    p.add_argument("--kset", action="append", default=[], metavar="NAME=VALUE",
                   help="change a setting of the K-generator model only (the K = 1 baseline stays a plain GAN)")
    p.add_argument("--ablate", action="store_true",
                   help="also train K = 1 with the --kset settings (shows what they do without K generators)")
    p.add_argument("--combine", type=Path, nargs="+", metavar="LOG",
                   help="no training: print the table over the result lines of earlier runs' output")
    args = p.parse_args()
    if args.combine:
        return combine(args.combine)
    if args.store is None:
        p.error("--store is required (or --combine LOG ...)")
    torch.set_num_threads(1)
    overrides, k_overrides = parse_settings(args.set), parse_settings(args.kset)
    arms = [(1, "", {}), (args.k, "", k_overrides)]
    if args.ablate and k_overrides:
        arms.insert(1, (1, "+kset", k_overrides))
    rows = []
    for seed in args.seeds:
        for k, tag, extra in arms:
            cfg = GanConfig.from_dict({**QM9, **overrides, **extra, "n_generators": k, "steps": args.steps})
            t0 = time.perf_counter()
            r = GanTrainer(cfg, RuntimeConfig(device="cpu", seed=seed)).run(None, data=args.store)
            model = r.model
            probs, _ = model.generate(args.samples, seed)
            graphs = {"argmax": probs, "sample": sampled_graphs(probs, model.spec.max_atoms, seed)}
            for decode, vectors in graphs.items():
                stats = molecule_metrics(decode_all(vectors.numpy(), model.spec.max_atoms), model.train_hashes)
                rows.append({"k": k, "arm": f"{k}{tag}", "seed": seed, "decode": decode, "steps": args.steps, "status": r.status,
                             "wall_s": round(time.perf_counter() - t0, 1), "kept": r.data_report.kept,
                             "skipped": r.data_report.skipped, **stats})
                print(json.dumps(rows[-1]), flush=True)
    print(f"\nQM9, {args.steps} steps, seeds {args.seeds}, {args.samples:,} samples per model, settings "
          f"{json.dumps({**QM9, **overrides})}" + (f", K-model (+kset) settings {json.dumps(k_overrides)}"
                                                   if k_overrides else "") + "\n")
    print_table(rows)
    return 0


def print_table(rows: list[dict]) -> None:
    """The markdown table: mean validity, uniqueness and novelty per arm and decoding, uniqueness as a
    multiple of the plain GAN's (the ratio of the means over the seeds both have, with a 95 % bootstrap
    interval over those seeds), and the per-seed figures."""
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    print("| K | decode | validity | uniqueness | novelty | uniqueness / K=1's (95 % interval over seeds) "
          "| per seed (validity, uniqueness, novelty) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for decode in ("argmax", "sample"):
        base = {r["seed"]: r["uniqueness"] for r in rows if r["arm"] == "1" and r["decode"] == decode}
        for arm in arms:
            sel = [r for r in rows if r["arm"] == arm and r["decode"] == decode]
            if not sel:
                continue
            mean = {m: statistics.fmean(r[m] for r in sel) for m in METRICS}
            paired = [r for r in sel if r["seed"] in base]
            ratio = "n/a"
            if paired and sum(base[r["seed"]] for r in paired) > 0:
                value, low, high = ratio_interval([r["uniqueness"] for r in paired],
                                                  [base[r["seed"]] for r in paired])
                ratio = f"{value:.1f}x" + (f" ({low:.1f}-{high:.1f})" if len(paired) > 1 else "")
            seeds = "; ".join(f"{r['seed']}: {r['validity']:.3f}, {r['uniqueness']:.4f}, {r['novelty']:.3f}"
                              for r in sel)
            name = arm.replace("+", " +", 1)
            print(f"| {name} | {decode} | {mean['validity']:.3f} | {mean['uniqueness']:.4f} | "
                  f"{mean['novelty']:.3f} | {ratio} | {seeds} |")
    ablation = {r["seed"]: r["uniqueness"] for r in rows if r["arm"] == "1+kset" and r["decode"] == "argmax"}
    if ablation:  # what the K generators add on top of the --kset settings
        print()
        for arm in arms:
            paired = [r for r in rows
                      if r["arm"] == arm and r["decode"] == "argmax" and r["seed"] in ablation]
            if arm.startswith("1") or not paired or sum(ablation[r["seed"]] for r in paired) <= 0:
                continue
            value, low, high = ratio_interval([r["uniqueness"] for r in paired],
                                              [ablation[r["seed"]] for r in paired])
            print(f"K = {arm} uniqueness / (K = 1 +kset)'s, argmax, {len(paired)} seeds: {value:.1f}x"
                  + (f" (95 % interval {low:.1f}-{high:.1f})" if len(paired) > 1 else ""))


def combine(logs: list[Path]) -> int:
    """The table over the JSON lines of earlier runs' output (seeds split over several processes)."""
    rows = []
    for log in logs:
        try:
            lines = log.read_text().splitlines()
        except OSError as exc:
            sys.exit(f"error: {log}: {exc.strerror or exc}")
        for number, line in enumerate(lines, 1):
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:  # the last line of a killed run
                    print(f"skipped: {log}, line {number}: not a complete result line", file=sys.stderr)
    if not rows:
        sys.exit(f"error: no result lines in {', '.join(map(str, logs))}")
    seen: dict[tuple, int] = {}
    for r in rows:
        key = (r["arm"], r["seed"], r["decode"])
        seen[key] = seen.get(key, 0) + 1
    repeated = sorted(k for k, n in seen.items() if n > 1)
    if repeated:
        sys.exit(f"error: the same arm, seed and decoding in more than one line: {repeated[:3]}")
    steps = sorted({r["steps"] for r in rows})
    if len(steps) > 1:
        sys.exit(f"error: the logs trained for different numbers of steps: {steps}")
    seeds = len({r["seed"] for r in rows})
    print(f"QM9, {steps[0]} steps, {seeds} seeds from {len(logs)} logs (combine only runs of the same "
          f"command)\n")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
