"""Plain training and the baselines AutoPrune is compared with, on the same data and budget.

Xiao, Wang and Rajasekaran (AutoPrune, NeurIPS 2019) compare with magnitude pruning; the benchmark
(``scripts/bench_autoprune.py``) runs, from the same dense model and with the same fine-tuning epochs:

* :func:`magnitude_prune`: global L1 magnitude pruning of all Linear/Conv weights with
  :func:`torch.nn.utils.prune.global_unstructured` (one shot, then fine-tuning with the mask kept);
* :func:`l1_filter_prune`: L1-norm filter pruning (Li et al., "Pruning Filters for Efficient ConvNets",
  2017): in every layer but the classifier keep the same fraction of output units, those with the
  largest L1 norm, with the fraction searched so the compacted model meets a FLOPs budget;
* :func:`torch_pruning_prune`: Torch-Pruning's structured pruning (group-L2 or LAMP importance) to a
  parameter count, the competitor library at equal compression (``pip install 'chemaccel[bench]'``).

:func:`fit` is the shared training loop (Adam, cosine learning rate, cross-entropy).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune as tprune

from chemaccel.prune.compact import chain_links, compact
from chemaccel.prune.data import batches, n_samples
from chemaccel.prune.engine import evaluate_loss
from chemaccel.prune.measure import LAYER_TYPES, flop_count
from chemaccel.prune.recipe import TrainingLoss, random_shift
from chemaccel.reporting import NullReporter, Reporter


def fit(model: nn.Module, train: Any, val: Any, epochs: int, lr: float = 1e-3, batch_size: int = 128, seed: int = 0,
        reporter: Reporter | None = None, task: str = "train", shift: int = 0, teacher: nn.Module | None = None,
        distill: float = 0.0, temperature: float = 4.0) -> list[dict[str, float]]:
    """Train all parameters with Adam and a cosine learning rate; returns per-epoch metrics.

    ``shift``, ``teacher``, ``distill`` and ``temperature`` apply AutoPrune's training recipe
    (:mod:`chemaccel.prune.recipe`) so a baseline is fine-tuned exactly as the AutoPrune arm was."""
    reporter = reporter or NullReporter()
    train_loss = TrainingLoss("cross_entropy", teacher, distill, temperature)
    shift_gen = torch.Generator()
    device = next(model.parameters()).device
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    per_epoch = math.ceil(n_samples(train) / batch_size)
    total = max(1, epochs * per_epoch)
    gen = torch.Generator()
    history: list[dict[str, float]] = []
    step = 0
    reporter.on_start(task, total)
    for epoch in range(epochs):
        model.train()
        gen.manual_seed(seed * 100003 + epoch)
        shift_gen.manual_seed(seed * 100003 + epoch + 7919)
        for xb, yb in batches(train, batch_size, True, gen, device):
            if reporter.should_stop():
                return history
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / total))
            if shift:
                xb = random_shift(xb, shift, shift_gen)
            loss = train_loss(model(xb), xb, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % 50 == 0:
                reporter.on_progress(step, total, {"loss": float(loss.detach())})
        row = {"epoch": epoch + 1}
        if val is not None:
            row.update(evaluate_loss(model, val, loss_fn, 512, device))
        history.append(row)
        reporter.on_message(f"{task}: " + " ".join(f"{k}={v:.4g}" for k, v in row.items()))
    return history


def prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    return [(m, "weight") for m in model.modules() if isinstance(m, LAYER_TYPES)]


def magnitude_prune(model: nn.Module, n_keep: int) -> nn.Module:
    """Keep the ``n_keep`` largest-magnitude weights over all Linear/Conv layers (biases untouched).

    The masks stay attached (forward pre-hooks of torch.nn.utils.prune) so fine-tuning keeps pruned
    weights at zero; call :func:`make_permanent` afterwards.
    """
    params = prunable_weights(model)
    total = sum(m.weight.numel() for m, _ in params)
    amount = max(0, min(total, total - int(n_keep)))
    tprune.global_unstructured(params, pruning_method=tprune.L1Unstructured, amount=amount)
    return model


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold torch.nn.utils.prune masks into the weights."""
    for m, name in prunable_weights(model):
        if tprune.is_pruned(m):
            tprune.remove(m, name)
    return model


@torch.no_grad()
def l1_filter_prune(model: nn.Module, example: torch.Tensor, flops_budget: float) -> tuple[nn.Sequential, float]:
    """L1-norm filter pruning of a chain to ``flops_budget`` (fraction of its FLOPs); returns the compacted
    model and the uniform keep ratio found by bisection."""
    dense_flops = flop_count(model, example)
    _, links = chain_links(model)
    norms = [link.layer.weight.detach().reshape(link.layer.weight.shape[0], -1).abs().sum(1) for link in links[:-1]]

    def build(ratio: float) -> nn.Sequential:
        import copy

        work = copy.deepcopy(model)
        _, wl = chain_links(work)
        for link, norm in zip(wl[:-1], norms):
            k = max(1, int(round(ratio * norm.numel())))
            drop = torch.argsort(norm, descending=True)[k:]
            link.layer.weight[drop] = 0
            if link.layer.bias is not None:
                link.layer.bias[drop] = 0
            if link.norm is not None:
                link.norm.weight[drop] = 0
                link.norm.bias[drop] = 0
        return compact(work)[0]

    lo, hi = 0.0, 1.0
    for _ in range(20):
        mid = (lo + hi) / 2
        if flop_count(build(mid), example) / dense_flops > flops_budget:
            hi = mid
        else:
            lo = mid
    return build(lo), lo


#: Torch-Pruning's importance criteria offered by :func:`torch_pruning_prune`
TP_IMPORTANCE = ("group-l2", "lamp")


def torch_pruning_prune(model: nn.Module, example: torch.Tensor, n_params: int,
                        importance: str = "group-l2") -> tuple[nn.Module, float]:
    """Structured pruning with Torch-Pruning (Fang et al., DepGraph, CVPR 2023) to at most ``n_params``
    parameters (weights and biases), the classifier's outputs kept: whole channels and neurons removed,
    ranked by ``importance``: ``group-l2`` (the L2 norm of each coupled group, the library's default) with
    the same ratio in every layer (its global mode cannot go below ~3 % of LeNet-5: a conv2 channel's group
    holds 16 columns of fc1, so conv2 is never pruned), or ``lamp`` (layer-adaptive magnitude scores, made
    for one global ranking). The ratio is the one, in a scan of steps of 0.0025, that keeps the most
    parameters within ``n_params`` (the size is not monotonic in it). Returns the physically smaller model
    and that ratio.

    Raises:
        NotAvailableError: torch-pruning is not installed (``pip install torch-pruning``).
        ConfigError: an unknown ``importance``, or no ratio gets the model down to ``n_params``.
    """
    import copy

    from chemaccel.errors import ConfigError, NotAvailableError

    try:
        import torch_pruning as tp
    except ImportError:
        raise NotAvailableError("the Torch-Pruning baseline needs torch-pruning: pip install torch-pruning") from None
    if importance not in TP_IMPORTANCE:
        raise ConfigError(f"importance must be one of {', '.join(TP_IMPORTANCE)}, got {importance!r}")
    classifier = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))][-1]
    classifier_index = list(model.modules()).index(classifier)

    def build(ratio: float) -> nn.Module:
        work = copy.deepcopy(model).eval()
        imp = (tp.importance.GroupMagnitudeImportance(p=2) if importance == "group-l2"
               else tp.importance.LAMPImportance(p=2))
        pruner = tp.pruner.MetaPruner(work, example, importance=imp, global_pruning=importance == "lamp",
                                      pruning_ratio=ratio, max_pruning_ratio=0.99,
                                      ignored_layers=[list(work.modules())[classifier_index]])
        pruner.step()
        return work

    def size(m: nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    best: tuple[int, float] | None = None
    for step in range(1, 400):
        ratio = step / 400
        n = size(build(ratio))
        if n <= n_params and (best is None or n > best[0]):
            best = (n, ratio)
    if best is None:
        raise ConfigError(f"Torch-Pruning ({importance}) cannot make this model as small as {n_params} parameters")
    return build(best[1]), best[1]
