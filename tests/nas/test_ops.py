import pytest
import torch
from torch import nn

from chemaccel.errors import ConfigError
from chemaccel.nas.ops import CONV_OPS, DARTS_OPS, OpRegistry, build_op, register_op
from chemaccel.nas.supernet import SuperNet


@pytest.mark.parametrize("name", DARTS_OPS)
@pytest.mark.parametrize("size", [8, 7])
def test_every_op_keeps_channels_and_strides(name, size):
    x = torch.randn(2, 6, size, size)
    assert build_op(name, 6, 1, False)(x).shape == (2, 6, size, size)
    out = build_op(name, 6, 2, True)(x)
    assert out.shape == (2, 6, (size + 1) // 2, (size + 1) // 2)


def test_none_is_zero_and_skip_is_identity():
    x = torch.randn(2, 4, 6, 6)
    assert torch.count_nonzero(build_op("none", 4, 1, False)(x)) == 0
    assert torch.equal(build_op("skip_connect", 4, 1, False)(x), x)


def test_unknown_op_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown cell operation 'conv_7x7'.*sep_conv_3x3"):
        build_op("conv_7x7", 4, 1, False)


def test_duplicate_registration_is_refused():
    with pytest.raises(ConfigError, match="already registered"):
        register_op("sep_conv_3x3", lambda C, stride, affine: nn.Identity())


def test_bad_names_and_factories():
    reg = OpRegistry("test")
    with pytest.raises(ConfigError, match="non-empty string"):
        reg.register(" ", lambda: nn.Identity())
    with pytest.raises(ConfigError, match="callable"):
        reg.register("x", 3)
    reg.register("not_a_module", lambda: 42)
    with pytest.raises(ConfigError, match="not a torch.nn.Module"):
        reg.build("not_a_module")


@pytest.mark.parametrize("ops,match", [((), "empty"), (("none",), "only 'none'"),
                                       (("skip_connect", "skip_connect"), "more than once"),
                                       (("sep_conv_3x3", "bogus"), "unknown cell operation")])
def test_check_op_lists(ops, match):
    with pytest.raises(ConfigError, match=match):
        CONV_OPS.check(ops)


def test_user_op_by_decorator_joins_the_search_space():
    @register_op("conv_1x1_test")
    def conv_1x1(C, stride, affine):
        return nn.Sequential(nn.Conv2d(C, C, 1, stride=stride, bias=False), nn.BatchNorm2d(C, affine=affine))

    try:
        assert "conv_1x1_test" in CONV_OPS
        net = SuperNet(1, 3, 4, 3, 2, ("conv_1x1_test", "skip_connect"))
        assert net(torch.randn(2, 1, 8, 8)).shape == (2, 3)
        genotype, _ = net.genotype()
        assert {op for op, _ in genotype.normal} <= {"conv_1x1_test", "skip_connect"}
    finally:
        CONV_OPS.unregister("conv_1x1_test")
    assert "conv_1x1_test" not in CONV_OPS
