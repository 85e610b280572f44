"""Quality and latency per candidate, with intervals and plain verdicts (from `scores`/`results`).

Which score counts: per (run, candidate, request) one score, an exact scorer's before the
judge's, the latest first (or only `scorer`'s, when given). Rows are per run x candidate x task
type x reference kind, so every number says what it was compared with.

Verdict rule: where the incumbent was scored on the same requests against the same reference
(ground truth), the candidate is compared with it, paired: the difference of accuracies with
Newcombe's interval, McNemar's p, and `non_inferiority_paired` at `margin`. Without incumbent
scores (the reference IS the incumbent's answer, a reference model, or a labelled dataset with
no incumbent answers), the accuracy / agreement is compared with `target` by
`non_inferiority_target` (margin 0), and the text says so. For non-binary scores (fuzzy, fields
F1, judge) the mean-score difference also gets a seeded paired bootstrap interval.
"""

from __future__ import annotations

import duckdb
import polars as pl

from analysis.quality import stats
from analysis.quality.scoring import references
from analysis.quality.scoring.base import normalise
from analysis.quality.scoring.label import extract_label
from analysis.quality.scoring.runner import INCUMBENT, run_context
from analysis.store.database import frame, rows

DEFAULT_MARGIN, DEFAULT_TARGET = 0.02, 0.95
# Latency percentiles from fewer timed requests are not given (None: "too few"): one test call's
# 5 ms is no p95, and a bootstrap interval on a handful of values is no interval.
MIN_LATENCY_REQUESTS = 30

SCORED_SQL = """
    WITH s AS (
        SELECT * FROM scores
        WHERE ($run_id IS NULL OR run_id = $run_id) AND ($scorer IS NULL OR scorer = $scorer)
        QUALIFY row_number() OVER (PARTITION BY run_id, candidate, request_id
                                   ORDER BY scorer = 'judge', scored_at DESC, scorer) = 1),
    t AS (SELECT request_id, coalesce(any_value(task_type), '(untyped)') AS task_type FROM requests
          WHERE request_id IN (SELECT request_id FROM s) GROUP BY 1)
    SELECT s.*, t.task_type FROM s JOIN t USING (request_id)"""

QUALITY_SQL = f"""
    WITH x AS ({SCORED_SQL}), inc AS (SELECT * FROM x WHERE candidate = '{INCUMBENT}')
    SELECT * FROM (SELECT x.run_id, x.candidate, x.task_type, x.reference, count(*) AS n,
           count(*) FILTER (WHERE x.passed) AS successes, avg(x.score) AS mean_score,
           count(i.request_id) AS n_paired,
           count(*) FILTER (WHERE x.passed AND i.passed) AS both_right,
           count(*) FILTER (WHERE x.passed AND NOT i.passed) AS candidate_only,
           count(*) FILTER (WHERE NOT x.passed AND i.passed) AS incumbent_only,
           list(x.score ORDER BY x.request_id) FILTER (WHERE i.request_id IS NOT NULL) AS candidate_scores,
           list(i.score ORDER BY x.request_id) FILTER (WHERE i.request_id IS NOT NULL) AS incumbent_scores
    FROM x LEFT JOIN inc i ON i.run_id = x.run_id AND i.request_id = x.request_id
                          AND i.reference = x.reference AND x.candidate <> '{INCUMBENT}'
    GROUP BY ALL) ORDER BY run_id, task_type, candidate <> '{INCUMBENT}', candidate, reference"""


def _what(candidate: str, reference: str) -> str:
    if candidate == INCUMBENT:
        return "the incumbent's accuracy against ground truth"
    if reference == references.INCUMBENT:
        return "agreement with the incumbent's answers (no ground truth)"
    if reference.startswith(references.MODEL_PREFIX):
        return f"agreement with {reference.removeprefix(references.MODEL_PREFIX)} (no ground truth)"
    return "accuracy against ground truth (no incumbent scores)"


def _row(r: dict, margin: float, target: float, confidence: float) -> dict:
    n, x, pairs = r["n"], r["successes"], r["n_paired"]
    low, high = stats.wilson_interval(x, n, confidence)
    out = {k: r[k] for k in ("run_id", "candidate", "task_type", "reference", "n", "successes", "mean_score", "n_paired")}
    out |= {"accuracy": x / n, "ci_low": low, "ci_high": high, "incumbent_accuracy": None, "diff": None,
            "diff_low": None, "diff_high": None, "mcnemar_p": None, "score_diff": None, "score_diff_low": None,
            "score_diff_high": None}
    if pairs:
        both, b, c = r["both_right"], r["candidate_only"], r["incumbent_only"]
        candidate = [True] * (both + b) + [False] * (pairs - both - b)
        incumbent = [True] * both + [False] * b + [True] * c + [False] * (pairs - both - b - c)
        verdict = stats.non_inferiority_paired(candidate, incumbent, margin, confidence)
        out |= {"incumbent_accuracy": (both + c) / pairs, "diff": verdict.difference, "diff_low": verdict.low,
                "diff_high": verdict.high, "mcnemar_p": stats.mcnemar(b, c).p_value, "compared_with": INCUMBENT}
        scores_a, scores_b = r["candidate_scores"], r["incumbent_scores"]
        if any(v not in (0.0, 1.0) for v in (*scores_a, *scores_b)):
            boot = stats.paired_bootstrap_diff(scores_a, scores_b, confidence=confidence)
            out |= {"score_diff": boot.value, "score_diff_low": boot.low, "score_diff_high": boot.high}
        text = verdict.text
    else:
        verdict = stats.non_inferiority_target(x, n, target, 0.0, confidence)
        out["compared_with"] = "target"
        text = f"{_what(r['candidate'], r['reference'])}: {verdict.text}"
    return out | {"verdict": verdict.verdict, "verdict_text": text, "more_samples": verdict.more_samples}


def quality_table(
    con: duckdb.DuckDBPyConnection, run_id: str | None = None, margin: float = DEFAULT_MARGIN,
    target: float = DEFAULT_TARGET, confidence: float = 0.95, scorer: str | None = None,
) -> pl.DataFrame:
    """Per run x candidate x task type x reference: n, successes, accuracy (mean passed) with its
    Wilson interval (ci_low, ci_high), mean_score, and the comparison of the module rule: n_paired,
    incumbent_accuracy, diff (candidate − incumbent) with diff_low/diff_high, mcnemar_p,
    score_diff(_low/_high) (bootstrap, non-binary scores only), compared_with ('incumbent' |
    'target'), verdict ('non-inferior' | 'inferior' | 'inconclusive'), verdict_text, more_samples.
    All runs when `run_id` is None; the candidate 'incumbent' is the logged API's answer."""
    found = rows(con, QUALITY_SQL, {"run_id": run_id, "scorer": scorer})
    names = ["run_id", "candidate", "task_type", "reference", "n", "successes", "mean_score", "n_paired",
             "both_right", "candidate_only", "incumbent_only", "candidate_scores", "incumbent_scores"]
    table = [_row(dict(zip(names, r)), margin, target, confidence) for r in found]
    schema = {"run_id": pl.String, "candidate": pl.String, "task_type": pl.String, "reference": pl.String,
              "n": pl.Int64, "successes": pl.Int64, "accuracy": pl.Float64, "ci_low": pl.Float64,
              "ci_high": pl.Float64, "mean_score": pl.Float64, "n_paired": pl.Int64,
              "incumbent_accuracy": pl.Float64, "diff": pl.Float64, "diff_low": pl.Float64,
              "diff_high": pl.Float64, "mcnemar_p": pl.Float64, "score_diff": pl.Float64,
              "score_diff_low": pl.Float64, "score_diff_high": pl.Float64, "compared_with": pl.String,
              "verdict": pl.String, "verdict_text": pl.String, "more_samples": pl.Int64}
    return pl.DataFrame([{k: row.get(k) for k in schema} for row in table], schema=schema)


LATENCY_SQL = f"""
    SELECT run_id, candidate, count(*) FILTER (WHERE status = 'ok') AS n,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           list(latency_ms) FILTER (WHERE status = 'ok' AND latency_ms IS NOT NULL) AS latencies,
           quantile_cont(ttft_ms, 0.5) FILTER (WHERE status = 'ok') AS ttft_p50_ms,
           quantile_cont(ttft_ms, 0.95) FILTER (WHERE status = 'ok') AS ttft_p95_ms,
           count(ttft_ms) FILTER (WHERE status = 'ok') AS ttft_n,
           median(tokens_per_s) FILTER (WHERE status = 'ok') AS tokens_per_s
    FROM results WHERE $run_id IS NULL OR run_id = $run_id GROUP BY ALL
    UNION ALL
    SELECT q.run_id, '{INCUMBENT}', count(r.latency_ms), 0, list(r.latency_ms) FILTER (WHERE r.latency_ms IS NOT NULL),
           quantile_cont(r.ttft_ms, 0.5), quantile_cont(r.ttft_ms, 0.95), count(r.ttft_ms),
           median(CASE WHEN r.ttft_ms IS NOT NULL AND r.latency_ms > r.ttft_ms
                       THEN r.output_tokens / ((r.latency_ms - r.ttft_ms) / 1000)
                       WHEN r.ttft_ms IS NULL AND r.latency_ms > 0 THEN r.output_tokens / (r.latency_ms / 1000) END)
    FROM run_requests q
    JOIN (SELECT * FROM requests QUALIFY row_number() OVER (PARTITION BY request_id ORDER BY ts NULLS LAST, source_id) = 1) r
      USING (request_id)
    WHERE ($run_id IS NULL OR q.run_id = $run_id) AND r.status = 'ok'
    GROUP BY ALL HAVING count(r.latency_ms) > 0
    ORDER BY run_id, candidate <> '{INCUMBENT}', candidate"""


def latency_table(con: duckdb.DuckDBPyConnection, run_id: str | None = None, confidence: float = 0.95) -> pl.DataFrame:
    """Per run x candidate: n ok, failed, timed (ok answers with a latency), latency p50/p95/p99
    (ms) with seeded bootstrap intervals (`stats.percentiles_with_ci`), TTFT p50/p95, median
    tokens/s; plus 'incumbent': the logged latency of the same sampled requests (tokens/s = output
    tokens / (latency − TTFT), or / latency without TTFT, as `stats.tokens_per_second`). Latency
    from fewer than MIN_LATENCY_REQUESTS timed answers (TTFT: answers with a TTFT) is None: too few."""
    table = []
    for run, candidate, n, failed, latencies, ttft50, ttft95, ttft_n, tps in rows(con, LATENCY_SQL, {"run_id": run_id}):
        latencies = latencies or []
        row = {"run_id": run, "candidate": candidate, "n": n, "failed": failed, "timed": len(latencies)}
        enough = len(latencies) >= MIN_LATENCY_REQUESTS
        quantiles = stats.percentiles_with_ci(latencies, (0.5, 0.95, 0.99), confidence=confidence) if enough else {}
        for q, name in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            estimate = quantiles.get(q)
            row |= {f"{name}_ms": estimate and estimate.value, f"{name}_low": estimate and estimate.low,
                    f"{name}_high": estimate and estimate.high}
        ttft_known = ttft_n >= MIN_LATENCY_REQUESTS
        table.append(row | {"ttft_p50_ms": ttft50 if ttft_known else None, "ttft_p95_ms": ttft95 if ttft_known else None,
                            "tokens_per_s": tps})
    schema = {"run_id": pl.String, "candidate": pl.String, "n": pl.Int64, "failed": pl.Int64, "timed": pl.Int64}
    schema |= {f"{p}_{k}": pl.Float64 for p in ("p50", "p95", "p99") for k in ("ms", "low", "high")}
    schema |= {"ttft_p50_ms": pl.Float64, "ttft_p95_ms": pl.Float64, "tokens_per_s": pl.Float64}
    return pl.DataFrame(table, schema=schema)


def confusion_matrix(con: duckdb.DuckDBPyConnection, run_id: str, candidate: str) -> pl.DataFrame:
    """Long form: reference kind, reference_label, predicted_label, n, for one candidate (or
    'incumbent') of a label task. Labels are read with the label scorer's `extract_label` and the
    run's label set and shown as spelled in that set; '(no answer)' for a failed call, '(none)'
    when no known label is in the answer."""
    context = run_context(con, run_id)
    models = rows(con, "SELECT DISTINCT reference FROM scores WHERE run_id = ? AND starts_with(reference, ?)",
                  [run_id, references.MODEL_PREFIX])
    reference_candidate = models[0][0].removeprefix(references.MODEL_PREFIX) if len(models) == 1 else None
    answers = rows(con, f"""
        WITH refs AS ({references.REFERENCES_SQL})
        SELECT refs.reference, refs.reference_text,
               CASE WHEN $candidate = '{INCUMBENT}' THEN refs.incumbent_answer ELSE x.output_text END,
               $candidate = '{INCUMBENT}' OR x.status = 'ok'
        FROM refs LEFT JOIN results x ON x.run_id = $run_id AND x.request_id = refs.request_id
                                     AND x.candidate = $candidate
        WHERE refs.reference IS NOT NULL AND (x.request_id IS NOT NULL OR $candidate = '{INCUMBENT}')""",
        {"run_id": run_id, "candidate": candidate, "reference_candidate": reference_candidate})
    spelled = {normalise(label): label for label in context.labels or ()}

    def shown(text: str | None) -> str:
        label = extract_label(text or "", context.labels).label
        return spelled.get(label, label) if label else "(none)"

    pairs = pl.DataFrame(
        [(kind, shown(ref), shown(out) if ok else "(no answer)") for kind, ref, out, ok in answers],
        schema={"reference": pl.String, "reference_label": pl.String, "predicted_label": pl.String}, orient="row")
    con.register("_confusion_pairs", pairs)
    try:
        return frame(con, """SELECT reference, reference_label, predicted_label, count(*) AS n FROM _confusion_pairs
                             GROUP BY ALL ORDER BY n DESC, reference_label, predicted_label""")
    finally:
        con.unregister("_confusion_pairs")


def disagreements(con: duckdb.DuckDBPyConnection, run_id: str, candidate: str, limit: int = 50) -> pl.DataFrame:
    """The candidate's failed answers (by the score that counts, see the module rule): request_id,
    task_type, prompt, reference (kind), reference_answer, incumbent_answer, candidate_answer,
    scorer, score, reason, incumbent_passed; those the incumbent got right first, then by score."""
    return frame(con, f"""
        WITH x AS ({SCORED_SQL}),
        req AS (SELECT * FROM requests WHERE request_id IN (SELECT request_id FROM x)
                QUALIFY row_number() OVER (PARTITION BY request_id ORDER BY ts NULLS LAST, source_id) = 1)
        SELECT x.request_id, x.task_type, req.input_text AS prompt, x.reference,
               CASE WHEN x.reference = '{references.GROUND_TRUTH}' THEN req.label
                    WHEN x.reference = '{references.INCUMBENT}' THEN req.output_text
                    ELSE m.output_text END AS reference_answer,
               req.output_text AS incumbent_answer,
               CASE WHEN x.candidate = '{INCUMBENT}' THEN req.output_text ELSE c.output_text END AS candidate_answer,
               x.scorer, x.score, x.reason, i.passed AS incumbent_passed
        FROM x JOIN req USING (request_id)
        LEFT JOIN results c ON c.run_id = x.run_id AND c.candidate = x.candidate AND c.request_id = x.request_id
        LEFT JOIN results m ON m.run_id = x.run_id AND m.request_id = x.request_id
                           AND 'model:' || m.candidate = x.reference
        LEFT JOIN x i ON i.run_id = x.run_id AND i.request_id = x.request_id AND i.candidate = '{INCUMBENT}'
        WHERE x.candidate = $candidate AND NOT x.passed
        ORDER BY i.passed DESC NULLS LAST, x.score, x.request_id
        LIMIT {int(limit)}""", {"run_id": run_id, "scorer": None, "candidate": candidate})


def scored_runs(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """{run id: its scored candidates, the most scored first (then by name), the incumbent left out},
    newest run first; runs without scores are left out."""
    table = quality_table(con).filter(pl.col("candidate") != INCUMBENT)
    counts = (table.group_by("run_id", "candidate").agg(pl.col("n").sum())
              .sort("n", "candidate", descending=[True, False]))
    newest_first = [r for (r,) in rows(con, "SELECT run_id FROM runs ORDER BY created_at DESC")]
    return {run: counts.filter(pl.col("run_id") == run)["candidate"].to_list()
            for run in newest_first if run in set(counts["run_id"])}
