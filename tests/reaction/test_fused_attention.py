"""Beam search through the fused attention kernel gives eole's beams and scores (the shipped model)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("eole", reason="the reaction engine needs eole (chemaccel[reaction])")

from chemaccel.reaction import fused_attention, load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "resources" / "models" / "uspto-forward-small"
EXAMPLES = (ROOT / "resources" / "examples" / "reactions.txt").read_text().splitlines()
REACTIONS = [line.split()[0] for line in EXAMPLES if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def model():
    return load_model(SHIPPED, device="cpu")


def test_the_cpu_model_uses_it_and_every_attention_module_is_covered(model):
    net = model._engine.predictor.model
    assert model.fused_attention
    # 3 encoder self-attentions + 3 decoder layers x (self + context attention)
    assert fused_attention.disable(net) == 9 and not model.fused_attention
    assert fused_attention.enable(net) == 9 and model.fused_attention


def test_the_same_beams_and_scores_as_eoles_attention(model):
    assert len(REACTIONS) >= 3
    model.use_fused_attention(False)
    reference = model.predict(REACTIONS, k=5, rank=False)
    model.use_fused_attention(True)
    fused = model.predict(REACTIONS, k=5, rank=False)
    for ref, new in zip(reference, fused, strict=True):
        assert [c.smiles for c in new.candidates] == [c.smiles for c in ref.candidates]
        assert [c.score for c in new.candidates] == pytest.approx([c.score for c in ref.candidates], abs=1e-5)


def test_training_and_attention_weights_take_eoles_path(model):
    import torch

    module = next(m for m in model._engine.predictor.model.modules() if vars(m).get(fused_attention._FLAG))
    query = torch.zeros(1, 1, 1, 1)
    assert not fused_attention._eole_path(module, query, return_attn=False)
    assert fused_attention._eole_path(module, query, return_attn=True)
    module.train()
    try:
        assert fused_attention._eole_path(module, query, return_attn=False)
    finally:
        module.eval()
