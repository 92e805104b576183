"""GanConfig validation and bad input: one-line ChemAccelErrors."""

import numpy as np
import pytest

from chemaccel.errors import ChemAccelError, ConfigError, InputError
from chemaccel.gan import GanConfig
from chemaccel.gan.data import load_training_data


@pytest.mark.parametrize("changes,match", [
    ({"n_generators": 0}, "at least 1"),
    ({"n_generators": -3}, "at least 1"),
    ({"n_generators": 4, "private_layers": 0}, "private_layers"),
    ({"private_layers": 9}, "exceeds"),
    ({"data": "moons"}, "unknown data"),
    ({"ortho_on": "gradients"}, "ortho_on"),
    ({"lr": 0.0}, "lr"),
    ({"lr": float("nan")}, "finite"),
    ({"beta1": 1.0}, "beta1"),
    ({"batch_size": 0}, "batch_size"),
    ({"placement": ("gpu7",)}, "placement device"),
    ({"n_generators": 2, "placement": ("cpu", "cpu", "cpu")}, "only 2"),
    ({"shared_device": "cpu"}, "needs placement"),
    ({"lr_final": 2.0}, "lr_final"),
    ({"graph_sampling": "softmax"}, "graph_sampling"),
    ({"diversity_weight": -0.1}, "diversity_weight"),
])
def test_bad_values_raise_one_line(changes, match):
    with pytest.raises(ConfigError, match=match) as exc:
        GanConfig(**changes)
    assert "\n" not in str(exc.value)


def test_from_dict_rejects_unknown_keys_and_round_trips():
    with pytest.raises(ConfigError, match="generators_k"):
        GanConfig.from_dict({"generators_k": 3})
    cfg = GanConfig(n_generators=4, placement=("cuda:0", "cuda:1"))
    again = GanConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.placement == ("cuda:0", "cuda:1")
    assert GanConfig(n_generators=3, batch_size=100).per_generator_batch == 34


def test_data_errors(tiny_config):
    with pytest.raises(InputError, match="too small"):
        load_training_data(tiny_config.replace(n_train=5))
    vec = tiny_config.replace(data="vectors")
    with pytest.raises(InputError, match="empty"):
        load_training_data(vec, np.zeros((0, 3)))
    with pytest.raises(InputError, match="too small"):
        load_training_data(vec, np.zeros((4, 3)))
    with pytest.raises(InputError, match="NaN"):
        load_training_data(vec, np.full((40, 3), np.nan))
    with pytest.raises(InputError, match="2-D"):
        load_training_data(vec, np.zeros(40))
    with pytest.raises(ConfigError):
        load_training_data(vec, None)
    with pytest.raises(ConfigError, match="generated"):
        load_training_data(tiny_config, np.zeros((40, 2)))
    with pytest.raises(ChemAccelError, match="no usable molecules"):
        load_training_data(tiny_config.replace(data="qm9"), ["CCCCCCCCCCCC"] * 3)


def test_qm9_n_train_takes_a_fixed_random_subset_not_a_prefix(tiny_config):
    chains = (["C" * n for n in range(1, 10)] + ["C" * n + "O" for n in range(1, 9)]
              + ["C" * n + "N" for n in range(1, 9)])
    cfg = tiny_config.replace(data="qm9", batch_size=4, n_train=10)
    first = load_training_data(cfg, chains)
    again = load_training_data(cfg, chains)
    assert len(first.train_hashes) == 10 and np.array_equal(first.train_hashes, again.train_hashes)
    prefix = load_training_data(cfg.replace(n_train=len(chains)), chains[:10])
    assert not np.array_equal(first.train_hashes, prefix.train_hashes)  # not the first ten
    whole = load_training_data(cfg.replace(n_train=1000), chains)
    assert len(whole.train_hashes) == len(chains)
