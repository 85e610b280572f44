"""A self-contained HTML report (charts included, no network needed to view it) and CSV exports,
built from the same functions the dashboard pages call. It holds assumptions and aggregates only:
no API keys, no prompt or answer text."""

from __future__ import annotations

import html
from dataclasses import asdict
import io
import json
from datetime import datetime, timezone

import duckdb
import plotly.io as pio
import polars as pl

from analysis.present import charts

from analysis.economics import cost_model as economics

from analysis.store import explore
from analysis.present import formatting as fmt
from analysis.economics.scenario import Scenario
from analysis.store.summary import summarise


def _table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>" for row in frame.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    return "" if value is None else str(value)


def _assumption(value) -> str:
    """A scenario value as the report shows it: '–' when unset (e.g. GPU count: sized automatically),
    JSON for the per-task price mix."""
    if value is None:
        return "–"
    return json.dumps(value) if isinstance(value, dict) else str(value)


def html_report(con: duckdb.DuckDBPyConnection, scenario: Scenario, title: str = "llm-breakeven report",
                extra_sections: list[tuple[str, str]] | None = None) -> str:
    """The report as one HTML document: workspace summary, economics (cost curve, sensitivity,
    growth) for `scenario`, breakdown by model and task type, plus `extra_sections` (title, HTML)."""
    s = summarise(con)
    inputs = scenario.to_cost_inputs()
    result = economics.evaluate(inputs)
    be = result.breakeven
    figures = [
        ("Monthly cost vs volume", charts.cost_curve(economics.cost_curve(inputs), be, scenario.requests_per_day)),
        ("Sensitivity (±50%)", charts.tornado(economics.sensitivity(inputs), result.savings_monthly_usd)),
        ("Next 12 months", charts.growth(economics.growth_projection(inputs))),
    ]
    if s.by_day:
        figures.insert(0, ("Spend and volume per day", charts.daily(s.by_day)))
    plots = "".join(
        f"<h3>{html.escape(name)}</h3>" + pio.to_html(fig, full_html=False, include_plotlyjs="inline" if i == 0 else False)
        for i, (name, fig) in enumerate(figures)
    )
    headline = economics.headline(inputs, scenario.requests_per_day)
    kpis = [
        ("Requests logged", f"{s.requests:,}"), ("Requests per day", fmt.compact(s.requests_per_day)),
        ("API per month", fmt.usd(result.api_monthly_usd)), ("Self-hosting per month", fmt.usd(result.self_host.total_usd)),
        ("Savings per month", fmt.usd(result.savings_monthly_usd)), ("GPUs", str(result.self_host.gpus or "–")),
    ]
    assumptions = {k: _assumption(v) for k, v in scenario.model_dump(mode="json").items()}
    sections = "".join(f"<h2>{html.escape(t)}</h2>{body}" for t, body in extra_sections or [])
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#111827}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #e5e7eb;padding:4px 8px;text-align:right}}
.kpi{{display:inline-block;margin:0 2em 1em 0}}.kpi b{{display:block;font-size:1.6em}}</style></head><body>
<h1>{html.escape(title)}</h1><p>Generated {generated}. {html.escape(headline)}</p>
{''.join(f'<div class="kpi">{html.escape(k)}<b>{html.escape(v)}</b></div>' for k, v in kpis)}
<h2>Scenario</h2>{_table(pl.DataFrame({"assumption": list(assumptions), "value": list(assumptions.values())}))}
<h2>Charts</h2>{plots}
<h2>By model</h2>{_table(explore.breakdown(con, "model"))}
<h2>By task type</h2>{_table(explore.breakdown(con, "task_type"))}
{sections}
<p><small>Formulas: analysis/economics/cost_model.py and analysis/store/summary.py of llm-breakeven.</small></p>
</body></html>"""


def csv_exports(con: duckdb.DuckDBPyConnection, scenario: Scenario) -> dict[str, bytes]:
    """CSV files by name: daily totals, breakdowns by model and task type, the cost curve."""
    curve = economics.cost_curve(scenario.to_cost_inputs())
    tables = {
        "by_day.csv": explore.breakdown(con, "day"),
        "by_model.csv": explore.breakdown(con, "model"),
        "by_task_type.csv": explore.breakdown(con, "task_type"),
        "cost_curve.csv": pl.DataFrame([asdict(p) for p in curve]),
    }
    out = {}
    for name, frame in tables.items():
        buffer = io.BytesIO()
        frame.write_csv(buffer)
        out[name] = buffer.getvalue()
    return out
