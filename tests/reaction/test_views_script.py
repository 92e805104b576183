"""scripts/check_reaction_views.py: how the readings' beams are pooled (the figures in docs/benchmarks.md)."""

from __future__ import annotations

import math

from chemaccel.reaction.model import Candidate
from tests.scripts import load_script


def _c(smiles: str, p: float, valid: bool = True, unchanged: bool = False) -> Candidate:
    return Candidate(smiles, valid, math.log(p), unchanged)


def test_one_reading_keeps_predicts_order():
    pooled = load_script("check_reaction_views").pooled
    beam = [_c("CCO", 0.5), _c("CC=O", 0.3), _c("C(", 0.1, valid=False)]
    for pool in ("probability", "reciprocal_rank", "top1_votes"):
        assert pooled([beam], pool) == ["CCO", "CC=O"]


def test_pooling_rules_on_a_known_case():
    pooled = load_script("check_reaction_views").pooled
    # A is first in two readings with little probability; B is second twice, first once, with much
    a = [[_c("A", 0.30), _c("B", 0.29)], [_c("A", 0.30), _c("B", 0.29)], [_c("B", 0.9), _c("A", 0.01)]]
    assert pooled(a, "top1_votes") == ["A", "B"]  # 2 votes against 1
    assert pooled(a, "reciprocal_rank") == ["A", "B"]  # 2.5 against 2.0
    assert pooled(a, "probability") == ["B", "A"]  # 1.48 against 0.61


def test_starting_materials_and_invalid_strings_give_no_support():
    pooled = load_script("check_reaction_views").pooled
    beams = [[_c("CCO", 0.9, unchanged=True), _c("CC=O", 0.05)], [_c("C(", 0.9, valid=False), _c("CC=O", 0.1)]]
    assert pooled(beams, "probability") == ["CC=O"]
    # nothing valid at all: the first reading's first string stands, as predict shows it
    assert pooled([[_c("C(", 0.9, valid=False)]], "top1_votes") == ["C("]
