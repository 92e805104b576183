import pytest
import torch

from chemaccel.errors import ConfigError
from chemaccel.nas.distill import Distiller
from chemaccel.nas.genotype import GenotypeError
from chemaccel.nas.mlp_search import MlpSearchConfig, search_mlp, train_regressor
from chemaccel.nas.mlp_space import MLP_OPS, MlpDerivedNet, MlpGenotype, MlpSuperNet


def regression_data(n=128, f=16):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, f, generator=g) < 0.3).float()
    y = x[:, :4].sum(1) - x[:, 4:8].sum(1) + 0.1 * torch.randn(n, generator=g)
    return x, (y - y.mean()) / y.std()


@pytest.mark.parametrize("distill", [False, True])
def test_mlp_search_derives_a_cell_and_the_derived_net_trains(distill):
    x, y = regression_data()
    teacher, layers = None, ()
    if distill:
        teacher = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1),
                                      torch.nn.Flatten(0))
        train_regressor(teacher, x, y, 3)
        layers = ("1",)
    cfg = MlpSearchConfig(width=8, cells=1, nodes=2, epochs=2, batch_size=16, order="second",
                          feature_weight=1.0 if distill else 0.0, logit_weight=1.0 if distill else 0.0)
    result = search_mlp(x, y, cfg, teacher=teacher, teacher_layers=layers)
    assert isinstance(result.genotype, MlpGenotype) and result.genotype.skip_count() <= 2
    assert MlpGenotype.from_dict(result.genotype.to_dict()) == result.genotype
    net = MlpDerivedNet(result.genotype, 16, width=8, cells=2)
    losses = train_regressor(net, x, y, 5)
    assert net(x).shape == (128,) and losses[-1] < losses[0]


def test_mlp_space_errors():
    with pytest.raises(GenotypeError, match="unknown operation 'sep_conv_3x3'"):
        MlpGenotype((("sep_conv_3x3", 0), ("linear", 1)), (2,))
    with pytest.raises(ConfigError, match="empty"):
        MlpSearchConfig(ops=())
    with pytest.raises(ConfigError, match="unknown nas mlp search config key"):
        MlpSearchConfig.from_dict({"layers": 3})
    with pytest.raises(ConfigError, match="needs a teacher"):
        search_mlp(*regression_data(), MlpSearchConfig(logit_weight=1.0))
    assert "linear_relu" in MLP_OPS and MlpSuperNet(4, 4, 1, 2)(torch.zeros(3, 4)).shape == (3,)


def test_distiller_on_vectors_uses_linear_adapters():
    teacher = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.ReLU(), torch.nn.Linear(10, 1))
    student = MlpSuperNet(6, 4, 1, 2)
    d = Distiller(teacher, student, ["1"], ["cells.0"], torch.zeros(2, 6), 1.0, 1.0)
    assert isinstance(d.adapters[0], torch.nn.Linear) and d.adapters[0].out_features == 10
