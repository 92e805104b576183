"""Batch prediction at scale: records/s and peak memory of ``chemaccel property|reaction predict``.

Each run is one child process (``python -m chemaccel.cli ... predict``); its peak resident memory is
its own ``ru_maxrss`` from ``os.wait4`` (and its RSS sampled every second, reported as the highest value
up to each quarter of the output), its time the wall time of the whole command (start-up and model
loading included). Memory that does not grow with the input shows as the same peak for 10x the records.

Inputs, made in ``--workdir`` when missing:

* property: XYZ files of QM9 molecules (B3LYP geometries from the store at ``--store``, made by
  ``chemaccel data qm9 -o /tmp/qm9.h5``), the 130,831 molecules in a fixed random order, a new order
  each pass, so every prefix has the same mix of molecule sizes; sizes ``--property-sizes``.
* reaction: reactant lines of ../shared/data/uspto50k/tgt-test.txt (5,004, spaces removed), repeated up
  to ``--reaction-sizes``.

    OMP_NUM_THREADS=1 python scripts/bench_predict_scale.py                 # 100k, 1M; 2k, 20k
    OMP_NUM_THREADS=1 python scripts/bench_predict_scale.py --property-sizes 1000,10000 --reaction-sizes 50,200
    python scripts/bench_predict_scale.py --device cuda --property-sizes "" --reaction-sizes 100000,1000000 --reaction-chunk 1024

A run too long for one sitting (1M reactions at beam 5 is about 7 hours on two CPU cores) can be spread
over several: with ``--resume`` each child is started with ``predict --resume``, so it keeps the rows an
earlier, interrupted run wrote and appends the rest. Every run appends one segment (rows before and after,
wall time, peak RSS, the RSS samples) to ``OUTPUT.segments.json``; the figures printed are over all the
segments of that output: records/s = rows / summed wall time, peak RSS = the highest of any segment.
An output that is already complete is not run again.

    OMP_NUM_THREADS=1 python scripts/bench_predict_scale.py --property-sizes "" \
        --reaction-sizes 100000,1000000 -k 1 --resume
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PROPERTY_MODEL = ROOT / "resources/models/qm9-gap-schnet-pruned"
REACTION_MODEL = ROOT / "resources/models/uspto-forward-reagents"
USPTO_TGT = ROOT.parent / "shared/data/uspto50k/tgt-test.txt"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="/tmp/scale", help="inputs and outputs (large: about 0.8 GB per 1M)")
    ap.add_argument("--store", default="/tmp/qm9.h5")
    ap.add_argument("--property-sizes", default="100000,1000000", help="comma-separated; empty: skip")
    ap.add_argument("--reaction-sizes", default="2000,20000", help="comma-separated; empty: skip")
    ap.add_argument("--property-chunk", type=int, default=1000)
    ap.add_argument("--reaction-chunk", type=int, default=256)
    ap.add_argument("-k", type=int, default=5, help="reaction beam size")
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N, for both engines")
    ap.add_argument("--resume", action="store_true",
                    help="continue interrupted outputs (predict --resume); figures over all their segments")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}, python {platform.python_version()}, "
          f"device {args.device}", flush=True)

    results = []
    for n in _sizes(args.property_sizes):
        src = property_input(work, args.store, n)
        out = work / f"property_{n}.csv"
        cmd = ["--device", args.device, "property", "predict", str(src), "-m", str(PROPERTY_MODEL), "-o", str(out),
               "--chunk", str(args.property_chunk)]
        results.append(("property", n, args.property_chunk, *run(cmd, env, out, n, args.resume)))
        _show(results[-1])
    for n in _sizes(args.reaction_sizes):
        src = reaction_input(work, n)
        out = work / f"reaction_{n}.csv"
        cmd = ["--device", args.device, "reaction", "predict", str(src), "-m", str(REACTION_MODEL), "-k", str(args.k),
               "-o", str(out), "--chunk", str(args.reaction_chunk)]
        figures = run(cmd, env, out, n, args.resume)
        results.append((f"reaction (beam {args.k})", n, args.reaction_chunk, *figures))
        _show(results[-1])

    print("\n| engine | records | chunk | rows written | wall s | records/s | peak RSS MiB | "
          "RSS MiB up to 25 / 50 / 75 / 100 % of the rows |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for engine, n, chunk, rows, wall, rss, profile in results:
        print(f"| {engine} | {n:,} | {chunk} | {rows:,} | {wall:.0f} | {rows / wall:.1f} | {rss:.0f} | "
              f"{' / '.join(f'{r:.0f}' for r in profile)} |")
    return 0


def run(cli_args: list[str], env: dict[str, str], out: Path, n: int,
        resume: bool = False) -> tuple[int, float, float, list[float]]:
    """(rows in the output, wall seconds, peak RSS in MiB, RSS in MiB when 25/50/75/100 % of the output was
    written) of one child process, or with ``resume`` of all the segments that wrote ``out``. The RSS is
    sampled every second from /proc during the run, so a memory that grows with the rows read shows as a
    rising profile, not only as a larger peak."""
    log_path = out.with_name(out.name + ".segments.json")
    segments = json.loads(log_path.read_text()) if resume and log_path.is_file() and out.exists() else []
    if not resume:
        out.unlink(missing_ok=True)
    before = count_rows(out)
    if before < n:
        if resume:
            cli_args = [*cli_args, "--resume"]
        segments.append({"rows_before": before, "rows_after": before, "wall": 0.0, "peak": 0.0,
                         "samples": []})

        def save(segment: dict) -> None:  # also every 30 s, so a killed benchmark keeps its figures so far
            segments[-1] = segment
            tmp = log_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(segments))
            tmp.replace(log_path)

        save(run_segment(cli_args, env, out, before, save))
    rows = count_rows(out)
    done = sum(seg["rows_after"] - seg["rows_before"] for seg in segments)
    # rows written after a killed segment's last save count at the recorded rate; no segments (an output
    # completed without --resume): no time to report
    wall = sum(seg["wall"] for seg in segments) * rows / done if done else float("nan")
    peak = max((seg["peak"] for seg in segments), default=float("nan"))
    samples = [tuple(x) for seg in segments for x in seg["samples"]]
    size = max(1, out.stat().st_size)
    profile = [max((r for b, r in samples if b <= q * size), default=float("nan"))
               for q in (0.25, 0.5, 0.75, 1.0)]
    if len(segments) > 1:
        print(f"# {out.name}: {len(segments)} segments, rows " +
              ", ".join(f"{seg['rows_before']:,}-{seg['rows_after']:,} in {seg['wall']:.0f} s"
                        for seg in segments),
              flush=True)
    return rows, wall, peak, profile


def run_segment(cli_args: list[str], env: dict[str, str], out: Path, before: int, save) -> dict:
    """One child process: its wall time, peak RSS (``ru_maxrss``) and RSS samples (output bytes, MiB);
    ``save(figures so far)`` every 30 s (the peak is then the highest sample)."""
    err_path = out.with_suffix(".stderr")
    t0 = time.perf_counter()
    with open(err_path, "wb") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "chemaccel.cli", *cli_args], env=env,
                                stdout=subprocess.DEVNULL, stderr=err_file)
        samples: list[tuple[int, float]] = []  # (output bytes, RSS MiB)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            rss = proc_status_mib(proc.pid)
            if rss is not None:
                samples.append((out.stat().st_size if out.exists() else 0, rss))
            if len(samples) % 30 == 29:
                save({"rows_before": before, "rows_after": count_rows(out), "wall": time.perf_counter() - t0,
                      "peak": max(r for _, r in samples), "samples": samples})
            time.sleep(1.0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        err = err_path.read_text(errors="replace")
        sys.exit(f"failed ({code}): {' '.join(cli_args)}\n{err[-2000:]}")
    return {"rows_before": before, "rows_after": count_rows(out), "wall": wall,
            "peak": usage.ru_maxrss / 1024, "samples": samples}  # ru_maxrss: KiB on Linux


def count_rows(out: Path) -> int:
    """Data rows of a CSV output (its lines less the header); 0 when it does not exist."""
    if not out.exists():
        return 0
    with open(out, "rb") as fh:
        lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 24), b""))
    return max(0, lines - 1)


def proc_status_mib(pid: int, field: str = "VmRSS") -> float | None:
    """A memory figure of /proc/PID/status in MiB (``VmRSS`` now, ``VmHWM`` its peak); None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def property_input(work: Path, store_path: str, n: int) -> Path:
    path = work / f"qm9_{n}.xyz"
    if path.is_file():
        return path
    from ase.data import chemical_symbols

    from chemaccel.chem.store import MoleculeStore

    symbols = np.array(chemical_symbols)
    tmp = path.with_suffix(".tmp")
    rng = np.random.default_rng(0)
    written = 0
    with MoleculeStore.open(store_path) as store, open(tmp, "w", encoding="utf-8") as fh:
        batch = store.molecule_slice(0, len(store))  # the whole QM9 store: about 40 MB in memory here
        order = np.empty(0, dtype=np.int64)
        while written < n:
            if not len(order):
                order = rng.permutation(len(store))
            k = min(n - written, len(order))
            take, order = order[:k], order[k:]
            parts = []
            for i in take:
                a, b = batch.offsets[i], batch.offsets[i + 1]
                lines = [f"{s} {x:.6f} {y:.6f} {z:.6f}" for s, (x, y, z) in
                         zip(symbols[batch.numbers[a:b]], batch.positions[a:b].tolist())]
                parts.append(f"{b - a}\n{batch.names[i]}\n" + "\n".join(lines) + "\n")
            fh.write("".join(parts))
            written += len(take)
    tmp.replace(path)
    print(f"# made {path} ({n:,} molecules, {path.stat().st_size / 2**20:.0f} MiB)", flush=True)
    return path


def reaction_input(work: Path, n: int) -> Path:
    path = work / f"uspto_{n}.txt"
    if path.is_file():
        return path
    lines = [line.strip().replace(" ", "") for line in USPTO_TGT.read_text(encoding="utf-8").splitlines()]
    path.write_text("\n".join(lines[i % len(lines)] for i in range(n)) + "\n", encoding="utf-8")
    return path


def _sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def _show(row: tuple) -> None:
    engine, n, chunk, rows, wall, rss, profile = row
    print(f"{engine}: {n:,} records, chunk {chunk}: {rows:,} rows in {wall:.1f} s = "
          f"{rows / wall:.1f} records/s, "
          f"peak RSS {rss:.0f} MiB (highest sampled up to 25/50/75/100 % of the rows: "
          f"{' / '.join(f'{r:.0f}' for r in profile)})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
