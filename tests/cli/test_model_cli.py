import json
import pickle

import pytest
import torch

from chemaccel.checkpoint import ModelInfo, save_model_folder
from chemaccel.cli import main


def test_model_info_reads_folder(tmp_path, capsys):
    weights = {"a.weight": torch.tensor([[1.0, 0.0], [0.0, 2.0]]), "a.bias": torch.zeros(2)}
    save_model_folder(tmp_path / "m", ModelInfo(engine="test", config={}, units={"y": "eV"}), weights)
    assert main(["model", "info", str(tmp_path / "m"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["engine"], out["params"], out["params_nonzero"], out["units"]) == ("test", 6, 2, {"y": "eV"})


def test_pickled_model_is_refused_with_one_line(tmp_path, capsys):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(Evil()))
    assert main(["model", "info", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusing to load a pickled file" in err and str(path) in err
    assert not marker.exists()


def _fake_shipped(root):
    weights = {"a.weight": torch.ones(2, 2)}
    for name, engine in (("alpha-model", "test"), ("beta-model", "test2")):
        save_model_folder(root / name, ModelInfo(engine=engine, config={}, notes=f"the {name}"), weights)
    (root / "not-a-model").mkdir()
    return root


def test_models_list_and_path_find_the_shipped_models_by_name(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CHEMACCEL_MODELS", str(_fake_shipped(tmp_path / "shipped")))
    assert main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    assert [(m["name"], m["engine"]) for m in listed] == [("alpha-model", "test"), ("beta-model", "test2")]
    assert main(["models", "path", "beta-model"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "shipped" / "beta-model")
    assert main(["model", "info", "alpha-model", "--json"]) == 0  # info takes a name too
    assert json.loads(capsys.readouterr().out)["engine"] == "test"
    assert main(["models", "path", "gamma-model"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not the name of a shipped model (alpha-model, beta-model)" in err
    # a retired shipped model's name says what replaced it, on one line
    assert main(["reaction", "predict", "CC(=O)Cl.Nc1ccccc1", "-m", "uspto-forward-small"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "retired on 2026-12-07: use uspto-forward-reagents" in err


def test_a_shipped_name_works_wherever_a_model_folder_does(tmp_path, capsys):
    from chemaccel import api

    src = tmp_path / "in.smi"
    src.write_text("CCO\n")
    out = tmp_path / "out.csv"
    assert main(["property", "predict", str(src), "-m", "qm9-gap-schnet-pruned", "-o", str(out)]) == 0
    assert ",ok," in out.read_text()
    assert list(api.load_model("qm9-gap-schnet-pruned").targets) == ["gap"]  # the Python API too
    assert main(["gan", "evaluate", "gan-ring8", "-n", "200", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["data"] == "ring8"


def test_a_gan_command_on_another_engines_model_is_a_one_line_error(capsys):
    assert main(["gan", "evaluate", "qm9-gap-schnet-pruned"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a 'property' model, not a GAN" in err


@pytest.mark.filterwarnings("ignore:for .*copying from a non-meta parameter")
def test_api_load_model_puts_every_engine_on_the_device_asked_for():
    from chemaccel import api

    # torch's meta device stands in for a GPU: a loader that ignored the device would leave the CPU weights
    for name in ("gan-ring8", "lenet5-mnist-autoprune", "nas-fashion", "qm9-gap-schnet-pruned"):
        model = api.load_model(name, "meta")
        module = getattr(model, "module", None) or getattr(model, "generator", None) or model
        assert next(module.parameters()).device.type == "meta", name
