"""The demo's GAN step: samples the shipped QM9 generator and marks which molecules are in its training set."""

from pathlib import Path

import numpy as np

from chemaccel.demo import gan_demo
from chemaccel.gan import load_gan
from chemaccel.gan.molgraph import smiles_hash

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "models" / "gan-qm9"


def test_missing_model_is_one_line(tmp_path):
    lines = gan_demo(tmp_path / "gan-qm9")
    assert len(lines) == 1 and lines[0].strip().startswith("missing:")


def test_shipped_generator_samples_and_marks_training_molecules():
    lines = gan_demo(SHIPPED, n=500, shown=6)
    assert "500 samples from 32 generators" in lines[0] and "validity" in lines[0] and "novelty" in lines[0]
    shown = lines[1:]
    assert 1 <= len(shown) <= 6
    hashes = set(load_gan(SHIPPED).train_hashes.tolist())
    for line in shown:
        smiles, verdict = line.split(maxsplit=1)
        assert verdict == ("in the training set" if smiles_hash(smiles) in hashes else "novel")
    assert isinstance(load_gan(SHIPPED).train_hashes, np.ndarray)
