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
4. **Self-attention over the filled positions only.** eole's self-attention cache grows 32 positions at a
   time; at every step eole attends over all of them (masking the empty ones) and copies all of them to
   reorder the beams, into newly allocated memory. Here the cache is stored time-major (position, row,
   heads, dim) in two buffers used in turn, so that reordering copies only the filled positions, in one
   ``index_select`` into the other buffer, and attention reads only those positions, without a mask when
   none is needed.

Anything the changes do not cover takes eole's code: training, attention weights requested, relative or
ALiBi positions, grouped-query heads, tensor parallelism, gated queries, and any tensor off the CPU.

Attention of a decoding step (one query per row, or the beam's queries on one source) is three plain
batched products rather than the fused kernel, which is built for long query blocks and was measured
slower for these shapes (1.05-1.7x on one thread, 1.6-2.5x on two: scripts/bench_decode_attention.py).

Measured (docs/benchmarks.md, beam 5, 1 and 2 threads): the beams are the same, the scores agree to 1e-6,
and the shipped model decodes 2.0-2.7x the reactions/s of eole's code (the Molecular Transformer
configuration 1.7-2.1x). ``scripts/bench_reaction.py --speed-only --eole-decoding`` times both in one run.
"""

from __future__ import annotations

import math
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
#: On a self-attention module: its :class:`_TimeMajorCache` (None: eole's own layout).
_TIME_MAJOR = "_chemaccel_time_major"
#: On a self-attention module, during one decoding step: how many cache positions are filled.
_FILLED = "_chemaccel_filled"
#: Attention with at most this many queries per row (a decoding step: 1, or the beam for grouped
#: cross-attention) is computed by plain batched products rather than the fused kernel.
_FEW_QUERIES = 16
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
        if vars(module).get(_TIME_MAJOR) is not None:
            setattr(module, _TIME_MAJOR, None)  # eole reads the time-major views like its own cache
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
    from eole.modules.multi_headed_attn import ContextMHA, MultiHeadedAttention, SelfMHA

    if hasattr(MultiHeadedAttention, _INSTALLED):
        return
    compute, prefill, forward = (MultiHeadedAttention._compute_attention, ContextMHA._prefill_cache,
                                 ContextMHA.forward)
    self_forward = SelfMHA.forward
    map_state, init_cache, extend_cache = (TransformerDecoder.map_state, TransformerDecoder._init_cache,
                                           TransformerDecoder._extend_cache)

    def _compute_attention(self, key, value, query, attn_mask=None, return_attn=False):
        if _on(self) and not _eole_path(self, query, bool(return_attn)):
            return _fused_attention(self, key, value, query, attn_mask, vars(self).get(_FILLED))
        return compute(self, key, value, query, attn_mask, return_attn)

    def _self_forward(self, query, attn_mask=None, return_attn=False, position_embeddings=None,
                      cache_seqlens=None, cache_slice=None, pos_ids_2d=None):
        filled, cache = None, _time_major(self)
        if cache is not None and cache_slice is not None:
            end = int(cache_slice[-1]) + 1  # this step's positions are written before attention
            if return_attn:
                cache.clear_from(end)  # eole's own attention reads (masked) every position
            else:
                filled = end
        state = vars(self)  # a plain attribute: skips nn.Module.__setattr__ at every step
        state[_FILLED] = filled
        try:
            return self_forward(self, query, attn_mask, return_attn, position_embeddings, cache_seqlens,
                                cache_slice, pos_ids_2d)
        finally:
            state[_FILLED] = None

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
        if not _on(self):
            return map_state(self, fn)
        contexts = [c for c in (getattr(layer, "context_attn", None) for layer in self.transformer_layers)
                    if c is not None and c.kcache is not None] if self.with_cross_attn else []
        selves = [(a, _time_major(a)) for a in (getattr(layer, "self_attn", None)
                                                 for layer in self.transformer_layers) if a is not None]
        selves = [(a, cache) for a, cache in selves if cache is not None]
        if not contexts and not selves:
            return map_state(self, fn)
        filled = int(self.cache_seqlens[0]) if self.cache_seqlens is not None else 0
        modules = contexts + [a for a, _ in selves]
        saved = [(c, c.kcache, c.vcache) for c in modules]
        for c in modules:
            c.kcache = c.vcache = None  # eole's map_state skips a layer without a cache
        try:
            map_state(self, fn)
        finally:
            for c, k, v in saved:
                c.kcache, c.vcache = k, v
        for c in contexts:
            _reorder_context(c, fn)
        if selves:
            rows = selves[0][0].kcache.size(0)
            selected = fn(torch.arange(rows, device=selves[0][0].kcache.device))
            index = _flat_index(selected, rows, filled)
            for a, cache in selves:
                cache.reorder(a, selected, filled, index)

    def _init_cache(self, emb, pad_mask, enc_out=None):
        init_cache(self, emb, pad_mask, enc_out)
        if _on(self):
            _to_time_major(self)

    def _extend_cache(self, threshold=1, addzeros=32):
        layers = [layer for layer in self.transformer_layers if layer.layer_type != "linear_attention"]
        caches = [_time_major(layer.self_attn) for layer in layers] if _on(self) else []
        if not caches or any(c is None for c in caches):
            return extend_cache(self, threshold, addzeros)
        # eole's bookkeeping (eole 0.6.4 ``TransformerDecoder._extend_cache``), the caches grown time-major
        filled = int(self.cache_seqlens[0])
        if not self.dynamic_shapes or self.cache_len_tgt - filled >= threshold:
            return
        for layer, cache in zip(layers, caches, strict=True):
            cache.grow(layer.self_attn, self.cache_len_tgt + addzeros, filled)
        self.cache_len_tgt += addzeros
        positions = torch.arange(self.cache_len_tgt, device=self.cache_seqlens.device)
        self.position_indices = positions.unsqueeze(0)
        extend = self.left_pad_attn_mask.new_ones(self.left_pad_attn_mask.size(0), addzeros)
        self.left_pad_attn_mask = torch.cat([self.left_pad_attn_mask, extend], dim=1)

    setattr(MultiHeadedAttention, _INSTALLED, (compute, prefill, forward, self_forward, map_state,
                                               init_cache, extend_cache))
    MultiHeadedAttention._compute_attention = _compute_attention
    SelfMHA.forward = _self_forward
    ContextMHA._prefill_cache = _prefill_cache
    ContextMHA.forward = _context_forward
    TransformerDecoder.map_state = _map_state
    TransformerDecoder._init_cache = _init_cache
    TransformerDecoder._extend_cache = _extend_cache


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
                     attn_mask: torch.Tensor | None = None,
                     filled: int | None = None) -> tuple[torch.Tensor, None]:
    """eole's ``_compute_attention`` contract: ``(batch, len, heads, dim)`` inputs, a bool mask that is True
    where attention is allowed; returns the projected context and no attention weights. ``filled``: only
    the first ``filled`` key positions hold anything (a decoding step on a time-major cache)."""
    from eole.modules.multi_headed_attn import blhd_to_bld

    if filled is not None:
        key, value = key[:, :filled], value[:, :filled]
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            attn_mask = attn_mask[None, None, :, :]
        attn_mask = attn_mask[..., : key.size(1)]  # eole's cache masks can be longer than the keys
        if filled is not None and bool(attn_mask.all()):
            attn_mask = None  # every filled position may be attended to (no left padding)
    context = _attend(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), attn_mask,
                      _scale(self)).transpose(1, 2)
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
    context = _attend(q, self.kcache, self.vcache, mask, _scale(self))
    heads = context.size(1)
    context = context.view(sources, heads, group, steps, -1).permute(0, 2, 3, 1, 4)
    return self.final_linear(context.reshape(rows, steps, -1)), None


def _attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None,
            scale: float) -> torch.Tensor:
    """Softmax attention of (batch, heads, queries, dim) on (batch, heads, keys, dim); ``mask`` True where
    a key may be attended to. A decoding step has few queries, and there three plain batched products beat
    the fused kernel, which is built for long query blocks (1.05-1.7x on one thread, 1.6-2.5x on two:
    scripts/bench_decode_attention.py); longer queries (the encoder) take the fused kernel."""
    if query.size(-2) > _FEW_QUERIES:
        with sdpa_kernel(_CPU_KERNELS):
            return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=scale)
    scores = torch.matmul(query, key.transpose(-1, -2)).mul_(scale)
    if mask is not None:
        scores.masked_fill_(~mask, torch.finfo(scores.dtype).min)
    return torch.matmul(torch.softmax(scores, dim=-1), value)


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


class _TimeMajorCache:
    """A self-attention cache stored (position, row, heads, dim) in two buffers used in turn; the module's
    ``kcache`` / ``vcache`` are (row, position, heads, dim) views of the current one, which eole writes and
    reads as its own. The buffers are not cleared (that would cost as much as the copies saved), so
    positions past the filled ones hold arbitrary values: the fast attention never reads them, and
    :meth:`clear_from` zeroes them before eole's own attention, which weighs them 0 but would turn a NaN
    there into a NaN result."""

    def __init__(self, key: torch.Tensor, value: torch.Tensor) -> None:
        self.key = key.transpose(0, 1).contiguous()
        self.value = value.transpose(0, 1).contiguous()
        self.spare_key = torch.empty_like(self.key)
        self.spare_value = torch.empty_like(self.value)

    def views(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.key.transpose(0, 1), self.value.transpose(0, 1)

    def holds(self, module: Any) -> bool:
        k = module.kcache
        return (k is not None and k.data_ptr() == self.key.data_ptr() and k.shape[0] == self.key.shape[1]
                and k.shape[1] == self.key.shape[0])

    def reorder(self, module: Any, selected: torch.Tensor, filled: int,
                index: torch.Tensor | None = None) -> None:
        """Keep rows ``selected`` (eole's beam reordering) of the first ``filled`` positions. ``index``:
        :func:`_flat_index` of the same arguments, when already made for another layer."""
        rows = self.key.size(1)
        if filled <= 0 or (selected.numel() == rows
                           and torch.equal(selected, torch.arange(rows, device=selected.device))):
            return
        shape = (self.key.size(0), selected.numel(), *self.key.shape[2:])  # fewer rows once sources finish
        self.spare_key, self.spare_value = _fit(self.spare_key, shape), _fit(self.spare_value, shape)
        if index is None:
            index = _flat_index(selected, rows, filled)
        # one gather of whole (heads x dim) rows along the first dimension: on two threads about twice as
        # fast as index_select along the row dimension of the 4-d cache (one thread: the same)
        width = self.key[0, 0].numel()
        for cache, spare in ((self.key, self.spare_key), (self.value, self.spare_value)):
            torch.index_select(cache[:filled].view(-1, width), 0, index,
                               out=spare[:filled].view(-1, width))
        self.key, self.spare_key = self.spare_key, self.key
        self.value, self.spare_value = self.spare_value, self.value
        module.kcache, module.vcache = self.views()

    def grow(self, module: Any, length: int, filled: int) -> None:
        """Make room for ``length`` positions, keeping the first ``filled``."""
        shape = (length, *self.key.shape[1:])
        key, value = self.key.new_empty(shape), self.value.new_empty(shape)
        key[:filled], value[:filled] = self.key[:filled], self.value[:filled]
        self.key, self.value = key, value
        self.spare_key, self.spare_value = torch.empty_like(key), torch.empty_like(value)
        module.kcache, module.vcache = self.views()

    def clear_from(self, position: int) -> None:
        """Zero every position from ``position`` on, for eole's attention over the whole cache."""
        self.key[position:].zero_()
        self.value[position:].zero_()


def _flat_index(selected: torch.Tensor, rows: int, filled: int) -> torch.Tensor:
    """Indices into a time-major cache of ``rows`` rows flattened to (position x row, heads x dim): rows
    ``selected`` of each of the first ``filled`` positions, in order."""
    positions = torch.arange(filled, device=selected.device).unsqueeze(1) * rows
    return (positions + selected).reshape(-1)


def _fit(buffer: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """``buffer``'s memory viewed as ``shape`` (contiguous) when it is large enough, else a new tensor; its
    values are arbitrary."""
    size = math.prod(shape)
    if buffer.is_contiguous() and buffer.numel() >= size:
        return buffer.view(-1)[:size].view(shape)
    return buffer.new_empty(shape)


def _time_major(module: Any) -> _TimeMajorCache | None:
    """The module's time-major cache, when its ``kcache`` is still a view of it."""
    cache = vars(module).get(_TIME_MAJOR)
    return cache if cache is not None and cache.holds(module) else None


def _to_time_major(decoder: Any) -> None:
    """Store each decoder self-attention cache time-major (after eole made or grew it)."""
    for layer in decoder.transformer_layers:
        attn = getattr(layer, "self_attn", None)
        if attn is None or attn.kcache is None or not _on(attn) or _eole_path(attn, attn.kcache, False):
            continue
        if _time_major(attn) is not None:
            continue
        cache = _TimeMajorCache(attn.kcache, attn.vcache)
        attn.kcache, attn.vcache = cache.views()
        setattr(attn, _TIME_MAJOR, cache)


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
