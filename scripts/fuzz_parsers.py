"""Fuzz every file parser of the foundation with hypothesis: no exception may escape except
chemaccel's own error types (one-line messages).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/fuzz_parsers.py --cases 10000
    OMP_NUM_THREADS=1 .venv/bin/python scripts/fuzz_parsers.py --cases 200 --only smi,xyz

Prints one line per parser (cases run, records read, errors by type) and a JSON summary at the end;
exit status 1 if any parser let a foreign exception escape.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzzing import PARSERS, run_parser_fuzz  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000, help="cases per parser (default 10,000)")
    parser.add_argument("--only", default="", help="comma-separated parser names: " + ",".join(PARSERS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(PARSERS)
    summary, failed = {}, False
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            t0 = time.perf_counter()
            stats = run_parser_fuzz(name, Path(tmp), args.cases, args.seed)
            stats["seconds"] = round(time.perf_counter() - t0, 1)
            summary[name] = stats
            failed |= bool(stats["escaped"])
            print(f"{name:<8} {stats['cases']:>6} cases  {stats['records_ok']:>6} good records  "
                  f"{stats['records_bad']:>6} bad records  file errors {stats['file_errors']}  "
                  f"escaped {len(stats['escaped'])}  {stats['seconds']} s", flush=True)
    for name, stats in summary.items():
        for case in stats["escaped"][:3]:
            print(f"escaped from {name}: {case['type']}: {case['message'][:200]} at {case['where']}")
        stats["escaped"] = [f"{c['type']}: {c['message'][:120]}" for c in stats["escaped"]]
    print(json.dumps(summary))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
