"""Statistics for "is the candidate good enough?": intervals, paired tests and verdicts. Pure
functions over counts or per-item values; every interval is two-sided at `confidence`."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

Verdict = Literal["non-inferior", "inferior", "inconclusive"]

# Resamples are drawn in blocks so 5,000 items x 2,000 resamples never hold 80 MB of indices.
_BLOCK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its two-sided interval."""
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test: `statistic` is min(b, c) for the exact test, the χ² value otherwise."""
    statistic: float
    p_value: float
    method: Literal["exact", "chi2-cc"]


@dataclass(frozen=True)
class NonInferiority:
    """`difference`, `low`, `high`: candidate − reference (or − target); `n`: items per arm (pairs
    when paired); `more_samples`: set when inconclusive (None: no finite n decides)."""
    verdict: Verdict
    difference: float
    low: float
    high: float
    margin: float
    confidence: float
    n: int
    more_samples: int | None
    target: float | None
    text: str


def _tail(confidence: float) -> float:
    """(1 − confidence)/2, the probability outside each end of a two-sided interval."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return (1 - confidence) / 2


def _z(confidence: float) -> float:
    """z_{1−(1−confidence)/2}, the two-sided normal quantile."""
    return NormalDist().inv_cdf(1 - _tail(confidence))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927; Newcombe 1998a, method 3).
    With p = successes/n and z the two-sided normal quantile:
        centre = (p + z²/2n) / (1 + z²/n)
        half   = z / (1 + z²/n) · √(p(1−p)/n + z²/4n²)
    the interval is centre ± half, clipped to [0, 1]. n = 0 gives (0, 1): no information."""
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return (0.0, 1.0)
    z2 = _z(confidence) ** 2
    p, denom = successes / n, 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = math.sqrt(z2) / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe_paired_interval(
    both: int, candidate_only: int, reference_only: int, neither: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval for p_candidate − p_reference on paired right/wrong outcomes (Newcombe 1998b,
    method 10, with his continuity-corrected φ; Fagerland, Lydersen & Laake 2017, ch. 8).
    With n the total, p1 = (both + candidate_only)/n, p2 = (both + reference_only)/n, θ = p1 − p2,
    Wilson intervals (l1, u1), (l2, u2), A = both·neither − candidate_only·reference_only and
    M the product of the four margins: φ = (A − n/2)/√M if A > n/2, A/√M if A < 0, else 0
    (also 0 when M = 0); then
        low  = θ − √((p1−l1)² − 2φ(p1−l1)(u2−p2) + (u2−p2)²)
        high = θ + √((u1−p1)² − 2φ(u1−p1)(p2−l2) + (p2−l2)²)"""
    n = both + candidate_only + reference_only + neither
    if n == 0:
        return (-1.0, 1.0)
    x1, x2 = both + candidate_only, both + reference_only
    p1, p2 = x1 / n, x2 / n
    (l1, u1), (l2, u2) = wilson_interval(x1, n, confidence), wilson_interval(x2, n, confidence)
    margins = x1 * (n - x1) * x2 * (n - x2)
    a = both * neither - candidate_only * reference_only
    phi = 0.0
    if margins and (a > n / 2 or a < 0):
        phi = (a - n / 2 if a > 0 else a) / math.sqrt(margins)
    low = p1 - p2 - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    high = p1 - p2 + math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2)
    return (max(-1.0, low), min(1.0, high))


def _resamples(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap index rows, each row n draws with replacement from range(n)."""
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n_boot, rows):
        yield rng.integers(0, n, size=(min(rows, n_boot - start), n))


def paired_bootstrap_diff(
    a: Sequence[float], b: Sequence[float], n_boot: int = 2000, seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:
    """Mean of d_i = a_i − b_i (candidate minus reference on the same item) with a percentile
    bootstrap interval: resample the n items with replacement n_boot times (numpy's PCG64 seeded
    with `seed`, so reruns agree) and take the (1−c)/2 and (1+c)/2 quantiles of the means."""
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"need two equally long non-empty sequences, got {len(a)} and {len(b)}")
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    tail = _tail(confidence)
    means = np.concatenate([d[idx].mean(axis=1) for idx in _resamples(len(d), n_boot, seed)])
    low, high = np.quantile(means, [tail, 1 - tail])
    return Estimate(float(d.mean()), float(low), float(high))


def mcnemar(b: int, c: int) -> McNemarResult:
    """McNemar's test on the discordant pairs: b = candidate right and reference wrong, c = the
    opposite. When b + c < 25, the exact two-sided binomial test: p = min(1, 2·P(X ≤ min(b, c)))
    with X ~ Bin(b + c, ½). Otherwise χ² with continuity correction (Edwards 1948):
    χ² = max(|b − c| − 1, 0)² / (b + c), p = P(χ²₁ > χ²) = erfc(√(χ²/2))."""
    if b < 0 or c < 0:
        raise ValueError(f"counts must be non-negative, got b={b}, c={c}")
    n = b + c
    if n < 25:
        tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
        return McNemarResult(float(min(b, c)), min(1.0, 2 * tail), "exact")
    stat = max(abs(b - c) - 1, 0) ** 2 / n
    return McNemarResult(stat, math.erfc(math.sqrt(stat / 2)), "chi2-cc")


def non_inferiority_verdict(low: float, high: float, margin: float) -> Verdict:
    """The rule on an interval of candidate − reference: "non-inferior" if low > −margin,
    "inferior" if high < −margin, otherwise "inconclusive"."""
    return "non-inferior" if low > -margin else "inferior" if high < -margin else "inconclusive"


def _n_needed(variance: float, effect: float, alpha: float, power: float) -> int | None:
    """n = (z_{1−α/2} + z_{power})² · variance / effect², at least 1; None when effect ≈ 0."""
    if abs(effect) < 1e-12:  # 0.88 − 0.9 + 0.02 is not exactly 0 in floating point
        return None
    z = _z(1 - alpha) + NormalDist().inv_cdf(power)
    return max(1, math.ceil(z * z * variance / effect**2))


def required_sample_size(
    p_candidate: float, p_reference: float, margin: float = 0.02, alpha: float = 0.05,
    power: float = 0.8, discordance: float | None = None,
) -> int | None:
    """Items per arm for the (1−α) interval of candidate − reference to decide at `margin` with
    probability `power` (normal approximation; Chow, Shao & Wang 2008, §4.2; Connor 1987):
        n = (z_{1−α/2} + z_{power})² · V / (θ + margin)²,   θ = p_candidate − p_reference
    V = p_c(1−p_c) + p_r(1−p_r) for independent samples (conservative for pairs that agree more
    than chance), or V = ψ − θ² for paired items with discordance ψ = P(exactly one is right).
    α is two-sided to match the verdict's interval. If θ < −margin the same n shows "inferior"
    with the same power. None when θ = −margin: no finite n decides."""
    theta = p_candidate - p_reference
    if discordance is None:
        variance = p_candidate * (1 - p_candidate) + p_reference * (1 - p_reference)
    elif abs(theta) <= discordance <= 1:
        variance = discordance - theta**2
    else:
        raise ValueError(f"discordance {discordance} must lie in [|θ|, 1] = [{abs(theta)}, 1]")
    return _n_needed(variance, theta + margin, alpha, power)


def sample_size_for_margin(
    p: float, margin: float, confidence: float = 0.95, power: float = 0.8, arms: int = 1,
) -> int | None:
    """Answers needed to show non-inferiority at `margin` when the candidate is in truth exactly as
    good as what it is compared with: the one-sided test of the verdict (the lower end of its
    two-sided `confidence` interval above −margin is a one-sided test at α = (1 − confidence)/2),
    by the normal approximation (Chow, Shao & Wang 2008, §4.1–4.2, with true difference 0):
        n = (z_{1−α} + z_{power})² · arms · p(1 − p) / margin²,   rounded up
    p: the accuracy expected, so p(1 − p) is one answer's variance; arms = 1 against a fixed
    target, 2 against another measured accuracy (both vary: independent samples, or paired answers
    whose errors are independent; pairs that agree more than that need fewer). At 95% and power
    0.8, z_{1−α} + z_{power} = 1.960 + 0.842. None when margin <= 0: no finite n shows it.
    By hand: p = 0.5, margin 0.1, one-sided α = 0.05 (confidence 0.90), power 0.8:
    (1.645 + 0.842)² · 0.25 / 0.01 = 154.6, so 155."""
    if not 0 <= p <= 1 or arms not in (1, 2):
        raise ValueError(f"need 0 <= p <= 1 and arms 1 or 2, got p={p}, arms={arms}")
    if margin <= 0:
        return None
    return _n_needed(arms * p * (1 - p), margin, 1 - confidence, power)


def _wilson_centre(successes: int, n: int, confidence: float) -> float:
    """(x + z²/2)/(n + z²): a planning value that is never exactly 0 or 1."""
    z2 = _z(confidence) ** 2
    return (successes + z2 / 2) / (n + z2)


def _points(x: float) -> str:
    return f"{100 * x:.1f}".removesuffix(".0")


def _conclude(
    theta: float, interval: tuple[float, float], margin: float, confidence: float, n: int,
    required: int | None, target: float | None = None,
) -> NonInferiority:
    verdict = non_inferiority_verdict(*interval, margin)
    more = None if required is None or verdict != "inconclusive" else max(1, required - n)
    at = f"at {_points(confidence)}%"
    if verdict == "non-inferior" and target is None:
        text = f"non-inferior within {_points(margin)} points {at}"
    elif verdict == "non-inferior":
        bar = f"within {_points(margin)} points of" if margin else "meets"
        text = f"{bar} the {_points(target)}% target {at}"
    elif verdict == "inferior":
        text = "worse" if target is None else f"below the {_points(target)}% target"
    elif more is None:
        text = "not enough data: the difference sits at the margin"
    else:  # round up to two significant figures: "about" should not sound precise
        step = 10 ** max(0, len(str(more)) - 2)
        text = f"not enough data: need about {math.ceil(more / step) * step:,} more samples"
    return NonInferiority(verdict, theta, *interval, margin, confidence, n, more, target, text)


def non_inferiority_paired(
    candidate: Sequence[bool], reference: Sequence[bool], margin: float = 0.02,
    confidence: float = 0.95, power: float = 0.8,
) -> NonInferiority:
    """Candidate vs reference (e.g. the incumbent API) graded right/wrong on the same items.
    Interval: `newcombe_paired_interval`; verdict: `non_inferiority_verdict`. When inconclusive,
    `more_samples` = `required_sample_size` (paired) − n with planning values that add z²/4
    pseudo-items to each discordant cell, θ̃ = (b − c)/(n + z²), ψ̃ = (b + c + z²/2)/(n + z²),
    so a few items without any disagreement do not plan a sample of zero."""
    if len(candidate) != len(reference):
        raise ValueError(f"paired outcomes differ: {len(candidate)} vs {len(reference)} items")
    pairs = list(zip(map(bool, candidate), map(bool, reference)))
    n, both = len(pairs), pairs.count((True, True))
    b, c = pairs.count((True, False)), pairs.count((False, True))
    interval = newcombe_paired_interval(both, b, c, n - both - b - c, confidence)
    z2 = _z(confidence) ** 2
    theta_p, psi_p = (b - c) / (n + z2), (b + c + z2 / 2) / (n + z2)
    required = _n_needed(psi_p - theta_p**2, theta_p + margin, 1 - confidence, power)
    return _conclude((b - c) / n if n else 0.0, interval, margin, confidence, n, required)


def non_inferiority_independent(
    candidate_successes: int, candidate_n: int, reference_successes: int, reference_n: int,
    margin: float = 0.02, confidence: float = 0.95, power: float = 0.8,
) -> NonInferiority:
    """Two accuracies measured on different items. Interval: Newcombe's hybrid score interval
    (Newcombe 1998a, method 10): with Wilson intervals (l1, u1), (l2, u2) and θ = p1 − p2,
        low = θ − √((p1−l1)² + (u2−p2)²),   high = θ + √((u1−p1)² + (p2−l2)²)
    (−1, 1) for an empty arm. Verdict: `non_inferiority_verdict`; `n` is the smaller arm;
    `more_samples` (per arm) = `required_sample_size` (independent) − n with planning values
    p̃ = (x + z²/2)/(n + z²)."""
    x1, n1, x2, n2 = candidate_successes, candidate_n, reference_successes, reference_n
    (l1, u1), (l2, u2) = wilson_interval(x1, n1, confidence), wilson_interval(x2, n2, confidence)
    p1, p2 = (x1 / n1, x2 / n2) if n1 and n2 else (0.0, 0.0)
    low, high = p1 - p2 - math.hypot(p1 - l1, u2 - p2), p1 - p2 + math.hypot(u1 - p1, p2 - l2)
    interval = (max(-1.0, low), min(1.0, high)) if n1 and n2 else (-1.0, 1.0)
    pc, pr = _wilson_centre(x1, n1, confidence), _wilson_centre(x2, n2, confidence)
    required = required_sample_size(pc, pr, margin, 1 - confidence, power)
    return _conclude(p1 - p2, interval, margin, confidence, min(n1, n2), required)


def non_inferiority_target(
    successes: int, n: int, target: float, margin: float = 0.0, confidence: float = 0.95,
    power: float = 0.8,
) -> NonInferiority:
    """Accuracy against ground truth compared with a quality target (no incumbent): the interval
    is the Wilson interval minus `target` and the verdict `non_inferiority_verdict`, so
    "non-inferior" means the lower bound clears target − margin. When inconclusive,
    `more_samples` = (z_{1−α/2} + z_{power})² · p̃(1−p̃) / (p̃ − target + margin)² − n with
    p̃ = (x + z²/2)/(n + z²)."""
    low, high = wilson_interval(successes, n, confidence)
    p = _wilson_centre(successes, n, confidence)
    required = _n_needed(p * (1 - p), p - target + margin, 1 - confidence, power)
    theta = (successes / n if n else 0.0) - target
    return _conclude(theta, (low - target, high - target), margin, confidence, n, required, target)


def percentiles_with_ci(
    values: Sequence[float], qs: Sequence[float] = (0.5, 0.95, 0.99), n_boot: int = 2000,
    seed: int = 0, confidence: float = 0.95,
) -> dict[float, Estimate]:
    """Sample quantiles q -> value (numpy's default: linear interpolation between order
    statistics) with percentile bootstrap intervals: resample the values n_boot times (seeded),
    take each quantile of each resample, and report the (1−c)/2 and (1+c)/2 quantiles of those.
    Pass successful requests only: NaN or infinite values are refused."""
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) == 0 or not np.isfinite(x).all():
        raise ValueError("need a non-empty sequence of finite values")
    tail = _tail(confidence)
    blocks = [np.quantile(x[idx], qs, axis=1) for idx in _resamples(len(x), n_boot, seed)]
    lows, highs = np.quantile(np.concatenate(blocks, axis=1), [tail, 1 - tail], axis=1)
    return {float(q): Estimate(float(v), float(lo), float(hi))
            for q, v, lo, hi in zip(qs, np.quantile(x, qs), lows, highs)}


def tokens_per_second(
    output_tokens: int | None, latency_s: float | None, ttft_s: float | None = None
) -> float | None:
    """Generation speed: output_tokens / (latency − TTFT) when the time to first token is known
    (decode speed), else output_tokens / latency (end to end). None when a value is missing or
    the time is not positive."""
    if output_tokens is None or latency_s is None:
        return None
    seconds = latency_s - ttft_s if ttft_s is not None else latency_s
    return output_tokens / seconds if seconds > 0 else None
