"""Which replayed candidate the decision is about, chosen by one rule, and how to read its verdicts
("too few to tell" with the answers it would take).

The rule (`rank_candidates`; `best_candidate` is its first): every scored (run, candidate), the
incumbent left out, with runs in the order `demo_run.default_run` picks from (real runs newest
first, then the demo's synthetic run), so the best candidate is always one of the default run's.
Within a run, candidates rank by
1. the share of their segments (the task type x reference rows of `verdicts.quality_table` at
   `margin` and `target`) whose verdict is non-inferior, highest first;
2. then accuracy over all their scored answers (passed / scored), highest first;
3. then answers scored, most first; then the SPEC, alphabetically.

Reading a verdict (`read_verdict`): an inconclusive row with fewer answers than
`stats.sample_size_for_margin` needs is "too few to tell", with that n. Compared with the
incumbent (paired), the n is for a margin of `margin` with both accuracies varying (arms 2) at
the incumbent's accuracy; compared with a target, for clearing the target from the candidate's
accuracy (arms 1, margin = accuracy − target; none when the accuracy is not above the target).
Accuracies are planning values (x + z²/2) / (n + z²), never exactly 0 or 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import duckdb
import polars as pl

from analysis.errors import UserError
from analysis.quality import stats
from analysis.quality.scoring.runner import INCUMBENT
from analysis.quality.verdicts import DEFAULT_MARGIN, DEFAULT_TARGET, quality_table
from analysis.replay.demo_run import is_demo_run
from analysis.replay.providers.registry import parse_candidate_spec
from analysis.store.database import rows

TOO_FEW = "too few to tell"


@dataclass(frozen=True)
class CandidateSummary:
    """One scored candidate of one run: answers scored, segments and how many are non-inferior,
    accuracy (passed / scored), and whether the run is the demo's synthetic one."""
    run_id: str
    candidate: str
    scored: int
    segments: int
    non_inferior: int
    accuracy: float
    synthetic: bool

    @property
    def label(self) -> str:
        """How a picker names it, short enough for a sidebar: 'MODEL · run ID · N scored' (the
        SPEC's model; the whole SPEC where it names none)."""
        try:
            model = parse_candidate_spec(self.candidate).model
        except UserError:
            model = self.candidate
        return f"{model} · run {self.run_id}{' (demo)' if self.synthetic else ''} · {self.scored:,} scored"


def _run_order(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Run ids, real runs newest first, then the demo's (the order `default_run` picks from)."""
    newest_first = [r for (r,) in rows(con, "SELECT run_id FROM runs ORDER BY created_at DESC, run_id")]
    return [r for r in newest_first if not is_demo_run(r)] + [r for r in newest_first if is_demo_run(r)]


def summarise(table: pl.DataFrame, run_order: list[str]) -> list[CandidateSummary]:
    """`rank_candidates` over a `quality_table` frame, with runs in `run_order` (module rule)."""
    found: dict[tuple[str, str], list[dict]] = {}
    for row in table.filter(pl.col("candidate") != INCUMBENT).iter_rows(named=True):
        found.setdefault((row["run_id"], row["candidate"]), []).append(row)
    summaries = [CandidateSummary(
        run_id=run, candidate=candidate, scored=sum(r["n"] for r in segment_rows), segments=len(segment_rows),
        non_inferior=sum(r["verdict"] == "non-inferior" for r in segment_rows),
        accuracy=sum(r["successes"] for r in segment_rows) / max(1, sum(r["n"] for r in segment_rows)),
        synthetic=is_demo_run(run)) for (run, candidate), segment_rows in found.items()]
    position = {run: i for i, run in enumerate(run_order)}
    return sorted(summaries, key=lambda s: (position.get(s.run_id, len(position)), -s.non_inferior / s.segments,
                                            -s.accuracy, -s.scored, s.candidate))


def rank_candidates(con: duckdb.DuckDBPyConnection, margin: float = DEFAULT_MARGIN,
                    target: float = DEFAULT_TARGET) -> list[CandidateSummary]:
    """Every scored (run, candidate) in the module's order: the best candidate first."""
    return summarise(quality_table(con, None, margin, target), _run_order(con))


def best_candidate(con: duckdb.DuckDBPyConnection, margin: float = DEFAULT_MARGIN,
                   target: float = DEFAULT_TARGET) -> CandidateSummary | None:
    """The best replayed candidate (module rule); None when nothing is scored."""
    return next(iter(rank_candidates(con, margin, target)), None)


@dataclass(frozen=True)
class Reading:
    """A quality row read plainly: verdict ('non-inferior', 'inferior', TOO_FEW or 'inconclusive'),
    answers compared, the answers it would take when undecided (None: no finite n, or decided),
    and the sentence to show."""
    verdict: str
    n: int
    needed: int | None
    text: str


def _planning(accuracy: float, n: int, confidence: float) -> float:
    z2 = NormalDist().inv_cdf(1 - (1 - confidence) / 2) ** 2
    return (accuracy * n + z2 / 2) / (n + z2)


def _about(n: int) -> str:
    """n rounded up to two significant figures: 'about' should not sound precise."""
    step = 10 ** max(0, len(str(n)) - 2)
    return f"about {math.ceil(n / step) * step:,}"


def read_verdict(row: Mapping, margin: float = DEFAULT_MARGIN, target: float = DEFAULT_TARGET,
                 confidence: float = 0.95, power: float = 0.8) -> Reading:
    """A `quality_table` row (computed at `margin`, `target` and `confidence`) read by the module rule."""
    n = row["n_paired"] or row["n"]
    if row["verdict"] != "inconclusive":
        return Reading(row["verdict"], n, None, row["verdict_text"])
    if row["compared_with"] == INCUMBENT:
        needed = stats.sample_size_for_margin(_planning(row["incumbent_accuracy"], n, confidence), margin,
                                              confidence, power, arms=2)
        what = f"to show it within {100 * margin:g} points of the incumbent"
    else:
        accuracy = _planning(row["accuracy"], n, confidence)
        needed = (stats.sample_size_for_margin(accuracy, accuracy - target, confidence, power)
                  if accuracy > target else None)
        what = "to show it meets the target"
    if needed is not None and n < needed:
        return Reading(TOO_FEW, n, needed, f"{TOO_FEW}: {n:,} compared, {_about(needed)} needed {what}")
    return Reading("inconclusive", n, None, row["verdict_text"])


def describe(readings: list[tuple[str, Reading]]) -> str:
    """One candidate's readings, (task type, reading), in a sentence: 'non-inferior on A, B;
    inferior on C; too few to tell on D (about N answers needed)'."""
    parts = []
    for verdict in ("non-inferior", "inferior", TOO_FEW, "inconclusive"):
        found = [(name, r) for name, r in readings if r.verdict == verdict]
        if found:
            needed = max((r.needed for _, r in found if r.needed), default=None)
            parts.append(f"{verdict} on {', '.join(name for name, _ in found)}"
                         + (f" ({_about(needed)} answers needed)" if needed else ""))
    return "; ".join(parts) or "no verdicts yet"
