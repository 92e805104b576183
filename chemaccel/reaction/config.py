"""The reaction engine's configuration: one frozen dataclass, two presets.

:class:`ReactionConfig` holds the architecture of the translation model and how it is trained. The
CLI builds it from flags, the GUI from a form, tests from literals; :meth:`ReactionConfig.from_dict`
rejects unknown keys. :mod:`chemaccel.reaction.eole_bridge` maps it onto eole's pydantic configs.

Presets (:data:`PRESETS`):

* ``low`` - the product: a low-capacity transformer (3 + 3 layers, width 192, 4 heads, feed-forward
  384: 2.25M parameters with the USPTO-50K vocabulary of 83 tokens), under 1/5 of the baseline. Its
  warm-up is shorter (2,000 steps) because it is meant to be trained on a CPU budget.
* ``mt`` - the baseline: the Molecular Transformer (Schwaller et al. 2019): 4 + 4 layers, width 256,
  8 heads, feed-forward 2048: 11.6M parameters with the same vocabulary.

Both train with Adam and the Noam schedule on token batches, as the Molecular Transformer did.
``decoder_layers`` gives the decoder its own depth: beam search runs the decoder once per token and beam,
so the decoder is where inference time goes (see
:func:`chemaccel.reaction.storage.drop_decoder_layers` for pruning decoder layers of a trained model).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from chemaccel.config_base import config_from_dict
from chemaccel.errors import ConfigError

#: Named configurations (architecture and schedule); anything may be overridden.
PRESETS: dict[str, dict[str, Any]] = {
    "low": {"layers": 3, "hidden_size": 192, "heads": 4, "ff_size": 384, "warmup_steps": 2000},
    "mt": {"layers": 4, "hidden_size": 256, "heads": 8, "ff_size": 2048, "warmup_steps": 8000},
}


@dataclass(frozen=True)
class ReactionConfig:
    """Architecture and training of a reaction translation model.

    Attributes:
        preset: the preset these values started from ("low", "mt" or "custom"); informational.
        layers: encoder layers (and decoder layers unless ``decoder_layers`` says otherwise).
        decoder_layers: decoder layers (0: as many as ``layers``). Beam search runs the decoder once per
            token and beam, so a shallower decoder is where inference time is saved.
        hidden_size: model width (embeddings and attention).
        heads: attention heads; must divide ``hidden_size`` unless ``head_dim`` is given.
        head_dim: width of each head (0: ``hidden_size // heads``). A model whose heads were pruned
            (:mod:`chemaccel.reaction.compact`) keeps its heads' width with fewer of them.
        ff_size: hidden size of each feed-forward block.
        decoder_heads: attention heads of each decoder layer (0: ``heads``). A decoding step's time grows
            with the decoder's heads, hardly with anything of the encoder (docs/benchmarks.md, issue 23), so
            a pruned model may keep fewer heads there; every head keeps ``head_width``.
        decoder_ff_size: feed-forward size of each decoder layer (0: ``ff_size``).
        dropout: dropout probability in the transformer blocks.
        attention_dropout: dropout on attention weights.
        max_tokens: longest input or target in SMILES tokens; longer training pairs are skipped, longer
            inputs at prediction time are reported per row.
        steps: optimizer steps to train (in total, counting a resumed run's earlier steps).
        batch_tokens: tokens per training batch (source and target padded, eole's ``tokens`` batches).
        learning_rate: Noam scale factor (the Molecular Transformer used 2.0).
        warmup_steps: Noam warm-up steps.
        adam_beta2: Adam's second-moment decay (0.998 as in OpenNMT's transformer recipe).
        label_smoothing: label smoothing of the cross-entropy.
        max_grad_norm: gradient clipping (0: none).
        save_every: steps between checkpoints (a cancelled run also leaves one).
        keep_checkpoints: checkpoints kept in the work folder (the newest ones).
        average_last: checkpoints averaged into the exported model (1: the last one only).
        valid_every: steps between validation (loss and token accuracy on the validation split).
        augment: extra randomized-SMILES copies of each training reaction (0: canonical only).
        extra_mit_valid: also train on the USPTO-MIT validation split (never its test split).
        seed: random seed (data order, initialisation, augmentation).
        reagents: what the model reads of a typed reaction (:mod:`chemaccel.reaction.reagents`): ``drop``
            (trained on reactants only: known reagents, and the part after the first '>', are set aside
            before the model sees the input) or ``mixed`` (reactants and reagents together).
        min_token_count: SMILES tokens seen fewer times in the training corpus stay out of the vocabulary and
            are read as ``<unk>`` in training, so the model learns to read past a token it does not know;
            such a model (``min_token_count`` > 1) reads an unknown token in use as ``<unk>`` too (the note
            names it) instead of refusing the reaction. 1: every token is in the vocabulary, and a reaction
            with an unknown token is refused.
    """

    preset: str = "low"
    layers: int = 3
    decoder_layers: int = 0
    hidden_size: int = 192
    heads: int = 4
    head_dim: int = 0
    ff_size: int = 384
    decoder_heads: int = 0
    decoder_ff_size: int = 0
    dropout: float = 0.1
    attention_dropout: float = 0.1
    max_tokens: int = 250
    steps: int = 100_000
    batch_tokens: int = 4096
    learning_rate: float = 2.0
    warmup_steps: int = 2000
    adam_beta2: float = 0.998
    label_smoothing: float = 0.0
    max_grad_norm: float = 0.0
    save_every: int = 1000
    keep_checkpoints: int = 5
    average_last: int = 5
    valid_every: int = 1000
    augment: int = 0
    extra_mit_valid: bool = False
    seed: int = 0
    reagents: str = "drop"
    min_token_count: int = 1

    @property
    def head_width(self) -> int:
        """Width of each attention head (``head_dim``, or ``hidden_size // heads``)."""
        return self.head_dim or self.hidden_size // self.heads

    def __post_init__(self) -> None:
        positive = ("layers", "hidden_size", "heads", "ff_size", "max_tokens", "steps", "batch_tokens",
                    "warmup_steps", "save_every", "keep_checkpoints", "average_last", "valid_every",
                    "min_token_count")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"reaction config: {name} must be a positive integer, got {value!r}")
        for name in ("augment", "seed", "decoder_layers", "head_dim", "decoder_heads", "decoder_ff_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"reaction config: {name} must be a non-negative integer, got {value!r}")
        for name in ("dropout", "attention_dropout", "label_smoothing"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
                raise ConfigError(f"reaction config: {name} must be in [0, 1), got {value!r}")
        for name in ("learning_rate", "adam_beta2", "max_grad_norm"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"reaction config: {name} must be a non-negative number, got {value!r}")
        if not 0.0 < self.adam_beta2 < 1.0:
            raise ConfigError(f"reaction config: adam_beta2 must be in (0, 1), got {self.adam_beta2!r}")
        if not self.head_dim and self.hidden_size % self.heads:
            raise ConfigError(
                f"reaction config: heads ({self.heads}) must divide hidden_size ({self.hidden_size})"
            )
        if self.decoder_heads and self.decoder_heads != self.heads and not self.head_dim:
            raise ConfigError("reaction config: decoder_heads other than heads needs head_dim (each head's "
                              "width), as a pruned model's config has")
        if self.average_last > self.keep_checkpoints:
            raise ConfigError(
                f"reaction config: average_last ({self.average_last}) cannot exceed keep_checkpoints "
                f"({self.keep_checkpoints})"
            )
        if not isinstance(self.extra_mit_valid, bool):
            raise ConfigError(f"reaction config: extra_mit_valid must be true or false, got {self.extra_mit_valid!r}")
        if self.reagents not in ("drop", "mixed"):
            raise ConfigError(f"reaction config: reagents must be 'drop' or 'mixed', got {self.reagents!r}")
        if not isinstance(self.preset, str) or not self.preset:
            raise ConfigError(f"reaction config: preset must be a name, got {self.preset!r}")

    @property
    def n_decoder_layers(self) -> int:
        """Decoder layers of this configuration (``decoder_layers``, or ``layers`` when it is 0)."""
        return self.decoder_layers or self.layers

    @property
    def n_decoder_heads(self) -> int:
        """Attention heads of each decoder layer (``decoder_heads``, or ``heads`` when it is 0)."""
        return self.decoder_heads or self.heads

    @property
    def n_decoder_ff(self) -> int:
        """Feed-forward size of each decoder layer (``decoder_ff_size``, or ``ff_size`` when it is 0)."""
        return self.decoder_ff_size or self.ff_size

    @property
    def same_sides(self) -> bool:
        """True when the decoder has the encoder's depth, heads and feed-forward size."""
        return (self.n_decoder_layers, self.n_decoder_heads, self.n_decoder_ff) == (self.layers, self.heads, self.ff_size)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> "ReactionConfig":
        """The preset ``name`` ("low" or "mt") with ``overrides`` applied (unknown keys rejected)."""
        if name not in PRESETS:
            raise ConfigError(f"unknown reaction preset {name!r}: choose one of {', '.join(PRESETS)}")
        return cls.from_dict({**PRESETS[name], "preset": name, **overrides})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ReactionConfig":
        """Build from a mapping (e.g. JSON); unknown keys are a :class:`ConfigError`."""
        return config_from_dict(cls, data, "reaction")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_dict(to_dict())`` gives an equal config."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "ReactionConfig":
        """A copy with ``changes`` (validated)."""
        return self.from_dict({**self.to_dict(), **changes})
