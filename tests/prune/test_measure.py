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


def test_layer_rows_count_weights_and_biases_by_hand():
    """lenet300's three Linear layers: 784x300, 300x100, 100x10 with biases; zeros counted apart."""
    model = build_model(default_architecture("lenet300")).eval()
    with torch.no_grad():
        model[1].weight[:, :84] = 0  # 300 * 84 weights of the first layer
        model[1].bias[:50] = 0
    model[3].bias = None  # a layer without a bias: only its weights count
    rows = layer_stats(model, torch.randn(1, 1, 28, 28))
    assert [(r.params, r.nonzero) for r in rows] == [(784 * 300 + 300, 700 * 300 + 250), (300 * 100, 300 * 100),
                                                     (100 * 10 + 10, 100 * 10 + 10)]
    assert [r.positions for r in rows] == [1, 1, 1]
    assert rows[0].flops_dense == 2 * 784 * 300 and rows[0].flops == 2 * 700 * 300


def test_conv_positions_and_flops_scale_with_the_batch():
    """lenet5's first conv: 20 filters of 1x5x5 on 28x28 -> 24x24 positions; a batch of 3 triples the FLOPs."""
    model = build_model(default_architecture("lenet5")).eval()
    one = layer_stats(model, torch.randn(1, 1, 28, 28))[0]
    three = layer_stats(model, torch.randn(3, 1, 28, 28))[0]
    assert one.positions == three.positions == 24 * 24
    assert one.flops_dense == 2 * 24 * 24 * 20 * 25 and three.flops_dense == 3 * one.flops_dense


def test_latency_is_in_milliseconds():
    import time as clock

    class Sleeps(torch.nn.Module):
        def forward(self, x):
            clock.sleep(0.005)
            return x

    from chemaccel.prune.measure import latency_ms

    assert 5.0 <= latency_ms(Sleeps(), torch.zeros(1), repeats=3, warmup=0) < 500.0


def test_measure_passes_its_repeats_and_batch_and_reports_them(monkeypatch):
    import chemaccel.prune.measure as m

    calls = []
    monkeypatch.setattr(m, "latency_ms", lambda model, batch, repeats: calls.append((len(batch), repeats)) or 2.0)
    model = build_model(default_architecture("lenet300"))
    stats = m.measure(model, torch.randn(1, 1, 28, 28), reference=build_model(default_architecture("lenet300")),
                      latency_repeats=1, latency_batch=4)
    assert calls == [(4, 1), (4, 1)]  # the model, then the dense reference, each on a batch of 4
    assert stats["latency_ms"] == stats["latency_dense_ms"] == 2.0 and stats["latency_batch"] == 4
    calls.clear()
    alone = m.measure(model, torch.randn(1, 1, 28, 28))
    assert calls == [(1, 50)] and "latency_dense_ms" not in alone  # defaults: 50 repeats, batch 1, no reference
    assert alone["params_stored"] == alone["params_total"] == 266610


def test_compression_of_a_model_with_no_weight_left():
    model = build_model(default_architecture("lenet300"))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    stats = measure(model, torch.randn(1, 1, 28, 28), latency_repeats=0)
    assert stats["params_nonzero"] == 0 and stats["compression"] == 266610.0  # divided by 1, not by 0
    assert "latency_ms" not in stats


def test_table_header_and_totals_line():
    model = build_model(default_architecture("lenet300"))
    stats = measure(model, torch.randn(1, 1, 28, 28), latency_repeats=0)
    lines = format_table(stats).splitlines()
    assert lines[0].split() == ["layer", "type", "shape", "params", "nonzero", "sparsity", "MFLOPs", "dense"]
    assert lines[-1].startswith("params 266610 non-zero of 266610 (1.0x compression, 266610 stored)")
