"""AutoPrune of heads and neurons inside eole training (chemaccel.reaction.unit_prune)."""

import pytest
import torch

from chemaccel.checkpoint import read_model_info
from chemaccel.errors import ConfigError
from chemaccel.reaction import ReactionConfig, ReactionTrainer, load_model
from chemaccel.reaction.eole_bridge import complete_checkpoints
from chemaccel.reaction.unit_prune import GatePhase, UnitPruneConfig, read_gates, unit_costs
from chemaccel.reporting import RecordingReporter
from chemaccel.runtime import RuntimeConfig
from tests.reaction.conftest import TINY

CPU = RuntimeConfig(device="cpu")
#: presses hard from the first step so a few steps close units
FAST = UnitPruneConfig(budget=0.5, ramp_fraction=1.0, lambda_init=3.0, lambda_rate=0.5, gate_lr=0.02,
                       schedule_every=1)


def _net(tiny_model):
    return load_model(tiny_model)._engine.predictor.model


def test_unit_costs_are_the_parameters_a_unit_takes_with_it(tiny_model):
    net = _net(tiny_model)
    phase = GatePhase(net, 16, UnitPruneConfig(), total_steps=10)
    costs = unit_costs(net, phase.gates)
    d, hd = 32, 16
    modules = dict(net.named_modules())
    for key, cost in costs.items():
        module = modules[phase.gates._names[key]]
        if key in phase.gates.heads:  # query, key and value rows (with biases) and output columns of one head
            linears = [n for n, c in module.named_children() if isinstance(c, torch.nn.Linear)]
            assert linears == ["linear_keys", "linear_values", "linear_query", "final_linear"]
            assert cost.tolist() == [4 * d * hd + 3 * hd] * 2  # 2,096 of the module's 4,224 (the output bias stays)
        else:  # its gate_up_proj row (with bias) and its down_proj column (the output bias stays)
            assert module.gate_up_proj.weight.shape == (64, d) and module.gate_up_proj.bias is not None
            assert cost.tolist() == [d + 1 + d] * 64
    assert phase.kept() == pytest.approx(1.0)
    with torch.no_grad():  # close every neuron but one of each block: only the heads' parameters stay (+ 1 each)
        for m in phase.gates.neurons.values():
            m.fill_(-0.01)
            m[0] = 0.01
    head_total = sum(float(costs[k].sum()) for k in phase.gates.heads)
    one_neuron = sum(float(costs[k][0]) for k in phase.gates.neurons)
    assert phase.kept() == pytest.approx((head_total + one_neuron) / phase.total_cost)
    phase.gates.remove()


def test_gates_start_by_magnitude_within_the_bound(tiny_model):
    net = _net(tiny_model)
    phase = GatePhase(net, 16, UnitPruneConfig(gate_init=0.05), total_steps=10)
    values = torch.cat([p.detach() for p in phase._params])
    assert float(values.max()) == pytest.approx(0.05) and float(values.min()) > 0  # all open, the strongest at 0.05
    assert len(set(values.tolist())) > 10  # graded by magnitude
    phase.gates.remove()


@pytest.mark.parametrize("changes", [dict(budget=1.0), dict(budget=0), dict(ramp_fraction=0), dict(gate_lr=-1),
                                     dict(lambda_rate=1.5), dict(schedule_every=0)])
def test_config_rejects_out_of_range(changes):
    with pytest.raises(ConfigError, match="unit pruning"):
        UnitPruneConfig(**changes)
    with pytest.raises(ConfigError, match="unknown unit pruning config key"):
        UnitPruneConfig.from_dict({"budgte": 0.5})


def test_gated_training_writes_a_compact_model_and_resumes_its_gates(tmp_path, uspto_tiny, tiny_model):
    cfg = ReactionConfig(**{**TINY, "steps": 8, "save_every": 4, "valid_every": 100})
    out = tmp_path / "pruned"
    first = ReactionTrainer(cfg, uspto_tiny, out, runtime=CPU, init_from=tiny_model, prune=FAST)
    assert first.run(RecordingReporter(stop_after=4)).cancelled
    (step, folder), = [c for c in complete_checkpoints(first.work) if c[0] == 4]
    saved = read_gates(folder)
    assert len(saved) == 3 + 2  # encoder self-attention, decoder self- and context attention; two blocks
    reporter = RecordingReporter()
    result = ReactionTrainer(cfg, uspto_tiny, out, runtime=CPU, init_from=tiny_model, prune=FAST).run(
        reporter, resume=True)
    assert result.last_step == 8 and not result.cancelled
    assert [s for s, _, _ in reporter.progress] == [5, 6, 7, 8]
    assert all({"kept_heads", "kept_neurons", "lambda_heads", "lambda_neurons"} <= set(metrics)
               for _, _, metrics in reporter.progress)
    final = read_gates(complete_checkpoints(first.work)[-1][1])
    assert any(not torch.equal(final[k], saved[k]) for k in saved)  # the gates went on from step 4's state
    info = read_model_info(out)
    small = ReactionConfig.from_dict(info.config)
    shape = (small.heads, small.ff_size, small.n_decoder_heads, small.n_decoder_ff)
    assert shape != (2, 64, 2, 64) and min(shape) >= 1 and max(shape[1], shape[3]) <= 64  # what the gates left open
    assert any("compacted to" in m for m in reporter.messages)
    # per side, the mean open count per module, as UnitGates.structure() takes it
    for where, ff in (("encoder", small.ff_size), ("decoder", small.n_decoder_ff)):
        open_ff = [int((v > 0).sum()) for k, v in final.items() if k.endswith("mlp") and k.startswith(where)]
        assert ff == max(1, round(sum(open_ff) / len(open_ff)))
    assert load_model(out).predict(["CCO.CC(=O)O"], k=2)[0].status == "ok"


def test_pruning_needs_a_model_to_start_from(tmp_path, uspto_tiny):
    with pytest.raises(ConfigError, match="starts from a trained model"):
        ReactionTrainer(ReactionConfig(**TINY), uspto_tiny, tmp_path / "x", runtime=CPU, prune=FAST)


def test_cli_prune_budget(tmp_path, uspto_tiny, tiny_model, capsys):
    import json

    from chemaccel.cli import main

    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({k: TINY[k] for k in ("layers", "hidden_size", "heads", "ff_size", "batch_tokens",
                                                    "max_tokens")}))
    base = ["--device", "cpu", "reaction", "train", "--data", str(uspto_tiny), "--steps", "2", "--config", str(cfg)]
    out = tmp_path / "gated"
    assert main([*base, "--init-from", str(tiny_model), "--prune-budget", "0.5", "-o", str(out)]) == 0
    assert "saved" in capsys.readouterr().out
    assert (out / "model.safetensors").is_file() and "heads per attention module" in read_model_info(out).notes
    for extra, message in ((["--prune-budget", "1.5", "--init-from", str(tiny_model)], "budget"),
                           (["--prune-budget", "0.5"], "starts from a trained model"),
                           (["--prune-budget", "0.5", "--init-from", str(tiny_model), "--keep-heads", "1"],
                            "not with --keep-heads")):
        assert main([*base, *extra, "-o", str(tmp_path / "bad")]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_uniform_gating_is_the_compact_model(tmp_path, tiny_model):
    """Under eole's one-count-per-module rule the gated model computes what its compact export computes,
    even while the modules' own open counts differ."""
    from chemaccel.reaction.compact import shrink_model
    from chemaccel.reaction.unit_gates import UnitGates

    gated = load_model(tiny_model)
    gated.info.metrics.pop("confidence", None)
    net = gated._engine.predictor.model
    gates = UnitGates(net, head_dim=16)
    gates.uniform = True
    head_gates = {"encoder__transformer_layers__0__self_attn": [-0.02, 0.04],  # encoder: 1 open
                  "decoder__transformer_layers__0__self_attn": [0.03, 0.01],  # decoder: 2 and 1 open, mean
                  "decoder__transformer_layers__0__context_attn": [0.03, -0.01]}  # 1.5 -> both keep 2
    neuron_gates = {"encoder__transformer_layers__0__mlp": torch.linspace(-1, 1, 64) + 0.25,  # 40 open
                    "decoder__transformer_layers__0__mlp": -torch.linspace(-1, 1, 64) - 0.375}  # 20 open
    assert set(gates.heads) == set(head_gates) and set(gates.neurons) == set(neuron_gates)
    with torch.no_grad():
        for key, values in {**head_gates, **neuron_gates}.items():
            (gates.heads if key in head_gates else gates.neurons)[key].copy_(torch.as_tensor(values))
    assert {k: int(gates.open_mask(gates.heads, k).sum()) for k in gates.heads} == {
        "encoder__transformer_layers__0__self_attn": 1, "decoder__transformer_layers__0__self_attn": 2,
        "decoder__transformer_layers__0__context_attn": 2}
    assert {k: int(gates.open_mask(gates.neurons, k).sum()) for k in gates.neurons} == {
        "encoder__transformer_layers__0__mlp": 40, "decoder__transformer_layers__0__mlp": 20}
    structure = gates.structure()
    assert structure.counts() == {"encoder": (1, 40), "decoder": (2, 20)}
    small = load_model(shrink_model(tiny_model, tmp_path / "small", structure=structure))
    inputs = ["CCO.CC(=O)O", "CC(=O)Cl.Nc1ccccc1"]
    for x, y in zip(gated.predict(inputs, k=2), small.predict(inputs, k=2)):
        assert [c.smiles for c in x.candidates] == [c.smiles for c in y.candidates]
        assert [c.score for c in x.candidates] == pytest.approx([c.score for c in y.candidates], abs=1e-5)
    # an open gate (m > 0) that the rule drops still learns: its gradient passes straight through
    key = next(iter(gates.heads))
    layer = dict(net.named_modules())[gates._names[key]]
    with torch.enable_grad():
        layer.final_linear(torch.randn(2, 3, 32)).pow(2).sum().backward()
    assert gates.heads[key].grad is not None and bool((gates.heads[key].grad != 0).all())
    gates.remove()


def test_each_kind_has_its_own_controller(tiny_model):
    net = _net(tiny_model)
    phase = GatePhase(net, 16, UnitPruneConfig(budget=0.5, ramp_fraction=1.0, schedule_every=1, uniform=False),
                      total_steps=10)
    with torch.no_grad():  # every head closed but one per module; every neuron open
        for m in phase.gates.heads.values():
            m.copy_(torch.tensor([0.01, -0.01]))
    assert phase.kept("heads") == pytest.approx(0.5) and phase.kept("neurons") == pytest.approx(1.0)
    for p in phase._params:
        p.grad = torch.zeros_like(p)
    phase.synchronize()  # step 1: target 0.5 ** 0.1 = 0.93; heads below it (lambda down), neurons above (up)
    lam = phase.metrics()
    assert lam["lambda_heads"] < UnitPruneConfig().lambda_init < lam["lambda_neurons"]
    phase.gates.remove()


def test_gates_freeze_once_the_ramp_is_done(tiny_model):
    net = _net(tiny_model)
    phase = GatePhase(net, 16, UnitPruneConfig(ramp_fraction=0.5, gate_lr=0.01), total_steps=10)
    assert phase.ramp_steps == 5
    seen = []
    for _ in range(8):
        for p in phase._params:
            p.grad = torch.randn_like(p)
        phase.synchronize()
        seen.append(torch.cat([p.detach().clone() for p in phase._params]))
    assert not torch.equal(seen[3], seen[4])  # still learning on the ramp's last step
    assert all(torch.equal(seen[4], later) for later in seen[5:])  # then fixed: only the weights train
    assert phase.state.frozen
    phase.gates.remove()


def test_decoder_heads_scope_gates_only_the_decoders_heads_and_exports_a_whole_encoder(tmp_path, uspto_tiny, tiny_model):
    """``scope="decoder-heads"``: the only gates are on the decoder's attention heads (where a decoding step's
    time goes); the encoder and every feed-forward block keep all their units, in training and in the export."""
    phase = GatePhase(_net(tiny_model), 16, UnitPruneConfig(scope="decoder-heads"), total_steps=10)
    assert sorted(phase.gates.heads) == ["decoder__transformer_layers__0__context_attn",
                                         "decoder__transformer_layers__0__self_attn"]
    assert len(phase.gates.neurons) == 0 and phase.kinds == ["heads"]
    assert set(phase.metrics()) == {"kept_heads", "lambda_heads"}
    phase.gates.remove()

    cfg = ReactionConfig(**{**TINY, "steps": 6, "save_every": 6, "valid_every": 100})
    prune = UnitPruneConfig(**{**FAST.to_dict(), "scope": "decoder-heads"})
    reporter = RecordingReporter()
    ReactionTrainer(cfg, uspto_tiny, tmp_path / "pruned", runtime=CPU, init_from=tiny_model, prune=prune).run(reporter)
    gates = read_gates(complete_checkpoints(tmp_path / "pruned.work")[-1][1])
    open_heads = [int((m > 0).sum()) for m in gates.values()]
    small = ReactionConfig.from_dict(read_model_info(tmp_path / "pruned").config)
    assert (small.heads, small.ff_size, small.n_decoder_ff) == (TINY["heads"], TINY["ff_size"], TINY["ff_size"])
    assert small.n_decoder_heads == max(1, round(sum(open_heads) / len(open_heads))) < TINY["heads"]
    assert any("compacted to encoder 2 heads and 64 neurons per module; decoder 1 heads" in m for m in reporter.messages)
    assert load_model(tmp_path / "pruned").predict(["CCO.CC(=O)O"], k=2)[0].status == "ok"


def test_scope_is_checked(tmp_path, tiny_model):
    with pytest.raises(ConfigError, match="scope must be one of all, decoder, decoder-heads"):
        UnitPruneConfig(scope="encoder")
    saved = GatePhase(_net(tiny_model), 16, UnitPruneConfig(), total_steps=10)
    saved.save(tmp_path)
    saved.gates.remove()
    other = GatePhase(_net(tiny_model), 16, UnitPruneConfig(scope="decoder-heads"), total_steps=10)
    with pytest.raises(ConfigError, match="gated 'all', not 'decoder-heads': resume it with the same --prune-scope"):
        other.load(tmp_path)
    other.gates.remove()


def test_training_script_scores_each_gated_checkpoint_compacted(tmp_path, uspto_tiny):
    """scripts/train_reaction.py with --prune-budget scores every checkpoint as the compact model its gates
    leave (the path a decoder-heads run crashed on when only some modules had gates)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    work, out = tmp_path / "work", tmp_path / "model"
    run = subprocess.run(
        [sys.executable, str(root / "scripts" / "train_reaction.py"), "--data", str(uspto_tiny), "-o", str(out),
         "--work", str(work), "--init-from", str(root / "resources" / "models" / "uspto-forward-reagents"),
         "--steps", "2", "--save-every", "2", "--curve-n", "2", "--warmup", "1", "--lr", "0.1", "--batch-tokens", "512",
         "--min-token-count", "20", "--prune-budget", "0.5", "--prune-scope", "decoder-heads", "--device", "cpu"],
        capture_output=True, text=True, timeout=600, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    curve = json.loads((work / "curve.json").read_text())
    assert [row["step"] for row in curve] == [2] and curve[0]["valid_n"] == 2
    small = ReactionConfig.from_dict(read_model_info(out).config)
    assert (small.heads, small.ff_size, small.n_decoder_ff) == (4, 384, 384)  # only the decoder's heads gated


def test_training_script_trains_a_compact_model_at_its_own_shape(tmp_path, uspto_tiny):
    """--init-from a compacted model (the decoder at 2 heads) without a --keep-* flag: the script takes the
    model's shape instead of refusing the preset's (a second leg on a compact model)."""
    import subprocess
    import sys
    from pathlib import Path

    from chemaccel.reaction.compact import shrink_model

    root = Path(__file__).resolve().parents[2]
    small = shrink_model(root / "resources" / "models" / "uspto-forward-reagents", tmp_path / "dec2", decoder_heads=2)
    out = tmp_path / "model"
    run = subprocess.run(
        [sys.executable, str(root / "scripts" / "train_reaction.py"), "--data", str(uspto_tiny), "-o", str(out),
         "--work", str(tmp_path / "work"), "--init-from", str(small), "--steps", "1", "--save-every", "1",
         "--curve-n", "0", "--warmup", "1", "--lr", "0.01", "--batch-tokens", "512", "--device", "cpu"],
        capture_output=True, text=True, timeout=600, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    trained = ReactionConfig.from_dict(read_model_info(out).config)
    assert (trained.heads, trained.n_decoder_heads, trained.ff_size) == (4, 2, 384)
