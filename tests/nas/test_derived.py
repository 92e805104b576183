import json

import pytest
import torch

from chemaccel.api import load_model
from chemaccel.errors import ModelFileError
from chemaccel.nas.derived import DerivedNetwork, count_params, count_skip_ops
from chemaccel.nas.genotype import Genotype
from chemaccel.nas.storage import load_nas, save_nas

GENOTYPE = Genotype.from_dict({
    "normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["dil_conv_3x3", 0], ["skip_connect", 2]],
    "normal_concat": [2, 3],
    "reduce": [["max_pool_3x3", 0], ["skip_connect", 1], ["avg_pool_3x3", 2], ["sep_conv_5x5", 1]],
    "reduce_concat": [2, 3]})


def test_forward_shape_params_and_skips():
    net = DerivedNetwork(GENOTYPE, 1, 10, 4, 5)
    assert net(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert count_params(net) == sum(p.numel() for p in net.parameters()) > 0
    assert count_skip_ops(net) == [2, 1, 2, 1, 2]
    net.set_drop_path(0.3)
    net.train()
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    net = DerivedNetwork(GENOTYPE, 1, 4, 4, 3)
    x = torch.randn(5, 1, 12, 12)
    net.train()
    net(x)  # move the BN statistics away from their initial values
    net.eval()
    folder = save_nas(tmp_path / "m", net, input_shape=(1, 12, 12), normalization=(0.3, 0.4),
                      metrics={"test_accuracy": 0.5})
    info = json.loads((folder / "config.json").read_text())
    assert info["engine"] == "nas" and info["architecture"]["model"]["genotype"] == GENOTYPE.to_dict()
    assert info["metrics"]["test_accuracy"] == 0.5
    loaded = load_model(folder)
    assert isinstance(loaded, DerivedNetwork) and not loaded.training
    with torch.no_grad():
        assert torch.equal(net(x), loaded(x))


def test_a_tampered_genotype_in_the_model_folder_is_a_model_file_error(tmp_path):
    folder = save_nas(tmp_path / "m", DerivedNetwork(GENOTYPE, 1, 4, 4, 3), input_shape=(1, 12, 12),
                      normalization=None)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["architecture"]["model"]["genotype"]["normal"][0] = ["__import__('os').system('true')", 0]
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="unknown operation"):
        load_nas(folder)
    cfg["architecture"]["model"]["genotype"]["normal"][0] = ["sep_conv_3x3", 5]
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="impossible edge"):
        load_model(folder)


def test_demo_step_prints_the_genotype_or_says_it_is_missing(tmp_path):
    from chemaccel.demo import nas_demo

    assert "missing" in nas_demo(tmp_path / "nas-fashion")[0]
    save_nas(tmp_path / "nas-fashion", DerivedNetwork(GENOTYPE, 1, 10, 4, 3), input_shape=(1, 28, 28),
             normalization=(0.29, 0.35), metrics={"test_accuracy": 0.9312})
    lines = nas_demo(tmp_path / "nas-fashion")
    assert lines[0].strip().startswith("normal: n2 <- sep_conv_3x3(0)") and "reduce:" in lines[1]
    assert "test accuracy 0.9312" in lines[-1] and "{'normal': 2, 'reduce': 1}" in lines[-1]


def test_the_shipped_size_keeps_any_genotype_under_one_million_parameters():
    # sep_conv_5x5 is the largest operation: 8 cells at C=20 stay under 1M whatever the search finds
    heavy = [["sep_conv_5x5", i] for i in (0, 1, 0, 1, 1, 0, 0, 2)]
    g = Genotype.from_dict({"normal": heavy, "normal_concat": [2, 3, 4, 5], "reduce": heavy,
                            "reduce_concat": [2, 3, 4, 5]})
    assert count_params(DerivedNetwork(g, 1, 10, 20, 8)) == 724_270
    assert count_params(DerivedNetwork(g, 1, 10, 24, 8)) > 1_000_000
