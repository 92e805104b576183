"""Measuring a (pruned) model: parameters, non-zeros, FLOPs, CPU latency and per-layer sparsity.

Used to report AutoPrune (Xiao, Wang and Rajasekaran, NeurIPS 2019) results honestly:

* ``params_total``: every parameter element of the model (weights, biases, norms) of the *reference*
  dense architecture when one is given, else of the model as it is; ``params_nonzero``: non-zero elements
  of the model as stored; ``compression = params_total / params_nonzero``.
* FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` for one sample (it counts
  ``2 * multiply-accumulates`` of matmuls and convolutions, not biases, activations or pooling).
  For a masked dense model (unstructured pruning: zeros in dense tensors) FlopCounterMode still counts
  the zeros, so the *effective* FLOPs are computed per Linear/Conv layer as
  ``2 * output positions * non-zero weights`` (what a sparse kernel would execute) and substituted for
  that layer's dense count. For a compacted model the tensors are dense and both counts agree.
* latency: the median of ``repeats`` timed forward passes on the CPU after warm-up, in milliseconds, with
  whatever thread count the process uses (set ``OMP_NUM_THREADS`` to compare fairly).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d)


@dataclass(frozen=True)
class LayerStats:
    """One Linear/Conv layer: shape, parameters, non-zeros and FLOPs for one sample."""

    name: str
    kind: str
    shape: tuple[int, ...]
    params: int
    nonzero: int
    positions: int
    flops_dense: int
    flops: int

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero / max(1, self.params)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "shape": list(self.shape), "params": self.params,
                "nonzero": self.nonzero, "sparsity": self.sparsity, "flops_dense": self.flops_dense,
                "flops": self.flops}


def count_params(model: nn.Module) -> int:
    """Number of parameter elements."""
    return int(sum(p.numel() for p in model.parameters()))


def count_nonzero(model: nn.Module) -> int:
    """Number of non-zero parameter elements."""
    return int(sum(int(torch.count_nonzero(p.detach())) for p in model.parameters()))


def flop_count(model: nn.Module, example: torch.Tensor) -> int:
    """Total FLOPs of one forward pass on ``example`` by FlopCounterMode (zeros counted as work)."""
    was = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example)
    model.train(was)
    return int(counter.get_total_flops())


def layer_stats(model: nn.Module, example: torch.Tensor) -> list[LayerStats]:
    """Per Linear/Conv layer statistics for one sample ``example`` (batch dimension of size 1)."""
    positions: dict[str, int] = {}
    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, LAYER_TYPES):
            def hook(m, inp, out, name=name):
                positions[name] = int(out.numel() // (out.shape[0] * m.weight.shape[0]))
            handles.append(mod.register_forward_hook(hook))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    rows = []
    for name, mod in model.named_modules():
        if isinstance(mod, LAYER_TYPES) and name in positions:
            w = mod.weight.detach()
            params = w.numel() + (mod.bias.numel() if mod.bias is not None else 0)
            nz = int(torch.count_nonzero(w)) + (int(torch.count_nonzero(mod.bias)) if mod.bias is not None else 0)
            pos = positions[name] * int(example.shape[0])
            rows.append(LayerStats(name, type(mod).__name__, tuple(w.shape), params, nz, positions[name],
                                   2 * pos * w.numel(), 2 * pos * int(torch.count_nonzero(w))))
    return rows


def effective_flops(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    """``(effective FLOPs, FlopCounterMode FLOPs)`` for ``example``; see the module docstring."""
    counted = flop_count(model, example)
    rows = layer_stats(model, example)
    return counted - sum(r.flops_dense - r.flops for r in rows), counted


def latency_ms(model: nn.Module, example: torch.Tensor, repeats: int = 50, warmup: int = 5) -> float:
    """Median wall time of one forward pass on ``example`` in milliseconds."""
    was = model.training
    model.eval()
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(example)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(example)
            times.append((time.perf_counter() - t0) * 1000.0)
    model.train(was)
    return float(statistics.median(times))


def measure(
    model: nn.Module,
    example: torch.Tensor,
    reference: nn.Module | None = None,
    latency_repeats: int = 50,
    latency_batch: int = 1,
) -> dict[str, Any]:
    """All figures of a model as a JSON-able dict (keys of ``evaluate --json`` without the error).

    Args:
        model: the model as stored (masked dense, or compacted).
        example: one input sample with a batch dimension of 1 (on the model's device).
        reference: the dense original architecture (any weights) for ``params_total`` and ``flops_dense``;
            None uses ``model`` itself.
        latency_repeats: timed repeats (0 skips latency).
        latency_batch: batch size of the timed forward passes.
    """
    ref = reference if reference is not None else model
    params_total = count_params(ref)
    nonzero = count_nonzero(model)
    flops, _ = effective_flops(model, example)
    flops_dense = flop_count(ref, example)
    rows = layer_stats(model, example)
    out: dict[str, Any] = {
        "params_total": params_total,
        "params_stored": count_params(model),
        "params_nonzero": nonzero,
        "compression": params_total / max(1, nonzero),
        "flops": flops,
        "flops_dense": flops_dense,
        "flops_fraction": flops / max(1, flops_dense),
        "layers": [r.to_json() for r in rows],
    }
    if latency_repeats > 0:
        batch = example.expand(latency_batch, *example.shape[1:]).contiguous()
        out["latency_ms"] = latency_ms(model, batch, latency_repeats)
        out["latency_batch"] = latency_batch
        if reference is not None:
            out["latency_dense_ms"] = latency_ms(reference, batch, latency_repeats)
    return out


def format_table(stats: dict[str, Any]) -> str:
    """A plain-text table of ``measure()``'s per-layer rows and totals, for the terminal."""
    head = f"{'layer':<14}{'type':<8}{'shape':<18}{'params':>9}{'nonzero':>9}{'sparsity':>9}{'MFLOPs':>9}{'dense':>9}"
    lines = [head, "-" * len(head)]
    for r in stats.get("layers", []):
        shape = "x".join(str(s) for s in r["shape"])
        lines.append(f"{r['name']:<14}{r['kind'][:7]:<8}{shape:<18}{r['params']:>9}{r['nonzero']:>9}"
                     f"{r['sparsity']:>9.1%}{r['flops'] / 1e6:>9.3f}{r['flops_dense'] / 1e6:>9.3f}")
    lines.append("-" * len(head))
    lines.append(f"params {stats['params_nonzero']} non-zero of {stats['params_total']} "
                 f"({stats['compression']:.1f}x compression, {stats.get('params_stored', 0)} stored); "
                 f"FLOPs {stats['flops'] / 1e6:.3f} M of {stats['flops_dense'] / 1e6:.3f} M "
                 f"({stats['flops_fraction']:.1%})")
    for key, label in (("test_error", "test error"), ("latency_ms", "latency (ms)"),
                       ("latency_dense_ms", "dense latency (ms)")):
        if key in stats and stats[key] is not None:
            value = stats[key]
            lines.append(f"{label}: {value:.2%}" if key == "test_error" else f"{label}: {value:.3f}")
    return "\n".join(lines)


def summarize(rows: Sequence[LayerStats]) -> dict[str, int]:
    """Totals of :func:`layer_stats` rows."""
    return {"params": sum(r.params for r in rows), "nonzero": sum(r.nonzero for r in rows),
            "flops_dense": sum(r.flops_dense for r in rows), "flops": sum(r.flops for r in rows)}
