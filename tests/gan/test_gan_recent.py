"""The critic's memory of recent molecules: ring-buffer counts, repeat labels, checkpoint round trip."""

import numpy as np
import pytest
import torch

from chemaccel.errors import ConfigError
from chemaccel.gan import GanConfig, GanTrainer
from chemaccel.gan.engine import not_valid_and_novel
from chemaccel.gan.molgraph import encode_smiles, hash_set, smiles_hash, to_onehot
from chemaccel.gan.recent import RecentMolecules
from chemaccel.runtime import RuntimeConfig

N = 9


def graphs_of(smiles):
    atoms, bonds, kept, _ = encode_smiles(smiles, N)
    return torch.from_numpy(to_onehot(atoms, bonds))


def test_memory_flags_repeats_within_a_batch_and_forgets_the_oldest():
    mem = RecentMolecules(3)
    assert mem.seen_then_add([1, 2, 1]).tolist() == [False, False, True]
    assert len(mem) == 3 and 1 in mem and 2 in mem
    # 4 pushes out the oldest 1 (one of the two copies): 1 is still remembered once
    assert mem.seen_then_add([4]).tolist() == [False]
    assert 1 in mem
    # 5 pushes out the second 1 (order: 2, 1, 4 -> 1, 4, 5 after these)
    mem.seen_then_add([5])
    assert 2 not in mem and 1 in mem
    mem.seen_then_add([6])
    assert 1 not in mem and mem.state()["hashes"].tolist() == [4, 5, 6]


def test_memory_state_round_trip_keeps_order_and_counts():
    mem = RecentMolecules(4)
    mem.seen_then_add([7, 8, 9, 7, 10, 11])
    state = mem.state()
    assert state["hashes"].tolist() == [9, 7, 10, 11]
    other = RecentMolecules(4)
    other.load_state(state)
    assert other.state()["hashes"].tolist() == [9, 7, 10, 11]
    assert other.seen_then_add([7, 8]).tolist() == [True, False]
    small = RecentMolecules(2)
    small.load_state(state)  # keeps the newest
    assert small.state()["hashes"].tolist() == [10, 11]
    with pytest.raises(ValueError, match="at least one"):
        RecentMolecules(0)


def test_critic_labels_count_a_recent_molecule_as_bad():
    train = hash_set(["CCO"])
    mem = RecentMolecules(100)
    graphs = graphs_of(["CCCO", "CCO", "CCCO", "OC=O"])
    # second CCCO repeats the first; CCO is a training molecule
    assert not_valid_and_novel(graphs, N, train, mem).tolist() == [0.0, 1.0, 1.0, 0.0]
    # next step: everything made before is now a repeat; a new molecule is not
    assert not_valid_and_novel(graphs_of(["OC=O", "NC=O"]), N, train, mem).tolist() == [1.0, 0.0]
    assert smiles_hash("NC=O") in mem


def test_config_needs_the_critic():
    with pytest.raises(ConfigError, match="needs data qm9 and novelty_weight > 0"):
        GanConfig(data="qm9", repeat_memory=10)
    with pytest.raises(ConfigError, match="repeat_memory must be an integer >= 0"):
        GanConfig(data="qm9", novelty_weight=1.0, repeat_memory=-1)


def test_resume_restores_the_memory(tiny_config, smiles20, tmp_path, monkeypatch):
    # an untrained generator makes few valid molecules: decode each graph to a chain as long as its
    # number of present atoms, so that the memory fills and holds repeats
    import chemaccel.gan.engine as engine

    def chains(vectors, max_atoms):
        atoms = vectors[:, :max_atoms * 5].reshape(len(vectors), max_atoms, 5).argmax(-1)
        return ["C" * max(int((a != 0).sum()), 1) for a in atoms]

    monkeypatch.setattr(engine, "decode_all", chains)
    cfg = tiny_config.replace(data="qm9", noise_dim=4, steps=6, batch_size=12, log_every=1, eval_samples=30,
                              novelty_weight=1.0, repeat_memory=50, checkpoint_every=3)
    cpu = RuntimeConfig(device="cpu", seed=0)
    whole = GanTrainer(cfg, cpu)
    whole.run(None, data=smiles20, evaluate=False)
    first = GanTrainer(cfg.replace(steps=3), cpu)
    first.run(None, data=smiles20, checkpoint_dir=tmp_path, evaluate=False)
    second = GanTrainer(cfg, cpu)
    second.run(None, data=smiles20, checkpoint_dir=tmp_path, resume=True, evaluate=False)
    assert len(first.recent) > 0
    np.testing.assert_array_equal(second.recent.state()["hashes"], whole.recent.state()["hashes"])
