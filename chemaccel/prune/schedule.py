"""The lambda schedule: how hard the regularizer presses on the auxiliary parameters.

In AutoPrune (Xiao, Wang and Rajasekaran, NeurIPS 2019) the regularizer ``lambda * R(m)`` on the gate
parameters decides how much is pruned. Instead of hand-tuning ``lambda`` per model, the ``scheduled``
mode steers it to a budget: the target kept fraction falls geometrically from 1 to ``budget`` over
``ramp_steps`` (``target(t) = start * (budget / start) ** min(1, t / ramp_steps)``, ``start`` = 1 for a
dense model: gradual pruning leaves the weights time to adapt), and ``log lambda`` moves by
``rate * clip(kept / target - 1, -1, 1)`` per update: a proportional controller in log space (fast while
far from the target, gentle near it, so the lag of the gates does not make it overshoot), bounded to
``[lambda_min, lambda_max]``. The ``fixed`` mode keeps ``lambda`` constant (the paper's setting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class LambdaSchedule:
    """Regularizer weight controller (see the module docstring).

    Attributes:
        mode: ``scheduled`` or ``fixed``.
        value: the current lambda.
        budget: final kept fraction in (0, 1].
        ramp_steps: steps over which the target falls from 1 to ``budget``.
        rate: multiplicative step of the controller.
        tolerance: relative dead band around the target in which lambda is left unchanged.
        start: kept fraction at step 0 (1 for a dense model; less when continuing from a pruned one).
    """

    mode: str
    value: float
    budget: float
    ramp_steps: int
    rate: float = 0.02
    tolerance: float = 0.0
    lambda_min: float = 1e-9
    lambda_max: float = 1e4
    start: float = 1.0

    def target(self, step: int) -> float:
        """Kept fraction wanted at ``step``."""
        if self.start <= self.budget:
            return float(self.budget)
        progress = min(1.0, max(0.0, step / max(1, self.ramp_steps)))
        return float(self.start * (self.budget / self.start) ** progress)

    def update(self, step: int, kept: float) -> float:
        """Adjust lambda after measuring the kept fraction ``kept`` at ``step``; returns the new lambda."""
        if self.mode == "fixed":
            return self.value
        goal = self.target(step)
        error = kept / goal - 1.0
        if abs(error) <= self.tolerance:
            return self.value
        factor = math.exp(self.rate * max(-1.0, min(1.0, error)))
        self.value = min(self.lambda_max, max(self.lambda_min, self.value * factor))
        return self.value

    def state_dict(self) -> dict[str, float]:
        return {"value": float(self.value), "start": float(self.start)}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.value = float(state["value"])
        self.start = float(state.get("start", 1.0))
