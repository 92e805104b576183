"""Known answers for the reaction scoring (top-k, invalid rate, refused rows, per class), counted by hand.

A stand-in model returns fixed beams, so every figure of :func:`evaluate_pairs` has one right value.
"""

from __future__ import annotations

import pytest

from chemaccel.reaction.data import ReactionPair
from chemaccel.reaction.evaluate import evaluate_pairs
from chemaccel.reaction.model import Candidate, ReactionPrediction

ETHYL_ACETATE = "CCOC(C)=O"


class FixedBeams:
    """Duck-typed reaction model: ``beams[src]`` is the candidate list (None: refused)."""

    num_parameters = 1234
    device = "cpu"

    def __init__(self, beams):
        self.beams = beams

    def predict(self, sources, k=5, batch_size=32):
        out = []
        for src in sources:
            beam = self.beams[src]
            if beam is None:
                out.append(ReactionPrediction(src, "tokens outside the model's vocabulary: [Xe]"))
            else:
                out.append(ReactionPrediction(src, "ok", [Candidate(s, v, -0.1 * i) for i, (s, v) in enumerate(beam)]))
        return out


def test_topk_invalid_and_refused_are_counted_exactly():
    pairs = [
        # right at rank 1 (target written non-canonically: compared after canonicalization)
        ReactionPair("a", "O=C(C)OCC", 2),
        # right at rank 3
        ReactionPair("b", "CCO", 2),
        # never right; its top-1 is an invalid string
        ReactionPair("c", "CCN", 1),
        # refused: counts as a miss and as an invalid top-1
        ReactionPair("d", "CC", 1),
        # right at rank 5
        ReactionPair("e", "c1ccccc1", 1),
    ]
    beams = {
        "a": [(ETHYL_ACETATE, True), ("CCO", True)],
        "b": [("CC", True), ("CCC", True), ("CCO", True)],
        "c": [("C1CC(", False), ("CC", True)],
        "d": None,
        "e": [("C", True), ("CC", True), ("CCC", True), ("CCCC", True), ("c1ccccc1", True)],
    }
    r = evaluate_pairs(FixedBeams(beams), pairs, k=5, batch_size=2)
    assert r["n"] == 5
    assert (r["top1"], r["top2"], r["top3"], r["top5"]) == (0.2, 0.2, 0.4, 0.6)
    assert r["not_predicted"] == 1
    assert r["invalid_rate"] == pytest.approx(2 / 5)  # c's invalid top-1 and d's missing one
    assert r["invalid_rate_all"] == pytest.approx(1 / 12)  # 1 invalid of 12 candidates
    assert r["params"] == 1234
    assert r["per_class"] == {
        "1": {"n": 3, "top1": 0.0, "top2": 0.0, "top3": 0.0, "top5": pytest.approx(1 / 3)},
        "2": {"n": 2, "top1": 0.5, "top2": 0.5, "top3": 1.0, "top5": 1.0},
    }


def test_a_hit_counts_once_at_its_best_rank_and_a_wrong_molecule_never():
    # the right product twice in the beam and a near miss (propanol vs the target isopropanol)
    pairs = [ReactionPair("a", "CC(C)O"), ReactionPair("b", "CC(C)O")]
    beams = {"a": [("CCCO", True), ("CC(C)O", True), ("CC(C)O", True)], "b": [("CCCO", True), ("OCCC", True)]}
    r = evaluate_pairs(FixedBeams(beams), pairs, k=5)
    assert (r["top1"], r["top2"], r["top5"]) == (0.0, 0.5, 0.5)
    assert "per_class" not in r


class CountingBeams(FixedBeams):
    """FixedBeams that records the arguments of every predict call."""

    def __init__(self, beams):
        super().__init__(beams)
        self.calls = []

    def predict(self, sources, k=5, batch_size=32):
        self.calls.append((list(sources), k, batch_size))
        return super().predict(sources, k=k, batch_size=batch_size)


def test_batches_beam_reporting_timing_and_the_run_facts(monkeypatch):
    import importlib

    import torch

    from chemaccel.reporting import RecordingReporter

    module = importlib.import_module("chemaccel.reaction.evaluate")

    ticks = iter(range(100))
    monkeypatch.setattr(module.time, "perf_counter", lambda: float(next(ticks)))  # each predict call: 1 s
    pairs = [ReactionPair(s, "CCO") for s in "abc"]
    beams = {"a": [("CCO", True)], "b": None, "c": None}  # two refused rows
    model = CountingBeams(beams)
    reporter = RecordingReporter()
    r = evaluate_pairs(model, pairs, k=6, batch_size=2, reporter=reporter)
    assert model.calls == [(["a", "b"], 6, 2), (["c"], 6, 2)]
    assert reporter.starts == [("evaluate", 3)]
    assert reporter.progress == [(2, 3, {"top1": 0.5}), (3, 3, {"top1": pytest.approx(1 / 3)})]
    assert (r["n"], r["not_predicted"], r["top1"]) == (3, 2, pytest.approx(1 / 3))
    assert (r["seconds"], r["reactions_per_s"]) == (2.0, 1.5)
    assert (r["k"], r["beam"], r["batch_size"], r["device"]) == (6, 8, 2, "cpu")  # predict's beam: k + 2, at least 7
    assert r["threads"] == torch.get_num_threads()


def test_a_cancelled_evaluation_scores_the_rows_done():
    from chemaccel.reporting import RecordingReporter

    pairs = [ReactionPair(s, "CCO") for s in "abcd"]
    beams = {"a": [("CCO", True)], "b": [("CC", True)], "c": [("CCO", True)], "d": [("CCO", True)]}
    r = evaluate_pairs(FixedBeams(beams), pairs, k=5, batch_size=2, reporter=RecordingReporter(stop_after=1))
    assert (r["n"], r["top1"]) == (2, 0.5)


def test_no_reactions_or_a_short_beam_is_a_one_line_error():
    from chemaccel.errors import ConfigError, InputError

    with pytest.raises(InputError, match=r"^<data>: no reactions to evaluate$"):
        evaluate_pairs(FixedBeams({}), [])
    with pytest.raises(ConfigError, match=r"^evaluation needs at least 5 candidates, got 4$"):
        evaluate_pairs(FixedBeams({"a": None}), [ReactionPair("a", "C")], k=4)
