"""QM9 generation, issue 24: the chosen setting against the plain GAN, the previous gan-qm9 setting and the
ablation of each addition, over fresh seeds, with the metrics the field reports.

    OMP_NUM_THREADS=1 python scripts/bench_gan_diversity.py --store /tmp/qm9.h5 --seeds 100 101 102 103 104

Arms (settings on top of ``QM9`` in scripts/train_shipped_gan.py):

* ``plain``: K = 1, a plain GAN (argmax decoding);
* ``before``: the previous gan-qm9 (``QM9_SHIPPED``: K = 32, mode-seeking, connectivity, novelty critic;
  argmax decoding);
* ``chosen``: ``QM9_SHIPPED`` + ``DIVERSE`` (the new gan-qm9);
* ``no-<name>``: ``chosen`` with one addition of ``DIVERSE`` set back to its ``QM9_SHIPPED`` value (the
  additions that only change sampling, ``decode_temperature``, ``valence_mask`` and ``connect_fragments``,
  are extra decodings of the ``chosen`` model: no training of their own);
* ``chosen-k1``: ``chosen`` with K = 1 (what the K generators add).

Each model draws ``--samples`` molecules (seed = the run's seed) and reports validity, uniqueness (of valid,
at 1,000 and at all samples), novelty against the whole train split, internal diversity (MOSES IntDiv1 on
2,000 valid samples), and against the store's test split the Fréchet ChemNet Distance (fcd_torch) and the
Wasserstein distances of QED, logP, SA score, weight and heavy atoms, both on the first ``--fcd-n`` valid
samples (duplicates kept: the same number for every arm, FCD depends on it). The chosen arm also times
generation with the K generators batched and one after another (samples/s of the generator, and distinct
valid molecules/s including rdkit decoding). Prints one JSON line per run, then a table of means with a 95 %
t-interval over the seeds. ``--combine LOG ...`` rebuilds the table from the JSON lines of several runs.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_shipped_gan import DIVERSE, QM9, QM9_SHIPPED  # noqa: E402

from chemaccel.gan import GanConfig, GanTrainer  # noqa: E402
from chemaccel.gan.distribution import fcd, property_distances, read_reference, uniqueness_at  # noqa: E402
from chemaccel.gan.molgraph import decode_all  # noqa: E402
from chemaccel.runtime import RuntimeConfig  # noqa: E402

SHOWN = ("validity", "uniqueness", "uniqueness_1000", "novelty", "internal_diversity", "fcd", "w_qed", "w_logp",
         "w_sa", "w_heavy_atoms", "unique_valid")


#: additions that only change how a trained model samples: their ablations are extra decodings of the
#: ``chosen`` arm's model, not separate trainings
DECODE_ONLY = ("decode_temperature", "valence_mask", "connect_fragments")


def default_of(name: str):
    return QM9_SHIPPED.get(name, GanConfig.__dataclass_fields__[name].default)


def arms() -> dict[str, dict]:
    out = {"plain": {**QM9, "n_generators": 1}, "before": {**QM9, **QM9_SHIPPED},
           "chosen": {**QM9, **QM9_SHIPPED, **DIVERSE}}
    for name in DIVERSE:
        if name not in DECODE_ONLY:
            out[f"no-{name}"] = {**out["chosen"], name: default_of(name)}
    # argmax graphs have nothing to mask or re-temper
    out["no-sample_temperature"].update({k: default_of(k) for k in DECODE_ONLY})
    out["chosen-k1"] = {**out["chosen"], "n_generators": 1}
    return out


def timing(model, n: int, seed: int) -> dict:
    """Generator samples/s batched and sequential, and distinct valid molecules/s with decoding."""
    out = {}
    for name, batched in (("batched", True), ("sequential", False)):
        model.generate(256, seed, batched=batched)  # warm-up
        t0 = time.perf_counter()
        samples, _ = model.generate(n, seed, batched=batched)
        gen_s = time.perf_counter() - t0
        smiles = decode_all(samples.numpy(), model.spec.max_atoms)
        total_s = time.perf_counter() - t0
        out[f"{name}_samples_per_s"] = n / gen_s
        out[f"{name}_unique_valid_per_s"] = len({s for s in smiles if s}) / total_s
    return out


def run_one(arm: str, settings: dict, seed: int, args, reference: list[str]) -> list[dict]:
    """Train one arm; its rows (the ``chosen`` arm also decoded without each decode-only addition)."""
    cfg = GanConfig.from_dict({**settings, "steps": args.steps, "eval_samples": args.samples})
    t0 = time.perf_counter()
    result = GanTrainer(cfg, RuntimeConfig(device="cpu", seed=seed)).run(None, data=args.store, evaluate=False)
    train_s = time.perf_counter() - t0
    if args.save:
        from chemaccel.api import save_gan_result

        save_gan_result(args.save / f"{arm}-seed{seed}", result)
    model = result.model
    model.recalibrate_batchnorm(seed=seed)
    model.eval()
    rows = [score(arm, model, seed, args, reference, result.status, train_s)]
    if arm == "chosen":
        for name in DECODE_ONLY:
            decode = {key: getattr(cfg, key) for key in DECODE_ONLY}
            decode[name] = default_of(name)
            model.sample_temperature = decode["decode_temperature"] or cfg.sample_temperature
            model.valence_mask = decode["valence_mask"]
            model.connect_fragments = decode["connect_fragments"] and decode["valence_mask"]
            rows.append(score(f"no-{name}", model, seed, args, reference, result.status, train_s))
    return rows


def score(arm: str, model, seed: int, args, reference: list[str], status: str, train_s: float) -> dict:
    smiles = model.sample_smiles(args.samples, seed)
    row = {"arm": arm, "seed": seed, "steps": args.steps, "status": status, "train_s": round(train_s, 1),
           "temperature": model.sample_temperature, "valence_mask": model.valence_mask,
           "connect_fragments": model.connect_fragments,
           **model.molecule_metrics(smiles), "uniqueness_1000": uniqueness_at(smiles, 1000)}
    row["unique_valid"] = row["n_unique"] / len(smiles)
    valid = [s for s in smiles if s][:args.fcd_n]
    row["fcd"] = fcd(valid, reference)
    row.update({f"w_{k}": v for k, v in property_distances(valid, reference).items()})
    if arm == "chosen":
        row.update(timing(model, args.samples, seed))
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", type=Path, help="molecule store (chemaccel data qm9 -o qm9.h5); needed unless --combine")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102, 103, 104])
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--fcd-n", type=int, default=2000, help="valid samples scored by FCD and property distances")
    p.add_argument("--arms", nargs="+", help=f"arms to run (default all: {', '.join(arms())})")
    p.add_argument("--save", type=Path, metavar="DIR", help="keep each trained model as DIR/ARM-seedS (to decode again)")
    p.add_argument("--combine", type=Path, nargs="+", metavar="LOG",
                   help="print the table of earlier runs' lines (a later line for the same arm and seed replaces "
                        "an earlier one)")
    args = p.parse_args()
    if args.combine:
        rows = [json.loads(line) for log in args.combine for line in log.read_text().splitlines()
                if line.startswith("{") and line.rstrip().endswith("}")]
        print_table(list({(r["arm"], r["seed"]): r for r in rows}.values()))
        return 0
    if args.store is None:
        p.error("--store is required (or --combine LOG ...)")
    torch.set_num_threads(1)
    table = arms()
    chosen = args.arms or list(table)
    unknown = [a for a in chosen if a not in table]
    if unknown:
        p.error(f"unknown arms {unknown}: choose from {', '.join(table)}")
    reference = read_reference(args.store)  # the test split
    print(f"# QM9, {args.steps} steps, seeds {args.seeds}, {args.samples:,} samples, reference: "
          f"{len(reference):,} test molecules; DIVERSE = {json.dumps(DIVERSE)}", flush=True)
    rows = []
    for seed in args.seeds:
        for arm in chosen:
            for row in run_one(arm, table[arm], seed, args, reference):
                rows.append(row)
                print(json.dumps(row), flush=True)
    print_table(rows)
    return 0


def interval(values: list[float]) -> str:
    """mean ± half-width of the 95 % t-interval (just the mean for one value)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "n/a"
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.3f}"
    from scipy.stats import t

    half = t.ppf(0.975, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return f"{mean:.3f} ± {half:.3f}"


def print_table(rows: list[dict]) -> None:
    names = list(dict.fromkeys(r["arm"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    print(f"\n{len(seeds)} seeds ({', '.join(map(str, seeds))}); mean ± 95 % t-interval\n")
    print("| arm | " + " | ".join(SHOWN) + " |")
    print("| --- " * (len(SHOWN) + 1) + "|")
    for arm in names:
        sel = [r for r in rows if r["arm"] == arm]
        print(f"| {arm} | " + " | ".join(interval([r.get(m) for r in sel]) for m in SHOWN) + " |")
    speed = [r for r in rows if "batched_samples_per_s" in r]
    if speed:
        print("\ngeneration (chosen):", ", ".join(
            f"{k} {statistics.fmean(r[k] for r in speed):,.0f}" for k in
            ("batched_samples_per_s", "sequential_samples_per_s", "batched_unique_valid_per_s",
             "sequential_unique_valid_per_s")),
              f"; batched / sequential {statistics.fmean(r['batched_samples_per_s'] / r['sequential_samples_per_s'] for r in speed):.1f}x")


if __name__ == "__main__":
    sys.exit(main())
