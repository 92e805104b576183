"""Faster beam search on the CPU for eole 0.6.4 models: the same beams and scores, less time.

Three changes to how eole decodes, switched on per loaded model by :func:`enable` (a flag on each of its
modules; the code is installed once on eole's classes, and modules without the flag, such as those of a
model in training, run eole's code unchanged):

1. **Fused attention.** eole switches PyTorch's flash and math ``scaled_dot_product_attention`` kernels off
   for the whole process (``eole.utils.misc.configure_cuda_backends``), which leaves the CPU without one,
   so it computes attention by hand (``matmul`` of transposed views, masked ``softmax``, ``matmul``).
   Here attention calls ``scaled_dot_product_attention`` with the CPU kernels allowed for that call only.
2. **One cross-attention cache per source, not per beam.** eole repeats each encoded source once per
   beam before decoding, then projects, stores and reads the same keys and values ``beam`` times at every
   step. Here the projections are made once per source (the rows are checked to be equal first) and the
   ``beam`` queries of a source attend to them together, as one small matrix product instead of ``beam``
   vector products.
3. **No needless cache reordering.** After each step eole reorders every layer's caches for the beams
   it keeps, the cross-attention cache included; that cache only changes when a source has finished, so
   it is left alone otherwise, and only the sources still decoding are kept when one has.

Anything the changes do not cover takes eole's code: training, attention weights requested, relative or
ALiBi positions, grouped-query heads, tensor parallelism, gated queries, and any tensor off the CPU.

Measured (docs/benchmarks.md, beam 5, 1 and 2 threads): the beams are the same, the scores agree to 1e-6,
and the shipped model decodes 1.6-1.9x the reactions/s of eole's code (the Molecular Transformer
configuration 1.5-1.8x). ``scripts/bench_reaction.py --speed-only --eole-decoding`` times both in one run.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

#: The kernels allowed inside the fused call (eole switched both off process-wide).
_CPU_KERNELS = [SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]
#: The per-module switch. eole's attention subclasses call ``super()._compute_attention``, which skips
#: anything set on the instance, so the code is installed on eole's classes and asks each module.
_FLAG = "_chemaccel_fast_beam_search"
#: On a context-attention module: how many consecutive query rows share one source (its cache holds one
#: row per source, laid out (sources, heads, source length, dim)), or None for eole's own cache.
_GROUP = "_chemaccel_beam_group"
_INSTALLED = "_chemaccel_originals"
#: Largest beam looked for when grouping equal sources.
MAX_GROUP = 64


def enable(model: torch.nn.Module) -> int:
    """Switch the attention modules and decoders of ``model`` (an eole model) to the faster code.

    Returns:
        how many attention modules were switched (0 for a model without eole attention).
    """
    modules = _switchable(model)
    if modules:
        _install()
    for module in modules:
        setattr(module, _FLAG, True)
    return sum(1 for m in modules if _is_attention(m))


def disable(model: torch.nn.Module) -> int:
    """Put eole's own code back on every module of ``model``; returns how many attention modules changed."""
    count = 0
    for module in _switchable(model):
        if vars(module).pop(_FLAG, False) and _is_attention(module):
            count += 1
        if vars(module).get(_GROUP):
            module.kcache = module.vcache = None  # a grouped cache only the fast code can read
            setattr(module, _GROUP, None)
    return count


def is_enabled(model: torch.nn.Module) -> bool:
    """True when the attention modules of ``model`` use the faster code."""
    return any(vars(m).get(_FLAG, False) for m in _switchable(model) if _is_attention(m))


# --------------------------------------------------------------------------------------------------
# installation on eole's classes


def _switchable(model: torch.nn.Module) -> list[Any]:
    from eole.decoders.transformer import TransformerDecoder
    from eole.modules.multi_headed_attn import MultiHeadedAttention

    return [m for m in model.modules() if isinstance(m, (MultiHeadedAttention, TransformerDecoder))]


def _is_attention(module: Any) -> bool:
    from eole.modules.multi_headed_attn import MultiHeadedAttention

    return isinstance(module, MultiHeadedAttention)


def _on(module: Any) -> bool:
    return bool(vars(module).get(_FLAG, False))


def _install() -> None:
    """Put the dispatching methods on eole's classes, once."""
    from eole.decoders.transformer import TransformerDecoder
    from eole.modules.multi_headed_attn import ContextMHA, MultiHeadedAttention

    if hasattr(MultiHeadedAttention, _INSTALLED):
        return
    compute, prefill, forward = (MultiHeadedAttention._compute_attention, ContextMHA._prefill_cache,
                                 ContextMHA.forward)
    map_state = TransformerDecoder.map_state

    def _compute_attention(self, key, value, query, attn_mask=None, return_attn=False):
        if _on(self) and not _eole_path(self, query, bool(return_attn)):
            return _fused_attention(self, key, value, query, attn_mask)
        return compute(self, key, value, query, attn_mask, return_attn)

    def _prefill_cache(self, enc_out):
        setattr(self, _GROUP, None)
        group = _source_group(enc_out) if _on(self) and not _eole_path(self, enc_out, False) else 1
        if group <= 1:
            return prefill(self, enc_out)
        sources = enc_out[::group]
        key = self.linear_keys(sources).view(sources.size(0), sources.size(1), -1, self.dim_per_head)
        value = self.linear_values(sources).view(sources.size(0), sources.size(1), -1, self.dim_per_head)
        self.kcache = key.transpose(1, 2).contiguous()  # (sources, heads, source length, dim)
        self.vcache = value.transpose(1, 2).contiguous()
        setattr(self, _GROUP, group)

    def _context_forward(self, key, value, query, attn_mask=None, return_attn=False):
        group = vars(self).get(_GROUP)
        if not group or self.kcache is None:
            return forward(self, key, value, query, attn_mask, return_attn)
        if return_attn or _eole_path(self, query, False):  # eole's code, on the cache laid out its way
            self.kcache, self.vcache = _ungrouped(self.kcache, group), _ungrouped(self.vcache, group)
            setattr(self, _GROUP, None)
            return forward(self, key, value, query, attn_mask, return_attn)
        return _grouped_context_attention(self, query, attn_mask, group)

    def _map_state(self, fn):
        if not _on(self) or not self.with_cross_attn:
            return map_state(self, fn)
        contexts = [c for c in (getattr(layer, "context_attn", None) for layer in self.transformer_layers)
                    if c is not None and c.kcache is not None]
        saved = [(c, c.kcache, c.vcache) for c in contexts]
        for c in contexts:
            c.kcache = c.vcache = None  # eole's map_state skips a layer without a cache
        try:
            map_state(self, fn)
        finally:
            for c, k, v in saved:
                c.kcache, c.vcache = k, v
        for c in contexts:
            _reorder_context(c, fn)

    setattr(MultiHeadedAttention, _INSTALLED, (compute, prefill, forward, map_state))
    MultiHeadedAttention._compute_attention = _compute_attention
    ContextMHA._prefill_cache = _prefill_cache
    ContextMHA.forward = _context_forward
    TransformerDecoder.map_state = _map_state


def _eole_path(module: Any, tensor: torch.Tensor, return_attn: bool) -> bool:
    """True where the fast code would not compute what eole computes, or off the CPU: use eole's code."""
    from eole.constants import PositionEncodingType

    return bool(
        tensor.device.type != "cpu"
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


# --------------------------------------------------------------------------------------------------
# the computations


def _fused_attention(self: Any, key: torch.Tensor, value: torch.Tensor, query: torch.Tensor,
                     attn_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
    """eole's ``_compute_attention`` contract: ``(batch, len, heads, dim)`` inputs, a bool mask that is True
    where attention is allowed; returns the projected context and no attention weights."""
    from eole.modules.multi_headed_attn import blhd_to_bld

    if attn_mask is not None:
        if attn_mask.dim() == 2:
            attn_mask = attn_mask[None, None, :, :]
        attn_mask = attn_mask[..., : key.size(1)]  # eole's cache masks can be longer than the keys
    with sdpa_kernel(_CPU_KERNELS):
        context = F.scaled_dot_product_attention(query.transpose(1, 2), key.transpose(1, 2),
                                                 value.transpose(1, 2), attn_mask=attn_mask,
                                                 scale=_scale(self)).transpose(1, 2)
    return self.final_linear(blhd_to_bld(context)), None


def _grouped_context_attention(self: Any, query: torch.Tensor, attn_mask: torch.Tensor | None,
                               group: int) -> tuple[torch.Tensor, None]:
    """Cross-attention of ``group`` consecutive query rows (the beams of one source) on that source's one
    cache row. ``query``: the decoder states (rows, steps, hidden); the mask (rows, 1, 1 or steps, source
    length) is True where a source token may be attended to."""
    rows, steps, _ = query.shape
    sources = rows // group
    q = self.linear_query(query).view(sources, group, steps, -1, self.dim_per_head)
    q = q.permute(0, 3, 1, 2, 4).reshape(sources, -1, group * steps, self.dim_per_head)
    mask = None
    if attn_mask is not None:
        if attn_mask.dim() == 3:
            attn_mask = attn_mask.unsqueeze(1)
        mask = attn_mask.reshape(sources, group, -1, attn_mask.size(-2), attn_mask.size(-1))[:, 0]
        mask = mask[..., : self.kcache.size(2)]  # (sources, 1, 1 or steps, source length)
        if mask.size(-2) != 1:
            mask = mask.repeat(1, 1, group, 1)
    with sdpa_kernel(_CPU_KERNELS):
        context = F.scaled_dot_product_attention(q, self.kcache, self.vcache, attn_mask=mask,
                                                 scale=_scale(self))
    heads = context.size(1)
    context = context.view(sources, heads, group, steps, -1).permute(0, 2, 3, 1, 4)
    return self.final_linear(context.reshape(rows, steps, -1)), None


def _scale(module: Any) -> float:
    return module.dim_per_head ** -0.5 if module.scale is None else module.scale


def _source_group(enc_out: torch.Tensor) -> int:
    """The largest ``g`` <= :data:`MAX_GROUP` such that every run of ``g`` consecutive rows of ``enc_out``
    (rows, source length, hidden) holds one and the same tensor (eole repeats each source once per beam);
    1 when there is none."""
    rows = enc_out.size(0)
    for g in range(min(MAX_GROUP, rows), 1, -1):
        if rows % g:
            continue
        grouped = enc_out.view(rows // g, g, *enc_out.shape[1:])
        if torch.equal(grouped, grouped[:, :1].expand_as(grouped)):
            return g
    return 1


def _ungrouped(cache: torch.Tensor, group: int) -> torch.Tensor:
    """A grouped cache (sources, heads, length, dim) back in eole's layout (rows, length, heads, dim)."""
    return cache.transpose(1, 2).repeat_interleave(group, dim=0)


def _reorder_context(module: Any, fn: Any) -> None:
    """Keep a cross-attention cache in step with eole's reordering ``fn`` of the rows (beams)."""
    group = vars(module).get(_GROUP)
    rows = module.kcache.size(0) * (group or 1)
    selected = fn(torch.arange(rows, device=module.kcache.device))
    if group:
        kept = selected.numel() // group
        by_source = selected[: kept * group].view(kept, group) // group
        if selected.numel() == kept * group and bool((by_source == by_source[:, :1]).all()):
            if kept != module.kcache.size(0) or not torch.equal(by_source[:, 0], torch.arange(kept)):
                module.kcache, module.vcache = module.kcache[by_source[:, 0]], module.vcache[by_source[:, 0]]
            return
        # rows of different sources now share a group: back to eole's layout, then reorder as eole does
        module.kcache, module.vcache = _ungrouped(module.kcache, group), _ungrouped(module.vcache, group)
        setattr(module, _GROUP, None)
    if not torch.equal(selected, torch.arange(rows, device=selected.device)):
        module.kcache, module.vcache = fn(module.kcache), fn(module.vcache)
