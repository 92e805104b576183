"""The gate optimizer: SGD with momentum on loss gradients normalised by one running RMS.

In AutoPrune (Xiao, Wang and Rajasekaran, NeurIPS 2019) the auxiliary parameters have their own update
rule and learning rate. Plain SGD makes the right learning rate depend on the scale of ``dL/dm`` (tiny for
single weights, large for whole channels); Adam removes the scale but per *element*, so a unit whose loss
gradient is pure noise around zero random-walks through the threshold at full speed and is pruned or
revived by chance. :class:`NormalizedGateSGD` divides all gate gradients by one running RMS over every
gate of the model (``scope="global"``, the default) or of each gate tensor (``scope="tensor"``), so units
move in proportion to how much they matter (globally comparable: a conv weight used 500 times per sample
keeps its larger signal) and the regularizer's weight ``lambda`` is in units of that RMS (dimensionless,
comparable across models):

    v <- beta2 v + (1 - beta2) mean(g^2);   d = g / sqrt(v_hat) + extra;   b <- mu b + d;   m <- m - lr b

(Per-tensor normalisation equalises the pressure across layers, which on LeNet-5 strips the 500 weights
of the first convolution as hard as the 400,000 of the first dense layer; global is the better default.)

``extra`` (the regularizer's gradient ``lambda c h'(m)``) is set by the engine before each step.
"""

from __future__ import annotations

import torch


class NormalizedGateSGD(torch.optim.Optimizer):
    """SGD with momentum on per-tensor RMS-normalised gradients, plus an un-normalised ``extra`` term."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.9, beta2: float = 0.99, eps: float = 1e-20,
                 scope: str = "global"):
        super().__init__(params, {"lr": lr, "momentum": momentum, "beta2": beta2, "eps": eps})
        if scope not in ("global", "tensor"):
            raise ValueError(f"scope must be global or tensor, got {scope!r}")
        self.scope = scope
        self.extra: list[torch.Tensor] | None = None
        self._t = 0
        self._v = 0.0

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        params = [p for group in self.param_groups for p in group["params"]]
        extra = self.extra or [None] * len(params)
        global_rms = None
        if self.scope == "global":
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                sq = sum(float(g.pow(2).sum()) for g in grads) / max(1, sum(g.numel() for g in grads))
                beta2 = self.param_groups[0]["beta2"]
                self._t += 1
                self._v = beta2 * self._v + (1 - beta2) * sq
                global_rms = (self._v / (1 - beta2 ** self._t)) ** 0.5
        i = 0
        for group in self.param_groups:
            for p in group["params"]:
                add = extra[i]
                i += 1
                if p.grad is None and add is None:
                    continue
                g = p.grad if p.grad is not None else torch.zeros_like(p)
                state = self.state[p]
                if not state:
                    state["t"] = torch.zeros((), device=p.device)
                    state["v"] = torch.zeros((), device=p.device)
                    state["buf"] = torch.zeros_like(p)
                state["t"] += 1
                state["v"].mul_(group["beta2"]).add_((1 - group["beta2"]) * g.pow(2).mean())
                if global_rms is not None:
                    d = g / (global_rms + group["eps"])
                else:
                    v_hat = state["v"] / (1 - group["beta2"] ** state["t"])
                    d = g / (v_hat.sqrt() + group["eps"])
                if add is not None:
                    d = d + add
                state["buf"].mul_(group["momentum"]).add_(d)
                p.add_(state["buf"], alpha=-group["lr"])
        self.extra = None

    def state_dict(self):  # type: ignore[override]
        out = super().state_dict()
        out["global"] = {"t": self._t, "v": self._v, "scope": self.scope}
        return out

    def load_state_dict(self, state_dict) -> None:  # type: ignore[override]
        state_dict = dict(state_dict)
        glob = state_dict.pop("global", None)
        super().load_state_dict(state_dict)
        if glob is not None:
            self._t, self._v = int(glob["t"]), float(glob["v"])
