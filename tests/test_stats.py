"""analysis.quality.stats against textbook values, scipy, and hand calculations."""

from __future__ import annotations

import math
import re
import time

import numpy as np
import pytest
from scipy import stats as sps

from analysis.quality.stats import (
    Estimate,
    mcnemar,
    newcombe_paired_interval,
    non_inferiority_independent,
    non_inferiority_paired,
    non_inferiority_target,
    non_inferiority_verdict,
    paired_bootstrap_diff,
    percentiles_with_ci,
    required_sample_size,
    sample_size_for_margin,
    tokens_per_second,
    wilson_interval,
)

Z95, Z80 = 1.959963984540054, 0.8416212335729143


# --- Wilson -------------------------------------------------------------------------------


def test_wilson_textbook_81_of_263():
    # Newcombe (1998a) / Wikipedia "Binomial proportion confidence interval" worked example.
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


def test_wilson_by_hand_formula():
    k, n, z = 81, 263, Z95
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_interval(k, n) == pytest.approx((centre - half, centre + half), abs=1e-12)


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (1, 1), (3, 7), (50, 100), (999, 1000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(k, n, confidence):
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert wilson_interval(k, n, confidence) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_wilson_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 20)[0] == 0.0
    assert wilson_interval(20, 20)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(5, 3)
    with pytest.raises(ValueError):
        wilson_interval(1, 3, confidence=1.0)


# --- Newcombe intervals for differences ---------------------------------------------------


def test_newcombe_paired_reference_example():
    # Fagerland, Lydersen & Laake (2017), ch. 8: Cavo et al. (2012), table [[59, 6], [16, 80]]:
    # estimate -0.0621, 95% CI -0.1186 to -0.0046 (R package contingencytables).
    low, high = newcombe_paired_interval(59, 6, 16, 80)
    assert (round(low, 4), round(high, 4)) == (-0.1186, -0.0046)


def test_newcombe_paired_is_mirror_symmetric_and_contains_estimate():
    low, high = newcombe_paired_interval(40, 3, 9, 48)
    mlow, mhigh = newcombe_paired_interval(40, 9, 3, 48)
    assert (mlow, mhigh) == pytest.approx((-high, -low))
    assert low < (3 - 9) / 100 < high
    assert newcombe_paired_interval(0, 0, 0, 0) == (-1.0, 1.0)


@pytest.mark.parametrize(
    "x1,n1,x2,n2,expected",
    [
        (7, 34, 1, 34, (0.0189, 0.3404)),  # Perondi et al. 2004 (Fagerland et al., ch. 4)
        (56, 70, 48, 80, (0.0524, 0.3339)),  # Newcombe 1998a, example (a), method 10
        (9, 10, 3, 10, (0.1705, 0.8090)),  # Newcombe 1998a, example (b), method 10
    ],
)
def test_newcombe_independent_reference_examples(x1, n1, x2, n2, expected):
    result = non_inferiority_independent(x1, n1, x2, n2)
    assert (round(result.low, 4), round(result.high, 4)) == expected
    assert result.difference == pytest.approx(x1 / n1 - x2 / n2)


# --- McNemar ------------------------------------------------------------------------------


def test_mcnemar_exact_by_hand_and_scipy():
    # b=10, c=2: p = 2 · (C(12,0) + C(12,1) + C(12,2)) / 2^12 = 2 · 79 / 4096.
    result = mcnemar(10, 2)
    assert result.method == "exact"
    assert result.statistic == 2
    assert result.p_value == pytest.approx(158 / 4096, abs=1e-15)
    assert result.p_value == pytest.approx(sps.binomtest(2, 12, 0.5).pvalue, abs=1e-12)


def test_mcnemar_chi2_with_continuity_correction_by_hand_and_scipy():
    # b=40, c=20: χ² = (|40 − 20| − 1)² / 60 = 361/60.
    result = mcnemar(40, 20)
    assert result.method == "chi2-cc"
    assert result.statistic == pytest.approx(361 / 60)
    assert result.p_value == pytest.approx(sps.chi2.sf(361 / 60, df=1), rel=1e-12)
    assert result.p_value == pytest.approx(0.01417, abs=1e-5)


@pytest.mark.parametrize("b,c", [(0, 0), (0, 5), (3, 3), (7, 1), (12, 12), (24, 0)])
def test_mcnemar_exact_agrees_with_scipy_binomtest(b, c):
    expected = 1.0 if b + c == 0 else sps.binomtest(min(b, c), b + c, 0.5).pvalue
    assert mcnemar(b, c).p_value == pytest.approx(expected, abs=1e-12)
    assert mcnemar(b, c) == mcnemar(c, b)


def test_mcnemar_switches_method_at_25_discordant_pairs():
    assert mcnemar(20, 4).method == "exact"
    assert mcnemar(20, 5).method == "chi2-cc"
    assert mcnemar(15, 15).p_value == 1.0  # |b − c| − 1 < 0 is clipped, not squared
    with pytest.raises(ValueError):
        mcnemar(-1, 3)


# --- paired bootstrap ---------------------------------------------------------------------


def test_paired_bootstrap_is_seeded_and_reproducible():
    rng = np.random.default_rng(7)
    a, b = rng.random(300), rng.random(300)
    first, again = paired_bootstrap_diff(a, b, seed=3), paired_bootstrap_diff(a, b, seed=3)
    assert first == again
    assert paired_bootstrap_diff(a, b, seed=4) != first
    assert first.value == pytest.approx(float(np.mean(a - b)))
    assert first.low < first.value < first.high


def test_paired_bootstrap_matches_normal_theory_on_a_large_sample():
    rng = np.random.default_rng(11)
    a = rng.normal(0.7, 0.2, 4000)
    b = a - rng.normal(0.01, 0.1, 4000)
    result = paired_bootstrap_diff(a, b, n_boot=4000, seed=0)
    d = a - b
    half = Z95 * d.std(ddof=1) / math.sqrt(len(d))
    assert result.high - result.low == pytest.approx(2 * half, rel=0.08)
    assert (result.low + result.high) / 2 == pytest.approx(d.mean(), abs=0.2 * half)


def test_paired_bootstrap_binary_scores_and_degenerate_cases():
    same = paired_bootstrap_diff([1, 0, 1, 1], [1, 0, 1, 1])
    assert same == Estimate(0.0, 0.0, 0.0)
    assert paired_bootstrap_diff([True] * 5, [False] * 5) == Estimate(1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        paired_bootstrap_diff([1, 0], [1])
    with pytest.raises(ValueError):
        paired_bootstrap_diff([], [])


def test_paired_bootstrap_is_fast_enough_for_5000_items():
    rng = np.random.default_rng(0)
    a, b = rng.random(5000) < 0.8, rng.random(5000) < 0.82
    start = time.perf_counter()
    result = paired_bootstrap_diff(a, b, n_boot=2000)
    assert time.perf_counter() - start < 5
    assert result.low < result.value < result.high


# --- non-inferiority ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "low,high,verdict",
    [
        (-0.01, 0.03, "non-inferior"),
        (-0.10, -0.03, "inferior"),
        (-0.05, 0.01, "inconclusive"),
        (-0.02, 0.01, "inconclusive"),  # touching the margin does not clear it
        (-0.05, -0.02, "inconclusive"),
    ],
)
def test_verdict_rule(low, high, verdict):
    assert non_inferiority_verdict(low, high, 0.02) == verdict


def test_paired_identical_outcomes_on_many_items_are_non_inferior():
    outcomes = [i % 10 != 0 for i in range(2000)]  # 90% correct, both models alike
    result = non_inferiority_paired(outcomes, outcomes)
    assert result.verdict == "non-inferior"
    assert result.text == "non-inferior within 2 points at 95%"
    assert result.more_samples is None
    assert result.difference == 0.0 and result.n == 2000


def test_paired_clearly_worse_candidate_is_inferior():
    reference = [True] * 500
    candidate = [i % 5 != 0 for i in range(500)]  # 80% against 100%
    result = non_inferiority_paired(candidate, reference)
    assert result.verdict == "inferior"
    assert result.text == "worse"
    assert result.high < -0.02


def test_paired_small_sample_is_inconclusive_and_says_how_many_more():
    outcomes = [True] * 18 + [False] * 2
    result = non_inferiority_paired(outcomes, outcomes)
    assert result.verdict == "inconclusive"
    assert result.more_samples is not None and result.more_samples > 100
    match = re.fullmatch(r"not enough data: need about ([\d,]+) more samples", result.text)
    assert match
    shown = int(match.group(1).replace(",", ""))
    assert result.more_samples <= shown < result.more_samples * 1.1  # rounded up, 2 figures
    # With that many more items of the same kind, the data decide.
    bigger = outcomes * math.ceil((result.n + result.more_samples) / result.n)
    assert non_inferiority_paired(bigger, bigger).verdict == "non-inferior"


def test_paired_margin_and_confidence_appear_in_the_text():
    outcomes = [i % 4 != 0 for i in range(3000)]
    result = non_inferiority_paired(outcomes, outcomes, margin=0.025, confidence=0.9)
    assert result.text == "non-inferior within 2.5 points at 90%"
    with pytest.raises(ValueError):
        non_inferiority_paired([True], [True, False])


def test_independent_accuracies():
    better = non_inferiority_independent(900, 1000, 600, 1000)
    assert better.text == "non-inferior within 2 points at 95%"
    assert non_inferiority_independent(600, 1000, 900, 1000).verdict == "inferior"
    close = non_inferiority_independent(80, 100, 82, 100)
    assert close.verdict == "inconclusive" and close.more_samples > 1000


def test_target_only_ground_truth():
    assert non_inferiority_target(960, 1000, 0.9).text == "meets the 90% target at 95%"
    assert non_inferiority_target(70, 100, 0.9).text == "below the 90% target"
    within = non_inferiority_target(9000, 10000, 0.9, margin=0.02)  # low ≈ 0.894 > 0.88
    assert within.text == "within 2 points of the 90% target at 95%"
    unsure = non_inferiority_target(95, 100, 0.9)
    assert unsure.verdict == "inconclusive" and unsure.target == 0.9
    assert unsure.low == pytest.approx(wilson_interval(95, 100)[0] - 0.9)
    assert unsure.text.startswith("not enough data: need about ")


# --- sample size --------------------------------------------------------------------------


def test_required_sample_size_by_hand():
    # n = (z_.975 + z_.80)² · (0.9·0.1 + 0.9·0.1) / 0.02² = 7.84888 · 0.18 / 0.0004 = 3531.99
    assert required_sample_size(0.9, 0.9) == 3532
    # paired, discordance 0.1: V = 0.1 − 0² → 1962.2
    assert required_sample_size(0.9, 0.9, discordance=0.1) == 1963
    # candidate 5 points worse: the same n decides "inferior"; V = 0.1275 + 0.09, effect −0.03
    expected = math.ceil((Z95 + Z80) ** 2 * (0.85 * 0.15 + 0.09) / 0.03**2)
    assert expected == 1897
    assert required_sample_size(0.85, 0.9, margin=0.02) == expected
    assert required_sample_size(0.88, 0.9, margin=0.02) is None  # exactly at the margin


def test_required_sample_size_shrinks_with_agreement_and_grows_with_power():
    assert required_sample_size(0.9, 0.9, discordance=0.02) < required_sample_size(0.9, 0.9)
    assert required_sample_size(0.9, 0.9, power=0.9) > required_sample_size(0.9, 0.9)
    with pytest.raises(ValueError):
        required_sample_size(0.9, 0.8, discordance=0.05)  # ψ < |θ| is impossible


# --- latency ------------------------------------------------------------------------------


def test_percentiles_with_ci_values_and_intervals():
    values = np.random.default_rng(5).lognormal(0.0, 0.5, 2000)
    result = percentiles_with_ci(values, seed=1)
    assert list(result) == [0.5, 0.95, 0.99]
    for q, est in result.items():
        assert est.value == pytest.approx(float(np.quantile(values, q)))
        assert est.low <= est.value <= est.high
    assert result[0.99].high - result[0.99].low > result[0.5].high - result[0.5].low
    assert percentiles_with_ci(values, seed=1) == result


def test_percentiles_with_ci_edges():
    assert percentiles_with_ci([2.0], qs=(0.5,)) == {0.5: Estimate(2.0, 2.0, 2.0)}
    with pytest.raises(ValueError):
        percentiles_with_ci([])
    with pytest.raises(ValueError):
        percentiles_with_ci([1.0, float("nan")])


def test_tokens_per_second():
    assert tokens_per_second(100, 2.0) == 50.0
    assert tokens_per_second(100, 2.5, ttft_s=0.5) == 50.0
    assert tokens_per_second(None, 2.0) is None
    assert tokens_per_second(10, 0.0) is None
    assert tokens_per_second(10, 1.0, ttft_s=1.0) is None


# --- Sample size to show non-inferiority at a margin ---------------------------------------------


def test_sample_size_for_margin_textbook_and_by_hand():
    # The one-sided normal-approximation formula n = (z_{1-a} + z_{1-b})^2 p(1-p) / margin^2:
    # p = 0.5, margin 0.1, one-sided a = 0.05 (a 90% two-sided interval), power 0.8:
    # (1.645 + 0.842)^2 x 0.25 / 0.01 = 154.6 -> 155.
    assert sample_size_for_margin(0.5, 0.1, confidence=0.90) == 155
    z95, z90 = sps.norm.ppf(0.975), sps.norm.ppf(0.95)
    assert sample_size_for_margin(0.5, 0.1, confidence=0.90) == math.ceil((z90 + Z80) ** 2 * 0.25 / 0.01)
    # The verdict's 95% two-sided interval is a one-sided test at 2.5%: z = 1.96.
    assert sample_size_for_margin(0.9, 0.05) == math.ceil((z95 + Z80) ** 2 * 0.09 / 0.0025) == 283
    assert sample_size_for_margin(0.9, 0.05, arms=2) == math.ceil((Z95 + Z80) ** 2 * 0.18 / 0.0025) == 566
    assert sample_size_for_margin(0.9, 0.05, power=0.9) > 283


def test_sample_size_for_margin_edges():
    assert sample_size_for_margin(0.9, 0.0) is None  # no finite n shows a zero margin
    assert sample_size_for_margin(1.0, 0.02) == 1  # no variance: any answer shows it
    with pytest.raises(ValueError):
        sample_size_for_margin(1.2, 0.02)
    with pytest.raises(ValueError):
        sample_size_for_margin(0.9, 0.02, arms=3)


def test_sample_size_for_margin_has_its_power_in_a_simulation():
    """At the n it gives, the lower end of a 95% interval clears p - margin in about 80% of
    samples when the accuracy is p (Wald interval, the approximation the formula makes)."""
    p, margin = 0.9, 0.05
    n = sample_size_for_margin(p, margin)
    rng = np.random.default_rng(7)
    accuracy = rng.binomial(n, p, 100_000) / n
    low = accuracy - Z95 * np.sqrt(accuracy * (1 - accuracy) / n)
    assert (low > p - margin).mean() == pytest.approx(0.8, abs=0.01)
