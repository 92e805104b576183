"""PacGAN's mode metrics on samples whose answer is known by hand."""

import math

import numpy as np
import pytest

from chemaccel.gan.metrics import assign_modes, mode_metrics
from chemaccel.gan.toy import sample_mixture, toy_means, toy_std


def test_mixture_definitions_follow_pacgan():
    ring = toy_means("ring8")
    assert ring.shape == (8, 2) and np.allclose(np.linalg.norm(ring, axis=1), 1.0)
    assert toy_std("ring8") == 0.01 and toy_std("grid25") == 0.05
    grid = toy_means("grid25")
    assert grid.shape == (25, 2) and set(grid[:, 0]) == {-4, -2, 0, 2, 4}


def test_hand_example_two_modes():
    means = np.array([[0.0, 0.0], [10.0, 0.0]])
    # 3 samples at mode 0 (one at 2.9 std), 1 at mode 1, one at 3.1 std from mode 0 (low quality)
    s = np.array([[0.0, 0.0], [0.29, 0.0], [0.0, -0.1], [10.0, 0.05], [0.31, 0.0]])
    m = mode_metrics(s, means, std=0.1)
    assert m["mode_counts"] == [3, 1]
    assert m["n_modes_captured"] == 2
    assert m["high_quality"] == pytest.approx(4 / 5)
    p = np.array([0.75, 0.25])
    assert m["reverse_kl"] == pytest.approx(float(np.sum(p * np.log(p * 2))))


def test_collapse_to_some_modes_gives_log_ratio():
    means = toy_means("ring8")
    samples = np.repeat(means[:2], 50, axis=0)  # two modes, equal shares
    m = mode_metrics(samples, means, toy_std("ring8"))
    assert m["n_modes_captured"] == 2 and m["high_quality"] == 1.0
    assert m["reverse_kl"] == pytest.approx(math.log(8 / 2))


def test_true_samples_score_perfectly_and_garbage_scores_nothing():
    s = sample_mixture("grid25", 2500, seed=1)
    m = mode_metrics(s, toy_means("grid25"), toy_std("grid25"))
    assert m["n_modes_captured"] == 25 and m["high_quality"] > 0.98 and m["reverse_kl"] < 0.02
    far = np.full((10, 2), 100.0)
    g = mode_metrics(far, toy_means("grid25"), toy_std("grid25"))
    assert g["n_modes_captured"] == 0 and g["high_quality"] == 0.0 and math.isinf(g["reverse_kl"])


def test_assign_modes_distance_in_std_units():
    nearest, dist = assign_modes(np.array([[0.3, 0.4]]), np.array([[0.0, 0.0], [5.0, 5.0]]), std=0.5)
    assert nearest.tolist() == [0] and dist[0] == pytest.approx(1.0)


def test_ratio_interval_is_the_ratio_of_means_with_a_bootstrap_interval_over_seeds():
    from chemaccel.gan.metrics import ratio_interval

    ratio, low, high = ratio_interval([0.10, 0.12, 0.08], [0.02, 0.03, 0.01])
    assert ratio == pytest.approx(0.30 / 0.06)
    # the extremes of any resample: every seed the one with the lowest / highest ratio
    assert 0.12 / 0.03 - 1e-12 <= low < ratio < high <= 0.08 / 0.01 + 1e-12
    assert ratio_interval([0.1], [0.02]) == pytest.approx((5.0, 5.0, 5.0))  # one seed: no spread
    same = ratio_interval([0.2] * 5, [0.04] * 5)
    assert same == pytest.approx((5.0, 5.0, 5.0))
    wide = ratio_interval([0.10, 0.12, 0.08], [0.02, 0.03, 0.01], confidence=0.99)
    assert wide[1] <= low and wide[2] >= high
    assert ratio_interval([0.1, 0.1], [0.0, 0.0])[0] == float("inf")
    with pytest.raises(ValueError, match="equally many"):
        ratio_interval([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="confidence"):
        ratio_interval([0.1], [0.1], confidence=1.0)


def test_ratio_interval_bounds_are_the_exact_bootstrap_quantiles():
    import itertools

    import numpy as np

    from chemaccel.gan.metrics import ratio_interval

    num, den = [0.10, 0.12, 0.08, 0.30], [0.02, 0.03, 0.01, 0.05]
    # all 4^4 resamples of the seeds, equally likely: the exact bootstrap distribution of the ratio
    exact = np.sort([sum(num[i] for i in pick) / sum(den[i] for i in pick)
                     for pick in itertools.product(range(4), repeat=4)])
    ratio, low, high = ratio_interval(num, den)
    assert ratio == pytest.approx(sum(num) / sum(den))
    assert np.quantile(exact, 0.02) <= low <= np.quantile(exact, 0.03)
    assert np.quantile(exact, 0.97) <= high <= np.quantile(exact, 0.98)
    _, low80, high80 = ratio_interval(num, den, confidence=0.8)
    assert np.quantile(exact, 0.09) <= low80 <= np.quantile(exact, 0.11)
    assert np.quantile(exact, 0.89) <= high80 <= np.quantile(exact, 0.91)
    assert ratio_interval(num, den) == ratio_interval(num, den, seed=0, resamples=10000)  # the defaults
    with pytest.raises(ValueError, match="confidence must be in"):
        ratio_interval(num, den, confidence=0.0)
    with pytest.raises(ValueError, match="equally many"):
        ratio_interval([[0.1]], [[0.1]])


def test_mode_metrics_known_counts_threshold_edge_and_shapes():
    import numpy as np

    from chemaccel.gan.metrics import mode_metrics

    means = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    std = 1.0
    samples = np.array([[0.5, 0.0], [10.0, 0.5], [10.0, -0.5], [0.0, 3.0],  # the last: exactly 3 std away
                        [5.0, 5.0], [np.nan, 0.0]])
    r = mode_metrics(samples, means, std, threshold=3.0)
    assert r["mode_counts"] == [1, 2, 0] and r["n_modes_captured"] == 2
    assert (r["n_modes"], r["n_samples"]) == (3, 6)
    assert r["high_quality"] == pytest.approx(3 / 6)
    p = np.array([1 / 3, 2 / 3])
    assert r["reverse_kl"] == pytest.approx(float(np.sum(p * np.log(p * 3))))
    assert mode_metrics(samples[:0], means, std)["high_quality"] == 0.0
    assert mode_metrics(samples, means, std, min_count=2)["n_modes_captured"] == 1
    with pytest.raises(ValueError, match=r"^samples must be \(N, 2\), got \(3,\)$"):
        mode_metrics(np.zeros(3), means, std)
    with pytest.raises(ValueError, match=r"^samples must be \(N, 2\), got \(2, 3\)$"):
        mode_metrics(np.zeros((2, 3)), means, std)
