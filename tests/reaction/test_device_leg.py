"""scripts/pack_reaction_leg.sh + scripts/device_reaction_leg.sh, run here on the CPU as the smoke test their
header describes: the corpus is prepared once where it is packed, train.tsv stays home, and the leg trains from
the prepared files (no rdkit pass over the corpus on the lent GPU's time), then returns the model and its curve."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reaction.conftest import REACTIONS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("xz") is None, reason="needs xz")
def test_a_packed_leg_trains_from_the_prepared_corpus_alone(tmp_path):
    repo = tmp_path / "repo"  # the scripts work in their own checkout's .whl/: a stand-in checkout, not this one
    repo.mkdir()
    for name in ("scripts", "chemaccel"):
        (repo / name).symlink_to(ROOT / name)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = ["reactants\treagents\tproduct\tsource"] + [f"{r}\tCCN(CC)CC\t{p}\tt" for r, p, _ in REACTIONS]
    for split in ("train", "valid"):
        (corpus / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    shipped = ROOT / "resources" / "models" / "uspto-forward-reagents"
    env = {**os.environ, "PYTHON": sys.executable, "PACK_WHEELS": "0", "OMP_NUM_THREADS": "1",
           "REACTION_DEVICE": "cpu", "OUT": str(tmp_path / "out"), "INIT": str(shipped)}

    pack = subprocess.run(["bash", str(repo / "scripts" / "pack_reaction_leg.sh"), str(corpus), "--min-token-count", "2"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert pack.returncode == 0, pack.stderr[-2000:]
    work = repo / ".whl" / "rxn-work"
    assert sorted(p.name for p in work.glob("*-train.txt.xz")) == ["src-train.txt.xz", "tgt-train.txt.xz"]
    assert json.loads((work / "data.json").read_text())["recipe"]["min_token_count"] == 2
    assert not (repo / ".whl" / "corpus" / "train.tsv").exists()  # it does not travel
    # the warm start travels at half precision, half the size
    init = repo / ".whl" / "init" / "model.safetensors"
    assert init.stat().st_size < 0.55 * (shipped / "model.safetensors").stat().st_size

    leg = subprocess.run(["bash", str(repo / "scripts" / "device_reaction_leg.sh"), "300", "--init-from",
                          ".whl/init", "--steps", "2",
                          "--save-every", "2", "--curve-n", "2", "--batch-tokens", "512", "--warmup", "1", "--lr", "0.01"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert leg.returncode == 0, leg.stdout[-3000:]
    log = (tmp_path / "out" / "leg.log").read_text()
    assert "data flags --min-token-count 2 --reagents drop --augment 0" in log
    assert "reading training data" not in log  # the prepared corpus was reused
    assert (tmp_path / "out" / "model" / "model.safetensors").is_file()
    assert [row["step"] for row in json.loads((tmp_path / "out" / "curve.json").read_text())] == [2]
