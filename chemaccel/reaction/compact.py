"""Structured pruning of a reaction Transformer: fewer attention heads and feed-forward neurons, written out
as a smaller eole model (the removed units are gone from the weights, not masked).

What decides which units stay is separate (a :class:`Structure`: by weight magnitude here,
:func:`magnitude_structure`, as the no-training baseline; by AutoPrune's gates in training). This module
does the surgery and keeps the model loadable by eole and by :func:`chemaccel.reaction.storage.load_model`:

* an attention module (``self_attn`` of every layer, ``context_attn`` of the decoder's) keeps the rows of
  its kept heads in ``linear_query`` / ``linear_keys`` / ``linear_values`` (weights and biases) and the
  matching input columns of ``final_linear``; each head keeps its width (``head_dim``), so the attention
  scaling and every kept head's output are unchanged;
* a feed-forward block keeps the rows of its kept neurons in ``mlp.gate_up_proj`` and the matching input
  columns of ``mlp.down_proj``.

A removed head or neuron contributes ``final_linear`` / ``down_proj`` columns times its output; with those
columns zero the full model computes exactly what the compact one does (the test checks the beams and
scores). eole builds the attention modules of one side (encoder or decoder) with one head count and its
feed-forward blocks with one width, so a structure keeps the same number in each module of a side; the
decoder may keep fewer than the encoder (a decoding step's time follows the decoder's heads: pruning
there is what buys speed, docs/benchmarks.md, issue 23).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import torch

from chemaccel.checkpoint import WEIGHTS_NAME, ModelInfo, expect_engine, load_safetensors, read_model_info, save_model_folder
from chemaccel.errors import ConfigError
from chemaccel.reaction.config import ReactionConfig

ATTENTION = re.compile(r"^((?:en|de)coder\.transformer_layers\.\d+\.(?:self_attn|context_attn))\.final_linear\.weight$")
FEED_FORWARD = re.compile(r"^((?:en|de)coder\.transformer_layers\.\d+\.mlp)\.down_proj\.weight$")
SIDES = ("encoder", "decoder")


def side(prefix: str) -> str:
    """``encoder`` or ``decoder``: the side of the model a module (weight-name prefix) belongs to."""
    return prefix.split(".", 1)[0]


@dataclass(frozen=True)
class Structure:
    """The units a compact model keeps.

    Attributes:
        heads: attention module (weight-name prefix, e.g. ``decoder.transformer_layers.0.context_attn``) ->
            the indices of its kept heads, in the order they will have.
        neurons: feed-forward block (``encoder.transformer_layers.2.mlp``) -> its kept neurons.
    """

    heads: Mapping[str, Sequence[int]]
    neurons: Mapping[str, Sequence[int]]

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per side (``encoder``, ``decoder``): (heads per attention module, neurons per feed-forward block);
        ConfigError when the modules of one side differ."""
        out: dict[str, tuple[int, int]] = {}
        for where in SIDES:
            heads = {len(v) for p, v in self.heads.items() if side(p) == where}
            neurons = {len(v) for p, v in self.neurons.items() if side(p) == where}
            if len(heads) != 1 or len(neurons) != 1:
                raise ConfigError(f"a compact reaction model keeps the same number of heads in every {where} "
                                  f"attention module and of neurons in every {where} feed-forward block (eole's "
                                  f"layout); got heads {sorted(heads)} and neurons {sorted(neurons)}")
            out[where] = (heads.pop(), neurons.pop())
        return out


def units(weights: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    """The attention modules and feed-forward blocks of an eole Transformer's weights (prefixes, sorted)."""
    attention = sorted(m.group(1) for name in weights if (m := ATTENTION.match(name)))
    feed_forward = sorted(m.group(1) for name in weights if (m := FEED_FORWARD.match(name)))
    return attention, feed_forward


def head_importance(weights: Mapping[str, torch.Tensor], prefix: str, head_dim: int) -> torch.Tensor:
    """Per head: the norm of its ``final_linear`` columns times that of its ``linear_values`` rows (how
    large a signal it can write into the residual stream)."""
    out = weights[f"{prefix}.final_linear.weight"].float()
    values = weights[f"{prefix}.linear_values.weight"].float()
    n = out.shape[1] // head_dim
    return torch.stack([out[:, h * head_dim:(h + 1) * head_dim].norm() * values[h * head_dim:(h + 1) * head_dim].norm()
                        for h in range(n)])


def neuron_importance(weights: Mapping[str, torch.Tensor], prefix: str) -> torch.Tensor:
    """Per neuron: the norm of its ``gate_up_proj`` row times that of its ``down_proj`` column."""
    return weights[f"{prefix}.gate_up_proj.weight"].float().norm(dim=1) * weights[f"{prefix}.down_proj.weight"].float().norm(dim=0)


def magnitude_structure(weights: Mapping[str, torch.Tensor], head_dim: int, heads: int, neurons: int,
                        decoder_heads: int | None = None, decoder_neurons: int | None = None) -> Structure:
    """Keep the ``heads`` largest heads of each attention module and the ``neurons`` largest neurons of each
    feed-forward block (:func:`head_importance`, :func:`neuron_importance`), in their original order; the
    decoder's modules keep ``decoder_heads`` / ``decoder_neurons`` when given."""
    attention, feed_forward = units(weights)

    def top(scores: torch.Tensor, k: int, what: str) -> list[int]:
        if not 1 <= k <= len(scores):
            raise ConfigError(f"keep {k} {what}: give 1 to {len(scores)}")
        return sorted(torch.topk(scores, k).indices.tolist())

    def count(prefix: str, encoder: int, decoder: int | None) -> int:
        return decoder if side(prefix) == "decoder" and decoder is not None else encoder

    return Structure({p: top(head_importance(weights, p, head_dim), count(p, heads, decoder_heads), "heads")
                      for p in attention},
                     {p: top(neuron_importance(weights, p), count(p, neurons, decoder_neurons), "neurons")
                      for p in feed_forward})


def full_structure(weights: Mapping[str, torch.Tensor], head_dim: int) -> Structure:
    """Every unit of every module kept (the starting point a partial choice, e.g. gates on the decoder's
    heads only, is laid over)."""
    attention, feed_forward = units(weights)
    return Structure({p: list(range(weights[f"{p}.final_linear.weight"].shape[1] // head_dim)) for p in attention},
                     {p: list(range(weights[f"{p}.down_proj.weight"].shape[1])) for p in feed_forward})


def shrink_weights(weights: Mapping[str, torch.Tensor], structure: Structure, head_dim: int) -> dict[str, torch.Tensor]:
    """The weights of the compact model (every other tensor as it was)."""
    attention, feed_forward = units(weights)
    if set(structure.heads) != set(attention) or set(structure.neurons) != set(feed_forward):
        raise ConfigError("the structure does not name every attention module and feed-forward block of this model")
    structure.counts()
    out = dict(weights)
    for prefix, kept in structure.heads.items():
        n = weights[f"{prefix}.final_linear.weight"].shape[1] // head_dim
        _check_kept(prefix, "heads", kept, n)
        rows = torch.cat([torch.arange(h * head_dim, (h + 1) * head_dim) for h in kept])
        _select(out, weights, [f"{prefix}.{part}" for part in ("linear_query", "linear_keys", "linear_values")],
                f"{prefix}.final_linear.weight", rows)
    for prefix, kept in structure.neurons.items():
        _check_kept(prefix, "neurons", kept, weights[f"{prefix}.down_proj.weight"].shape[1])
        _select(out, weights, [f"{prefix}.gate_up_proj"], f"{prefix}.down_proj.weight",
                torch.as_tensor(list(kept), dtype=torch.long))
    return out


def _check_kept(prefix: str, what: str, kept: Sequence[int], n: int) -> None:
    if any(not 0 <= i < n for i in kept) or len(set(kept)) != len(kept):
        raise ConfigError(f"{prefix}: {what} {list(kept)} are not distinct {what} of 0..{n - 1}")


def _select(out: dict[str, torch.Tensor], weights: Mapping[str, torch.Tensor], producers: Sequence[str],
            consumer: str, index: torch.Tensor) -> None:
    """Keep ``index``: those output rows (weight and bias) of each producer layer, those input columns of the
    consumer weight."""
    for layer in producers:
        for kind in ("weight", "bias"):
            name = f"{layer}.{kind}"
            if name in out:
                out[name] = weights[name].index_select(0, index).contiguous()
    out[consumer] = weights[consumer].index_select(1, index).contiguous()


def masked_weights(weights: Mapping[str, torch.Tensor], structure: Structure, head_dim: int) -> dict[str, torch.Tensor]:
    """The full-size weights with the removed units' ``final_linear`` / ``down_proj`` columns zeroed: the
    same function as the compact model (for checking it, and what training with closed gates computes)."""
    out = dict(weights)
    for prefix, kept in structure.heads.items():
        name = f"{prefix}.final_linear.weight"
        w = weights[name].clone()
        for h in set(range(w.shape[1] // head_dim)) - set(kept):
            w[:, h * head_dim:(h + 1) * head_dim] = 0
        out[name] = w
    for prefix, kept in structure.neurons.items():
        name = f"{prefix}.down_proj.weight"
        w = weights[name].clone()
        w[:, sorted(set(range(w.shape[1])) - set(kept))] = 0
        out[name] = w
    return out


def shrink_model(src: str | Path, out: str | Path, heads: int | None = None, neurons: int | None = None,
                 structure: Structure | None = None, decoder_heads: int | None = None,
                 decoder_neurons: int | None = None) -> Path:
    """Write a compact copy of the reaction model folder ``src`` to ``out``: ``structure``, or else the
    ``heads`` / ``neurons`` largest units of each module (:func:`magnitude_structure`; the decoder's
    ``decoder_heads`` / ``decoder_neurons``, by default as many as the encoder's). Returns ``out``.

    Raises:
        ConfigError: a count out of range, or a structure that does not fit the model.
        ModelFileError: ``src`` is not a reaction model folder.
    """
    from chemaccel.reaction.storage import ENGINE

    src = Path(src)
    info = expect_engine(read_model_info(src), ENGINE, src)
    config = ReactionConfig.from_dict(info.config)
    head_dim = config.head_width
    weights = load_safetensors(src / WEIGHTS_NAME)
    if structure is None:
        def decoder_count(decoder: int | None, encoder: int | None, now: int) -> int:
            # given for the decoder; else as the encoder's when that is given; else what the decoder has
            return decoder if decoder is not None else encoder if encoder is not None else now

        structure = magnitude_structure(
            weights, head_dim, config.heads if heads is None else heads, config.ff_size if neurons is None else neurons,
            decoder_count(decoder_heads, heads, config.n_decoder_heads),
            decoder_count(decoder_neurons, neurons, config.n_decoder_ff))
    small = shrink_weights(weights, structure, head_dim)
    counts = structure.counts()
    (n_heads, n_neurons), (dec_heads, dec_neurons) = counts["encoder"], counts["decoder"]
    new_config = config.replace(heads=n_heads, head_dim=head_dim, ff_size=n_neurons,
                                decoder_heads=0 if dec_heads == n_heads else dec_heads,
                                decoder_ff_size=0 if dec_neurons == n_neurons else dec_neurons)
    eole_config = dict(info.architecture["eole_config"])
    model = dict(eole_config["model"])
    model.update({"heads": n_heads, "head_dim": head_dim, "transformer_ff": n_neurons})
    for where in SIDES:  # each side's own shape (eole fills a side's unset fields from the top level)
        h, n = counts[where]
        model[where] = {**(model.get(where) or {f"{where}_type": "transformer", "layers": (
            config.layers if where == "encoder" else config.n_decoder_layers)}),
            "heads": h, "head_dim": head_dim, "transformer_ff": n}
    eole_config["model"] = model
    removed = {where: sum((config.heads if where == "encoder" else config.n_decoder_heads) - len(v)
                          for p, v in structure.heads.items() if side(p) == where) for where in SIDES}
    shape = (f"{n_heads} of {config.heads} heads per attention module and {n_neurons} of {config.ff_size} "
             "feed-forward neurons per block")
    if (dec_heads, dec_neurons) != (n_heads, n_neurons) or not config.same_sides:
        shape = (f"encoder {n_heads} of {config.heads} heads and {n_neurons} of {config.ff_size} neurons, decoder "
                 f"{dec_heads} of {config.n_decoder_heads} heads and {dec_neurons} of {config.n_decoder_ff} neurons "
                 "per module")
    compact = ModelInfo(
        engine=ENGINE, config=new_config.to_dict(),
        architecture={**info.architecture, "eole_config": eole_config},
        units=dict(info.units), metrics={},
        notes=(f"{src.name} with {shape} ({sum(removed.values())} heads removed in all) ({info.notes})"),
    )
    return save_model_folder(out, compact, small)
