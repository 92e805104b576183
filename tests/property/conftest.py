"""Tiny QM9 data and a tiny trained model for the property engine tests (CPU, seconds)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

if importlib.util.find_spec("schnetpack") is None:  # imported only through chemaccel's shim, never directly
    pytest.skip("the property engine needs schnetpack (pip install chemaccel[property])", allow_module_level=True)

TINY = dict(n_atom_basis=16, n_filters=16, n_interactions=2, n_rbf=12, batch_size=16, checkpoint_every=5)


@pytest.fixture(scope="session")
def qm9_store(tmp_path_factory) -> Path:
    """The first 200 QM9 molecules (qm9pack) with the fixed split, in eV."""
    pytest.importorskip("qm9pack", reason="qm9pack (chemaccel[qm9]) makes the QM9 subset")
    from chemaccel.datasets.qm9 import convert_qm9

    path = tmp_path_factory.mktemp("qm9") / "qm9_200.h5"
    convert_qm9(path, limit=200)
    return path


@pytest.fixture(scope="session")
def trained_model(qm9_store, tmp_path_factory) -> Path:
    """A tiny gap + U0 model, dense training then attention pruning, compacted and saved."""
    from chemaccel.property import PropertyConfig, PropertyTrainer
    from chemaccel.runtime import RuntimeConfig

    out = tmp_path_factory.mktemp("models") / "tiny"
    cfg = PropertyConfig(targets=("gap", "U0"), max_epochs=2, prune="attention", prune_epochs=1, finetune_epochs=1,
                         budget=0.5, **TINY)
    result = PropertyTrainer(cfg, qm9_store, out, runtime=RuntimeConfig(device="cpu")).run()
    assert result.status == "done"
    return out


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight other jobs for cores)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
