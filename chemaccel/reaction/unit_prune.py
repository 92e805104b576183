"""AutoPrune of a reaction Transformer's heads and feed-forward neurons during eole training (issue 23, item 3).

A gated run starts from a trained reaction model. :class:`~chemaccel.reaction.unit_gates.UnitGates` put an
auxiliary parameter ``m`` on every attention head and feed-forward neuron; :class:`GatePhase` trains them
beside eole's own optimizer step, with the AutoPrune engine's parts: the weakly coupled gradient
(:class:`~chemaccel.prune.gates.OutputGateFunction`), the normalised gate optimizer
(:class:`~chemaccel.prune.optim.NormalizedGateSGD`) and the budget controller
(:class:`~chemaccel.prune.schedule.LambdaSchedule`), one for the heads and one for the neurons: the kept
fraction of each kind falls geometrically to ``budget`` over ``ramp_fraction`` of the steps and is held
there (one controller over both closed the costly heads long before any neuron). By default the gates obey
eole's layout while they train (:attr:`UnitGates.uniform`: the same number open in every module), so the
model trained is the compact model exported.

eole calls :meth:`GatePhase.synchronize` between the backward pass and its optimizer step (it stands in for
eole's gradient synchronizer, which it calls first), so the gates see the same batches as the weights.
Their state is written into every checkpoint (``gates/``, safetensors + JSON), and the exported model is
compacted to the open units (:func:`chemaccel.reaction.compact.shrink_model`): the same number per module,
the mean number open, ranked by ``m``. Fine-tuning that compact model is a second, ordinary run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from chemaccel.checkpoint import has_training_state, load_training_state, save_training_state
from chemaccel.config_base import config_from_dict
from chemaccel.errors import ConfigError, ModelFileError
from chemaccel.prune.gates import GateState
from chemaccel.prune.optim import NormalizedGateSGD
from chemaccel.prune.schedule import LambdaSchedule
from chemaccel.reaction.compact import head_importance, neuron_importance
from chemaccel.reaction.unit_gates import SCOPES, UnitGates

GATES_DIR = "gates"
KINDS = ("heads", "neurons")


@dataclass(frozen=True)
class UnitPruneConfig:
    """Settings of the gated phase.

    Attributes:
        budget: fraction of the gated parameters (attention projections and feed-forward weights) to keep,
            in (0, 1).
        ramp_fraction: fraction of the run's steps over which the kept target falls to ``budget``.
        lambda_init: starting regularizer weight (in units of the gate gradients' RMS).
        lambda_rate: the controller's multiplicative step.
        gate_lr: learning rate of the gates.
        gate_init: bound of ``|m|``; gates start at ``gate_init`` times their unit's relative magnitude.
        schedule_every: steps between controller updates.
        uniform: gate under eole's constraint (the same number of heads in every attention module, of neurons
            in every feed-forward block: :attr:`UnitGates.uniform`), so the model trained is the compact one
            exported; False lets each module keep its own number until export.
        freeze_after_ramp: once the kept fraction has reached the budget, freeze the gates (AutoPrune's
            fine-tuning phase): the rest of the run trains the weights of a fixed structure (gates that kept
            swapping units in and out held a 2-of-4-heads model at 0 top-1).
        scope: what is gated (:data:`~chemaccel.reaction.unit_gates.SCOPES`): ``all`` heads and neurons,
            the ``decoder``'s, or the ``decoder-heads`` only (where a decoding step's time goes); the rest
            of the model keeps every unit and trains as usual.
    """

    budget: float = 0.5
    ramp_fraction: float = 0.6
    lambda_init: float = 0.05
    lambda_rate: float = 0.1
    gate_lr: float = 1e-3
    gate_init: float = 0.05
    schedule_every: int = 5
    uniform: bool = True
    freeze_after_ramp: bool = True
    scope: str = "all"

    def __post_init__(self) -> None:
        checks = {"budget": 0 < self.budget < 1, "ramp_fraction": 0 < self.ramp_fraction <= 1,
                  "lambda_init": self.lambda_init > 0, "lambda_rate": 0 < self.lambda_rate < 1,
                  "gate_lr": self.gate_lr > 0, "gate_init": self.gate_init > 0}
        for name, ok in checks.items():
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not ok:
                raise ConfigError(f"unit pruning: {name} out of range ({value!r}); budget in (0, 1), "
                                  "ramp_fraction in (0, 1], lambda_rate in (0, 1), the others positive")
        if self.scope not in SCOPES:
            raise ConfigError(f"unit pruning: scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        if not isinstance(self.schedule_every, int) or self.schedule_every < 1:
            raise ConfigError(f"unit pruning: schedule_every must be a positive integer, got {self.schedule_every!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "UnitPruneConfig":
        return config_from_dict(cls, data, "unit pruning")


def unit_costs(model: nn.Module, gates: UnitGates) -> dict[str, torch.Tensor]:
    """Parameters each gated unit removes, per gate table key: a head its rows of the query, key and value
    projections and its columns of the output projection; a neuron its rows of every projection into the
    feed-forward block and its column of ``down_proj`` (biases included)."""
    modules = dict(model.named_modules())
    out: dict[str, torch.Tensor] = {}
    for key, m in {**gates.heads, **gates.neurons}.items():
        module = modules[gates._names[key]]
        n = m.numel()
        total = 0
        for child in module.children():
            if isinstance(child, nn.Linear):
                total += child.weight.numel() + (child.bias.numel() if child.bias is not None else 0)
        if key in gates.heads and module.final_linear.bias is not None:
            total -= module.final_linear.bias.numel()  # the output bias is kept whatever heads remain
        if key in gates.neurons and module.down_proj.bias is not None:
            total -= module.down_proj.bias.numel()
        out[key] = torch.full((n,), total / n, device=m.device)
    return out


class GatePhase:
    """Trains :class:`UnitGates` inside eole's training loop (see the module docstring).

    ``inner`` is eole's gradient synchronizer (or our :class:`~chemaccel.reaction.eole_bridge.DataParallel`);
    ``total_steps`` the run's last step (the ramp is measured from the first step of this phase).
    """

    def __init__(self, model: nn.Module, head_dim: int, config: UnitPruneConfig, total_steps: int,
                 inner: Any = None, start_step: int = 0) -> None:
        self.config = config
        self.inner = inner
        self.state = GateState("identity")
        self.gates = UnitGates(model, head_dim, self.state, init=config.gate_init, scope=config.scope)
        self.gates.uniform = bool(config.uniform)
        self.init_from_magnitude(model, head_dim)
        costs = unit_costs(model, self.gates)
        self._keys = list(costs)
        self._params = [self._table(k)[k] for k in self._keys]
        self.cost = [costs[k] for k in self._keys]
        self.total_cost = float(sum(c.sum() for c in self.cost))
        # one optimizer per kind: a head's gradient sums over many more activations than a neuron's, so one
        # RMS over both left the neurons' loss signal negligible beside lambda and they closed all at once
        #: the kinds this run gates (``decoder-heads``: no neurons)
        self.kinds = [kind for kind in KINDS if any(self._kind(k) == kind for k in self._keys)]
        self.opts = {kind: NormalizedGateSGD([p for k, p in zip(self._keys, self._params) if self._kind(k) == kind],
                                             lr=config.gate_lr, momentum=0.0) for kind in self.kinds}
        ramp = max(1, int(config.ramp_fraction * max(1, total_steps - start_step)))
        self.ramp_steps = ramp
        # heads and neurons each steered to the budget (so budget 0.5 of 4 heads and 384 neurons ends at 2 and
        # 192): within a kind every unit costs the same, so the regularizer's weight is lambda of the kind
        self.schedules = {kind: LambdaSchedule("scheduled", config.lambda_init, config.budget, ramp,
                                               config.lambda_rate) for kind in self.kinds}
        self.step = 0

    def _kind(self, key: str) -> str:
        return "heads" if key in self.gates.heads else "neurons"

    def _table(self, key: str) -> nn.ParameterDict:
        return self.gates.heads if self._kind(key) == "heads" else self.gates.neurons

    @torch.no_grad()
    def init_from_magnitude(self, model: nn.Module, head_dim: int, quantile: float = 0.99) -> None:
        """Start each gate at ``gate_init * min(1, score / q)``: ``score`` the unit's magnitude
        (:func:`~chemaccel.reaction.compact.head_importance`, :func:`~chemaccel.reaction.compact.neuron_importance`)
        and ``q`` the ``quantile`` of its kind (heads or neurons) over the model; the weakest start nearest
        the threshold."""
        weights = {k: v.detach() for k, v in model.state_dict().items()}
        for table, score in ((self.gates.heads, lambda p: head_importance(weights, p, head_dim)),
                             (self.gates.neurons, lambda p: neuron_importance(weights, p))):
            scores = {key: score(self.gates._names[key]) for key in table}
            if not scores:
                continue  # that kind is not gated
            q = float(torch.quantile(torch.cat(list(scores.values())), quantile)) or 1.0
            for key, s in scores.items():
                table[key].copy_((self.config.gate_init * (s / q).clamp(max=1.0)).to(table[key].device))

    @torch.no_grad()
    def kept(self, kind: str | None = None) -> float:
        """Fraction of the gated parameters (of ``kind``, ``heads`` or ``neurons``; None: all) whose units are
        open (:meth:`UnitGates.open_mask`)."""
        keys = [k for k in self._keys if kind is None or self._kind(k) == kind]
        kept = sum(float((self.gates.open_mask(self._table(k), k).float() * self.cost[self._keys.index(k)]).sum())
                   for k in keys)
        return kept / sum(float(self.cost[self._keys.index(k)].sum()) for k in keys)

    def metrics(self) -> dict[str, float]:
        """What the progress line shows: the kept fraction of heads and of neurons, and their lambdas."""
        out: dict[str, float] = {}
        for kind in self.kinds:
            out[f"kept_{kind}"] = self.kept(kind)
            out[f"lambda_{kind}"] = float(self.schedules[kind].value)
        return out

    # eole's gradient synchronizer interface --------------------------------------------------------
    def synchronize(self) -> None:
        if self.inner is not None:
            self.inner.synchronize()
        if self.config.freeze_after_ramp and self.step >= self.ramp_steps:
            # AutoPrune's fine-tuning phase: the structure is fixed, only the weights train
            self.state.frozen = True
            for p in self._params:
                p.grad = None
            self.step += 1
            return
        # the regularizer's gradient lambda * c_u * h'(m): c_u = 1 within a kind, h' = 1 (identity estimate)
        for kind, opt in self.opts.items():
            lam = self.schedules[kind].value
            opt.extra = [torch.full_like(p, lam) for k, p in zip(self._keys, self._params) if self._kind(k) == kind]
            opt.step()
        with torch.no_grad():
            for p in self._params:
                p.clamp_(-self.config.gate_init, self.config.gate_init)
                if not bool((p > 0).any()):  # a module keeps at least one unit
                    p[int(torch.argmax(p))] = self.config.gate_init / 2
                p.grad = None
        self.step += 1
        if self.step % self.config.schedule_every == 0:
            for kind, schedule in self.schedules.items():
                schedule.update(self.step, self.kept(kind))

    def __getattr__(self, name: str) -> Any:  # anything else eole asks of its synchronizer
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    # checkpoints -----------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write the gates, their optimizer and the controller into ``folder/gates``."""
        save_training_state(folder / GATES_DIR, {
            "gates": {k: p.detach().cpu() for k, p in zip(self._keys, self._params)},
            "opt": {kind: opt.state_dict() for kind, opt in self.opts.items()}, "lambda": {k: s.state_dict() for k, s in self.schedules.items()},
            "step": self.step,
            "config": self.config.to_dict()})

    def load(self, folder: Path) -> None:
        """Continue from ``folder/gates`` (a checkpoint of a gated run)."""
        path = folder / GATES_DIR
        if not has_training_state(path):
            raise ModelFileError(f"{folder} holds no gate state ({GATES_DIR}/): it is not a checkpoint of a gated run")
        state = load_training_state(path)
        saved = state.get("config", {}).get("scope", "all")
        if saved != self.config.scope:
            raise ConfigError(f"{folder} is a checkpoint of a run that gated {saved!r}, not {self.config.scope!r}: "
                              "resume it with the same --prune-scope")
        with torch.no_grad():
            for k, p in zip(self._keys, self._params):
                p.copy_(state["gates"][k].to(p.device))
        for kind, opt in self.opts.items():
            opt.load_state_dict(state["opt"][kind])
        for kind, schedule in self.schedules.items():
            schedule.load_state_dict(state["lambda"][kind])
        self.step = int(state["step"])


def read_gates(folder: Path) -> dict[str, torch.Tensor]:
    """The gate values saved in checkpoint ``folder`` (table key -> ``m``)."""
    return load_training_state(Path(folder) / GATES_DIR)["gates"]
