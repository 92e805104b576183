"""chemaccel's faster beam search gives eole's beams and scores (the shipped model, several beam sizes)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("eole", reason="the reaction engine needs eole (chemaccel[reaction])")

import torch  # noqa: E402

from chemaccel.reaction import fast_beam_search, load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "resources" / "models" / "uspto-forward-reagents"
EXAMPLES = (ROOT / "resources" / "examples" / "reactions.txt").read_text().splitlines()
REACTIONS = [line.split()[0] for line in EXAMPLES if line.strip() and not line.startswith("#")]
# sources of different lengths and a repeated one, so sources finish at different steps within a batch
BATCH = REACTIONS + ["CC(=O)O.OCC", "c1ccccc1.ClC(=O)CCCCCCCCC", "CCO", "CC(=O)Cl.NCCc1ccc(O)cc1"]


@pytest.fixture(scope="module")
def model():
    return load_model(SHIPPED, device="cpu")


def predictions(model, fast: bool, k: int, batch_size: int = 128):
    model.use_fast_beam_search(fast)
    return model.predict(BATCH, k=k, batch_size=batch_size, rank=False)


def test_the_cpu_model_uses_it_and_every_attention_module_is_covered(model):
    net = model._engine.predictor.model
    assert model.fast_beam_search
    # 3 encoder self-attentions + 3 decoder layers x (self + context attention)
    assert fast_beam_search.disable(net) == 9 and not model.fast_beam_search
    assert fast_beam_search.enable(net) == 9 and model.fast_beam_search


@pytest.mark.parametrize("k, batch_size", [(5, 128), (3, 2), (1, 128), (10, 4)])
def test_the_same_beams_and_scores_as_eole(model, k, batch_size):
    assert len(REACTIONS) >= 3
    reference = predictions(model, False, k, batch_size)
    fast = predictions(model, True, k, batch_size)
    for ref, new in zip(reference, fast, strict=True):
        assert [c.smiles for c in new.candidates] == [c.smiles for c in ref.candidates]
        assert [c.score for c in new.candidates] == pytest.approx([c.score for c in ref.candidates], abs=1e-5)


def test_equal_sources_share_one_cross_attention_cache(model):
    rows = torch.randn(3, 7, 8)
    assert fast_beam_search._source_group(rows.repeat_interleave(5, dim=0)) == 5
    assert fast_beam_search._source_group(rows) == 1
    same = torch.randn(1, 7, 8).expand(4, 7, 8).contiguous()
    assert fast_beam_search._source_group(same) == 4  # all equal: any grouping is exact


def test_training_and_attention_weights_take_eoles_path(model):
    module = next(m for m in model._engine.predictor.model.modules()
                  if vars(m).get(fast_beam_search._FLAG) and fast_beam_search._is_attention(m))
    query = torch.zeros(1, 1, 1, 1)
    assert not fast_beam_search._eole_path(module, query, return_attn=False)
    assert fast_beam_search._eole_path(module, query, return_attn=True)
    module.train()
    try:
        assert fast_beam_search._eole_path(module, query, return_attn=False)
    finally:
        module.eval()


class _Module:
    kcache = vcache = None


def test_the_time_major_self_attention_cache_reorders_only_its_filled_positions():
    key, value = torch.randn(4, 6, 2, 3), torch.randn(4, 6, 2, 3)
    module = _Module()
    cache = fast_beam_search._TimeMajorCache(key, value)
    module.kcache, module.vcache = cache.views()
    assert cache.holds(module) and torch.equal(module.kcache, key) and torch.equal(module.vcache, value)
    selected = torch.tensor([2, 2, 0, 3])
    cache.reorder(module, selected, filled=3)
    assert cache.holds(module)
    assert torch.equal(module.kcache[:, :3], key[selected, :3])
    assert torch.equal(module.vcache[:, :3], value[selected, :3])
    module.kcache[:, 3] = 7.0  # eole writes the next step's keys into the view: they land in the cache
    assert torch.equal(cache.key[3], torch.full((4, 2, 3), 7.0))
    before = module.kcache[:, :4].clone()
    cache.reorder(module, torch.tensor([3, 1]), filled=4)  # two sources finished: fewer rows
    assert module.kcache.shape == (2, 6, 2, 3) and cache.holds(module)
    assert torch.equal(module.kcache[:, :4], before[[3, 1]])
    kept = module.kcache
    cache.reorder(module, torch.arange(2), filled=4)  # nothing moves: nothing copied
    assert module.kcache is kept
    cache.grow(module, 9, filled=4)  # eole's cache growing by positions: the filled ones kept
    assert module.kcache.shape == (2, 9, 2, 3) and cache.holds(module)
    assert torch.equal(module.kcache[:, :4], before[[3, 1]])
    module.kcache[:, 4:] = float("nan")  # unfilled positions may hold anything until eole's own attention
    cache.clear_from(4)  # reads them: then they are zeros, and the filled ones untouched
    assert not module.kcache[:, 4:].any() and not module.vcache[:, 4:].any()
    assert torch.equal(module.kcache[:, :4], before[[3, 1]])
