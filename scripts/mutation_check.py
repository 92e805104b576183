"""Mutation check (issue 25): how many one-line changes to the figure-producing code the test suite notices.

    python scripts/mutation_check.py                  # every group below
    python scripts/mutation_check.py --only reaction  # one group
    python scripts/mutation_check.py --only reaction --survivors   # and the diff of each surviving mutant

For each group (the evaluate and metrics modules of an engine, with the tests that exercise them) the
script copies the repository's tracked files and the shipped models into a temporary folder, writes a
``[mutmut]`` section there and runs mutmut 3 (PyPI ``mutmut``; it mutates operators, constants,
comparisons, arguments and return values one at a time and runs the tests that cover the mutated function).
It prints, per group, the mutants killed (a test failed), survived (every test passed), and without tests
(no selected test reaches the function), and the mutation score killed / (killed + survived). Nothing in
the repository is changed. ``mutmut`` is not a dependency of chemaccel: ``pip install mutmut==3.8.1``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: group -> (modules to mutate, tests that exercise them)
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "reaction": (["chemaccel/reaction/evaluate.py", "chemaccel/reaction/confidence.py"],
                 ["tests/reaction/test_evaluate_known.py", "tests/reaction/test_confidence.py"]),
    "prune": (["chemaccel/prune/evaluate.py", "chemaccel/prune/measure.py"],
              ["tests/test_accuracy_known_answers.py", "tests/prune"]),
    "nas": (["chemaccel/nas/evaluate.py"], ["tests/test_accuracy_known_answers.py", "tests/nas"]),
    "property": (["chemaccel/property/evaluate.py", "chemaccel/property/uncertainty.py"],
                 ["tests/property"]),
    "gan": (["chemaccel/gan/metrics.py", "chemaccel/gan/distribution.py"],
            ["tests/gan/test_gan_metrics.py", "tests/gan/test_gan_distribution.py"]),
}


def mutmut() -> str:
    exe = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or shutil.which("mutmut")
    if exe is None:
        sys.exit("mutmut is not installed: pip install mutmut==3.8.1")
    return exe


def copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def run_group(name: str, modules: list[str], tests: list[str], survivors: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"chemaccel-mutation-{name}-") as tmp:
        work = Path(tmp)
        copy_tree(work)
        lines = ["[mutmut]", "paths_to_mutate =", *(f"    {m}" for m in modules), "tests_dir =",
                 *(f"    {t}" for t in tests), "also_copy =", "    chemaccel/", "    gui/", "    tests/", "    resources/", "    pyproject.toml"]
        (work / "setup.cfg").write_text("\n".join(lines) + "\n", encoding="utf-8")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen", "CI": "true",
               "CHEMACCEL_SHARED_DATA": os.environ.get("CHEMACCEL_SHARED_DATA", str(ROOT.parent / "shared" / "data"))}
        t0 = time.perf_counter()
        run = subprocess.run([mutmut(), "run", "--max-children", "1"], cwd=work, env=env, capture_output=True,
                             text=True)
        seconds = time.perf_counter() - t0
        if run.returncode != 0:
            tail = (run.stdout + run.stderr)[-2000:]
            return {"group": name, "error": f"mutmut failed ({run.returncode}): {tail}"}
        subprocess.run([mutmut(), "export-cicd-stats"], cwd=work, env=env, capture_output=True, text=True)
        stats = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
        row = {"group": name, "modules": modules, "tests": tests, "seconds": round(seconds),
               **{k: stats[k] for k in ("killed", "survived", "no_tests", "timeout", "suspicious", "total")}}
        decided = stats["killed"] + stats["survived"] + stats["timeout"]
        row["score"] = (stats["killed"] + stats["timeout"]) / decided if decided else float("nan")
        if survivors:
            listing = subprocess.run([mutmut(), "results"], cwd=work, env=env, capture_output=True, text=True).stdout
            for line in listing.splitlines():
                if line.strip().endswith(": survived"):
                    mutant = line.strip().rsplit(":", 1)[0]
                    shown = subprocess.run([mutmut(), "show", mutant], cwd=work, env=env, capture_output=True,
                                           text=True).stdout
                    print(f"--- {mutant}\n{shown}", flush=True)
        return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=sorted(GROUPS), help="groups to run (default all)")
    p.add_argument("--survivors", action="store_true", help="print the diff of every surviving mutant")
    args = p.parse_args()
    rows = []
    for name in args.only or GROUPS:
        row = run_group(name, *GROUPS[name], survivors=args.survivors)
        print(json.dumps(row), flush=True)
        rows.append(row)
    print("\n| group | modules | killed | survived | no tests | score | seconds |\n| --- | --- | --- | --- | --- | --- | --- |")
    killed = survived = 0
    for r in rows:
        if "error" in r:
            print(f"| {r['group']} | error: {r['error'][:80]} | | | | | |")
            continue
        killed += r["killed"] + r["timeout"]
        survived += r["survived"]
        print(f"| {r['group']} | {', '.join(Path(m).name for m in r['modules'])} | {r['killed']} | {r['survived']} | "
              f"{r['no_tests']} | {r['score']:.1%} | {r['seconds']} |")
    if killed + survived:
        print(f"\nall groups: {killed} killed, {survived} survived: score {killed / (killed + survived):.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
