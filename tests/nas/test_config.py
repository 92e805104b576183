import pytest

from chemaccel.errors import ConfigError
from chemaccel.nas import NasSearch, RetrainConfig, SearchConfig


def test_round_trip_and_unknown_keys():
    cfg = SearchConfig(epochs=3, ops=("skip_connect", "sep_conv_3x3"), feature_weight=0.5)
    assert SearchConfig.from_dict(cfg.to_dict()) == cfg and cfg.distill
    assert RetrainConfig.from_dict(RetrainConfig().to_dict()) == RetrainConfig()
    with pytest.raises(ConfigError, match=r"unknown nas search config key\(s\) \['epoch'\]"):
        SearchConfig.from_dict({"epoch": 3})
    with pytest.raises(ConfigError, match=r"unknown nas retrain config key\(s\) \['order'\]"):
        RetrainConfig.from_dict({"order": "second"})
    with pytest.raises(ConfigError, match="unknown runtime config key"):
        SearchConfig.from_dict({"runtime": {"gpu": 1}})
    with pytest.raises(ConfigError, match="JSON object"):
        SearchConfig.from_dict([1])


@pytest.mark.parametrize("fields,match", [
    ({"ops": []}, "empty"),
    ({"ops": ["none"]}, "only 'none'"),
    ({"ops": ["warp_drive"]}, "unknown cell operation"),
    ({"order": "third"}, "order"),
    ({"layers": 0}, "layers must be a positive integer"),
    ({"train_portion": 1.0}, "train_portion"),
    ({"limit_train": 100, "batch_size": 64}, "too small for its split"),
    ({"max_skip": -1}, "max_skip"),
    ({"feature_weight": 1.0, "teacher_epochs": 0}, "teacher_epochs"),
    ({"arch_warmup_epochs": 10, "epochs": 10}, "arch_warmup_epochs"),
    ({"lr": float("nan")}, "lr must be a number"),
])
def test_bad_search_configs(fields, match):
    with pytest.raises(ConfigError, match=match):
        SearchConfig.from_dict(fields)


def test_bad_retrain_configs():
    with pytest.raises(ConfigError, match="drop_path_prob"):
        RetrainConfig(drop_path_prob=1.5)
    with pytest.raises(ConfigError, match="augment"):
        RetrainConfig(augment="yes")


def test_a_data_set_too_small_for_its_split_is_a_clear_error(tiny_images, tiny_search):
    x, y = tiny_images
    with pytest.raises(ConfigError, match="too small for its split: 20 samples"):
        NasSearch(tiny_search).run((x[:20], y[:20]))
    with pytest.raises(ConfigError, match="images"):
        NasSearch(tiny_search).run((x.flatten(1), y))
