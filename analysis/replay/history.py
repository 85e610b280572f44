"""Past replay runs as people read them: candidates as SPEC strings, which runs can be resumed, and
each candidate's calls, latency, tokens and cost."""

from __future__ import annotations

import json

import duckdb
import polars as pl
from pydantic import ValidationError

from analysis.quality.verdicts import MIN_LATENCY_REQUESTS
from analysis.replay.providers.registry import Candidate
from analysis.replay.runs import list_runs
from analysis.store.database import frame, rows

RESUMABLE = ("created", "interrupted", "running")  # running: only when no thread runs it (server restart)


def _spec(stored: dict) -> str:
    """A stored candidate as its SPEC; one this version no longer accepts is named as it was."""
    try:
        return Candidate(**stored).spec
    except ValidationError:
        return f"{stored.get('provider')}:{stored.get('model')} (no longer a valid candidate)"


def past_runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """`replay.list_runs` with `candidates` as a comma-separated list of SPECs (never keys)."""
    runs = list_runs(con)
    specs = [", ".join(_spec(c) for c in json.loads(raw)) for raw in runs["candidates"]]
    return runs.with_columns(pl.Series("candidates", specs, dtype=pl.String))


CANDIDATE_FIGURES_SQL = """
    SELECT run_id, candidate,
           count(*) FILTER (WHERE status = 'ok') AS ok,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           quantile_cont(latency_ms, 0.5) FILTER (WHERE status = 'ok') AS latency_p50_ms,
           quantile_cont(latency_ms, 0.95) FILTER (WHERE status = 'ok') AS latency_p95_ms,
           quantile_cont(ttft_ms, 0.5) FILTER (WHERE status = 'ok') AS ttft_p50_ms,
           count(latency_ms) FILTER (WHERE status = 'ok') AS timed,
           count(ttft_ms) FILTER (WHERE status = 'ok') AS ttft_timed,
           coalesce(sum(input_tokens), 0) AS input_tokens,
           coalesce(sum(output_tokens), 0) AS output_tokens,
           coalesce(sum(cost_usd), 0) AS cost_usd
    FROM results WHERE $run_id IS NULL OR run_id = $run_id
    GROUP BY ALL"""

FIGURES_SCHEMA = {"run_id": pl.String, "candidate": pl.String, "ok": pl.Int64, "failed": pl.Int64,
                  "timed": pl.Int64, "latency_p50_ms": pl.Float64, "latency_p95_ms": pl.Float64, "ttft_p50_ms": pl.Float64,
                  "input_tokens": pl.Int64, "output_tokens": pl.Int64, "cost_usd": pl.Float64}


def _enough_for_latency(figures: dict) -> dict:
    """`figures` with latencies from too few answers set to None (see candidate_figures)."""
    if figures["timed"] < MIN_LATENCY_REQUESTS:
        figures |= {"latency_p50_ms": None, "latency_p95_ms": None}
    if figures.pop("ttft_timed") < MIN_LATENCY_REQUESTS:
        figures["ttft_p50_ms"] = None
    return figures


def candidate_figures(con: duckdb.DuckDBPyConnection, run_id: str | None = None) -> pl.DataFrame:
    """Per run x candidate (SPEC): calls ok and failed, latency p50/p95 and TTFT p50 (ms) of the ok
    calls (linear interpolation, as numpy's default and `verdicts.latency_table`'s point estimates),
    input and output tokens and cost (USD) summed over every stored result. Runs newest first,
    candidates in the run's order; a candidate without any result yet (given up, or not reached)
    is listed with zeros and no latency. Latency from fewer than MIN_LATENCY_REQUESTS timed answers
    (TTFT: answers with a TTFT) is None, too few to quote, as on the Quality page; `timed` says how
    many there were. `run_id` None: every run."""
    measured = {(r["run_id"], r["candidate"]): _enough_for_latency(r)
                for r in frame(con, CANDIDATE_FIGURES_SQL, {"run_id": run_id}).to_dicts()}
    table = []
    for run, raw in rows(con, "SELECT run_id, candidates FROM runs WHERE $run_id IS NULL OR run_id = $run_id "
                              "ORDER BY created_at DESC, run_id", {"run_id": run_id}):
        specs = [_spec(c) for c in json.loads(raw)]
        specs += sorted(c for r, c in measured if r == run and c not in specs)
        for spec in specs:
            table.append(measured.get((run, spec)) or {"run_id": run, "candidate": spec, "ok": 0, "failed": 0,
                                                       "timed": 0, "input_tokens": 0, "output_tokens": 0,
                                                       "cost_usd": 0.0})
    return pl.DataFrame([{k: r.get(k) for k in FIGURES_SCHEMA} for r in table], schema=FIGURES_SCHEMA)
