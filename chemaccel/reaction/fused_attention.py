"""Beam search on the CPU through PyTorch's fused attention kernel: the same numbers, less time.

eole 0.6.4 computes attention on the CPU by hand (``matmul`` of transposed views, masked ``softmax``,
``matmul``), because at start-up it switches PyTorch's flash and math ``scaled_dot_product_attention``
kernels off for the whole process (``eole.utils.misc.configure_cuda_backends``), which leaves the CPU
without one. :func:`enable` switches the attention modules of a loaded model to
``scaled_dot_product_attention`` with the CPU kernels allowed for that call only (a flag per module; the
dispatch is installed once on eole's attention class, and modules without the flag, such as those of a
model in training, run eole's code unchanged). It falls back to eole's own code for anything it does
not cover (training, dropout, attention weights requested,
relative or ALiBi positions, grouped-query heads, tensor parallelism, gated queries).

Measured on the shipped model and the Molecular Transformer configuration (beam 5, one thread): the beams
are the same and the scores agree to 1e-6; 13-19 % more reactions/s for both (docs/benchmarks.md).
``scripts/bench_reaction.py --speed-only --attention`` times both paths in one run.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

#: The kernels allowed inside the fused call (eole switched both off process-wide).
_CPU_KERNELS = [SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]
#: The per-module switch. eole's attention subclasses call ``super()._compute_attention``, which skips
#: anything set on the instance, so the fused code is installed once on eole's class and asks each module.
_FLAG = "_chemaccel_fused_attention"
_ORIGINAL = "_chemaccel_eole_compute_attention"


def enable(model: torch.nn.Module) -> int:
    """Route every attention module of ``model`` (an eole model) through the fused kernel where it
    computes what eole computes.

    Returns:
        how many attention modules were switched (0 for a model without eole attention).
    """
    modules = _attention_modules(model)
    if modules:
        _install()
    for module in modules:
        setattr(module, _FLAG, True)
    return len(modules)


def disable(model: torch.nn.Module) -> int:
    """Put eole's own attention back on every module of ``model``; returns how many were switched."""
    count = 0
    for module in _attention_modules(model):
        if vars(module).pop(_FLAG, False):
            count += 1
    return count


def is_enabled(model: torch.nn.Module) -> bool:
    """True when at least one attention module of ``model`` uses the fused kernel."""
    return any(vars(module).get(_FLAG, False) for module in _attention_modules(model))


def _attention_modules(model: torch.nn.Module) -> list[Any]:
    from eole.modules.multi_headed_attn import MultiHeadedAttention

    return [m for m in model.modules() if isinstance(m, MultiHeadedAttention)]


def _install() -> None:
    """Put the dispatching ``_compute_attention`` on eole's class (once); modules without the flag run
    eole's original method unchanged."""
    from eole.modules.multi_headed_attn import MultiHeadedAttention

    if hasattr(MultiHeadedAttention, _ORIGINAL):
        return
    original = MultiHeadedAttention._compute_attention

    def _compute_attention(self, key, value, query, attn_mask=None, return_attn=False):
        if vars(self).get(_FLAG, False) and not _eole_path(self, query, bool(return_attn)):
            return _fused_compute_attention(self, key, value, query, attn_mask)
        return original(self, key, value, query, attn_mask, return_attn)

    setattr(MultiHeadedAttention, _ORIGINAL, original)
    MultiHeadedAttention._compute_attention = _compute_attention


def _eole_path(module: Any, query: torch.Tensor, return_attn: bool) -> bool:
    """True where the fused call would not compute what eole computes, or off the CPU (eole has its own
    fused path there): use eole's code."""
    from eole.constants import PositionEncodingType

    return bool(
        query.device.type != "cpu"
        or return_attn
        or module.training
        or module.heads_kv < module.heads
        or getattr(module, "relative_attention_bias", None) is not None
        or getattr(module, "relative_positions_embeddings", None) is not None
        or getattr(module, "position_encoding_type", None) in (PositionEncodingType.Relative,
                                                               PositionEncodingType.Alibi)
        or getattr(module, "q_gating", False)
        or getattr(module, "parallel_gpu", 1) > 1
    )


def _fused_compute_attention(self: Any, key: torch.Tensor, value: torch.Tensor, query: torch.Tensor,
                             attn_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
    """eole's ``_compute_attention`` contract: ``(batch, len, heads, dim)`` inputs, a bool mask that is True
    where attention is allowed; returns the projected context and no attention weights."""
    from eole.modules.multi_headed_attn import blhd_to_bld

    if attn_mask is not None:
        if attn_mask.dim() == 2:
            attn_mask = attn_mask[None, None, :, :]
        attn_mask = attn_mask[..., : key.size(1)]  # eole's cache masks can be longer than the keys
    scale = self.dim_per_head ** -0.5 if self.scale is None else self.scale
    with sdpa_kernel(_CPU_KERNELS):
        context = F.scaled_dot_product_attention(query.transpose(1, 2), key.transpose(1, 2),
                                                 value.transpose(1, 2), attn_mask=attn_mask,
                                                 scale=scale).transpose(1, 2)
    return self.final_linear(blhd_to_bld(context)), None
