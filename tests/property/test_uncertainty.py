"""The calibration recovers a known noise model, and its 90 % interval covers 90 % of fresh errors."""

from __future__ import annotations

import numpy as np
import pytest

from chemaccel.property.uncertainty import Calibration, coverage, fit_calibration


def _draw(n, seed):
    rng = np.random.default_rng(seed)
    spread = rng.uniform(0.0, 0.1, n)
    latent = rng.uniform(0.0, 5.0, n)
    sigma = 0.05 + 2.0 * spread + 0.01 * latent
    return rng.normal(0.0, sigma), spread, latent


def test_fit_recovers_the_noise_model_and_covers_fresh_errors():
    err, spread, latent = _draw(20000, 0)
    cal = fit_calibration(err, spread, latent)
    assert abs(cal.a - 0.05) < 0.006 and abs(cal.b - 2.0) < 0.15 and abs(cal.c - 0.01) < 0.002
    assert abs(cal.q90 - 1.645) < 0.05  # Gaussian errors: the 90 % factor of a normal
    fresh, s2, l2 = _draw(20000, 1)
    assert abs(coverage(fresh, cal.half_width(s2, l2)) - 0.9) < 0.01


def test_coverage_counts_errors_inside():
    assert coverage(np.array([0.1, -0.2, 0.3, 0.05]), np.array([0.2, 0.2, 0.2, 0.2])) == 0.75


def test_calibration_json_round_trip():
    cal = Calibration(0.01, 1.5, 0.002, 1.7, 10)
    assert Calibration.from_json(cal.to_json()) == cal
    np.testing.assert_allclose(cal.half_width(np.array([0.02]), np.array([3.0])), 1.7 * (0.01 + 0.03 + 0.006))


def test_summarize_known_answers():
    from chemaccel.property.evaluate_rows import summarize
    from chemaccel.property.predict import PredictionRow

    def row(value, sigma, domain, reason="", status="ok"):
        return PredictionRow(0, values={"gap": value}, uncertainty={"gap": sigma}, interval90={"gap": 2 * sigma},
                             domain=domain, domain_reason=reason, status=status)

    rows = [row(5.1, 0.1, "in"), row(6.0, 0.4, "outside", "19 heavy atoms (training molecules: at most 9)"),
            row(7.0, 0.05, "unknown"), PredictionRow(0, status="error: 3D embedding failed after 3 attempts"),
            row(4.9, 0.2, "in")]
    truth = np.array([[5.0], [6.5], [7.0], [9.9], [5.0]])
    out = summarize(rows, truth, ["gap"])
    assert (out["n"], out["ok"], out["failed"], out["outside_domain"]) == (5, 4, 1, 1)
    assert out["failure_rate"] == 0.2 and out["failure_reasons"] == {"error: 3D embedding failed after 3 attempts": 1}
    assert out["outside_reasons"] == {"heavy atoms": 1}
    r = out["results"][0]
    np.testing.assert_allclose(r["mae_mev"], (100 + 500 + 0 + 100) / 4)
    np.testing.assert_allclose(r["coverage90"], 1.0)  # |errors| 0.1, 0.5, 0, 0.1 within 0.2, 0.8, 0.1, 0.4
    np.testing.assert_allclose(r["mae_mev_least_certain_10pct"], 500.0)  # the row with sigma 0.4
    np.testing.assert_allclose(r["mae_mev_other_90pct"], 200 / 3)
    np.testing.assert_allclose(r["mae_mev_outside_domain"], 500.0)
    np.testing.assert_allclose(r["mae_mev_in_domain"], 200 / 3)


def test_fit_keeps_the_weights_non_negative_and_counts_its_rows():
    """Errors that shrink as the latent score grows would want c < 0 (and, independent of the spread, b
    near 0): the fit is bounded at a, b, c >= 0, and n is the number of rows it saw."""
    rng = np.random.default_rng(1)
    latent = rng.uniform(0.0, 4.0, 3000)
    spread = rng.uniform(0.0, 0.2, 3000)
    err = rng.normal(0.0, 0.5 - 0.1 * latent)  # sigma falls from 0.5 to 0.1 eV with the latent score
    cal = fit_calibration(err, spread, latent)
    assert cal.c == 0.0 and 0.0 <= cal.b < 0.5 and cal.a > 0.0 and cal.n == 3000
    # the 90 % quantile on the rows it was fitted on holds 90 % of them exactly
    assert coverage(err, cal.half_width(spread, latent)) == pytest.approx(0.9, abs=1 / 3000)


def test_coverage_of_nothing_is_nan():
    assert np.isnan(coverage(np.array([]), np.array([])))
