"""The wheel works on its own: built from the repo, installed into a fresh virtual environment, run outside the
source tree, it finds its shipped models and example files (package data, found through importlib.resources).

The dependencies (torch, rdkit, ...) are not installed again: the fresh environment sees this environment's
site-packages through a path file, but not its editable install of chemaccel (that needs the .pth processing
of a site directory), so every ``chemaccel`` module and resource comes from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The python of a fresh venv holding the wheel built from this repo."""
    work = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools reuses a checkout's build/ folder, where modules since moved or deleted
    # would still sit and slip into the wheel
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "runs", "*.egg-info", "__pycache__", ".pytest_cache", "mutants"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(work / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    if built.returncode != 0 and "No module named pip" in built.stderr:
        pytest.skip("pip is not available in this environment")
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((work / "dist").glob("chemaccel-*.whl"))
    # every module of the source tree is in the wheel (the package list is found, not written out), and
    # nothing else
    packed = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("chemaccel/") and n.endswith(".py")}
    assert packed == {p.relative_to(ROOT).as_posix() for p in (ROOT / "chemaccel").rglob("*.py")}
    env_dir = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site),
                    str(wheel)], check=True, timeout=300, capture_output=True)
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _run(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CHEMACCEL_MODELS")}
    return subprocess.run([str(python), "-m", "chemaccel.cli", "--device", "cpu", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


def test_the_installed_wheel_lists_its_models_and_predicts_outside_the_source_tree(installed, tmp_path):
    where = _run(installed, tmp_path, "models", "list", "--json")
    assert where.returncode == 0, where.stderr[-2000:]
    listed = json.loads(where.stdout)
    assert ROOT not in Path(listed["folder"]).parents and "chemaccel_resources" in listed["folder"]
    shipped = {m["name"] for m in listed["models"]}
    assert {"qm9-gap-schnet-ff", "uspto-forward-reagents", "gan-qm9", "lenet5-mnist-autoprune", "nas-fashion"} <= shipped
    module = subprocess.run([str(installed), "-c", "import chemaccel; print(chemaccel.__file__)"], capture_output=True,
                            text=True, cwd=tmp_path, check=True).stdout
    assert ROOT not in Path(module).parents  # the wheel's package, not the source tree's

    (tmp_path / "mols.smi").write_text("CCO\nc1ccccc1O\n")
    (tmp_path / "reactions.txt").write_text("CC(=O)Cl.Nc1ccccc1\n")
    runs = [
        ("property", "predict", "mols.smi", "-m", "qm9-gap-schnet-ff", "-o", "gaps.csv"),
        ("reaction", "predict", "reactions.txt", "-m", "uspto-forward-reagents", "-k", "2", "-o", "products.csv"),
        ("gan", "sample", "gan-qm9", "-n", "20", "-o", "generated.smi"),
        ("prune", "report", "lenet5-mnist-autoprune"),
        ("nas", "evaluate", "nas-fashion", "--json"),
    ]
    for args in runs:
        done = _run(installed, tmp_path, *args)
        assert done.returncode == 0, (args, done.stderr[-2000:])
    assert (tmp_path / "gaps.csv").read_text().count(",ok,") == 2
    assert ",ok," in (tmp_path / "products.csv").read_text()


def test_the_installed_wheel_runs_the_demo_with_its_example_files(installed, tmp_path):
    done = _run(installed, tmp_path, "demo", "--out", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "5. Predict HOMO-LUMO gaps from SMILES" in done.stdout
