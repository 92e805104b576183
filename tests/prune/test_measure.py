import torch
from torch.utils.flop_counter import FlopCounterMode

from chemaccel.prune.measure import effective_flops, format_table, layer_stats, measure
from chemaccel.prune.models import build_model, default_architecture


def _reference_flops(model, x):
    with FlopCounterMode(display=False) as fc:
        model(x)
    return fc.get_total_flops()


def test_flops_match_flop_counter_on_dense_models():
    x = torch.randn(1, 1, 28, 28)
    for kind in ("lenet300", "lenet5", "cnn"):
        model = build_model(default_architecture(kind)).eval()
        eff, counted = effective_flops(model, x)
        ref = _reference_flops(model, x)
        assert eff == counted == ref
        assert sum(r.flops_dense for r in layer_stats(model, x)) == ref


def test_masked_flops_count_only_kept_weights():
    model = build_model(default_architecture("lenet5")).eval()
    with torch.no_grad():
        model[2].weight[:, :10] = 0  # half of conv2's input channels
    x = torch.randn(1, 1, 28, 28)
    eff, counted = effective_flops(model, x)
    conv2 = 2 * 8 * 8 * 50 * 20 * 25
    assert counted - eff == conv2 // 2


def test_measure_dict_and_table():
    model = build_model(default_architecture("lenet300"))
    with torch.no_grad():
        model[1].weight.zero_()
    stats = measure(model, torch.randn(1, 1, 28, 28), reference=build_model(default_architecture("lenet300")),
                    latency_repeats=3)
    assert stats["params_total"] == 266610
    assert stats["params_nonzero"] == 266610 - 784 * 300
    assert abs(stats["compression"] - 266610 / stats["params_nonzero"]) < 1e-9
    assert 0 < stats["flops_fraction"] < 0.2 and stats["latency_ms"] > 0
    text = format_table(stats)
    assert "compression" in text and "Linear" in text
