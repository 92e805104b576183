import random

import pytest
from rdkit import Chem

from chemaccel.errors import ConfigError, InputError
from chemaccel.reaction import PRESETS, ReactionConfig
from chemaccel.reaction import data as rdata
from tests.reaction.conftest import REACTIONS


def test_presets_and_strict_keys():
    low, mt = ReactionConfig.from_preset("low"), ReactionConfig.from_preset("mt")
    assert (mt.layers, mt.hidden_size, mt.heads, mt.ff_size) == (4, 256, 8, 2048)
    assert low.hidden_size < mt.hidden_size and set(PRESETS) == {"low", "mt"}
    assert ReactionConfig.from_dict(low.to_dict()) == low
    with pytest.raises(ConfigError, match="unknown reaction config key"):
        ReactionConfig.from_dict({"layers": 2, "width": 3})
    with pytest.raises(ConfigError, match="heads"):
        ReactionConfig(hidden_size=30, heads=4)
    with pytest.raises(ConfigError, match="positive integer"):
        ReactionConfig(steps=0)
    with pytest.raises(ConfigError, match="unknown reaction preset"):
        ReactionConfig.from_preset("huge")


def test_low_preset_is_at_most_a_fifth_of_the_molecular_transformer():
    pytest.importorskip("eole")
    import pyonmttok
    from eole.config.run import TrainConfig
    from eole.models.model import get_model_class

    from chemaccel.reaction.eole_bridge import model_section, quiet_eole

    tokens = [f"t{i}" for i in range(79)]  # USPTO-50K: 79 SMILES tokens + 4 specials
    specials = ["<unk>", "<blank>", "<s>", "</s>"]
    vocab = pyonmttok.build_vocab_from_tokens(tokens, special_tokens=specials)
    vocabs = {"src": vocab, "tgt": vocab, "decoder_start_token": "<s>",
              "specials": dict(zip(("unk_token", "pad_token", "bos_token", "eos_token"), specials))}
    counts = {}
    with quiet_eole():
        for name in ("low", "mt"):
            tc = TrainConfig(src_vocab="x", share_vocab=True, data={},
                             model=model_section(ReactionConfig.from_preset(name)))
            model = get_model_class(tc.model).build(tc.model, vocabs, tc.training)
            counts[name] = sum(p.numel() for p in model.parameters())
    assert 11_000_000 < counts["mt"] < 12_500_000
    assert counts["low"] <= 2_500_000 and counts["low"] <= counts["mt"] / 5

    # a decoder with fewer heads than the encoder (a pruned model's shape): eole builds each side its own way
    pruned = ReactionConfig.from_preset("low", head_dim=48, decoder_heads=2, decoder_ff_size=192)
    with quiet_eole():
        tc = TrainConfig(src_vocab="x", share_vocab=True, data={}, model=model_section(pruned))
        model = get_model_class(tc.model).build(tc.model, vocabs, tc.training)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["encoder.transformer_layers.0.self_attn.linear_query.weight"] == (192, 192)
    assert shapes["decoder.transformer_layers.2.context_attn.final_linear.weight"] == (192, 96)
    assert shapes["decoder.transformer_layers.1.mlp.down_proj.weight"] == (192, 192)
    assert shapes["encoder.transformer_layers.1.mlp.down_proj.weight"] == (192, 384)
    with pytest.raises(ConfigError, match="decoder_heads other than heads needs head_dim"):
        ReactionConfig.from_preset("low", decoder_heads=2)


def test_forward_pairs_swap_sides_and_keep_the_class(uspto_tiny):
    pairs, errors = rdata.load_pairs(uspto_tiny, "train")
    assert not errors and len(pairs) == 20
    reactants, product, cls = REACTIONS[0]
    assert pairs[0].src == reactants
    assert pairs[0].tgt == Chem.MolToSmiles(Chem.MolFromSmiles(product))
    assert pairs[0].reaction_class == cls and "<RX" not in pairs[0].src + pairs[0].tgt


def test_augmentation_changes_the_writing_not_the_chemistry():
    rng = random.Random(0)
    smiles = "CC(=O)Cl.NCc1ccccc1"
    variants = {rdata.random_smiles(smiles, rng) for _ in range(20)}
    assert len(variants) > 1
    canon = lambda s: sorted(Chem.MolToSmiles(Chem.MolFromSmiles(p)) for p in s.split("."))  # noqa: E731
    assert all(canon(v) == canon(smiles) for v in variants)
    pairs = [rdata.ReactionPair(smiles, "CC(=O)NCc1ccccc1", 2)]
    out = rdata.augment_pairs(pairs, 2, seed=1)
    assert len(out) == 3 and all(p.tgt == pairs[0].tgt for p in out)


def test_the_mit_test_split_is_never_training_data(tmp_path, uspto_tiny):
    mit = tmp_path / "mit"
    mit.mkdir()
    (mit / "test.txt").write_text("[CH3:1][OH:2].[CH3:3][C:4](=[O:5])[OH:6]>>[CH3:3][C:4](=[O:5])[O:2][CH3:1] 1-2\n")
    with pytest.raises(InputError, match="valid"):
        rdata.training_pairs(uspto_tiny, mit)


def test_detect_format(tmp_path, uspto_tiny):
    assert rdata.detect_format(uspto_tiny, "test") == "uspto50k"
    (tmp_path / "valid.txt").write_text("CO>>CO 1-1\n")
    assert rdata.detect_format(tmp_path, "valid") == "uspto_mit"
    with pytest.raises(InputError, match="no USPTO data"):
        rdata.detect_format(tmp_path, "test")


def test_an_eole_folder_laid_out_again_links_the_new_weights(tmp_path):
    """A warm-started run killed before its first checkpoint leaves its init folder; the next start lays it out
    again (it had failed with SameFileError, a traceback, when the link was already there)."""
    from chemaccel.reaction.eole_bridge import write_eole_folder

    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    first.write_bytes(b"first")
    second.write_bytes(b"second")
    folder = tmp_path / "init"
    write_eole_folder(folder, {"model": 1}, {"src": []}, first)
    write_eole_folder(folder, {"model": 2}, {"src": []}, first)
    assert (folder / "model.00.safetensors").read_bytes() == b"first"
    write_eole_folder(folder, {"model": 3}, {"src": []}, second)
    assert (folder / "model.00.safetensors").read_bytes() == b"second"
    assert '"model": 3' in (folder / "config.json").read_text()
