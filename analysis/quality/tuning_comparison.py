"""Did fine-tuning help? The base and the tuned candidate of one run, compared on the held-out split
only (`held_out_requests`: requests kept out of every training export), paired per request.

Rule: per (candidate, request) one score, as on the Quality page (an exact scorer's before the
judge's, the latest first, or only `scorer`'s); a pair is a held-out request both candidates were
scored on against the same reference. With b = tuned right and base wrong, c = the opposite:
    accuracy of each     Wilson interval (stats.wilson_interval)
    lift = tuned − base  (b − c) / n, Newcombe's paired interval (stats.newcombe_paired_interval)
    McNemar              stats.mcnemar(b, c)
Verdict: "better" / "worse" when the interval lies above / below 0 with at least MIN_PAIRS pairs,
else "too few to tell", with the pairs needed to show the observed lift at 80% power
(stats.required_sample_size, paired, margin 0, with the planning values of
stats.non_inferiority_paired so a handful of agreeing pairs does not plan zero)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import duckdb

from analysis.errors import NotFound, UserError
from analysis.quality import stats
from analysis.store.database import rows

# Fewer pairs than this never give a verdict, whatever the interval: this module's stated rule,
# so that two or three lucky answers are not read as a lift.
MIN_PAIRS = 10
POWER = 0.8
Verdict = Literal["better", "worse", "too few to tell"]

PAIRS_SQL = """
    WITH s AS (
        SELECT * FROM scores
        WHERE run_id = $run_id AND candidate IN ($base, $tuned) AND ($scorer IS NULL OR scorer = $scorer)
        QUALIFY row_number() OVER (PARTITION BY run_id, candidate, request_id
                                   ORDER BY scorer = 'judge', scored_at DESC, scorer) = 1),
    b AS (SELECT * FROM s WHERE candidate = $base),
    t AS (SELECT * FROM s WHERE candidate = $tuned)
    SELECT b.request_id, b.passed AS base_passed, t.passed AS tuned_passed, b.reference,
           b.request_id IN (SELECT request_id FROM held_out_requests) AS held_out
    FROM b JOIN t ON t.request_id = b.request_id AND t.reference = b.reference
    ORDER BY b.request_id"""


class TuningComparisonError(UserError):
    """Nothing to compare: no held-out split, or no held-out request scored for both candidates."""


@dataclass(frozen=True)
class TuningComparison:
    """Base vs tuned on the held-out pairs. `left_out`: scored pairs outside the held-out split
    (requests the tuned model may have trained on), counted but never used. `more_pairs`: set when
    the verdict is "too few to tell" (None: no lift seen, no finite n shows one)."""
    run_id: str
    base: str
    tuned: str
    references: tuple[str, ...]
    n: int
    left_out: int
    both_right: int
    tuned_only: int
    base_only: int
    neither: int
    base_accuracy: float
    base_low: float
    base_high: float
    tuned_accuracy: float
    tuned_low: float
    tuned_high: float
    lift: float
    lift_low: float
    lift_high: float
    mcnemar_p: float
    mcnemar_method: str
    confidence: float
    verdict: Verdict
    more_pairs: int | None
    text: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def run_candidates(con: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    """The candidate specs with results in `run_id`, sorted."""
    return [r[0] for r in rows(con, "SELECT DISTINCT candidate FROM results WHERE run_id = ? ORDER BY 1", [run_id])]


def compare_tuned(con: duckdb.DuckDBPyConnection, run_id: str, base: str, tuned: str,
                  confidence: float = 0.95, scorer: str | None = None) -> TuningComparison:
    """Base vs tuned candidate of `run_id` on its held-out requests (the module's rule).
    NotFound for an unknown run or candidate; TuningComparisonError when the held-out split is
    empty or no held-out request was scored for both."""
    names = run_candidates(con, run_id)
    if not names:
        raise NotFound(f"no replay run {run_id!r} with results")
    for spec in (base, tuned):
        if spec not in names:
            raise NotFound(f"run {run_id} has no candidate {spec!r}; its candidates: {', '.join(names)}")
    if base == tuned:
        raise TuningComparisonError("the base and the tuned candidate are the same; name two candidates")
    if not rows(con, "SELECT 1 FROM held_out_requests LIMIT 1"):
        raise TuningComparisonError("the held-out split is empty: export a training set first (breakeven export-training "
                                    "sets requests aside for this test), then replay them with both candidates "
                                    "(breakeven replay --held-out) and score the run")
    pairs = rows(con, PAIRS_SQL, {"run_id": run_id, "base": base, "tuned": tuned, "scorer": scorer})
    held = [p for p in pairs if p[4]]
    if not held:
        raise TuningComparisonError(
            f"no held-out request of run {run_id} is scored for both {base} and {tuned} against the same reference "
            f"({len(pairs)} scored pairs, none held out): replay the held-out requests with both "
            "(breakeven replay --held-out) and score the run")
    return _compare(run_id, base, tuned, held, len(pairs) - len(held), confidence)


def _compare(run_id: str, base: str, tuned: str, held: list[tuple], left_out: int,
             confidence: float) -> TuningComparison:
    n = len(held)
    both = sum(1 for p in held if p[1] and p[2])
    tuned_only = sum(1 for p in held if p[2] and not p[1])
    base_only = sum(1 for p in held if p[1] and not p[2])
    neither = n - both - tuned_only - base_only
    base_right, tuned_right = both + base_only, both + tuned_only
    low, high = stats.newcombe_paired_interval(both, tuned_only, base_only, neither, confidence)
    test = stats.mcnemar(tuned_only, base_only)
    lift = (tuned_only - base_only) / n
    if n >= MIN_PAIRS and low > 0:
        verdict, more = "better", None
    elif n >= MIN_PAIRS and high < 0:
        verdict, more = "worse", None
    else:
        verdict, more = "too few to tell", _more_pairs(n, tuned_only, base_only, confidence)
    return TuningComparison(
        run_id=run_id, base=base, tuned=tuned, references=tuple(sorted({p[3] for p in held})), n=n,
        left_out=left_out, both_right=both, tuned_only=tuned_only, base_only=base_only, neither=neither,
        base_accuracy=base_right / n, base_low=stats.wilson_interval(base_right, n, confidence)[0],
        base_high=stats.wilson_interval(base_right, n, confidence)[1], tuned_accuracy=tuned_right / n,
        tuned_low=stats.wilson_interval(tuned_right, n, confidence)[0],
        tuned_high=stats.wilson_interval(tuned_right, n, confidence)[1], lift=lift, lift_low=low, lift_high=high,
        mcnemar_p=test.p_value, mcnemar_method=test.method, confidence=confidence, verdict=verdict,
        more_pairs=more, text=_text(verdict, lift, low, high, n, more, confidence))


def _more_pairs(n: int, tuned_only: int, base_only: int, confidence: float) -> int | None:
    """Pairs still needed for the interval to exclude 0 at POWER, planning with z²/4 pseudo-pairs
    in each discordant cell: θ̃ = (b − c)/(n + z²), ψ̃ = (b + c + z²/2)/(n + z²)."""
    z2 = NormalDist().inv_cdf(1 - (1 - confidence) / 2) ** 2
    theta = (tuned_only - base_only) / (n + z2)
    psi = (tuned_only + base_only + z2 / 2) / (n + z2)
    if abs(theta) < 1e-12:
        return None
    needed = stats.required_sample_size(0.5 + theta / 2, 0.5 - theta / 2, margin=0.0, alpha=1 - confidence,
                                        power=POWER, discordance=psi)
    return None if needed is None else max(1, needed - n, MIN_PAIRS - n)


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def _text(verdict: Verdict, lift: float, low: float, high: float, n: int, more: int | None,
          confidence: float) -> str:
    interval = f"{_points(lift)} points ({_points(low)} to {_points(high)} at {100 * confidence:g}%) on {n:,} held-out requests"
    if verdict == "better":
        return f"the tuned model is better: {interval}"
    if verdict == "worse":
        return f"the tuned model is worse: {interval}"
    if more is None:
        return f"too few to tell: {interval}; no lift seen, so no number of requests would show one"
    step = 10 ** max(0, len(str(more)) - 2)
    return f"too few to tell: {interval}; about {math.ceil(more / step) * step:,} more held-out requests needed"
