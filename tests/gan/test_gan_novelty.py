"""The novelty critic: rdkit's labels, the discriminator's third output, and the terms in training."""

import pytest
import torch

from chemaccel.errors import ConfigError
from chemaccel.gan import GanConfig, GanTrainer, load_gan, save_gan
from chemaccel.gan.discriminator import Discriminator
from chemaccel.gan.engine import not_valid_and_novel
from chemaccel.gan.molgraph import encode_smiles, hash_set, to_onehot
from chemaccel.runtime import RuntimeConfig

N = 9
CPU = RuntimeConfig(device="cpu", seed=0)


def graphs_of(smiles):
    atoms, bonds, kept, _ = encode_smiles(smiles, N)
    assert len(kept) == len(smiles)
    return torch.from_numpy(to_onehot(atoms, bonds))


def test_labels_are_rdkit_validity_and_training_set_membership():
    train = hash_set(["CCO", "c1ccoc1", "CC#N"])
    graphs = graphs_of(["CCO", "CCCO", "CC.O", "c1ccoc1", "OC=O"])
    assert not_valid_and_novel(graphs, N, train).tolist() == [1.0, 0.0, 1.0, 1.0, 0.0]
    # no training set: every valid molecule is novel
    assert not_valid_and_novel(graphs, N, None).tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]


def test_discriminator_critic_is_a_third_output_only_when_built():
    x = torch.randn(5, 12)
    with_critic = Discriminator(12, 8, 2, 2, 3, novelty=True)
    logits, classes, novelty = with_critic(x, novelty_input=torch.randn(7, 12))
    assert logits.shape == (5,) and classes.shape == (5, 3) and novelty.shape == (7,)
    assert len(with_critic(x)) == 2
    with pytest.raises(ValueError, match="no novelty critic"):
        Discriminator(12, 8, 2, 2, 3)(x, novelty_input=x)


def test_config_allows_it_only_for_graphs():
    with pytest.raises(ConfigError, match="novelty_weight applies to molecular graphs"):
        GanConfig(data="grid25", novelty_weight=0.5)


def test_training_with_the_critic_reports_it_and_saves_a_loadable_model(tiny_config, smiles20, tmp_path):
    cfg = tiny_config.replace(data="qm9", noise_dim=4, steps=4, batch_size=12, log_every=1, eval_samples=30,
                              novelty_weight=1.0)
    result = GanTrainer(cfg, CPU).run(None, data=smiles20)
    assert result.status == "completed"
    for h in result.history:
        assert h["novelty_critic"] > 0 and 0.0 <= h["not_valid_and_novel"] <= 1.0
    assert result.model.discriminator.novelty is not None
    loaded = load_gan(save_gan(tmp_path / "m", result.model, with_discriminator=True))
    assert loaded.discriminator.novelty is not None
    assert len(loaded.sample_smiles(5)) == 5
    plain = GanTrainer(cfg.replace(novelty_weight=0.0), CPU).run(None, data=smiles20, evaluate=False)
    assert plain.model.discriminator.novelty is None
    assert all(h["novelty_critic"] == 0.0 for h in plain.history)


def test_the_critic_learns_which_graphs_are_bad():
    torch.manual_seed(0)
    train = hash_set(["CCO", "CC#N", "C1CC1", "OCC=O"])
    smiles = ["CCO", "CCCO", "CC.O", "CC#N", "CCCC", "C1CC1", "OCC=O", "NCC=O", "C.C", "FC(F)F"]
    graphs = graphs_of(smiles)
    labels = not_valid_and_novel(graphs, N, train)
    disc = Discriminator(graphs.shape[1], 32, 1, 2, 1, novelty=True)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        _, _, logits = disc(graphs, novelty_input=graphs)
        torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
        opt.step()
    _, _, logits = disc(graphs, novelty_input=graphs)
    assert ((logits > 0).float() == labels).all()


def test_resume_refuses_a_checkpoint_without_the_critic(tiny_config, smiles20, tmp_path):
    cfg = tiny_config.replace(data="qm9", noise_dim=4, steps=2, batch_size=12, checkpoint_every=1)
    GanTrainer(cfg, CPU).run(None, data=smiles20, checkpoint_dir=tmp_path, evaluate=False)
    with pytest.raises(ConfigError, match="novelty critic: off -> on"):
        GanTrainer(cfg.replace(novelty_weight=1.0, steps=4), CPU).run(
            None, data=smiles20, checkpoint_dir=tmp_path, resume=True, evaluate=False)


def test_labels_of_half_precision_graphs():
    graphs = graphs_of(["CCO", "CCCO"]).to(torch.bfloat16)
    assert not_valid_and_novel(graphs, N, hash_set(["CCO"])).tolist() == [1.0, 0.0]
