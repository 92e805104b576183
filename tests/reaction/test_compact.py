"""Structured pruning of the reaction Transformer (chemaccel.reaction.compact): the compact eole model with fewer
heads and feed-forward neurons computes exactly what the full model with those units' output columns zeroed
computes, loads through the ordinary loader, and refuses structures eole cannot build."""

from __future__ import annotations

from pathlib import Path

import pytest

from chemaccel.checkpoint import WEIGHTS_NAME, load_safetensors, read_model_info, save_model_folder
from chemaccel.errors import ConfigError
from chemaccel.reaction import compact
from chemaccel.reaction.storage import load_model

SHIPPED = Path(__file__).resolve().parents[2] / "resources" / "models" / "uspto-forward-reagents"
INPUTS = ["CC(=O)Cl.Nc1ccccc1.CCN(CC)CC", "CCOC(=O)c1ccccc1.[Na+].[OH-]", "O=C(O)c1ccccc1.OCC", "Brc1ccccc1.OB(O)c1ccccc1"]


@pytest.fixture(scope="module")
def weights():
    return load_safetensors(SHIPPED / WEIGHTS_NAME)


def test_the_units_of_the_shipped_model(weights):
    attention, feed_forward = compact.units(weights)
    assert len(attention) == 9  # 3 encoder self-attentions, 3 decoder self- and 3 cross-attentions
    assert "decoder.transformer_layers.2.context_attn" in attention
    assert feed_forward == [f"{side}.transformer_layers.{i}.mlp" for side in ("decoder", "encoder") for i in range(3)]


def test_compact_model_gives_the_masked_models_beams_and_scores(tmp_path, weights):
    structure = compact.magnitude_structure(weights, head_dim=48, heads=3, neurons=288)
    small = compact.shrink_model(SHIPPED, tmp_path / "small", structure=structure)
    save_model_folder(tmp_path / "masked", read_model_info(SHIPPED), compact.masked_weights(weights, structure, 48))

    shrunk = load_safetensors(small / WEIGHTS_NAME)
    assert shrunk["encoder.transformer_layers.0.self_attn.linear_query.weight"].shape == (144, 192)
    assert shrunk["decoder.transformer_layers.1.context_attn.final_linear.weight"].shape == (192, 144)
    assert shrunk["decoder.transformer_layers.1.mlp.gate_up_proj.weight"].shape == (288, 192)
    assert shrunk["decoder.transformer_layers.1.mlp.down_proj.weight"].shape == (192, 288)

    a, b = load_model(small), load_model(tmp_path / "masked")
    assert (a.config.heads, a.config.head_dim, a.config.ff_size) == (3, 48, 288)
    full = load_model(SHIPPED).num_parameters
    # 9 attention modules lose a head (4 x 48 x 192 weights + 3 x 48 biases each), 6 blocks 96 neurons
    assert full - a.num_parameters == 9 * (4 * 48 * 192 + 3 * 48) + 6 * (2 * 96 * 192 + 96)
    # k = 5: the masked copy keeps the shipped confidence fit, which decodes with a beam of at least 5; the
    # compact model has none (a pruned model is refitted) and decodes with beam k
    for x, y in zip(a.predict(INPUTS, k=5), b.predict(INPUTS, k=5)):
        assert x.status == y.status == "ok"
        assert [c.smiles for c in x.candidates] == [c.smiles for c in y.candidates]
        assert [c.score for c in x.candidates] == pytest.approx([c.score for c in y.candidates], abs=1e-5)


def test_magnitude_keeps_the_largest_head(weights):
    prefix = "encoder.transformer_layers.0.self_attn"
    scores = compact.head_importance(weights, prefix, 48)
    structure = compact.magnitude_structure(weights, 48, heads=1, neurons=384)
    assert structure.heads[prefix] == [int(scores.argmax())]
    assert structure.neurons["encoder.transformer_layers.0.mlp"] == list(range(384))


def test_structures_eole_cannot_build_are_refused(tmp_path, weights):
    structure = compact.magnitude_structure(weights, 48, heads=2, neurons=192)
    uneven = compact.Structure({**structure.heads, "encoder.transformer_layers.0.self_attn": [0, 1, 2]},
                               structure.neurons)
    with pytest.raises(ConfigError, match="same number of heads"):
        compact.shrink_weights(weights, uneven, 48)
    repeated = compact.Structure({p: [0, 0] for p in structure.heads}, structure.neurons)
    with pytest.raises(ConfigError, match="not distinct heads"):
        compact.shrink_weights(weights, repeated, 48)
    with pytest.raises(ConfigError, match="keep 5 heads: give 1 to 4"):
        compact.magnitude_structure(weights, 48, heads=5, neurons=192)
    with pytest.raises(ConfigError, match="keep 0 heads: give 1 to 4"):  # 0 is not "all"
        compact.shrink_model(SHIPPED, tmp_path / "none", heads=0)
    missing = compact.Structure(dict(list(structure.heads.items())[1:]), structure.neurons)
    with pytest.raises(ConfigError, match="does not name every"):
        compact.shrink_model(SHIPPED, tmp_path / "bad", structure=missing)


def test_closed_gates_compute_what_the_compact_model_computes(tmp_path, weights):
    """AutoPrune's gates (chemaccel.reaction.unit_gates) on the shipped model: with the gates of the units that
    magnitude would drop closed, its beams are the compact model's; a closed gate still gets a gradient."""
    import torch

    from chemaccel.reaction.unit_gates import UnitGates

    structure = compact.magnitude_structure(weights, 48, heads=3, neurons=288)
    small = load_model(compact.shrink_model(SHIPPED, tmp_path / "small", structure=structure))
    gated = load_model(SHIPPED)
    del gated.info.metrics["confidence"]  # decode with beam k, as the compact model (no confidence fit) does
    net = gated._engine.predictor.model
    gates = UnitGates(net, head_dim=48)
    assert len(gates.heads) == 9 and len(gates.neurons) == 6 and gates.open_fraction() == (1.0, 1.0)
    with torch.no_grad():
        for key, m in gates.heads.items():
            kept = structure.heads[gates._names[key]]
            m.copy_(torch.tensor([1.0 if h in kept else -1.0 for h in range(4)]))
        for key, m in gates.neurons.items():
            m.fill_(-1.0)
            m[structure.neurons[gates._names[key]]] = 1.0
    assert gates.open_fraction() == (0.75, 0.75)
    assert gates.structure() == structure  # 3 of 4 heads and 288 of 384 neurons open in every module
    for x, y in zip(gated.predict(INPUTS, k=3), small.predict(INPUTS, k=3)):
        assert [c.smiles for c in x.candidates] == [c.smiles for c in y.candidates]
        assert [c.score for c in x.candidates] == pytest.approx([c.score for c in y.candidates], abs=1e-5)

    # training: the loss reaches every gate, the closed ones included (identity straight-through estimate)
    layer = net.decoder.transformer_layers[0]
    x = torch.randn(2, 5, 192)
    key = "decoder__transformer_layers__0__self_attn"
    assert gates.heads[key].detach().tolist().count(-1.0) == 1  # one head of this module is closed
    with torch.enable_grad():
        layer.self_attn.final_linear(x).pow(2).sum().backward()  # the hook gates the projection's input
    grad = gates.heads[key].grad
    assert grad is not None and bool((grad != 0).all())
    full = torch.nn.functional.linear(x, layer.self_attn.final_linear.weight, layer.self_attn.final_linear.bias)
    with torch.no_grad():
        assert not torch.allclose(layer.self_attn.final_linear(x), full)  # gated
        gates.remove()
        assert torch.equal(layer.self_attn.final_linear(x), full)  # hooks gone: every head again


def test_the_decoder_alone_can_lose_heads(tmp_path, weights):
    """eole's layout is one head count per side: a decoder with 2 heads beside a whole encoder loads, decodes
    what the masked full model decodes, and says so in its config (decoder_heads)."""
    from chemaccel.reaction.config import ReactionConfig

    small_path = compact.shrink_model(SHIPPED, tmp_path / "d2", decoder_heads=2)
    info = read_model_info(small_path)
    config = ReactionConfig.from_dict(info.config)
    assert (config.heads, config.ff_size, config.n_decoder_heads, config.n_decoder_ff, config.head_width) == (4, 384, 2, 384, 48)
    assert "decoder 2 of 4 heads" in info.notes
    shrunk = load_safetensors(small_path / WEIGHTS_NAME)
    assert shrunk["encoder.transformer_layers.0.self_attn.linear_query.weight"].shape == (192, 192)
    assert shrunk["decoder.transformer_layers.2.context_attn.linear_query.weight"].shape == (96, 192)
    assert shrunk["decoder.transformer_layers.2.self_attn.final_linear.weight"].shape == (192, 96)
    structure = compact.magnitude_structure(weights, 48, heads=4, neurons=384, decoder_heads=2)
    assert structure.counts() == {"encoder": (4, 384), "decoder": (2, 384)}
    save_model_folder(tmp_path / "masked", read_model_info(SHIPPED), compact.masked_weights(weights, structure, 48))
    a, b = load_model(small_path), load_model(tmp_path / "masked")
    assert "4 + 2 heads, ff 384" in repr(a)
    # 6 decoder attention modules lose 2 heads each (4 x 48 x 192 weights + 3 x 48 biases per head)
    assert load_model(SHIPPED).num_parameters - a.num_parameters == 6 * 2 * (4 * 48 * 192 + 3 * 48)
    for x, y in zip(a.predict(INPUTS, k=5), b.predict(INPUTS, k=5)):
        assert [c.smiles for c in x.candidates] == [c.smiles for c in y.candidates]
        assert [c.score for c in x.candidates] == pytest.approx([c.score for c in y.candidates], abs=1e-5)
    # shrinking again starts from what the decoder has now; heads alone still shrinks both sides
    again = ReactionConfig.from_dict(read_model_info(compact.shrink_model(small_path, tmp_path / "n", neurons=192)).config)
    assert (again.heads, again.n_decoder_heads, again.ff_size, again.n_decoder_ff) == (4, 2, 192, 192)
    both = ReactionConfig.from_dict(read_model_info(compact.shrink_model(SHIPPED, tmp_path / "h3", heads=3)).config)
    assert (both.heads, both.n_decoder_heads) == (3, 3) and both.decoder_heads == 0
