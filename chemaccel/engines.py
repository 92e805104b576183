"""The engine contract and its registry: what every engine provides, in one line per engine.

An engine lives in its own folder (``chemaccel/<name>/``) and provides, each named here as
``"module:attribute"`` so that nothing is imported before it is used:

* ``config``: its typed, frozen settings class (``from_dict`` / ``to_dict``; validated on construction);
* ``load``: ``load(path, device) -> model``: a model folder (config.json + model.safetensors, never a
  pickle) rebuilt on ``device``;
* ``evaluate``: ``evaluate(model_folder, data, *, device, **options) -> dict``: the figures of a model
  folder on ``data`` (JSON-able, the ones its ``evaluate`` command prints);
* ``workflow``: the module that holds what a user runs (train / prune / search jobs with checkpoints,
  resume and a :class:`~chemaccel.reporting.Reporter`), which the CLI and the GUI call through
  :mod:`chemaccel.api` instead of writing it themselves;
* ``cli``: ``chemaccel.<name>.cli``, the module with ``add_parser(subparsers)`` for its ``chemaccel <name> ...``
  commands (a front end: it calls :mod:`chemaccel.api`, as the GUI does).

:data:`ENGINES` is the registry: :func:`chemaccel.api.load_model` and :func:`chemaccel.api.evaluate` dispatch
on a folder's ``engine`` through it, and ``chemaccel --help`` lists the engines' commands from it. Adding an
engine is its folder (its ``cli.py`` included) and one :class:`Engine` line below (and its GUI panel with
its line in ``gui/panels.py``); setup.py finds the package;
``tests/test_engines.py`` checks every registered engine against the contract. See docs/architecture.md.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from chemaccel.errors import NotAvailableError


@dataclass(frozen=True)
class Engine:
    """One registry entry (see the module docstring); the strings are ``"module:attribute"`` or modules."""

    name: str
    summary: str
    config: str
    load: str
    evaluate: str
    workflow: str
    cli: str

    def resolve(self, what: str) -> Any:
        """The object an entry names (``"config"``, ``"load"``, ``"evaluate"``), imported now."""
        module, _, attribute = getattr(self, what).partition(":")
        found = importlib.import_module(module)
        return getattr(found, attribute) if attribute else found

    def loader(self) -> Callable[..., Any]:
        return self.resolve("load")

    def evaluator(self) -> Callable[..., dict[str, Any]]:
        return self.resolve("evaluate")


ENGINES: dict[str, Engine] = {e.name: e for e in (
    Engine("prune", "AutoPrune: pruning by training auxiliary gate parameters",
           "chemaccel.prune.config:PruneConfig", "chemaccel.prune.storage:load_model",
           "chemaccel.prune.evaluate:evaluate", "chemaccel.prune.workflow", "chemaccel.prune.cli"),
    Engine("gan", "parallel orthogonal multi-generator GAN",
           "chemaccel.gan.config:GanConfig", "chemaccel.gan.storage:load_model",
           "chemaccel.gan.storage:evaluate_folder", "chemaccel.gan.engine", "chemaccel.gan.cli"),
    Engine("reaction", "forward reaction prediction as low-capacity SMILES translation (eole)",
           "chemaccel.reaction.config:ReactionConfig", "chemaccel.reaction.storage:load_model",
           "chemaccel.reaction.evaluate:evaluate_folder", "chemaccel.reaction.engine", "chemaccel.reaction.cli"),
    Engine("property", "SchNet property prediction with attention-based AutoPrune of the filters",
           "chemaccel.property.config:PropertyConfig", "chemaccel.property.storage:load_model",
           "chemaccel.property.evaluate:evaluate_folder", "chemaccel.property.train", "chemaccel.property.cli"),
    Engine("nas", "DARTS architecture search guided by a distilling teacher",
           "chemaccel.nas.config:SearchConfig", "chemaccel.nas.storage:load_model",
           "chemaccel.nas.evaluate:evaluate", "chemaccel.nas.workflow", "chemaccel.nas.cli"),
)}

#: model folders that are not an engine's: the demo's fingerprint regressor
EXTRA_LOADERS: dict[str, str] = {"demo-fingerprint-mlp": "chemaccel.demo:load_regressor"}


def engine(name: str) -> Engine:
    """The registry entry of ``name``; a one-line error naming the known engines otherwise."""
    if name not in ENGINES:
        raise NotAvailableError(f"no engine {name!r} in this chemaccel (known: {', '.join(sorted(ENGINES))})")
    return ENGINES[name]
