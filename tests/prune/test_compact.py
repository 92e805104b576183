import pytest
import torch
from torch import nn

from chemaccel.errors import ModelFileError
from chemaccel.prune.compact import CompactionError, compact
from chemaccel.prune.measure import count_params
from chemaccel.prune.models import build_model, default_architecture, sequential_spec
from chemaccel.prune.storage import load_pruned, save_pruned


def _zero_units(model, fraction=0.5, seed=0):
    """Zero whole output units (weights, bias, following BN) as structured AutoPrune leaves them."""
    g = torch.Generator().manual_seed(seed)
    layers = [m for m in model if isinstance(m, (nn.Linear, nn.Conv2d))][:-1]
    with torch.no_grad():
        for layer in layers:
            n = layer.weight.shape[0]
            drop = torch.randperm(n, generator=g)[: int(n * fraction)]
            layer.weight[drop] = 0
            layer.bias[drop] = 0
            idx = list(model).index(layer)
            if idx + 1 < len(model) and isinstance(model[idx + 1], nn.BatchNorm2d):
                model[idx + 1].weight[drop] = 0
                model[idx + 1].bias[drop] = 0
                model[idx + 1].running_mean.uniform_(-1, 1)
                model[idx + 1].running_var.uniform_(0.5, 2)
    return model


@pytest.mark.parametrize("kind", ["lenet300", "lenet5", "cnn"])
def test_compaction_keeps_outputs_and_shrinks(kind):
    torch.manual_seed(0)
    model = _zero_units(build_model(default_architecture(kind))).eval()
    x = torch.randn(5, 1, 28, 28)
    small, widths = compact(model)
    small.eval()
    assert torch.allclose(model(x), small(x), atol=1e-5)
    assert count_params(small) < 0.6 * count_params(model)
    assert widths == [w // 2 + w % 2 for w in default_architecture(kind)["widths"]]


def test_compacted_round_trip_at_pruned_shape(tmp_path):
    torch.manual_seed(0)
    arch = default_architecture("lenet5")
    model = _zero_units(build_model(arch)).eval()
    small, _ = compact(model)
    folder = save_pruned(tmp_path / "m", small, arch, granularity="structured", compacted=True)
    loaded, info = load_pruned(folder)
    assert info.architecture["model"]["widths"] == [10, 25, 250]
    x = torch.randn(3, 1, 28, 28)
    assert torch.allclose(loaded(x), small.eval()(x), atol=1e-6)
    assert (folder / "model.safetensors").stat().st_size < 0.4 * 4 * count_params(model)
    import chemaccel.api

    assert isinstance(chemaccel.api.load_model(folder), nn.Module)


def test_sequential_spec_round_trip(tmp_path):
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6, 3)).eval()
    spec = sequential_spec(model)
    folder = save_pruned(tmp_path / "s", model, spec, granularity="unstructured", compacted=False,
                         input_shape=(2, 8))
    loaded, _ = load_pruned(folder)
    x = torch.randn(2, 2, 8)
    assert torch.allclose(loaded(x), model(x))


def test_unsupported_graph_is_clear():
    class Residual(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(CompactionError, match="Residual"):
        compact(nn.Sequential(nn.Linear(3, 3), Residual(), nn.Linear(3, 2)))
    with pytest.raises(CompactionError, match="nn.Sequential"):
        compact(nn.Linear(3, 3))
    with pytest.raises(CompactionError, match="Sigmoid"):
        compact(nn.Sequential(nn.Linear(3, 3), nn.Sigmoid(), nn.Linear(3, 2)))


def test_mismatched_weights_are_a_model_file_error(tmp_path):
    arch = default_architecture("lenet300")
    folder = save_pruned(tmp_path / "m", build_model(arch), arch, granularity="unstructured", compacted=False)
    import json

    cfg = json.loads((folder / "config.json").read_text())
    cfg["architecture"]["model"]["widths"] = [10, 10]
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="config.json does not match the weights"):
        load_pruned(folder)
