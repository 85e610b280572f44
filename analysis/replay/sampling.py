"""Which logged requests a replay run sends: a seeded, reproducible sample, drawn in SQL.

Rules:
- Only replayable requests are eligible: status 'ok' with logged input messages.
- `random`: order eligible requests by hash(request_id, seed) and take the first `size`.
- `stratified` by task type, model or day: each stratum gets round(size x its share of the
  eligible requests) (at least 1 if it has any), topped up or trimmed to `size` by largest
  remainder; within a stratum, the same seeded hash order.
Optional filters narrow the eligible set first (task types, models, and `held_out`: only requests of
the fine-tuning test split, `analysis.replay.tuning.held_out`, so base and tuned candidates are
compared on requests no training set holds).
"""

from __future__ import annotations

from typing import Literal

import duckdb
from pydantic import BaseModel, Field

from analysis.store.database import rows

STRATA = {"task_type": "coalesce(task_type, '(untyped)')", "model": "coalesce(model, '(unknown)')",
          "day": "CAST(ts::DATE AS VARCHAR)"}
ELIGIBLE = "status = 'ok' AND input_messages IS NOT NULL"


class SampleSpec(BaseModel):
    model_config = {"extra": "forbid"}

    size: int = Field(100, ge=1, le=1_000_000)
    strategy: Literal["random", "stratified"] = "random"
    stratify_by: Literal["task_type", "model", "day"] = "task_type"
    seed: int = 0
    task_types: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    exclude_ids: list[str] = Field(default_factory=list, description="e.g. few-shot examples")
    held_out: bool = Field(False, description="only requests of the held-out test split")


def segment_clauses(task_types: list[str] | None, models: list[str] | None) -> tuple[list[str], list]:
    """SQL conditions (and their parameters) on `requests` keeping the given task types and models;
    none for an empty list. Shared with the training-set export, which picks segments alike."""
    clauses, params = [], []
    if task_types:
        clauses.append("task_type IN (SELECT unnest(?::VARCHAR[]))")
        params.append(task_types)
    if models:
        clauses.append("model IN (SELECT unnest(?::VARCHAR[]))")
        params.append(models)
    return clauses, params


def _where(spec: SampleSpec) -> tuple[str, list]:
    clauses, params = segment_clauses(spec.task_types, spec.models)
    clauses.insert(0, ELIGIBLE)
    if spec.exclude_ids:
        clauses.append("request_id NOT IN (SELECT unnest(?::VARCHAR[]))")
        params.append(spec.exclude_ids)
    if spec.held_out:
        clauses.append("request_id IN (SELECT request_id FROM held_out_requests)")
    return " AND ".join(clauses), params


def eligible_count(con: duckdb.DuckDBPyConnection, spec: SampleSpec) -> int:
    where, params = _where(spec)
    return rows(con, f"SELECT count(*) FROM requests WHERE {where}", params)[0][0]


def draw(con: duckdb.DuckDBPyConnection, spec: SampleSpec) -> list[str]:
    """The request ids of the sample, in a stable order (see the module rules)."""
    where, params = _where(spec)
    order = f"hash(request_id, {int(spec.seed)})"
    if spec.strategy == "random":
        return [r[0] for r in rows(
            con, f"SELECT request_id FROM requests WHERE {where} ORDER BY {order}, request_id LIMIT {spec.size}",
            params)]
    stratum = STRATA[spec.stratify_by]
    counts = rows(con, f"SELECT {stratum}, count(*) FROM requests WHERE {where} GROUP BY 1 ORDER BY 1", params)
    quotas = allocate(spec.size, {s: n for s, n in counts})
    if not quotas:
        return []
    return [r[0] for r in rows(
        con,
        f"""WITH ranked AS (
                SELECT request_id, {stratum} AS stratum,
                       row_number() OVER (PARTITION BY {stratum} ORDER BY {order}, request_id) AS k
                FROM requests WHERE {where})
            SELECT request_id FROM ranked JOIN (SELECT unnest(?::VARCHAR[]) AS stratum,
                                                       unnest(?::BIGINT[]) AS quota) USING (stratum)
            WHERE k <= quota ORDER BY stratum, k""",
        [*params, list(quotas), list(quotas.values())],
    )]


def allocate(size: int, counts: dict[str, int]) -> dict[str, int]:
    """Proportional quotas per stratum summing to min(size, total) by largest remainder, each
    non-empty stratum getting at least one while size allows."""
    total = sum(counts.values())
    size = min(size, total)
    if size == 0:
        return {}
    exact = {s: size * n / total for s, n in counts.items()}
    quotas = {s: min(counts[s], max(1, int(x))) for s, x in exact.items()}
    by_remainder = sorted(counts, key=lambda s: (exact[s] - int(exact[s]), s), reverse=True)
    while sum(quotas.values()) > size:  # the minimum of one overshot: trim the largest
        largest = max(quotas, key=lambda s: (quotas[s], s))
        quotas[largest] -= 1
    i = 0
    while sum(quotas.values()) < size:
        s = by_remainder[i % len(by_remainder)]
        if quotas[s] < counts[s]:
            quotas[s] += 1
        i += 1
    return {s: q for s, q in quotas.items() if q > 0}
