"""The DuckDB side of routing: per-segment aggregates of the logged traffic (the `traffic` view:
requests without labelled dataset rows; two scans, cached by the dashboard), the same per day
(for the counterfactual bill), and per-segment quality from a replay run. `analysis.economics.routing` is
pure Python over these.

Segments: `segment_by` is 'task_complexity' (default: task type x complexity bucket, low < 0.33 <=
mid < 0.66 <= high, NULL complexity 'unknown', NULL task '(untyped)'), a column of SEGMENT_COLUMNS
(NULL: '(none)'), or 'tag:<prefix>' (the first tag starting with the prefix, without it; '(none)').
A request is in-house when it carries one of `residency_tags`; it is too long when its
input_tokens exceed `context_window` (the local deployment's window): too-long requests stay on
the API, except in-house ones, which stay local and are counted as conflicts.
API cost per request: logged cost, else genai-prices, with a failed call at $0 (not billed) where
its group has a price (`workspace_defaults.COST_COLUMNS_SQL`, `group_cost`); requests
that neither prices are costed at their group's (segment x in-house x too-long x model x batch)
mean, else the segment's, else the workspace's mean. Logged API latency p50/p95: requests with status 'ok'
and a latency, None (unknown: too few) when a segment has fewer than MIN_LATENCY_REQUESTS of them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import duckdb

from analysis.economics.workspace_defaults import COST_COLUMNS_SQL, group_cost
from analysis.errors import UserError
from analysis.quality import stats
from analysis.quality.verdicts import MIN_LATENCY_REQUESTS
from analysis.store.database import rows, scalar

DEFAULT_SEGMENT = "task_complexity"
SEGMENT_COLUMNS = ("task_type", "model", "provider", "team", "user_id", "operation")
COMPLEXITY_BUCKETS = ((0.33, "low"), (0.66, "mid"))  # below each bound; "high" above the last
DEFAULT_CONTEXT_WINDOW = 8192
INCUMBENT = "incumbent"
# Score reasons that a deployed router can detect without a reference (analysis.quality.scoring's texts):
# a failed call, invalid JSON, no label of the set, an empty answer, no number.
CHECK_FAILURE_RE = r"^(no answer|invalid JSON|no known label|empty answer|no number in the answer)"


def segment_sql(segment_by: str = DEFAULT_SEGMENT) -> str:
    """The SQL expression of a request's segment key (module rule); UserError for anything else."""
    if segment_by == DEFAULT_SEGMENT:
        cases = " ".join(f"WHEN complexity < {bound} THEN '{name}'" for bound, name in COMPLEXITY_BUCKETS)
        return (f"coalesce(task_type, '(untyped)') || '/' || CASE WHEN complexity IS NULL THEN 'unknown' "
                f"{cases} ELSE 'high' END")
    if segment_by in SEGMENT_COLUMNS:
        return f"coalesce(CAST({segment_by} AS VARCHAR), '(none)')"
    if segment_by.startswith("tag:"):
        prefix = segment_by.removeprefix("tag:").replace("'", "''")
        first = f"list_filter(coalesce(tags, []), lambda t: starts_with(t, '{prefix}'))[1]"
        return f"coalesce(substr({first}, {len(segment_by) - 3}), '(none)')"
    raise UserError(f"segment_by must be {DEFAULT_SEGMENT!r}, one of {', '.join(SEGMENT_COLUMNS)} or "
                    f"'tag:<prefix>', got {segment_by!r}")


@dataclass(frozen=True)
class SegmentStats:
    """One segment's logged traffic: requests and their API cost (USD, all of them), of which too
    long for the local window (not in-house), in-house, and in-house AND too long (conflicts);
    p95 input tokens; logged API latency p50/p95 (ms; None below MIN_LATENCY_REQUESTS timed requests)
    and the number of timed requests behind it; requests without any cost (imputed)."""
    key: str
    requests: int
    cost_usd: float
    too_long: int = 0
    too_long_usd: float = 0.0
    in_house: int = 0
    in_house_usd: float = 0.0
    conflicts: int = 0
    p95_input_tokens: float | None = None
    api_p50_ms: float | None = None
    api_p95_ms: float | None = None
    api_timed_requests: int = 0
    unpriced: int = 0


@dataclass(frozen=True)
class Traffic:
    """The per-segment aggregates of a workspace and how they were cut."""
    segments: tuple[SegmentStats, ...]
    days_covered: int
    segment_by: str = DEFAULT_SEGMENT
    context_window: int = DEFAULT_CONTEXT_WINDOW
    residency_tags: tuple[str, ...] = ()

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.segments)

    @property
    def cost_usd(self) -> float:
        return sum(s.cost_usd for s in self.segments)


def _cells(con: duckdb.DuckDBPyConnection, segment_by: str, context_window: int, residency_tags: tuple[str, ...],
           by_day: bool) -> dict[tuple, SegmentStats]:
    """{(day or None, key): SegmentStats without quantiles}, from one GROUP BY over requests."""
    day = "ts::DATE" if by_day else "NULL::DATE"
    found = rows(con, f"""
        SELECT {day} AS day, {segment_sql(segment_by)} AS segment,
               list_has_any(coalesce(tags, []), $tags::VARCHAR[]) AS in_house,
               coalesce(input_tokens, 0) > $window AS long, model, any_value(provider), is_batch,
               {COST_COLUMNS_SQL}
        FROM traffic GROUP BY day, segment, in_house, long, model, is_batch""",
        {"tags": list(residency_tags), "window": int(context_window)})
    cells: dict[tuple, list] = defaultdict(list)
    for d, key, in_house, long, model, provider, batch, n, logged, to_price, inp, cached, write, out, logged_n, free \
            in found:
        usd, priced = group_cost(model, provider, batch, logged, logged_n, to_price, (inp, cached, write, out), free)
        cells[(d, key)].append((bool(in_house), bool(long), n, usd, priced))
    total_n = sum(c[4] for parts in cells.values() for c in parts)
    overall = sum(c[3] for parts in cells.values() for c in parts) / total_n if total_n else 0.0
    out_stats = {}
    for (d, key), parts in cells.items():
        seg_priced = sum(p[4] for p in parts)
        seg_mean = sum(p[3] for p in parts) / seg_priced if seg_priced else overall
        acc = defaultdict(float)
        for in_house, long, n, usd, priced in parts:
            usd += (n - priced) * (usd / priced if priced else seg_mean)
            acc["requests"] += n
            acc["cost_usd"] += usd
            acc["unpriced"] += n - priced
            if in_house:
                acc["in_house"] += n
                acc["in_house_usd"] += usd
                acc["conflicts"] += n if long else 0
            elif long:
                acc["too_long"] += n
                acc["too_long_usd"] += usd
        ints = ("requests", "too_long", "in_house", "conflicts", "unpriced")
        out_stats[(d, key)] = SegmentStats(key, **{k: int(v) if k in ints else v for k, v in acc.items()})
    return out_stats


def segment_traffic(con: duckdb.DuckDBPyConnection, segment_by: str = DEFAULT_SEGMENT,
                    context_window: int = DEFAULT_CONTEXT_WINDOW, residency_tags: tuple[str, ...] = ()) -> Traffic:
    """Per-segment aggregates (module rules); days covered as in `analysis.store.summary`. Two scans of
    `requests`; cache the result by (data version, arguments)."""
    cells = _cells(con, segment_by, context_window, tuple(residency_tags), by_day=False)
    quantiles = {segment: (p95_in, *(latency if latency and timed >= MIN_LATENCY_REQUESTS else (None, None)), timed)
                 for segment, p95_in, latency, timed in rows(con, f"""
        SELECT {segment_sql(segment_by)} AS segment, quantile_cont(input_tokens, 0.95),
               quantile_cont(CASE WHEN status = 'ok' THEN latency_ms END, [0.5, 0.95]),
               count(latency_ms) FILTER (WHERE status = 'ok')
        FROM traffic GROUP BY 1""")}
    days = scalar(con, "SELECT coalesce(date_diff('day', min(ts)::DATE, max(ts)::DATE) + 1, 0) FROM traffic")
    segments = []
    for (_, key), s in sorted(cells.items(), key=lambda kv: kv[0][1]):
        *figures, timed = quantiles.get(key, (None, None, None, 0))
        p95_in, p50, p95 = (float(v) if v is not None else None for v in figures)
        segments.append(SegmentStats(**{**s.__dict__, "p95_input_tokens": p95_in, "api_p50_ms": p50, "api_p95_ms": p95,
                                        "api_timed_requests": int(timed)}))
    return Traffic(tuple(segments), int(days or 0), segment_by, int(context_window), tuple(residency_tags))


@dataclass(frozen=True)
class DayTraffic:
    """One logged UTC day's per-segment traffic (no quantiles)."""
    day: date | None
    segments: tuple[SegmentStats, ...]


def daily_traffic(con: duckdb.DuckDBPyConnection, segment_by: str = DEFAULT_SEGMENT,
                  context_window: int = DEFAULT_CONTEXT_WINDOW, residency_tags: tuple[str, ...] = ()) -> list[DayTraffic]:
    """`segment_traffic`'s cells per UTC day (requests without a timestamp: day None, last)."""
    by_day: dict = defaultdict(list)
    for (d, _), cell in _cells(con, segment_by, context_window, tuple(residency_tags), by_day=True).items():
        by_day[d].append(cell)
    ordered = sorted(by_day, key=lambda d: (d is None, d or date.min))
    return [DayTraffic(d, tuple(sorted(by_day[d], key=lambda s: s.key))) for d in ordered]


@dataclass(frozen=True)
class SegmentQuality:
    """The candidate's quality on one segment, from a replay (or by hand). Accuracies in [0, 1];
    escalation_rate: share of local answers that fail the runtime check (escalated in a cascade);
    cascade_accuracy None: local_accuracy + escalation_rate × api_accuracy (a failed check is a
    wrong local answer, and the API is as good on escalated requests as on average).
    Paired discordant counts, when known, make the verdict paired: local_wins = local right & API
    wrong, api_wins the opposite; cascade_wins / cascade_losses the same for the cascade."""
    n: int
    local_accuracy: float
    api_accuracy: float
    escalation_rate: float = 0.0
    local_p50_ms: float | None = None
    local_p95_ms: float | None = None
    cascade_accuracy: float | None = None
    local_wins: int | None = None
    api_wins: int | None = None
    cascade_wins: int | None = None
    cascade_losses: int | None = None

    def __post_init__(self) -> None:
        rates = (self.local_accuracy, self.api_accuracy, self.escalation_rate, self.cascade_accuracy or 0.0)
        if self.n < 1 or not all(0 <= r <= 1 for r in rates):
            raise ValueError(f"SegmentQuality needs n >= 1 and rates in [0, 1], got {self}")

    @property
    def cascade(self) -> float:
        """cascade_accuracy, else min(1, local + escalation_rate × api)."""
        if self.cascade_accuracy is not None:
            return self.cascade_accuracy
        return min(1.0, self.local_accuracy + self.escalation_rate * self.api_accuracy)

    def verdict(self, cascade: bool, margin: float, confidence: float = 0.95) -> stats.NonInferiority:
        """Local (or cascade) quality vs the API: `stats.non_inferiority_paired` when the
        discordant counts are known (both right = round(accuracy × n) − wins), else
        `stats.non_inferiority_independent` on round(accuracy × n) of n per side."""
        acc = self.cascade if cascade else self.local_accuracy
        wins, losses = (self.cascade_wins, self.cascade_losses) if cascade else (self.local_wins, self.api_wins)
        n, right = self.n, round(acc * self.n)
        if wins is None or losses is None or right < wins or right - wins + losses > n:
            return stats.non_inferiority_independent(right, n, round(self.api_accuracy * n), n, margin, confidence)
        both = right - wins
        neither = n - both - wins - losses
        local = [True] * (both + wins) + [False] * (losses + neither)
        api = [True] * both + [False] * wins + [True] * losses + [False] * neither
        return stats.non_inferiority_paired(local, api, margin, confidence)


QUALITY_SQL = """
    WITH s AS (SELECT * FROM scores WHERE run_id = $run
               QUALIFY row_number() OVER (PARTITION BY candidate, request_id
                                          ORDER BY scorer = 'judge', scored_at DESC, scorer) = 1),
    req AS (SELECT request_id, any_value({segment}) AS segment FROM requests
            WHERE request_id IN (SELECT request_id FROM s) GROUP BY 1),
    c AS (SELECT s.request_id, s.passed, s.reference,
                 x.status IS DISTINCT FROM 'ok' OR regexp_matches(coalesce(s.reason, ''), $check) AS failed_check,
                 CASE WHEN x.status = 'ok' THEN x.latency_ms END AS latency_ms
          FROM s LEFT JOIN results x USING (run_id, candidate, request_id) WHERE s.candidate = $candidate),
    j AS (SELECT c.*, req.segment,
                 CASE WHEN i.request_id IS NOT NULL THEN i.passed WHEN c.reference = 'incumbent' THEN true END AS api
          FROM c JOIN req USING (request_id)
          LEFT JOIN s i ON i.request_id = c.request_id AND i.candidate = $incumbent AND i.reference = c.reference),
    k AS (SELECT *, CASE WHEN failed_check THEN api ELSE passed END AS cascade FROM j WHERE api IS NOT NULL)
    SELECT segment, count(*), count(*) FILTER (passed), count(*) FILTER (api), count(*) FILTER (failed_check),
           count(*) FILTER (cascade), count(*) FILTER (passed AND NOT api), count(*) FILTER (NOT passed AND api),
           count(*) FILTER (cascade AND NOT api), count(*) FILTER (NOT cascade AND api),
           quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95)
    FROM k GROUP BY 1 ORDER BY 1"""


def segment_quality(con: duckdb.DuckDBPyConnection, run_id: str | None = None, candidate: str | None = None,
                    segment_by: str = DEFAULT_SEGMENT) -> dict[str, SegmentQuality]:
    """{segment: SegmentQuality} from `scores` and `results` of one run (default: the latest run
    with scores) and candidate (default: its most-scored non-incumbent one). Per request the score
    that counts is the exact scorer's before the judge's, the latest first (as analysis.quality.verdicts).
    API correctness: the incumbent's score on the same request and reference (ground truth); when
    the reference IS the incumbent's answer, the API is right by definition (quality is then
    agreement). Requests with neither are left out. Check failure: the candidate's call failed or
    its score reason matches CHECK_FAILURE_RE. Local latency: quantiles of its ok calls."""
    run_id = run_id or scalar(con, """SELECT run_id FROM runs WHERE run_id IN (SELECT run_id FROM scores)
                                      ORDER BY created_at DESC LIMIT 1""")
    if run_id is None:
        return {}
    candidate = candidate or scalar(con, """SELECT candidate FROM scores WHERE run_id = ? AND candidate <> ?
                                            GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""", [run_id, INCUMBENT])
    found = rows(con, QUALITY_SQL.format(segment=segment_sql(segment_by)),
                 {"run": run_id, "candidate": candidate, "incumbent": INCUMBENT, "check": CHECK_FAILURE_RE})
    return {key: SegmentQuality(n, ok / n, api / n, failed / n, p50, p95, cascade / n, lw, aw, cw, cl)
            for key, n, ok, api, failed, cascade, lw, aw, cw, cl, p50, p95 in found}
