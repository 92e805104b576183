import json
import pickle

import pytest
import torch

from chemaccel.checkpoint import (
    CONFIG_NAME, WEIGHTS_NAME, ModelInfo, has_training_state, load_model_folder, load_resumable_state,
    load_training_state, previous_state_path, read_model_info, save_model_folder, save_training_state,
)
from chemaccel.errors import ModelFileError


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))


def test_model_folder_round_trip(tmp_path):
    model = _model()
    info = ModelInfo(engine="test", config={"hidden": 3}, architecture={"kept": [0, 2, 5]}, units={"y": "eV"})
    folder = save_model_folder(tmp_path / "m", info, model)
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    raw = json.loads((folder / CONFIG_NAME).read_text())
    assert raw["format_version"] == 1 and raw["chemaccel_version"] and raw["units"] == {"y": "eV"}
    info2, tensors = load_model_folder(folder)
    assert info2.architecture == {"kept": [0, 2, 5]} and info2.engine == "test"
    for k, v in model.state_dict().items():
        assert torch.equal(v, tensors[k])


def test_overwrite_replaces_atomically_and_leaves_no_temporaries(tmp_path):
    save_model_folder(tmp_path / "m", ModelInfo(engine="a", config={}), {"w": torch.zeros(2)})
    save_model_folder(tmp_path / "m", ModelInfo(engine="b", config={}), {"w": torch.ones(2)})
    info, tensors = load_model_folder(tmp_path / "m")
    assert info.engine == "b" and torch.equal(tensors["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_failed_save_keeps_previous_model(tmp_path):
    save_model_folder(tmp_path / "m", ModelInfo(engine="a", config={}), {"w": torch.zeros(2)})
    with pytest.raises(Exception):
        save_model_folder(tmp_path / "m", ModelInfo(engine="b", config={"bad": object()}), {"w": torch.ones(2)})
    info, _ = load_model_folder(tmp_path / "m")
    assert info.engine == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


@pytest.mark.parametrize("name", ["model.pt", "model.pkl", "weights.bin"])
def test_pickled_file_is_refused_and_never_unpickled(tmp_path, name):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / name
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelFileError, match="refusing to load a pickled file"):
        load_model_folder(path)
    assert not marker.exists()


def test_torch_save_zip_is_refused(tmp_path):
    path = tmp_path / "model"
    torch.save({"w": torch.zeros(1)}, path)  # no suffix: detected by content
    with pytest.raises(ModelFileError, match="pickled"):
        read_model_info(path)


def test_bad_model_folders(tmp_path):
    with pytest.raises(ModelFileError, match="no such model folder"):
        read_model_info(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="missing config.json"):
        read_model_info(tmp_path / "empty")
    folder = save_model_folder(tmp_path / "m", ModelInfo(engine="a", config={}), {"w": torch.zeros(100)})
    raw = json.loads((folder / CONFIG_NAME).read_text())
    (folder / CONFIG_NAME).write_text(json.dumps({**raw, "evil": 1}))
    with pytest.raises(ModelFileError, match="unknown keys"):
        read_model_info(folder)
    (folder / CONFIG_NAME).write_text(json.dumps({**raw, "format_version": 99}))
    with pytest.raises(ModelFileError, match="newer"):
        read_model_info(folder)
    (folder / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        read_model_info(folder)


def test_truncated_and_lying_safetensors(tmp_path):
    folder = save_model_folder(tmp_path / "m", ModelInfo(engine="a", config={}), {"w": torch.zeros(1000)})
    weights = folder / WEIGHTS_NAME
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_model_folder(folder)
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    header["w"]["data_offsets"] = [0, 10**9]
    new_header = json.dumps(header).encode().ljust(header_len)
    weights.write_bytes(data[:8] + new_header[:header_len] + data[8 + header_len :])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_model_folder(folder)


def test_training_state_round_trip(tmp_path):
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 17, "metrics": {"loss": 0.5},
             "rng": torch.get_rng_state(), "shape": (2, 3)}
    save_training_state(tmp_path / "ckpt", state)
    back = load_training_state(tmp_path / "ckpt")
    assert back["step"] == 17 and back["metrics"] == {"loss": 0.5} and back["shape"] == (2, 3)
    assert torch.equal(back["rng"], state["rng"])
    opt2 = torch.optim.Adam(_model().parameters(), lr=1e-3)
    opt2.load_state_dict(back["optimizer"])
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_model_folder_has_usual_permissions(tmp_path):
    import os
    import stat

    folder = save_model_folder(tmp_path / "m", ModelInfo(engine="a", config={}), {"w": torch.zeros(2)})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask
    assert stat.S_IMODE((folder / CONFIG_NAME).stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((folder / WEIGHTS_NAME).stat().st_mode) == 0o666 & ~mask


def test_links_out_of_the_model_folder_are_refused(tmp_path):
    folder = save_model_folder(tmp_path / "m", ModelInfo(engine="a", config={}), {"w": torch.zeros(10)})
    elsewhere = save_model_folder(tmp_path / "other", ModelInfo(engine="b", config={}), {"w": torch.ones(10)})
    (folder / WEIGHTS_NAME).unlink()
    (folder / WEIGHTS_NAME).symlink_to(elsewhere / WEIGHTS_NAME)
    with pytest.raises(ModelFileError, match="outside the model folder"):
        load_model_folder(folder)
    (folder / CONFIG_NAME).rename(folder / "real.json")
    (folder / CONFIG_NAME).symlink_to(elsewhere / CONFIG_NAME)
    with pytest.raises(ModelFileError, match="outside the model folder"):
        read_model_info(folder)
    (folder / CONFIG_NAME).unlink()
    (folder / CONFIG_NAME).symlink_to(folder / "real.json")  # a link inside the folder is fine
    assert read_model_info(folder).engine == "a"


def _truncate(file):
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def test_a_damaged_checkpoint_falls_back_to_the_previous_one(tmp_path):
    path = tmp_path / "state"
    assert load_resumable_state(path) is None and not has_training_state(path)
    save_training_state(path, {"step": 1, "w": torch.ones(100)})
    save_training_state(path, {"step": 2, "w": torch.full((100,), 2.0)})
    save_training_state(path, {"step": 3, "w": torch.full((100,), 3.0)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state", "state.previous"]  # one generation kept
    assert load_resumable_state(path)["step"] == 3
    _truncate(path / "state.safetensors")
    messages = []
    state = load_resumable_state(path, on_message=messages.append)
    assert state["step"] == 2 and torch.equal(state["w"], torch.full((100,), 2.0))
    assert len(messages) == 1 and "truncated or corrupt" in messages[0] and "state.previous" in messages[0]


def test_a_crash_between_the_renames_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "state"
    save_training_state(path, {"step": 1})
    save_training_state(path, {"step": 2})
    import shutil

    shutil.rmtree(path)  # as if killed after NAME became NAME.previous and before the new one took its place
    assert has_training_state(path)
    assert load_resumable_state(path)["step"] == 1
    save_training_state(path, {"step": 3})  # the next save works from there
    assert load_resumable_state(path)["step"] == 3 and load_training_state(previous_state_path(path))["step"] == 1


def test_both_checkpoints_damaged_is_one_clear_error(tmp_path):
    path = tmp_path / "state"
    save_training_state(path, {"w": torch.ones(100)})
    save_training_state(path, {"w": torch.ones(100)})
    _truncate(path / "state.safetensors")
    (previous_state_path(path) / "state.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="truncated or corrupt.*previous checkpoint is unusable too"):
        load_resumable_state(path)
    save_training_state(tmp_path / "single", {"w": torch.ones(100)})
    _truncate(tmp_path / "single" / "state.safetensors")
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_resumable_state(tmp_path / "single")  # no previous one: the error itself
