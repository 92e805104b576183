"""Crash-safe training: kill -9 training runs at random moments, resume them, compare with an unbroken run.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/check_train_resume.py --trials 10
    OMP_NUM_THREADS=1 .venv/bin/python scripts/check_train_resume.py --engines gan --trials 3   # quicker

For each engine (small CLI trainings: ``property`` on a 200-molecule QM9 store, ``prune`` on 2,000 MNIST
images, ``gan`` on the 8-Gaussian ring, ``nas`` retraining a searched genotype on 2,000 Fashion-MNIST images,
``reaction`` a tiny eole transformer on 2,000 USPTO-50K reactions): one uninterrupted run gives the
reference metric; then each trial
starts the same command, sends SIGKILL after a random delay, checks that every checkpoint folder on disk
still loads (nothing half-written: ``chemaccel.checkpoint.load_training_state``), and runs the command
again with ``--resume`` (killing it again at random, up to ``--max-kills`` times) until it finishes. The
resumed run's metric must be within ``--tolerance`` (relative) of the reference. Prints one line per trial
and a table; exit status 1 if any trial failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chemaccel.checkpoint import load_training_state  # noqa: E402
from chemaccel.errors import ChemAccelError  # noqa: E402

SHARED = Path(os.environ.get("CHEMACCEL_SHARED_DATA", ROOT.parent / "shared" / "data"))


def engine_commands(scratch: Path, engines: list[str]) -> dict[str, tuple[list[str], str]]:
    """engine -> (CLI arguments after ``chemaccel --device cpu``, the config.json metric compared).

    The metric is a key of ``metrics``, or ``KEY[-1].FIELD`` for the last row of a list there (the
    reaction model's validation history).
    """
    store = scratch / "qm9_200.h5"
    if "property" in engines and not store.exists():
        from chemaccel.datasets.qm9 import convert_qm9

        convert_qm9(store, limit=200)
    genotype = scratch / "genotype.json"
    fashion = SHARED / "fashion_mnist"
    if "nas" in engines and fashion.is_dir() and not genotype.exists():  # one small search; its genotype is retrained
        if run(BASE + ["nas", "search", "--data", str(fashion), "--limit-train", "512", "--epochs", "1",
                       "--layers", "3", "--channels", "4", "--nodes", "2", "--batch-size", "32",
                       "-o", str(genotype)], None) != 0:
            raise SystemExit("nas: the search that makes the genotype failed")
    reaction_config = scratch / "reaction.json"
    reaction_config.write_text(json.dumps({"layers": 2, "hidden_size": 64, "heads": 2, "ff_size": 128,
                                           "valid_every": 100, "warmup_steps": 50, "keep_checkpoints": 2,
                                           "average_last": 2}))
    return {
        "property": (["property", "train", "--data", str(store), "--epochs", "6", "--limit-valid", "20"],
                     "valid_mae_mev_gap"),
        "prune": (["prune", "run", "--model", "lenet300", "--data", str(SHARED / "mnist"), "--limit", "2000",
                   "--pretrain-epochs", "1", "--epochs", "4", "--finetune-epochs", "1", "--budget", "0.2"],
                  "val_error"),
        "gan": (["gan", "train", "--data", "ring8", "-k", "4", "--steps", "1500", "--gen-hidden", "64",
                 "--disc-hidden", "64", "--n-train", "5000", "--eval-samples", "1000",
                 "--checkpoint-every", "100"], "high_quality"),
        "nas": (["nas", "retrain", "--genotype", str(genotype), "--data", str(fashion), "--limit-train", "2000",
                 "--val-size", "500", "--no-test", "--layers", "3", "--channels", "8", "--epochs", "4",
                 "--batch-size", "64"], "val_accuracy"),
        "reaction": (["reaction", "train", "--data", str(SHARED / "uspto50k"), "--limit", "2000", "--steps", "300",
                      "--batch-tokens", "1024", "--save-every", "50", "--config", str(reaction_config)],
                     "history[-1].valid_loss"),
    }


#: data folder each engine's command needs (skipped with a message when it is absent)
NEEDS = {"prune": "mnist", "nas": "fashion_mnist", "reaction": "uspto50k"}


def metric_of(folder: Path, key: str) -> float:
    metrics = json.loads((folder / "config.json").read_text())["metrics"]
    if "[-1]." in key:
        name, field = key.split("[-1].")
        return float(metrics[name][-1][field])
    return float(metrics[key])


def checkpoints_load(work: Path) -> tuple[int, list[str]]:
    """How many checkpoint folders are under ``work`` and which of them fail to load."""
    found, bad = 0, []
    for state in work.rglob("state.json"):
        found += 1
        try:
            load_training_state(state.parent)
        except ChemAccelError as exc:
            bad.append(f"{state.parent}: {exc}")
    return found, bad


BASE = [sys.executable, "-m", "chemaccel.cli", "--device", "cpu"]


def run(cmd: list[str], kill_after: float | None) -> int | None:
    """Run ``cmd``; SIGKILL it after ``kill_after`` seconds. Returns its exit status, or None when killed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CHEMACCEL_NO_PROGRESS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    try:
        return proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engines", default="property,prune,gan,nas,reaction")
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--max-kills", type=int, default=3, help="kills per trial before it is left to finish")
    p.add_argument("--tolerance", type=float, default=0.25, help="relative difference allowed from the reference")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    scratch = Path(tempfile.mkdtemp(prefix="chemaccel-resume-"))
    base = BASE
    engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(engines) - {"property", "prune", "gan", "nas", "reaction"})
    if unknown:
        p.error(f"unknown engine(s) {', '.join(unknown)}")
    table, failed = [], 0
    try:
        commands = engine_commands(scratch, engines)
        for engine in engines:
            cmd, key = commands[engine]
            if engine in NEEDS and not (SHARED / NEEDS[engine]).is_dir():
                print(f"{engine}: skipped ({SHARED / NEEDS[engine]} not found)")
                continue
            ref_out = scratch / f"{engine}-reference"
            t0 = time.perf_counter()
            if run(base + cmd + ["-o", str(ref_out)], None) != 0:
                print(f"{engine}: the uninterrupted run failed")
                failed += 1
                continue
            seconds = time.perf_counter() - t0
            reference = metric_of(ref_out, key)
            kills, results, bad_ckpts = 0, [], []
            for trial in range(args.trials):
                out = scratch / f"{engine}-{trial}"
                work = out.with_name(out.name + ".work")
                status, resume, n_kills = None, False, 0
                while status is None:
                    delay = rng.uniform(0.2, 0.9) * seconds if n_kills < args.max_kills else None
                    status = run(base + cmd + ["-o", str(out)] + (["--resume"] if resume else []), delay)
                    if status is None:
                        n_kills += 1
                        _, bad = checkpoints_load(work)
                        bad_ckpts += bad
                        resume = work.exists()
                        if not resume and out.exists():  # killed after the model was written
                            status = 0
                kills += n_kills
                ok = status == 0 and (out / "config.json").exists()
                value = metric_of(out, key) if ok else float("nan")
                close = ok and abs(value - reference) <= args.tolerance * max(abs(reference), 1e-9)
                results.append(close)
                print(f"{engine} trial {trial}: {n_kills} kill(s), exit {status}, {key} {value:.4g} "
                      f"(reference {reference:.4g}) {'ok' if close else 'FAIL'}", flush=True)
                shutil.rmtree(out, ignore_errors=True)
                shutil.rmtree(work, ignore_errors=True)
            passed = sum(results)
            failed += (len(results) - passed) + len(bad_ckpts)
            for line in bad_ckpts:
                print(f"  half-written checkpoint: {line}")
            table.append((engine, args.trials, kills, passed, len(bad_ckpts), reference, seconds))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print()
    print("| engine | trials | kills | resumed runs within tolerance | unloadable checkpoints | reference metric | "
          "unbroken run s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for engine, trials, kills, passed, bad, reference, seconds in table:
        print(f"| {engine} | {trials} | {kills} | {passed}/{trials} | {bad} | {reference:.4g} | {seconds:.1f} |")
    print("PASS" if failed == 0 else f"FAIL ({failed})")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
