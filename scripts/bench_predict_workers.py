"""``property predict`` with 1 process against ``--workers N`` (and, with ``--ray``, against a local Ray
instance of N CPUs): molecules/s, peak memory per process and identical rows.

    OMP_NUM_THREADS=1 python scripts/bench_predict_workers.py --n 2000 --workers 2 --conformers 3 [--ray]
    OMP_NUM_THREADS=1 python scripts/bench_predict_workers.py --input xyz --store /tmp/qm9.h5 --n 5000

Input: ``--input smiles`` (default) the first ``--n`` SMILES of ``resources/examples/qm9_gap_2k.csv``
(QM9 molecules; beyond 2,000, the SMILES of ``--store``), written to a .smi file; ``--input xyz`` the DFT
geometries of ``--n`` molecules of ``--store`` (``chemaccel data qm9 -o /tmp/qm9.h5``) as one XYZ file.
Each run is one ``python -m chemaccel.cli property predict`` child (start-up and model loading included in
its wall time); the settings alternate, ``--repeats`` times each, and the best time of each is reported,
with the ratio to one process, whether the CSVs are byte for byte the same, and the peak resident memory
(VmHWM, read from /proc every 0.1 s) of the command's own process and of its largest child (a --workers
process, or with Ray a Ray worker; Ray's own daemons are counted among the children).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_predict_scale import proc_status_mib  # noqa: E402


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def run_sampled(cmd: list[str]) -> tuple[float, float, float]:
    """Run ``cmd``; its wall seconds, its own peak RSS and its largest descendant's (MiB)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    peaks: dict[int, float] = {}

    def sample() -> None:
        while proc.poll() is None:
            tree, todo, seen = _children(), [proc.pid], []
            while todo:
                pid = todo.pop()
                seen.append(pid)
                todo += tree.get(pid, [])
            for pid in seen:
                hwm = proc_status_mib(pid, "VmHWM")
                if hwm is not None:
                    peaks[pid] = max(peaks.get(pid, 0.0), hwm)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - t0
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err.decode()[-2000:]}")
    main_peak = peaks.pop(proc.pid, 0.0)
    return seconds, main_peak, max(peaks.values(), default=0.0)


def make_input(args: argparse.Namespace, work: Path) -> Path:
    if args.input == "xyz":
        if not args.store:
            raise SystemExit("--input xyz needs --store (chemaccel data qm9 -o /tmp/qm9.h5)")
        from bench_predict_scale import property_input

        return property_input(work, args.store, args.n)
    with open(ROOT / "resources" / "examples" / "qm9_gap_2k.csv", newline="") as fh:
        smiles = [row["smiles"] for row in csv.DictReader(fh)][: args.n]
    if len(smiles) < args.n:
        if not args.store:
            raise SystemExit(f"--n {args.n} > the {len(smiles)} example SMILES: give --store for more")
        from chemaccel.chem.store import MoleculeStore

        known = set(smiles)
        with MoleculeStore.open(args.store) as store:
            more = [s for s in store.molecule_slice(0, len(store)).smiles if s and s not in known]
        smiles += more[: args.n - len(smiles)]
    src = work / "mols.smi"
    src.write_text("\n".join(smiles) + "\n")
    return src


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--input", choices=("smiles", "xyz"), default="smiles")
    ap.add_argument("--store", help="QM9 store for --input xyz, or for more than 2,000 SMILES")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--conformers", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("-m", "--model", default="qm9-gap-schnet-ff")
    ap.add_argument("--chunk", type=int, default=100, help="--chunk of every run (Ray parallelizes whole chunks)")
    ap.add_argument("--ray", action="store_true", help="also --ray on a local instance of --workers CPUs")
    ap.add_argument("--no-workers", dest="workers_arm", action="store_false",
                    help="leave out the --workers arm (one process against --ray only)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    src = make_input(args, work)
    best: dict[str, float] = {}
    memory: dict[str, dict[str, float]] = {}
    outputs: dict[str, bytes] = {}
    arms = {"1": ["--workers", "1"]}
    if args.workers_arm:
        arms[str(args.workers)] = ["--workers", str(args.workers)]
    if args.ray:
        arms["ray"] = ["--ray", "--ray-cpus", str(args.workers)]
    for _ in range(args.repeats):
        for arm, flags in arms.items():
            out = work / f"{arm}.csv"
            cmd = [sys.executable, "-m", "chemaccel.cli", "property", "predict", str(src), "-m", args.model,
                   "-o", str(out), "--conformers", str(args.conformers), "--chunk", str(args.chunk), *flags]
            seconds, main_mib, child_mib = run_sampled(cmd)
            if seconds < best.get(arm, float("inf")):
                best[arm] = seconds
                memory[arm] = {"main_mib": round(main_mib, 1), "largest_child_mib": round(child_mib, 1)}
            outputs[arm] = out.read_bytes()
    n_rows = outputs["1"].count(b"\n") - 1
    rates = {arm: n_rows / s for arm, s in best.items()}
    print(json.dumps({"input": args.input, "n": n_rows, "conformers": args.conformers, "chunk": args.chunk,
                      "seconds": best, "molecules_per_s": rates,
                      "speedup": {arm: rates[arm] / rates["1"] for arm in rates}, "peak_rss": memory,
                      "identical_rows": {arm: outputs[arm] == outputs["1"] for arm in outputs}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
