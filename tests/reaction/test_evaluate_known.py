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
