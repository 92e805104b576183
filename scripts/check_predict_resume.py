"""Kill ``chemaccel property|reaction predict`` with SIGKILL at random moments, resume, compare.

1. One uninterrupted run writes ``reference.csv``.
2. The same command with ``--resume`` (without an output it starts afresh) writes ``resumed.csv`` and is
   killed with SIGKILL at a random moment, then started again, until ``--kills`` kills have landed; the
   last attempt runs to the end. Most kills land at a random time after the attempt has written a new
   chunk (spread over the run), every fourth from the second on at a random time while it starts
   (before its first new row).
3. ``resumed.csv`` must equal ``reference.csv`` byte for byte (no duplicated, lost or changed rows).

Prints the kills, the rows on disk after each, whether a partial last line was left, and PASS or FAIL
(exit status 0 or 1).

    OMP_NUM_THREADS=1 python scripts/check_predict_resume.py --engine property --kills 8
    OMP_NUM_THREADS=1 python scripts/check_predict_resume.py --engine reaction --kills 5 --records 120
    OMP_NUM_THREADS=1 python scripts/check_predict_resume.py --engine property --ray --kills 3 --records 2000

With ``--ray`` the killed command is the Ray Data job (a local instance; ``chemaccel[cluster]``), the
reference is still the one-process run, and a "chunk written" is a shard file in ``OUT.shards/``.

Default inputs: property: ``--records`` XYZ frames (the QM9 molecules of ``--store`` if it exists, else the
example XYZ files repeated, good and bad frames); reaction: the first ``--records`` reactant lines of
../shared/data/uspto50k/tgt-test.txt plus a few bad lines. Or pass ``--input``.
"""

from __future__ import annotations

import argparse
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
MODELS = {"property": ROOT / "resources/models/qm9-gap-schnet-pruned",
          "reaction": ROOT / "resources/models/uspto-forward-reagents"}
CHUNKS = {"property": 200, "reaction": 8}
USPTO_TGT = ROOT.parent / "shared/data/uspto50k/tgt-test.txt"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=["property", "reaction"], required=True)
    ap.add_argument("--input", help="input file (default: made, see above)")
    ap.add_argument("--records", type=int, help="records in the made input (property 20000, reaction 120)")
    ap.add_argument("--store", default="/tmp/qm9.h5", help="QM9 store for the made property input")
    ap.add_argument("--model", help="model folder (default: the shipped one)")
    ap.add_argument("--chunk", type=int, help="--chunk (property 200, reaction 8)")
    ap.add_argument("-k", type=int, default=5, help="reaction beam size")
    ap.add_argument("--kills", type=int, default=6, help="SIGKILLs to land before the last, complete run")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random kill moments")
    ap.add_argument("--workdir", help="keep the files here (default: a temporary folder, removed on PASS)")
    ap.add_argument("--ray", action="store_true", help="kill and resume the --ray job (the reference runs without)")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix=f"resume-{args.engine}-"))
    work.mkdir(parents=True, exist_ok=True)
    chunk = args.chunk or CHUNKS[args.engine]
    model = Path(args.model) if args.model else MODELS[args.engine]
    src = Path(args.input) if args.input else make_input(args, work)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}

    def command(out: Path, resume: bool) -> list[str]:
        cmd = [sys.executable, "-m", "chemaccel.cli", "--device", "cpu", args.engine, "predict", str(src),
               "-m", str(model), "--chunk", str(chunk), "-o", str(out)]
        if args.engine == "reaction":
            cmd += ["-k", str(args.k)]
        if args.ray and resume:  # the resumed runs are the Ray job; the reference is one process
            cmd += ["--ray"]
        return cmd + (["--resume"] if resume else [])

    def written(path: Path) -> int:
        """Rows on disk, or with --ray the shards done (the merged file appears only at the end)."""
        return len(list(Path(str(path) + ".shards").glob("shard-*.csv"))) if args.ray else rows(path)

    reference, resumed = work / "reference.csv", work / "resumed.csv"
    for path in (reference, resumed):
        path.unlink(missing_ok=True)
        Path(str(path) + ".resume.json").unlink(missing_ok=True)
        shutil.rmtree(str(path) + ".shards", ignore_errors=True)
    print(f"{args.engine}: input {src}, model {model.name}, chunk {chunk}; files in {work}", flush=True)
    t0 = time.monotonic()
    run = subprocess.run(command(reference, False), env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        print(f"FAIL: the uninterrupted run failed (status {run.returncode}): {run.stderr.strip()[-500:]}")
        return 1
    full_time = time.monotonic() - t0
    total = rows(reference)
    print(f"uninterrupted run: {total} rows in {full_time:.1f} s", flush=True)

    kills = partial_lines = attempts = 0
    startup = None  # seconds from start to the header on disk, measured on the first attempt
    while True:
        attempts += 1
        before = written(resumed)
        proc = subprocess.Popen(command(resumed, True), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        if kills < args.kills:
            if startup is not None and kills % 4 == 1:  # kills 2, 6, ...: before the first new row
                moment = "while starting"
                time.sleep(rng.uniform(0, startup))
            else:  # once it has written a new chunk: a random moment, spread so the kills cover the file
                moment = "while writing"
                while proc.poll() is None and written(resumed) <= before:
                    time.sleep(0.002)
                if startup is None:
                    startup = time.monotonic() - started
                time.sleep(rng.uniform(0, 2 * max(0.05, (full_time - startup) / (args.kills + 1))))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                partial = last_byte(resumed) not in (b"", b"\n")
                partial_lines += partial
                on_disk = f"{written(resumed)} shards" if args.ray else f"{rows(resumed)} rows"
                print(f"kill {kills} ({moment}, attempt {attempts}): {on_disk} on disk"
                      + (", partial last line" if partial else ""), flush=True)
                continue
        _, err = proc.communicate()
        if proc.returncode != 0:
            print(f"FAIL: attempt {attempts} ended with status {proc.returncode}: {err.strip()[-500:]}")
            return 1
        break

    same = resumed.read_bytes() == reference.read_bytes()
    if not same:
        a, b = reference.read_text().splitlines(), resumed.read_text().splitlines()
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        print(f"FAIL: {args.engine}: outputs differ ({len(a) - 1} vs {len(b) - 1} rows; first difference at "
              f"line {first + 1}); {kills} kills; files kept in {work}")
        return 1
    print(f"PASS: {args.engine}: {total} rows identical byte for byte after {kills} SIGKILLs "
          f"({partial_lines} left a partial last line) and {attempts} runs with --resume")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def rows(path: Path) -> int:
    """Complete lines minus the header (these outputs hold no quoted newlines)."""
    try:
        return max(0, path.read_bytes().count(b"\n") - 1)
    except FileNotFoundError:
        return 0


def last_byte(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return b""
            fh.seek(-1, os.SEEK_END)
            return fh.read(1)
    except FileNotFoundError:
        return b""


def make_input(args: argparse.Namespace, work: Path) -> Path:
    if args.engine == "reaction":
        n = args.records or 120
        if not USPTO_TGT.is_file():
            sys.exit(f"{USPTO_TGT} not found: pass --input")
        lines = []
        with open(USPTO_TGT, encoding="utf-8") as fh:
            for line in fh:
                lines.append(line.strip().replace(" ", ""))
                if len(lines) >= n:
                    break
        for i, bad in zip(range(7, n, 29), ["", "not a reaction", "C1CC", "[Xx]"]):
            lines[i] = bad
        path = work / "reactions.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path
    n = args.records or 20000
    path = work / "molecules.xyz"
    if Path(args.store).is_file():
        from ase.data import chemical_symbols

        from chemaccel.chem.store import MoleculeStore

        with MoleculeStore.open(args.store) as store, open(path, "w", encoding="utf-8") as fh:
            for i in range(n):
                mol = store[i % len(store)]
                fh.write(f"{len(mol.numbers)}\n{mol.name}\n")
                for z, (x, y, zz) in zip(mol.numbers, mol.positions):
                    fh.write(f"{chemical_symbols[int(z)]} {x:.6f} {y:.6f} {zz:.6f}\n")
                if i % 97 == 50:  # an unreadable frame now and then
                    fh.write("2\nbroken frame\nC 0 0 0\n")
    else:
        good = (ROOT / "resources/examples/molecules.xyz").read_text()
        bad = (ROOT / "resources/examples/with_errors.xyz").read_text()
        path.write_text((good + bad) * max(1, n // 10))
    return path


if __name__ == "__main__":
    sys.exit(main())
