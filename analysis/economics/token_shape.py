"""The workspace's token shape: how long its prompts and answers are, per task type, from the logs.
Self-hosting capacity depends on it far more than on anything else a user can see: a workload of
5-token classifications serves many times the requests/s of one writing 1,000-token answers.

Rules, over the logged traffic (the `traffic` view: no labelled dataset rows), ok requests with
both token counts, grouped by task type (NULL: '(untyped)'):
- mean and p95 (quantile_cont 0.95) of input_tokens and of output_tokens;
- cached_share = Σ cached_input_tokens / Σ input_tokens (prefix-cache reads skip prefill);
- share = the task type's requests / all such requests.
The whole workload's shape (`workload_shape`) is the same aggregate without the grouping: its
means are the request-weighted means of the task types' (the time a request occupies a replica
grows about linearly with its tokens, so the mean shape gives the mix's requests/s), its p95s
are over all requests (they size the KV cache and the latency target).
A workspace without token counts gives no shapes (the caller keeps its defaults)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from analysis.store.database import rows


@dataclass(frozen=True)
class TaskTokenShape:
    """One task type's request shape from the logs (module rules)."""
    task_type: str
    requests: int
    share: float
    input_tokens_mean: float
    input_tokens_p95: float
    output_tokens_mean: float
    output_tokens_p95: float
    cached_share: float


_SHAPE_SQL = """
        SELECT {group} AS task, count(*) AS n,
               avg(input_tokens), quantile_cont(input_tokens, 0.95),
               avg(output_tokens), quantile_cont(output_tokens, 0.95),
               coalesce(sum(coalesce(cached_input_tokens, 0)) / nullif(sum(input_tokens), 0), 0)
        FROM traffic
        WHERE status = 'ok' AND input_tokens IS NOT NULL AND output_tokens IS NOT NULL
        GROUP BY 1 HAVING count(*) > 0 ORDER BY 2 DESC, 1"""


def _shapes(con: duckdb.DuckDBPyConnection, group: str) -> list[TaskTokenShape]:
    found = rows(con, _SHAPE_SQL.format(group=group))
    total = sum(n for _, n, *_ in found)
    return [TaskTokenShape(task_type=task, requests=n, share=n / total, input_tokens_mean=float(mean_in),
                           input_tokens_p95=float(p95_in), output_tokens_mean=float(mean_out),
                           output_tokens_p95=float(p95_out), cached_share=min(1.0, max(0.0, float(cached))))
            for task, n, mean_in, p95_in, mean_out, p95_out, cached in found]


def token_shapes(con: duckdb.DuckDBPyConnection) -> list[TaskTokenShape]:
    """Per task type, most requests first (module rules); [] without token counts."""
    return _shapes(con, "coalesce(task_type, '(untyped)')")


def workload_shape(con: duckdb.DuckDBPyConnection) -> TaskTokenShape | None:
    """All task types together (task_type 'all', share 1); None without token counts."""
    found = _shapes(con, "'all'")
    return found[0] if found else None
