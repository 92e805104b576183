"""The top-1 confidence: features from the beam, Platt scaling recovers known weights, calibration error."""

from __future__ import annotations

import numpy as np
import pytest

from chemaccel.reaction.confidence import calibration_error, confidence_report, features, fit, probability
from chemaccel.reaction.model import Candidate


def test_features_use_the_valid_candidates():
    cands = [Candidate("CCO", True, -0.05), Candidate("C(C", False, -0.1), Candidate("CCN", True, -0.4)]
    assert features(cands) == (-0.05, -0.05 - (-0.4))
    assert features([Candidate("CCO", True, -0.2)]) == (-0.2, 0.0)
    assert features([Candidate("C(C", False, -0.1)]) is None
    # a starting material given back unchanged is not a product: no margin over it, no features when first
    cands = [Candidate("CCO", True, -0.3), Candidate("CC=O", True, -0.1, unchanged=True), Candidate("CCN", True, -0.5)]
    assert features(cands) == (-0.3, -0.3 - (-0.5))
    assert features(cands[1:2]) is None


def test_fit_recovers_known_weights():
    rng = np.random.default_rng(0)
    s1 = rng.uniform(-1.0, 0.0, 40000)
    margin = rng.uniform(0.0, 1.0, 40000)
    true = [0.5, 3.0, 2.0]
    p = 1 / (1 + np.exp(-(true[0] + true[1] * s1 + true[2] * margin)))
    y = (rng.uniform(size=len(p)) < p).astype(float)
    w = fit(s1, margin, y)
    np.testing.assert_allclose(w, true, atol=0.15)
    assert abs(probability(w, -0.5, 0.5) - probability(true, -0.5, 0.5)) < 0.02


def test_calibration_error_known_answer():
    p = np.array([0.1, 0.1, 0.9, 0.9])
    y = np.array([0.0, 1.0, 1.0, 1.0])
    # bin 0.1: accuracy 0.5 vs 0.1 (2 rows); bin 0.9: accuracy 1.0 vs 0.9 (2 rows) -> (2*0.4 + 2*0.1) / 4
    assert abs(calibration_error(p, y) - 0.25) < 1e-12


def test_confidence_report_known_answer():
    r = confidence_report([0.9, 0.2, 0.8, 0.1, 0.5], [True, True, False, False, True])
    # most confident half: rows 0, 2 (1 of 2 right); the other half: rows 4, 1, 3 (2 of 3)
    assert (r["n"], r["top1"], r["top1_most_confident_half"], r["top1_other_half"]) == (5, 0.6, 0.5, 2 / 3)
    assert r["mean_confidence"] == pytest.approx(0.5)
    assert r["ece"] == pytest.approx(calibration_error(np.array([0.9, 0.2, 0.8, 0.1, 0.5]), np.array([1, 1, 0, 0, 1])))


def test_shipped_model_gives_a_confidence(tmp_path):
    from pathlib import Path

    from chemaccel import api

    model = api.load_model(Path(__file__).resolve().parents[2] / "resources" / "models" / "uspto-forward-reagents")
    (pred,) = model.predict(["CC(=O)Cl.Nc1ccccc1.CCN(CC)CC"], k=5)
    w = model.info.metrics["confidence"]["weights"]
    assert pred.confidence == probability(w, *features(pred.candidates))
    assert 0.5 < pred.confidence < 1.0  # the textbook amide: the beam is sure, and right
