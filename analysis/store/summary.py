"""Workspace totals and breakdowns, computed in DuckDB (never by loading requests into Python).

Definitions, over the logged traffic (the `traffic` view: labelled dataset rows are test sets,
counted apart as `labelled_rows`):
- days covered (the calendar span) = whole UTC days from the first to the last request's date,
  inclusive, days without requests included;
- active days = UTC days with at least one request (at most days covered);
- requests per day = dated requests / days covered (the calendar rate: what the scenario's volume
  starts from, `analysis.economics.workspace_defaults`);
- requests per active day = dated requests / active days (the rate on the days that had traffic;
  far above the calendar rate when the logs are a few days spread over a long span);
- monthly spend = cost per day (the dated requests' cost / days covered) x 30.4167 (730 h / 24).
Requests without a timestamp (`undated_requests`) count in the totals and the by-model table but
feed no per-day or per-month figure: nothing says which days they fell on. Without any timestamp,
those figures are None (unknown), never a rate made up as if the log covered one day.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

import duckdb

from analysis.store.database import rows, scalar

DAYS_PER_MONTH = 730 / 24


@dataclass
class Summary:
    requests: int
    first_ts: datetime | None
    last_ts: datetime | None
    days_covered: int
    active_days: int
    requests_per_day: float | None
    requests_per_active_day: float | None
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost_usd: float
    cost_logged_usd: float
    cost_computed_usd: float
    requests_without_cost: int
    monthly_spend_usd: float | None
    undated_requests: int = 0
    labelled_rows: int = 0
    by_model: list[dict] = field(default_factory=list)
    by_day: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        data = asdict(self)
        for key in ("first_ts", "last_ts"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


def summarise(con: duckdb.DuckDBPyConnection, by_day_limit: int | None = None) -> Summary:
    """Totals (see the module's definitions), plus breakdowns by model and by day."""
    (n, dated, dated_cost, first, last, days, active, inp, cached, out, cost, logged, computed, missing) = rows(
        con,
        """SELECT count(*), count(ts), coalesce(sum(cost_usd) FILTER (WHERE ts IS NOT NULL), 0), min(ts), max(ts),
                  coalesce(date_diff('day', min(ts)::DATE, max(ts)::DATE) + 1, 0), count(DISTINCT ts::DATE),
                  coalesce(sum(input_tokens), 0), coalesce(sum(cached_input_tokens), 0),
                  coalesce(sum(output_tokens), 0), coalesce(sum(cost_usd), 0),
                  coalesce(sum(cost_usd) FILTER (WHERE cost_source = 'logged'), 0),
                  coalesce(sum(cost_usd) FILTER (WHERE cost_source = 'computed'), 0),
                  count(*) FILTER (WHERE cost_usd IS NULL)
           FROM traffic""",
    )[0]
    per_day = dated / days if days else None
    per_active_day = dated / active if active else None
    by_model = [
        dict(zip(("model", "requests", "input_tokens", "output_tokens", "cost_usd"), r, strict=True))
        for r in rows(
            con,
            """SELECT coalesce(model, '(unknown)'), count(*), coalesce(sum(input_tokens), 0),
                      coalesce(sum(output_tokens), 0), coalesce(sum(cost_usd), 0)
               FROM traffic GROUP BY 1 ORDER BY 5 DESC, 2 DESC""",
        )
    ]
    limit = f"LIMIT {int(by_day_limit)}" if by_day_limit else ""
    by_day = [
        {"day": d.isoformat(), "requests": r, "cost_usd": c, "input_tokens": i, "output_tokens": o}
        for d, r, c, i, o in rows(
            con,
            f"""SELECT ts::DATE AS day, count(*), coalesce(sum(cost_usd), 0),
                       coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0)
                FROM traffic WHERE ts IS NOT NULL GROUP BY 1 ORDER BY 1 {limit}""",
        )
    ]
    monthly = dated_cost / days * DAYS_PER_MONTH if days else None
    return Summary(
        requests=n, first_ts=first, last_ts=last, days_covered=days, active_days=active, requests_per_day=per_day,
        requests_per_active_day=per_active_day,
        input_tokens=inp, cached_input_tokens=cached, output_tokens=out, cost_usd=cost,
        cost_logged_usd=logged, cost_computed_usd=computed, requests_without_cost=missing,
        monthly_spend_usd=monthly, undated_requests=n - dated, by_model=by_model, by_day=by_day,
        labelled_rows=scalar(con, "SELECT (SELECT count(*) FROM requests) - (SELECT count(*) FROM traffic)"),
    )
