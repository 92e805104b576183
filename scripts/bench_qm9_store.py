"""Benchmark: QM9 (qm9pack CSVs) into the HDF5 molecule store, then read it back.

Measures the conversion's wall time and the process's peak resident memory (ru_maxrss), the file
size, random access (``store[i]`` for a random sample) and sequential reading (``iter_batches`` over
all molecules, and ``store[i]`` one by one over a prefix). Prints one JSON object.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_qm9_store.py [--out qm9.h5] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from chemaccel.chem.store import MoleculeStore
from chemaccel.datasets.qm9 import convert_qm9


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--out", type=Path, default=None, help="store path (default: a temporary file)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N molecules")
    parser.add_argument("--sample", type=int, default=5000, help="random molecules to read one by one")
    parser.add_argument("--prefix", type=int, default=20000, help="molecules read one by one in order")
    parser.add_argument("--batch", type=int, default=1024, help="batch size of the sequential pass")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        out = args.out or Path(folder) / "qm9.h5"
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        summary = convert_qm9(out, limit=args.limit, overwrite=True)
        convert_s = time.perf_counter() - started
        rss_convert = peak_rss_mb()

        with MoleculeStore.open(out) as store:
            n = len(store)
            idx = np.random.default_rng(0).integers(0, n, size=min(args.sample, n))
            started = time.perf_counter()
            atoms = sum(len(store[int(i)].numbers) for i in idx)
            random_s = time.perf_counter() - started

            prefix = min(args.prefix, n)
            started = time.perf_counter()
            for i in range(prefix):
                store[i]
            one_by_one_s = time.perf_counter() - started

            started = time.perf_counter()
            seen = seen_atoms = 0
            for batch in store.iter_batches(args.batch):
                seen += len(batch)
                seen_atoms += len(batch.numbers)
            sequential_s = time.perf_counter() - started
            assert seen == n and seen_atoms == summary.n_atoms and atoms > 0

        result = {
            "molecules": summary.n_molecules,
            "atoms": summary.n_atoms,
            "convert_seconds": round(convert_s, 2),
            "convert_molecules_per_s": round(summary.n_molecules / convert_s),
            "peak_rss_mb_after_imports": round(rss_before, 1),
            "peak_rss_mb_after_convert": round(rss_convert, 1),
            "file_bytes": out.stat().st_size,
            "random_access": {"molecules": len(idx), "seconds": round(random_s, 3),
                              "molecules_per_s": round(len(idx) / random_s)},  # fmt: skip
            "sequential_getitem": {"molecules": prefix, "seconds": round(one_by_one_s, 3),
                                   "molecules_per_s": round(prefix / one_by_one_s)},  # fmt: skip
            "sequential_batches": {"batch": args.batch, "molecules": seen, "seconds": round(sequential_s, 3),
                                   "molecules_per_s": round(seen / sequential_s)},  # fmt: skip
            "peak_rss_mb_end": round(peak_rss_mb(), 1),
            "splits": summary.splits,
            "python": platform.python_version(),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
