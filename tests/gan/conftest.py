"""Fixtures of the GAN tests: tiny configs that train in well under a second per step on the CPU."""

import pytest
import torch

from chemaccel.gan import GanConfig


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture
def tiny_config():
    """A small ring8 GAN with K=3 generators."""
    return GanConfig(data="ring8", n_generators=3, private_layers=1, noise_dim=2, gen_hidden=16, gen_layers=2,
                     disc_hidden=16, disc_layers=2, maxout_pieces=2, batch_size=24, steps=20, n_train=500,
                     eval_samples=200, checkpoint_every=5, log_every=5, lr=1e-3)


@pytest.fixture
def smiles20():
    """20 small QM9-like molecules (plus one above 9 heavy atoms and one charged)."""
    return ["C", "CC", "CCO", "CC=O", "C#N", "CC#C", "OCC=O", "CN", "CCN", "C1CC1", "c1ccoc1", "CC(C)O", "OC=O",
            "NC=O", "CC(=O)C", "C1CO1", "FC(F)F", "CCCC", "N#CC#N", "CC(N)=O",
            "CCCCCCCCCCC", "C[NH3+]"]
