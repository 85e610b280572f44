"""Breakdowns and a filtered, paged view of the requests, for the Logs page and the CLI.

All aggregation happens in DuckDB; at most `limit` request rows ever reach Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from analysis.errors import UserError
from analysis.store.database import frame, rows

BREAKDOWNS = {
    "model": "coalesce(model, '(unknown)')",
    "task_type": "coalesce(task_type, '(untyped)')",
    "day": "ts::DATE",
    "hour": "hour(ts)",
    "status": "status",
    "provider": "coalesce(provider, '(unknown)')",
}


def breakdown(con: duckdb.DuckDBPyConnection, by: str) -> pl.DataFrame:
    """Per group of `by` (a key of BREAKDOWNS) of the logged traffic (the `traffic` view: labelled
    dataset rows are a test set, not traffic, as on the Overview): requests, share of requests,
    input/output tokens, cost USD (sum of the known cost_usd), mean and p95 latency ms (of the
    requests with a latency, failed ones included). Ordered by the group for time keys, else by
    requests descending."""
    if by not in BREAKDOWNS:
        raise UserError(f"unknown breakdown {by!r}; choose one of {sorted(BREAKDOWNS)}")
    order = "1" if by in ("day", "hour") else "requests DESC"
    where = "WHERE ts IS NOT NULL" if by in ("day", "hour") else ""
    return frame(
        con,
        f"""SELECT {BREAKDOWNS[by]} AS "{by}", count(*) AS requests,
                   count(*) / sum(count(*)) OVER () AS share,
                   coalesce(sum(input_tokens), 0) AS input_tokens,
                   coalesce(sum(output_tokens), 0) AS output_tokens,
                   coalesce(sum(cost_usd), 0) AS cost_usd,
                   avg(latency_ms) AS latency_ms_mean,
                   quantile_cont(latency_ms, 0.95) AS latency_ms_p95
            FROM traffic {where} GROUP BY 1 ORDER BY {order}""",
    )


@dataclass
class RequestFilter:
    model: str | None = None
    task_type: str | None = None
    status: str | None = None
    text: str | None = None  # case-insensitive substring of the prompt or the answer

    def where(self) -> tuple[str, list]:
        clauses, params = [], []
        for column in ("model", "task_type", "status"):
            value = getattr(self, column)
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.text:
            clauses.append("(input_text ILIKE ? OR output_text ILIKE ?)")
            params += [f"%{self.text}%"] * 2
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def request_page(
    con: duckdb.DuckDBPyConnection, flt: RequestFilter | None = None, limit: int = 200, offset: int = 0
) -> tuple[pl.DataFrame, int]:
    """One page of requests matching `flt` (newest first) with short previews, and the total
    number of matches; every stored row, labelled dataset rows included (to inspect them)."""
    where, params = (flt or RequestFilter()).where()
    total = rows(con, f"SELECT count(*) FROM requests {where}", params)[0][0]
    page = frame(
        con,
        f"""SELECT request_id, ts, model, task_type, status, input_tokens, output_tokens,
                   round(latency_ms) AS latency_ms, cost_usd, label,
                   left(regexp_replace(input_text, '\\s+', ' ', 'g'), 120) AS prompt_preview,
                   left(output_text, 80) AS answer_preview
            FROM requests {where} ORDER BY ts DESC NULLS LAST, request_id
            LIMIT {int(limit)} OFFSET {int(offset)}""",
        params or None,
    )
    return page, total


def request_detail(con: duckdb.DuckDBPyConnection, request_id: str) -> dict | None:
    """Every stored field of one request (the full prompt and answer included), or None."""
    result = con.sql("SELECT * FROM requests WHERE request_id = ? LIMIT 1", params=[request_id])
    names = result.columns
    found = result.fetchall()
    return dict(zip(names, found[0], strict=True)) if found else None


def distinct_values(con: duckdb.DuckDBPyConnection, column: str) -> list[str]:
    """Sorted distinct non-null values of a filterable column (model, task_type, status)."""
    if column not in ("model", "task_type", "status", "provider"):
        raise ValueError(f"not a filterable column: {column}")
    return [r[0] for r in rows(con, f"SELECT DISTINCT {column} FROM requests WHERE {column} IS NOT NULL ORDER BY 1")]


def rejects(con: duckdb.DuckDBPyConnection, source_id: str, limit: int = 50) -> pl.DataFrame:
    """The rejected lines of one source with their reasons, in file order."""
    return frame(
        con,
        f"SELECT line, reason, raw FROM rejects WHERE source_id = ? ORDER BY line LIMIT {int(limit)}",
        [source_id],
    )
