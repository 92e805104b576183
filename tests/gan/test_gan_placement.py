"""Model-parallel placement: pure logic."""

import pytest

from chemaccel.errors import ConfigError, DeviceError
from chemaccel.gan.placement import check_available, plan_placement, split_evenly


def test_split_evenly():
    assert split_evenly(8, 2) == [4, 4]
    assert split_evenly(7, 3) == [3, 2, 2]
    assert split_evenly(5, 5) == [1] * 5
    with pytest.raises(ConfigError):
        split_evenly(2, 3)
    with pytest.raises(ConfigError):
        split_evenly(0, 1)


def test_default_is_one_batched_group():
    p = plan_placement(8)
    assert [(g.device, g.start, g.stop) for g in p.groups] == [("cpu", 0, 8)]
    assert p.shared_device == "cpu" and p.is_single_device


def test_groups_over_devices_and_shared_device():
    p = plan_placement(8, ["cuda:0", "cuda:1", "cuda:2"], shared_device="cuda:1")
    assert [(g.device, g.start, g.stop) for g in p.groups] == [("cuda:0", 0, 3), ("cuda:1", 3, 6), ("cuda:2", 6, 8)]
    assert p.shared_device == "cuda:1"
    assert p.devices == ("cuda:1", "cuda:0", "cuda:2")
    assert not p.is_single_device


def test_shared_defaults_to_first_device_and_cuda_means_cuda0():
    p = plan_placement(4, ["cuda", "cuda:1"])
    assert p.shared_device == "cuda:0" and p.groups[0].device == "cuda:0"


def test_one_device_listed_twice_falls_back_to_one_batched_group():
    p = plan_placement(6, ["cuda:0", "cuda:0"])
    assert len(p.groups) == 1 and p.groups[0].size == 6 and p.is_single_device


def test_check_available():
    p = plan_placement(4, ["cuda:0", "cuda:1"])
    with pytest.raises(DeviceError, match="cuda:1"):
        check_available(p, ["cpu", "cuda:0"])
    check_available(p, ["cpu", "cuda:0", "cuda:1"])
