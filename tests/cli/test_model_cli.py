import json
import pickle

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
