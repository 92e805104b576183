"""The shared JSON -> config builder every engine's ``from_dict`` uses."""

import pytest

from chemaccel.errors import ConfigError
from chemaccel.gan.config import GanConfig
from chemaccel.nas.config import SearchConfig
from chemaccel.property.config import PropertyConfig
from chemaccel.prune.config import PruneConfig
from chemaccel.reaction.config import ReactionConfig
from chemaccel.runtime import RuntimeConfig

CONFIGS = [(PruneConfig, "prune"), (PropertyConfig, "property"), (ReactionConfig, "reaction"), (GanConfig, "GAN"),
           (SearchConfig, "nas search")]


@pytest.mark.parametrize("cls,name", CONFIGS)
def test_every_engine_names_unknown_keys_and_round_trips(cls, name):
    with pytest.raises(ConfigError, match=rf"unknown {name} config key\(s\) \['typo_key'\]"):
        cls.from_dict({"typo_key": 1})
    with pytest.raises(ConfigError, match=f"a {name} config must be a JSON object, got list"):
        cls.from_dict([1, 2])
    default = cls()
    assert cls.from_dict(default.to_dict()) == default  # lists in the JSON come back as tuples


def test_nested_runtime_is_checked_and_built():
    cfg = PruneConfig.from_dict({"runtime": {"device": "cpu", "seed": 3}})
    assert cfg.runtime == RuntimeConfig(device="cpu", seed=3)
    with pytest.raises(ConfigError, match=r"unknown runtime config key\(s\) \['devise'\]"):
        PruneConfig.from_dict({"runtime": {"devise": "cpu"}})


def test_lists_become_tuples_only_for_tuple_fields():
    cfg = PropertyConfig.from_dict({"targets": ["gap", "U0"]})
    assert cfg.targets == ("gap", "U0")
