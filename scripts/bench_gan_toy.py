"""Mode-collapse benchmark with PacGAN's 2-D protocol, and the batched-versus-sequential generator speed.

For each mixture (ring8, grid25) it trains K generators and a plain GAN (K = 1) with the same settings and
seeds (trial i uses seed i), ``--trials`` times each, and prints mean and std of the modes captured, the
high-quality fraction and the reverse KL over 2,500 samples (PacGAN's metrics, chemaccel.gan.metrics).
Then it times K generators of PacGAN's size (2 -> 400 x 4 -> 2) run as one batched pass versus a Python
loop of K passes on the CPU.

    OMP_NUM_THREADS=1 python scripts/bench_gan_toy.py --data ring8 --trials 10 --out ring8.json
    OMP_NUM_THREADS=1 python scripts/bench_gan_toy.py --speed-only
    python scripts/bench_gan_toy.py --quick          # a smoke run: 2 trials, 200 steps
    python scripts/bench_gan_toy.py --trials 10 --steps 40000 --workers 16 --no-speed   # on a 16-core machine

Results are appended to ``--out`` (JSON lines) as each run finishes, so a long run can be watched.
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

from chemaccel.gan import GanConfig, GanTrainer, save_gan  # noqa: E402
from chemaccel.gan.generator import MultiGenerator  # noqa: E402
from chemaccel.runtime import RuntimeConfig  # noqa: E402

#: Settings used for the figures in docs/benchmarks.md (networks smaller than PacGAN's; far fewer steps).
BENCH = {"gen_hidden": 128, "gen_layers": 4, "disc_hidden": 128, "disc_layers": 3, "maxout_pieces": 5,
         "lr": 5e-4, "beta1": 0.5, "lr_final": 0.02, "classifier_weight": 0.5, "ortho_weight": 0.1,
         "ortho_on": "features", "private_layers": 1, "private_shift_std": 0.5, "bn_stats": "joint", "batch_size": 100, "n_train": 100000, "eval_samples": 2500}


def bench_config(data: str, k: int, steps: int, **overrides) -> GanConfig:
    return GanConfig.from_dict({**BENCH, "data": data, "n_generators": k, "steps": steps,
                                "checkpoint_every": 10**9, "log_every": 10**9, **overrides})


def train_one(data: str, k: int, steps: int, seed: int, save: Path | None = None) -> dict:
    cfg = bench_config(data, k, steps)
    t0 = time.perf_counter()
    result = GanTrainer(cfg, RuntimeConfig(device="cpu", seed=seed)).run(None)
    wall = time.perf_counter() - t0
    if save is not None:
        save_gan(save, result.model, metrics={k_: v for k_, v in result.metrics.items() if k_ != "mode_counts"},
                 notes=f"scripts/bench_gan_toy.py settings, seed {seed}, {steps} steps on the CPU")
    m = result.metrics
    return {"data": data, "k": k, "seed": seed, "steps": steps, "status": result.status, "wall_s": round(wall, 1),
            "n_modes_captured": m["n_modes_captured"], "high_quality": m["high_quality"],
            "reverse_kl": m["reverse_kl"], "mode_counts": m["mode_counts"],
            "params": result.model.parameter_counts()}


def summarize(rows: list[dict]) -> str:
    lines = ["| data | K | trials | modes captured | high quality | reverse KL | generator params | disc params |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["data"], r["k"]), []).append(r)
    for (data, k), rs in sorted(groups.items()):
        def ms(key: str) -> str:
            vals = [float(r[key]) for r in rs]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            return f"{statistics.mean(vals):.3g} ± {sd:.2g}"
        p = rs[0]["params"]
        lines.append(f"| {data} | {k} | {len(rs)} | {ms('n_modes_captured')} | {ms('high_quality')} | "
                     f"{ms('reverse_kl')} | {p['generator']:,} | {p['discriminator']:,} |")
    return "\n".join(lines)


#: generator shapes for --speed-shape: PacGAN's toy generator, and gan-qm9's (scripts/train_shipped_gan.py)
SPEED_SHAPES = {"pacgan": dict(noise_dim=2, hidden=400, n_hidden=4, out_dim=2, private_layers=1),
                "qm9": dict(noise_dim=32, hidden=256, n_hidden=3, out_dim=189, private_layers=2)}


def speed(k: int = 8, batch: int = 100, repeats: int = 30, shape: str = "pacgan") -> dict:
    """Median time of one forward (and forward+backward) of K generators of ``shape``, batched vs a loop."""
    torch.manual_seed(0)
    dims = SPEED_SHAPES[shape]
    gen = MultiGenerator(k, **dims)
    gen.train()
    z = torch.randn(k, batch, dims["noise_dim"])
    out = {"shape": shape, "k": k, "batch_per_generator": batch, "threads": torch.get_num_threads()}
    for name, fn in (("batched", gen.forward), ("sequential", gen.forward_sequential)):
        for mode in ("forward", "forward_backward"):
            times = []
            for i in range(repeats + 3):
                t0 = time.perf_counter()
                if mode == "forward":
                    with torch.no_grad():
                        fn(z)
                else:
                    fn(z).square().mean().backward()
                    gen.zero_grad(set_to_none=True)
                if i >= 3:
                    times.append(time.perf_counter() - t0)
            out[f"{name}_{mode}_ms"] = statistics.median(times) * 1000
    for mode in ("forward", "forward_backward"):
        out[f"ratio_{mode}"] = out[f"sequential_{mode}_ms"] / out[f"batched_{mode}_ms"]
    return out


def _train_one_thread(run: tuple) -> dict:
    torch.set_num_threads(1)  # each worker one thread: the runs are independent
    return train_one(*run)


def run_all(runs: list[tuple], workers: int):
    """Yield each run's row as it finishes: in order in this process, or from ``workers`` processes."""
    if workers <= 1:
        for run in runs:
            yield train_one(*run)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in as_completed([pool.submit(_train_one_thread, run) for run in runs]):
            yield future.result()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="ring8,grid25", help="comma-separated: ring8, grid25")
    p.add_argument("--k", type=int, default=8, help="generators of the multi-generator model (default 8)")
    p.add_argument("--ks", default="", help="comma-separated K values to run (default: 1 and --k)")
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--first-seed", type=int, default=0, help="trial i uses seed first_seed + i")
    p.add_argument("--quick", action="store_true", help="2 trials of 200 steps")
    p.add_argument("--speed-only", action="store_true")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of the speed test (training: 1 a run)")
    p.add_argument("--speed-shape", choices=sorted(SPEED_SHAPES), default="pacgan",
                   help="generator shape of the speed test: PacGAN's toy (K = --k; 100, 16 and 1 samples "
                        "per generator) or gan-qm9's (K = 32; 8 samples per generator as in its training, "
                        "and 64)")
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--save-dir", type=Path, help="also save the K-generator model of seed 0 as DIR/gan-<data>")
    p.add_argument("--out", type=Path, help="append one JSON line per run")
    p.add_argument("--workers", type=int, default=1,
                   help="train this many runs at once, one process and one thread each (e.g. the core count)")
    args = p.parse_args()
    torch.set_num_threads(1)
    trials, steps = (2, 200) if args.quick else (args.trials, args.steps)
    rows: list[dict] = []
    if not args.speed_only:
        runs = [(data, k, steps, seed,
                 args.save_dir / f"gan-{data}" if (args.save_dir and seed == 0 and k == args.k) else None)
                for data in [d for d in args.data.split(",") if d]
                for seed in range(args.first_seed, args.first_seed + trials)
                for k in ([int(v) for v in args.ks.split(",") if v] or [1, args.k])]
        for row in run_all(runs, args.workers):
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")
        print(summarize(rows), flush=True)
    if not args.no_speed:
        torch.set_num_threads(args.threads)
        k, batches = (32, (8, 64)) if args.speed_shape == "qm9" else (args.k, (100, 16, 1))
        for batch in batches:
            s = speed(k, batch, shape=args.speed_shape)
            print(json.dumps(s), flush=True)
            if args.out:
                with open(args.out, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"speed": s}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
