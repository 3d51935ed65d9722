"""Noise-aware comparisons: the Wilson interval, Newcombe's difference interval, the stop rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from sweeplab.analysis import (
    diagnose,
    difference_interval,
    distinguishable,
    gaps_within_noise,
    stop_rule,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [
        (1, 10, 0.0179, 0.4042),  # textbook values (Wilson 1927; Newcombe 1998, table I)
        (0, 10, 0.0, 0.2775),
        (81, 263, 0.2553, 0.3662),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_interval_on_known_values(x, n, low, high):
    ci = wilson_interval(x / n, n)
    assert (ci.low, ci.high) == pytest.approx((low, high), abs=5e-5)
    assert ci.low <= x / n <= ci.high


@pytest.mark.parametrize("n", [20, 180, 1000])
def test_wilson_interval_matches_scipy_for_every_count(n):
    for x in range(0, n + 1, max(1, n // 20)):
        ref = binomtest(x, n).proportion_ci(method="wilson")
        ci = wilson_interval(x / n, n)
        assert (ci.low, ci.high) == pytest.approx((ref.low, ref.high), abs=1e-9)


def test_wilson_interval_covers_the_true_error_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    for p, n in [(0.02, 180), (0.1, 180), (0.3, 50)]:
        draws = rng.binomial(n, p, size=4000)
        covered = np.mean([p in wilson_interval(k / n, n) for k in draws])
        assert 0.93 <= covered <= 0.975, (p, n, covered)


def test_newcombe_difference_interval_on_the_published_example():
    # Newcombe (1998), "Interval estimation for the difference between independent
    # proportions", example (a): 56/70 − 48/80, method 10 → 0.0524 to 0.3339
    ci = difference_interval(56 / 70, 70, 48 / 80, 80)
    assert (ci.low, ci.high) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert distinguishable(56 / 70, 48 / 80, 70, n_b=80)


def test_one_dev_example_apart_is_not_distinguishable_on_digits_dev_set():
    # digits' 180 dev examples: 0.0111 vs 0.0167 is one example
    assert not distinguishable(2 / 180, 3 / 180, 180)
    assert distinguishable(2 / 180, 30 / 180, 180)
    assert distinguishable(0.05, 0.10, 10_000) and not distinguishable(0.05, 0.10, 100)


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="n >= 1"):
        wilson_interval(0.1, 0)
    with pytest.raises(ValueError, match="0 <= error <= 1"):
        wilson_interval(1.5, 10)


SIZES = {"train": 1257, "train_dev": 180, "dev": 180}


def test_gaps_within_noise_names_each_gap():
    d = diagnose(human=0.01, train=0.012, train_dev=0.02, dev=0.10)
    noise = gaps_within_noise(d, SIZES)
    assert noise == {"avoidable_bias": True, "variance": True, "data_mismatch": False}


def test_stop_when_bias_and_variance_are_within_noise_of_human_level():
    d = diagnose(human=0.01, train=0.012, train_dev=0.0167, dev=0.0167)
    advice = stop_rule(d, SIZES)
    assert advice.stop and "within noise of human-level" in advice.reason
    assert any("bigger dev set" in s for s in advice.instead)
    assert advice.text().startswith("stop tuning:")


def test_stop_at_human_level_points_at_a_data_mismatch_beyond_noise():
    d = diagnose(human=0.01, train=0.012, train_dev=0.0167, dev=0.15)
    advice = stop_rule(d, SIZES)
    assert advice.stop and "data mismatch" in advice.instead[0]


@pytest.mark.parametrize(
    ("train", "train_dev"),
    [(0.08, 0.09), (0.012, 0.10)],  # bias beyond noise; variance beyond noise
)
def test_keep_tuning_while_bias_or_variance_is_beyond_noise(train, train_dev):
    advice = stop_rule(diagnose(human=0.01, train=train, train_dev=train_dev, dev=0.1), SIZES)
    assert not advice.stop and advice.text().startswith("keep tuning")


def test_stop_when_the_sweep_does_not_beat_its_parent_beyond_noise():
    d = diagnose(human=0.01, train=0.08, train_dev=0.09, dev=0.10)
    assert stop_rule(d, SIZES, best=0.095, parent_best=0.10).stop  # one example better
    assert stop_rule(d, SIZES, best=0.12, parent_best=0.10).stop  # worse
    assert not stop_rule(d, SIZES, best=0.02, parent_best=0.10).stop  # better beyond noise


def test_no_human_level_error_means_no_stop_at_human_level():
    d = diagnose(human=None, train=0.0, train_dev=0.0, dev=0.0)
    assert not stop_rule(d, SIZES).stop


def test_noise_note_names_the_gaps_within_noise_and_a_noisy_largest_gap():
    from sweeplab.analysis import noise_note

    # variance 0.6 % on 180 train-dev examples is one example: within noise, and the largest
    d = diagnose(human=0.01, train=0.0103, train_dev=0.0167, dev=0.0167)
    note = noise_note(d, SIZES)
    assert "variance" in note and "largest gap is within noise" in note
    assert noise_note(diagnose(human=0.01, train=0.2, train_dev=0.5, dev=0.9), SIZES) is None
