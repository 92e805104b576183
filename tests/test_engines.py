"""Every registered engine satisfies the contract of chemaccel.engines, and the front ends use only the API."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

from chemaccel import api
from chemaccel.engines import ENGINES, EXTRA_LOADERS, engine

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "resources" / "models"


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_engine_satisfies_the_contract(name):
    e = ENGINES[name]
    assert e.name == name and e.summary
    config = e.resolve("config")
    assert dataclasses.is_dataclass(config) and config.__dataclass_params__.frozen
    default = config()
    assert config.from_dict(default.to_dict()) == default  # settings round-trip through JSON-able dicts
    load = e.loader()
    assert list(inspect.signature(load).parameters)[:2] == ["path", "device"]
    evaluate = e.evaluator()
    params = inspect.signature(evaluate).parameters
    assert list(params)[:2] == ["model_folder", "data"] and params["device"].kind is inspect.Parameter.KEYWORD_ONLY
    importlib.import_module(e.workflow)
    cli = importlib.import_module(e.cli)
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    assert api.MODEL_LOADERS[name] == e.load


def test_registry_lookups_and_extras():
    assert engine("gan") is ENGINES["gan"]
    with pytest.raises(api.NotAvailableError, match="no engine 'nope'.*known: gan, nas, property, prune, reaction"):
        engine("nope")
    assert set(api.MODEL_LOADERS) == set(ENGINES) | set(EXTRA_LOADERS)


def test_every_shipped_model_belongs_to_a_registered_engine():
    engines = {api.read_model_info(p).engine for p in MODELS.iterdir() if (p / "config.json").is_file()}
    assert engines and engines <= set(ENGINES)


def test_api_evaluate_dispatches_on_the_folder_engine():
    stats = api.evaluate("lenet5-mnist-autoprune", None, latency_repeats=0)  # no data: sizes only
    assert stats["params_total"] == api.evaluate_pruned(MODELS / "lenet5-mnist-autoprune", None,
                                                        latency_repeats=0)["params_total"]
    toy = api.evaluate("gan-ring8", n=500, seed=0)
    assert toy == api.load_model("gan-ring8").evaluate(500, seed=0)


def test_api_evaluate_refuses_a_folder_of_no_engine(tmp_path):
    import torch

    api.save_model_folder(tmp_path / "m", api.ModelInfo(engine="mystery", config={}), {"w": torch.zeros(2)})
    with pytest.raises(api.NotAvailableError, match="no engine 'mystery'"):
        api.evaluate(tmp_path / "m")


ENGINE_PACKAGES = tuple(f"chemaccel.{name}" for name in ENGINES)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


FRONT_ENDS = sorted([*(ROOT / "chemaccel" / "cli").glob("*.py"), *(ROOT / "gui").glob("*.py"),
                     *(ROOT / "chemaccel").glob("*/cli.py"), ROOT / "chemaccel" / "demo.py"])


@pytest.mark.parametrize("path", FRONT_ENDS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_front_ends_import_no_engine_internals(path):
    """The command-line modules (the engines' own included) and the desktop app go through chemaccel.api."""
    inner = sorted(m for m in _imports(path) if m.startswith(ENGINE_PACKAGES))
    assert not inner, f"{path.name} imports engine internals {inner}: go through chemaccel.api"


def test_each_engine_keeps_its_command_line_module_in_its_own_folder():
    """Adding an engine touches its folder and one registry line: its commands live in its folder, and the
    package list is found by setup.py (tests/test_wheel.py checks that the wheel holds every module)."""
    for name, e in ENGINES.items():
        assert e.cli == f"chemaccel.{name}.cli"
        assert e.workflow.startswith(f"chemaccel.{name}.") and api.workflow(name).__name__ == e.workflow
        assert api.engine_config(name) is e.resolve("config")
    assert "packages = [" not in (ROOT / "pyproject.toml").read_text()
