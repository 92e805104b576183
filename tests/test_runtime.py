import pytest
import torch

from chemaccel.errors import ConfigError, DeviceError
from chemaccel.runtime import RuntimeConfig, available_devices, distributed_env, make_fabric, resolve_device, seed_everything


def test_cpu_and_auto_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert available_devices()[0] == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_gpu_is_a_clear_error(spec):
    with pytest.raises(DeviceError, match="CUDA is not available.*--device cpu"):
        resolve_device(spec)


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cpu:1", "", "tpu"])
def test_unknown_device(spec):
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device(spec)


def test_runtime_config_validates():
    with pytest.raises(ConfigError, match="precision"):
        RuntimeConfig(precision="8-bit")
    with pytest.raises(ConfigError, match="seed"):
        RuntimeConfig(seed=-1)
    with pytest.raises(ConfigError, match="device"):
        RuntimeConfig(device="metal")


def test_seed_everything_reproducible():
    seed_everything(7)
    a = torch.randn(5)
    seed_everything(7)
    assert torch.equal(a, torch.randn(5))


def test_distributed_env_reads_torchrun_variables(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed_env() is None
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed_env() == {"world_size": 4, "rank": 3, "local_rank": 1, "local_world_size": 2, "num_nodes": 2}


def test_fabric_on_cpu_trains_a_linear_model():
    fabric = make_fabric(RuntimeConfig(device="cpu", seed=3))
    assert fabric.device.type == "cpu" and fabric.world_size == 1
    x = torch.randn(64, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model, opt = fabric.setup(model, opt)
    for _ in range(200):
        loss = torch.nn.functional.mse_loss(model(x).squeeze(-1), y)
        opt.zero_grad()
        fabric.backward(loss)
        opt.step()
    assert loss.item() < 1e-4


def test_half_precision_needs_gpu():
    if torch.cuda.is_available():
        pytest.skip("GPU present")
    with pytest.raises(ConfigError, match="16-mixed needs a CUDA GPU"):
        make_fabric(RuntimeConfig(device="cpu", precision="16-mixed"))
