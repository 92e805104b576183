"""A loaded reaction model: top-k product prediction by beam search.

:class:`ReactionModel` wraps eole's in-memory inference engine (``InferenceEnginePY.infer_list``: top-k
strings and scores, no files). Each input row becomes a :class:`ReactionPrediction` with a status, so a
bad row (not SMILES, too long, tokens the model never saw) is reported and the others are predicted.

Example::

    from chemaccel import load_model
    model = load_model("resources/models/uspto-forward-reagents")
    for row in model.predict(["CC(=O)O.OCC"], k=5):
        print(row.status, [(c.smiles, c.valid, round(c.score, 3)) for c in row.candidates])
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from chemaccel.chem.reactions import canonicalize_smiles, detokenize, split_reaction, tokenize
from chemaccel.chem.records import shown
from chemaccel.errors import ConfigError
from chemaccel.reaction import eole_bridge, fast_beam_search
from chemaccel.reaction.config import ReactionConfig

OK = "ok"
UNKNOWN_TOKEN = "<unk>"  # eole's unknown token: what a model with min_token_count > 1 learnt to read past


#: predict decodes ``k + BEAM_MARGIN`` beams (at least :data:`CONFIDENCE_BEAM`) to show ``k``: the beam also
#: returns starting materials, repeats and strings rdkit rejects, which :func:`rank_candidates` moves down.
#: On 1,000 corpus validation reactions (shipped uspto-forward-reagents, 2026-12-07) top-5 rose from 0.603 at
#: beam 5 to 0.622 at beam 7 (0.630 at beam 10), top-1 0.457 both, for 22 % more time.
BEAM_MARGIN = 2

#: the beam the confidence is calibrated at (scripts/calibrate_reaction_confidence.py) and the smallest
#: predict decodes with, so ``-k 1`` gets the same top-1 and confidence as ``-k 5``
CONFIDENCE_BEAM = 7


@dataclass(frozen=True)
class Candidate:
    """One predicted product.

    Attributes:
        smiles: canonical SMILES when valid, else the raw decoded string.
        valid: rdkit parses and sanitizes it.
        score: the beam's length-normalised log-probability (higher is better; 0 is certain).
        unchanged: the product is one of the molecules typed as input: the model predicts no reaction.
            Ranked after every other valid product (see :func:`rank_candidates`).
    """

    smiles: str
    valid: bool
    score: float
    unchanged: bool = False


@dataclass(frozen=True)
class ReactionPrediction:
    """The prediction for one input row.

    Attributes:
        input: the row as given.
        status: ``"ok"`` or a one-line reason why this row was not predicted.
        candidates: the beam's products, best first (empty unless ``status == "ok"``): valid products
            first in beam order, each molecule once (two spellings of one product are one candidate),
            then the invalid strings in beam order, so ``candidates[0]`` is a valid product whenever
            the beam found one. At most ``k``; fewer when the beam repeated a molecule.
        note: what was done to the input, e.g. the reagents set aside for a reactants-only model.
        confidence: the calibrated probability that the top-1 product is right
            (:mod:`chemaccel.reaction.confidence`), None when the model has no calibration or no valid product.
    """

    input: str
    status: str
    candidates: list[Candidate] = field(default_factory=list)
    note: str = ""
    confidence: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def top1(self) -> str:
        """The best product's SMILES ("" when none)."""
        return self.candidates[0].smiles if self.candidates else ""


def prepare_input(text: str) -> str:
    """Reactant SMILES for the model from one input: ``reactants``, ``reactants>>`` or ``a>b>c``.

    Reagents are joined to the reactants (the USPTO "mixed" convention); a product part, if present,
    is ignored. The result is rdkit-canonical, the form the model was trained on.

    Raises:
        ValueError: empty, not a reaction or SMILES, or rdkit cannot parse it (the reason says which).
    """
    return canonicalize_smiles(reactant_text(text))


def reactant_text(text: str) -> str:
    """The reactant side of one input as written (reagents joined), checked to parse with rdkit.

    Raises:
        ValueError: as :func:`prepare_input`.
    """
    line = text.strip()
    if not line:
        raise ValueError("empty input")
    if ">" in line:
        parts = split_reaction(line)
        line = ".".join(p for p in (parts.reactants, parts.reagents) if p)
        if not line:
            raise ValueError(f"{shown(text.strip())} has no reactants before '>'")
    if any(ch.isspace() for ch in line):
        raise ValueError(f"{shown(line)} is not a SMILES (it contains whitespace)")
    try:
        canonicalize_smiles(line)
    except ValueError as exc:
        raise ValueError(f"not a valid reactant SMILES: {exc}") from None
    return line


def _candidate(text: str, score: float) -> Candidate:
    raw = detokenize(text)
    try:
        return Candidate(canonicalize_smiles(raw), True, score)
    except ValueError:
        return Candidate(raw, False, score)


def rank_candidates(candidates: Sequence[Candidate], inputs: frozenset[str] = frozenset()) -> list[Candidate]:
    """Beam candidates (best first) as a chemist reads them: valid products first, each molecule once,
    then the starting materials the beam gave back unchanged, then the strings rdkit rejects.

    The beam can spend its slots on strings rdkit rejects and on two spellings of one product; moving
    the valid ones up and keeping the best-scored spelling of each gives more distinct products per
    beam. On 500 USPTO-50K validation reactions it raised top-1 from 0.482 to 0.496 (beam 5).

    ``inputs``: canonical SMILES of the molecules typed as input (:func:`~chemaccel.reaction.reagents.read_input`).
    A candidate equal to one of them is a prediction of no reaction, never the answer in reaction data
    (the corpus builder drops reactions whose product is among their reactants); it is marked
    ``unchanged`` and moved after the real products. The shipped model's beam (5) put one first in 15 % of
    2,000 corpus validation reactions; moving it lifted top-1 from 0.433 to 0.457 on 1,000 of them (issue 20).
    """
    valid: list[Candidate] = []
    unchanged: list[Candidate] = []
    seen: set[str] = set()
    for c in candidates:
        if c.valid and c.smiles not in seen:
            seen.add(c.smiles)
            if c.smiles in inputs:
                unchanged.append(replace(c, unchanged=True))
            else:
                valid.append(c)
    return valid + unchanged + [c for c in candidates if not c.valid]


class ReactionModel:
    """A trained reaction model, ready to predict (build it with :func:`chemaccel.reaction.load_model`).

    Args:
        config: the engine config the model was trained with.
        eole_config: eole's own config.json content of the checkpoint.
        vocab: eole's vocab.json content.
        weights: the safetensors file.
        device: ``cpu`` or ``cuda:0``.
        info: the model folder's metadata (metrics, notes), if loaded from one.
    """

    def __init__(self, config: ReactionConfig, eole_config: dict[str, Any], vocab: dict[str, Any], weights: Path,
                 device: str | torch.device = "cpu", info: Any = None) -> None:
        self.config = config
        self.info = info
        self.vocab_tokens = set(vocab.get("src", []))
        self.device = torch.device(device)
        self._engine = self._build_engine(eole_config, vocab, weights)
        self.num_parameters = sum(p.numel() for p in self._engine.predictor.model.parameters())
        self.use_fast_beam_search(self.device.type == "cpu")

    def use_fast_beam_search(self, on: bool = True) -> None:
        """Decode with chemaccel's faster beam search (``on``, the default on the CPU: the same beams and
        scores in less time) or eole's own code. See :mod:`chemaccel.reaction.fast_beam_search`."""
        model = self._engine.predictor.model
        if on:
            fast_beam_search.enable(model)
        else:
            fast_beam_search.disable(model)

    @property
    def module(self) -> torch.nn.Module:
        """The eole encoder-decoder module that decodes (eval mode; e.g. a distilling teacher's forward pass,
        after ``use_fast_beam_search(False)``)."""
        return self._engine.predictor.model

    @property
    def fast_beam_search(self) -> bool:
        """True when decoding uses chemaccel's faster beam search (see :meth:`use_fast_beam_search`)."""
        return fast_beam_search.is_enabled(self._engine.predictor.model)

    def _build_engine(self, eole_config: dict[str, Any], vocab: dict[str, Any], weights: Path) -> Any:
        device_id = eole_bridge.eole_device(self.device)
        with eole_bridge.quiet_eole():
            from eole.config.run import PredictConfig
            from eole.inference_engine import InferenceEnginePY
        tmp = Path(tempfile.mkdtemp(prefix="chemaccel-reaction-"))
        try:
            eole_bridge.write_eole_folder(tmp, eole_config, vocab, weights)
            with eole_bridge.eole_log(None):
                settings = PredictConfig(
                    model_path=str(tmp), src="<memory>", beam_size=5, n_best=5,
                    # one length cap for every row (eole's default also caps at twice the batch's longest
                    # source): a row's beam then does not depend on which rows share its batch
                    max_length=self.config.max_tokens, max_length_ratio=0, batch_size=32, batch_type="sents", world_size=1,
                    gpu_ranks=[] if device_id < 0 else [0], compute_dtype="fp32", self_attn_backend="pytorch",
                    seed=self.config.seed,
                )
                return InferenceEnginePY(settings)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # the weights are in memory now

    def predict(self, reactions: Iterable[str], k: int = 5, batch_size: int = 128,
                rank: bool = True) -> list[ReactionPrediction]:
        """Predict the top-``k`` products of each reaction, in input order.

        Args:
            reactions: reactant SMILES (``"CC(=O)O.OCC"``), or ``reactants>>`` / ``reactants>reagents>``.
            k: number of candidates (1-20). The beam is ``k +`` :data:`BEAM_MARGIN`, at least
                :data:`CONFIDENCE_BEAM` (the beam the confidence is calibrated at), so the top-1 and the
                confidence are the same for every ``k`` up to 5.
            batch_size: inputs decoded together. The results do not depend on it (every row has the same
                length cap); 128 decoded 10-30 % more reactions/s than 32 on the CPU (beam 5, 2 threads;
                docs/benchmarks.md).
            rank: order each beam with :func:`rank_candidates` (valid products first, each once); False
                gives the beam exactly as decoded (best score first, repeats and invalid strings in place).

        Returns:
            one :class:`ReactionPrediction` per input, with a status per row.
        """
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 20:
            raise ConfigError(f"k must be an integer from 1 to 20, got {k!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        rows = list(reactions)
        results: list[ReactionPrediction | None] = [None] * len(rows)
        todo: list[tuple[int, str]] = []
        notes: dict[int, str] = {}
        inputs: dict[int, frozenset[str]] = {}
        for i, text in enumerate(rows):
            status, tokens, notes[i], inputs[i] = self._check(text)
            if status != OK:
                results[i] = ReactionPrediction(text, status, note=notes[i])
            else:
                todo.append((i, " ".join(tokens)))
        beam = max(k + BEAM_MARGIN, CONFIDENCE_BEAM)
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            beams = self._beam([src for _, src in chunk], beam, batch_size)
            for (i, _), candidates in zip(chunk, beams):
                if rank:
                    candidates = rank_candidates(candidates, inputs[i])
                note = notes[i]
                if candidates and candidates[0].unchanged:
                    note = "; ".join(n for n in (note, "no product predicted: the beam gives back only "
                                                 "starting materials") if n)
                results[i] = ReactionPrediction(rows[i], OK, candidates[:k], note=note,
                                                confidence=self._confidence(candidates))
        return [r for r in results if r is not None]

    def _check(self, text: str) -> tuple[str, list[str], str, frozenset[str]]:
        """(status, tokens, note, input molecules) of one input: reactants and reagents told apart,
        canonical, tokenized."""
        from chemaccel.reaction.reagents import read_input

        molecules: frozenset[str] = frozenset()
        if not isinstance(text, str):
            return f"not text: {type(text).__name__}", [], "", molecules
        note = ""
        try:
            written, note, molecules = read_input(text, self.config.reagents)
            tokens = tokenize(written)
            if any(t not in self.vocab_tokens for t in tokens):
                # rdkit 2026 writes atoms bonded to metals as [CH2] / [c]; the training data (older
                # rdkit) did not: the input as written is then closer to what the model knows
                as_written = tokenize(reactant_text(text)) if self.config.reagents == "mixed" else []
                if as_written and all(t in self.vocab_tokens for t in as_written):
                    tokens = as_written
        except ValueError as exc:
            return str(exc), [], "", molecules
        if len(tokens) > self.config.max_tokens:
            return (f"input too long: {len(tokens)} SMILES tokens, this model reads at most "
                    f"{self.config.max_tokens}"), [], note, molecules
        unknown = sorted({t for t in tokens if t not in self.vocab_tokens})
        if unknown:
            listed = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            if self.config.min_token_count <= 1:  # never trained on <unk>: it cannot read past one
                return f"tokens outside the model's vocabulary: {listed}", [], note, molecules
            if all(t in unknown for t in tokens if t[0] == "[" or t[0].isalpha()):  # every atom unknown
                return (f"nothing the model can read: every atom is outside its vocabulary ({listed})", [], note,
                        molecules)
            tokens = [t if t in self.vocab_tokens else UNKNOWN_TOKEN for t in tokens]
            note = "; ".join(n for n in (note, f"read as unknown: {listed}") if n)
        return OK, tokens, note, molecules

    def _confidence_weights(self) -> list[float] | None:
        return (getattr(self.info, "metrics", None) or {}).get("confidence", {}).get("weights")

    def _confidence(self, candidates: Sequence[Candidate]) -> float | None:
        from chemaccel.reaction.confidence import features, probability

        weights = self._confidence_weights()
        if weights and candidates and candidates[0].unchanged:
            return 0.0  # a starting material is never the product (none was right in 2,000 validation rows)
        f = features(candidates)
        if not weights or f is None:
            return None
        return probability(weights, *f)

    def _beam(self, sources: Sequence[str], k: int, batch_size: int) -> list[list[Candidate]]:
        settings = {"beam_size": k, "n_best": k, "batch_size": batch_size}
        with eole_bridge.eole_log(None), torch.inference_mode():
            scores, _, preds = self._engine.infer_list(list(sources), settings=settings)
        return [[_candidate(p, float(s)) for p, s in zip(row_preds, row_scores)]
                for row_scores, row_preds in zip(scores, preds)]

    def fixed_length_rate(self, reactions: Sequence[str], length: int, k: int = 5, batch_size: int = 32) -> float:
        """Reactions/s of a beam of ``k`` in which every beam decodes exactly ``length`` tokens (eole's
        ``min_length = max_length``): equal decoding work for any two models, whatever lengths their
        training taught them (the speed benchmarks' measure; ``scripts/bench_reaction.py --fixed-length``).
        Rows the model refuses are skipped; the model's own length settings are restored afterwards.

        Raises:
            ConfigError: ``length`` or ``k`` out of range, or no reaction the model can read.
        """
        if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= self.config.max_tokens:
            raise ConfigError(f"length must be an integer from 1 to {self.config.max_tokens}, got {length!r}")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 20:
            raise ConfigError(f"k must be an integer from 1 to 20, got {k!r}")
        sources = [" ".join(tokens) for status, tokens, *_ in map(self._check, reactions) if status == OK]
        if not sources:
            raise ConfigError("no reaction this model can read to time")
        settings = {"beam_size": k, "n_best": k, "batch_size": batch_size, "min_length": length, "max_length": length}
        predictor = self._engine.predictor
        before = {"min_length": predictor.min_length, "max_length": predictor.max_length}
        start = time.perf_counter()
        try:
            with eole_bridge.eole_log(None), torch.inference_mode():
                for first in range(0, len(sources), batch_size):
                    self._engine.infer_list(sources[first:first + batch_size], settings=settings)
        finally:
            predictor.update_settings(**before)  # eole keeps per-call settings: put the model's own back
        return len(sources) / (time.perf_counter() - start)

    def __repr__(self) -> str:
        c = self.config
        heads = f"{c.heads}" if c.n_decoder_heads == c.heads else f"{c.heads} + {c.n_decoder_heads}"
        ff = f"{c.ff_size}" if c.n_decoder_ff == c.ff_size else f"{c.ff_size} + {c.n_decoder_ff}"
        return (f"ReactionModel({c.layers} + {c.n_decoder_layers} layers, width {c.hidden_size}, "
                f"{heads} heads, ff {ff}, {self.num_parameters:,} parameters, {self.device})")
