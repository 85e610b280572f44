"""A self-contained HTML report (charts included, no network needed to view it) and CSV exports,
built from the same functions the dashboard pages call. It holds assumptions and aggregates only:
no API keys, no prompt or answer text.

The report opens with THE decision (`analysis.economics.decision.Decision`: its headline, caveat
and figures, word for word and figure for figure), then the quality evidence behind it per
segment, then the cost-only comparison (everything self-hosted, before quality) with its charts,
the logged traffic, the assumptions in words, and a glossary."""

from __future__ import annotations

import html
import io
import math
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime

import duckdb
import plotly.io as pio
import polars as pl

from analysis.economics import comparison, projections
from analysis.economics.decision import Decision, workspace_decision
from analysis.economics.models import find_model
from analysis.economics.routing import SegmentDecision
from analysis.economics.scenario import Scenario
from analysis.errors import UserError
from analysis.present import charts
from analysis.present import formatting as fmt
from analysis.store import explore
from analysis.store.summary import Summary, summarise

NO_RUN = "No replayed candidate yet: quality unknown, nothing goes local on merit."
SIDES = {"api": "API", "local": "local", "cascade": "local first, API when unsure", "in-house": "in-house (local)"}
CAPACITY_SOURCES = {"sizing": "sizing model", "probe": "your probe", "user": "your own figure"}
GLOSSARY = (
    ("The decision vs cost only", "The decision serves a segment of requests locally only where the local "
     "model's quality holds and doing so is cheaper; cost only compares the bills as if every request were "
     "served locally, whatever the quality. The first can say 'stay on the API' while the second shows savings."),
    ("Segment", "A group of requests decided together, e.g. one task type at one complexity."),
    ("Non-inferior", "Not meaningfully worse: even the worst plausible accuracy loss of the local model against "
     "the API (the far end of the confidence interval) is smaller than the margin."),
    ("Margin", "The largest loss of accuracy you accept per segment, in percentage points."),
    ("Confidence interval", "The range the true value most likely lies in, given how many answers were "
     "compared; at 95%, such ranges hold the true value 19 times in 20. Few answers give a wide range and "
     "the verdict 'not enough data'."),
    ("Break-even", "The requests per day at which self-hosting costs the same as the API; where self-hosting "
     "is cheaper is shaded on the cost chart."),
    ("Peak-to-average", "The busiest hour's request rate divided by the day's average. GPUs are sized for the "
     "peak, so a spiky load needs more of them."),
    ("Utilisation", "The share of a GPU's capacity planned on, leaving headroom for bursts."),
    ("Replica, tensor parallel", "A replica is one running copy of the model; more replicas serve more "
     "traffic. Tensor parallel splits one replica across several GPUs when it does not fit on one."),
    ("TTFT", "Time to first token: how long until the answer starts to appear."),
    ("p95", "The 95th percentile: 95 of every 100 requests are at or below this value."),
    ("Synthetic demo run", "The demo workspace's replay run, whose answers are generated to illustrate the "
     "method: not evidence about any real model. Replay a sample of your own requests for a real verdict."),
)


def _esc(value: object) -> str:
    return html.escape(str(value))


def _number(value: float | int | None) -> str:
    """A plain number without float noise: 1,234; 23.6; 0.0437; None -> '–'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == int(value) or abs(value) >= 100:
        return f"{value:,.0f}"
    digits = 2 - math.floor(math.log10(abs(value)))  # three significant digits
    return f"{value:.{digits}f}".rstrip("0").rstrip(".")


def _table(header: list[str], rows: list[list[str]], text: tuple[int, ...] = (0,)) -> str:
    """An HTML table of already formatted cells; the columns at `text` are words (left-aligned),
    the others figures (right-aligned)."""
    def cells(tag: str, row: list[str]) -> str:
        return "".join(f'<{tag}{" class=t" if i in text else ""}>{_esc(v)}</{tag}>' for i, v in enumerate(row))
    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f'<div class="wide"><table><thead><tr>{cells("th", header)}</tr></thead><tbody>{body}</tbody></table></div>'


def _kpis(items: list[tuple[str, str]]) -> str:
    return "".join(f'<div class="kpi">{_esc(k)}<b>{_esc(v)}</b></div>' for k, v in items)


# --- the decision and its quality evidence ------------------------------------------------------

def decision_figures(decision: Decision) -> list[tuple[str, str]]:
    """The decision's key figures as the report shows them (label, value)."""
    return [
        ("All on the API, per month", fmt.usd(decision.all_api_monthly_usd)),
        ("With the decision, per month", fmt.usd(decision.monthly_usd)),
        ("Savings per month", fmt.usd(decision.savings_monthly_usd)),
        ("Requests served locally", fmt.percent(decision.local_share)),
        ("API spend moved", fmt.percent(decision.local_spend_share)),
        ("Requests per day (scenario)", fmt.per_day(decision.requests_per_day)),
    ]


def _short(candidate: str | None) -> str:
    """A candidate spec without its base URL: 'openai-compat:http://h:1/v1:m' -> 'openai-compat:m'."""
    if not candidate:
        return "–"
    provider, _, rest = candidate.partition(":")
    return f"{provider}:{rest.rsplit(':', 1)[-1]}" if rest.startswith(("http://", "https://")) else candidate


def _accuracy(value: float | None) -> str:
    return "not measured" if value is None else fmt.percent(value)


def _segment_row(segment: SegmentDecision) -> list[str]:
    return [segment.key, SIDES.get(segment.side, segment.side), fmt.percent(segment.request_share),
            _accuracy(segment.local_accuracy), _accuracy(segment.api_accuracy),
            segment.verdict or "not measured", segment.reason]


def _quality(decision: Decision, scenario: Scenario) -> str:
    evidence = decision.evidence
    if evidence.run_id is None:
        return (f"<p><b>{_esc(NO_RUN)}</b> No candidate model has been replayed on this workspace's requests and "
                "scored against the API's answers, so every request stays on the API in the decision above. "
                "Replay a sample and score it (the Replay and Quality pages) to measure it.</p>")
    synthetic = ("yes: the demo's synthetic run, its answers are generated to illustrate the method, not a real "
                 "model's: replay your own sample before relying on it" if evidence.synthetic else "no: real replayed answers")
    facts = [["Replay run", evidence.run_id], ["Candidate", _short(evidence.candidate)],
             ["Answers compared", f"{evidence.compared:,}"], ["Synthetic demo run", synthetic],
             ["Margin", f"{_number(scenario.noninferiority_margin * 100)} percentage points per segment"]]
    rows = [_segment_row(s) for s in decision.recommendation.segments]
    return (_table(["evidence", "value"], facts, text=(0, 1))
            + "<p>Per segment: where its requests go in the decision and why.</p>"
            + _table(["segment", "where it goes", "share of requests", "local accuracy", "API accuracy",
                      "verdict", "why"], rows, text=(0, 1, 5, 6)))


# --- cost only, before quality --------------------------------------------------------------------

def _breakeven_text(breakeven: comparison.BreakEven) -> str:
    if breakeven.status == "always":
        return "every volume"
    if breakeven.requests_per_day is None:
        return "never"
    return fmt.per_day(breakeven.requests_per_day)


def _cost_only(decision: Decision, scenario: Scenario) -> tuple[str, list[tuple[str, object]]]:
    inputs = scenario.to_cost_inputs()
    result = decision.cost_only
    kpis = [("API per month", fmt.usd(result.api_monthly_usd)),
            ("Self-hosting everything per month", fmt.usd(result.self_host.total_usd)),
            ("Savings per month", fmt.usd(result.savings_monthly_usd)),
            ("GPUs", str(result.self_host.gpus or "–")),
            ("Break-even", _breakeven_text(result.breakeven))]
    figures = [
        ("Monthly cost vs volume", charts.cost_curve(projections.cost_curve(inputs), result.breakeven,
                                                     scenario.requests_per_day)),
        ("Sensitivity (±50% of each assumption)", charts.tornado(projections.sensitivity(inputs),
                                                                 result.savings_monthly_usd)),
        ("Next 12 months", charts.growth(projections.growth_projection(inputs))),
    ]
    return (f'<p class="cost-only">{_esc(decision.cost_only_headline)}</p>{_kpis(kpis)}', figures)


# --- logged traffic -------------------------------------------------------------------------------

def _traffic_kpis(summary: Summary) -> list[tuple[str, str]]:
    return [("Logged requests", f"{summary.requests:,}"),
            ("Days covered (first to last logged day)", f"{summary.days_covered:,}"),
            ("Active days (with requests)", f"{summary.active_days:,}"),
            ("Logged requests per day", fmt.per_day(summary.requests_per_day)),
            ("Logged API spend per month", fmt.usd(summary.monthly_spend_usd))]


def _breakdown(frame: pl.DataFrame) -> str:
    """explore.breakdown's table in words and rounded numbers."""
    def tokens(v) -> str:
        return fmt.compact(float(v)) if v is not None else "–"
    formats: dict[str, tuple[str, Callable]] = {
        "requests": ("requests", lambda v: f"{v:,}"), "share": ("share", fmt.percent),
        "input_tokens": ("input tokens", tokens), "output_tokens": ("output tokens", tokens),
        "cost_usd": ("API cost", fmt.usd), "latency_ms_mean": ("mean latency", fmt.duration_ms),
        "latency_ms_p95": ("p95 latency", fmt.duration_ms)}
    key = frame.columns[0]
    header = [key.replace("_", " ")] + [formats.get(c, (c.replace("_", " "),))[0] for c in frame.columns[1:]]
    rows = [[str(row[0]) if row[0] is not None else "–"]
            + [formats[c][1](v) if c in formats else _number(v) for c, v in zip(frame.columns[1:], row[1:])]
            for row in frame.iter_rows()]
    return _table(header, rows)


# --- assumptions ----------------------------------------------------------------------------------

def _per_replica(scenario: Scenario) -> str:
    try:
        n = scenario.gpus_per_replica()
    except UserError:
        return "automatic"
    return f"automatic ({n} GPU{'s' if n > 1 else ''} per replica)"


def _money(unit: str) -> Callable[[float], str]:
    return lambda v: f"{fmt.usd(v)}{unit}"


def _or(none: str, show: Callable[[float], str]) -> Callable[[object], str]:
    return lambda v: none if v is None else show(v)


def _tokens(v: float) -> str:
    return f"{_number(v)} tokens"


def _seconds(v: float) -> str:
    return f"{_number(v)} s"


def _months(v: float) -> str:
    return f"{_number(v)} months"


_CITED = "automatic (cited default)"
# field: (label, how its value reads); a field missing here shows its description and a plain value.
ASSUMPTIONS: dict[str, tuple[str, Callable]] = {
    "requests_per_day": ("Requests per day (scenario)", fmt.per_day),
    "growth_per_month": ("Volume growth per month", fmt.percent),
    "peak_to_average": ("Peak-to-average (busiest hour / day's average)", lambda v: f"{_number(v)}×"),
    "api_cost_per_request": ("API cost per request", fmt.usd),
    "api_cost_by_task": ("API cost per task type", lambda v: "none (one price for every request)"
                         if not v else "the per-task mix below (replaces the single price)"),
    "batch_discount": ("Priced at the Batch API rate", lambda v: "yes" if v else "no"),
    "batch_share": ("Batch API share of requests (no peak factor)", fmt.percent),
    "batch_price_ratio": ("Batch API price", lambda v: f"{fmt.percent(v, 0)} of the standard price"),
    "candidate_model": ("Model to self-host", lambda v: (find_model(v).display_name if find_model(v) else v)),
    "quantisation": ("Weights' precision", None),
    "tensor_parallel": ("GPUs per replica (tensor parallel)", None),
    "input_length": ("Mean input length", _tokens),
    "output_length": ("Mean output length", _tokens),
    "input_length_p95": ("p95 input length", _or("– (the mean)", _tokens)),
    "output_length_p95": ("p95 output length", _or("– (the mean)", _tokens)),
    "cached_share": ("Prompt tokens from a prefix cache", fmt.percent),
    "ttft_p95_ms": ("Time to first token target (p95)", _or("none", fmt.duration_ms)),
    "latency_p95_ms": ("End-to-end latency target (p95)", _or("none", fmt.duration_ms)),
    "gpu": ("GPU", str),
    "gpu_hourly_usd": ("GPU price", _money(" per hour")),
    "gpu_count": ("GPU count", _or("automatic (sized for the peak)", lambda v: f"{v:,}")),
    "mode": ("Deployment", str),
    "capacity_rps_per_gpu": ("Capacity", _or("–", lambda v: f"{_number(v)} requests/s per GPU")),
    "capacity_source": ("Capacity from", lambda v: CAPACITY_SOURCES.get(v, v)),
    "target_utilisation": ("Planned utilisation", fmt.percent),
    "ops_usd_per_month": ("Operations", _money(" per month")),
    "fine_tuning_usd": ("Fine-tuning (one-off)", fmt.usd),
    "amortisation_months": ("Fine-tuning paid off over", _months),
    "quality_target": ("Overall quality target", _or("none (non-inferiority only)", fmt.percent)),
    "noninferiority_margin": ("Non-inferiority margin", lambda v: f"{_number(v * 100)} percentage points"),
    "cold_starts_per_day": ("Cold starts per day", _number),
    "cold_start_seconds": ("Billed per cold start", _seconds),
    "serverless_usd_per_second": ("Serverless price", _or("automatic (cited price of the GPU)", _money(" per GPU-second"))),
    "serverless_idle_timeout_s": ("Idle time billed after the last request", _or("automatic (provider default)", _seconds)),
    "owned_server_usd": ("Server price", _or(_CITED, fmt.usd)),
    "owned_gpus_per_server": ("GPUs per server", _or(_CITED, str)),
    "owned_depreciation_months": ("Server written off over", _or(_CITED, _months)),
    "owned_power_kw_per_gpu": ("Power per GPU at full load", _or(_CITED, lambda v: f"{_number(v)} kW")),
    "owned_pue": ("Power usage effectiveness", _or(_CITED, _number)),
    "owned_electricity_usd_per_kwh": ("Electricity", _or(_CITED, _money(" per kWh"))),
    "owned_colocation_usd_per_server_month": ("Colocation per server", _or(_CITED, _money(" per month"))),
}


def _used(name: str, scenario: Scenario) -> bool:
    """Fields of another deployment mode (or the batch ratio without the batch rate) play no part."""
    if name.startswith("owned_"):
        return scenario.mode == "owned"
    if name.startswith(("serverless_", "cold_start")):
        return scenario.mode == "serverless"
    return name != "batch_price_ratio" or scenario.batch_discount or scenario.batch_share > 0


def _plain(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, (bool, int, float)):
        return _number(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    return str(value)


def assumption_rows(scenario: Scenario) -> list[tuple[str, str]]:
    """(label, value) of every assumption the scenario's deployment uses, in words."""
    out = []
    for name, field in Scenario.model_fields.items():
        if not _used(name, scenario):
            continue
        value = getattr(scenario, name)
        label, show = ASSUMPTIONS.get(name, (None, None))
        if name == "quantisation":
            text = value or f"automatic ({scenario.resolved_quantisation()}, the model's published precision)"
        elif name == "tensor_parallel":
            text = f"{value}" if value else _per_replica(scenario)
        elif show is not None:
            text = show(value)
        else:
            text = _plain(value.model_dump() if hasattr(value, "model_dump") else value)
        description = field.description or name.replace("_", " ")
        out.append((label or description[:1].upper() + description[1:], text))
    return out


def _task_mix(scenario: Scenario) -> str:
    if not scenario.api_cost_by_task:
        return ""
    rows = [[task, fmt.percent(cost.share), fmt.usd(cost.cost_per_request)]
            for task, cost in sorted(scenario.api_cost_by_task.items(), key=lambda item: -item[1].share)]
    return "<h3>API cost per task type</h3>" + _table(["task type", "share of requests", "API cost per request"], rows)


def _volumes(scenario: Scenario, summary: Summary) -> str:
    rows = [["Requests per day (scenario)", fmt.per_day(scenario.requests_per_day),
             "the volume every monthly figure above is computed at"]]
    if summary.requests:
        rows += [["Logged requests per day", fmt.per_day(summary.requests_per_day),
                  f"{fmt.count(summary.requests, 'logged request')} / {fmt.count(summary.days_covered, 'day')} covered"],
                 ["Days covered", f"{summary.days_covered:,}", "first to last logged day, inclusive"],
                 ["Active days", f"{summary.active_days:,}", "days with at least one logged request"]]
    else:
        rows.append(["Logged requests per day", "–", "no logged traffic: the volume and prices are assumptions"])
    return ("<h3>Volumes</h3><p>The scenario's volume is what you run (or expect); the logged rate is what the "
            "uploaded logs hold, often a sample, so the two can differ widely.</p>"
            + _table(["volume", "value", "what it is"], rows, text=(0, 2)))


# --- the document ---------------------------------------------------------------------------------

def html_report(con: duckdb.DuckDBPyConnection, scenario: Scenario, decision: Decision | None = None,
                title: str = "llm-breakeven report", scenario_name: str | None = None,
                extra_sections: list[tuple[str, str]] | None = None) -> str:
    """The report as one HTML document for `scenario` (named `scenario_name` when saved): the
    decision (`decision`, default `workspace_decision(con, scenario)`), its quality evidence, cost
    only before quality (cost curve, sensitivity, growth), the logged traffic, the assumptions, a
    glossary, plus `extra_sections` (title, HTML)."""
    if decision is None:
        decision = workspace_decision(con, scenario)
    summary = summarise(con)
    cost_text, figures = _cost_only(decision, scenario)
    traffic_figures = [("Spend and volume per day", charts.daily(summary.by_day))] if summary.by_day else []
    chart_html = {}
    for i, (name, fig) in enumerate(figures + traffic_figures):
        chart_html[name] = f"<h3>{_esc(name)}</h3>" + pio.to_html(
            fig, full_html=False, include_plotlyjs="inline" if i == 0 else False)
    cost_charts = "".join(chart_html[name] for name, _ in figures)
    traffic_charts = "".join(chart_html[name] for name, _ in traffic_figures)
    full_title = f"{title} · {scenario_name}" if scenario_name else title
    kinds = f'<p class="traffic">{_esc(decision.traffic.sentence())}</p>' if decision.traffic.batch.share > 0 else ""
    named = (f"Scenario: <b>{_esc(scenario_name)}</b>" if scenario_name
             else "Scenario: <b>unsaved</b> (the settings in use, not a saved scenario)")
    setup = (f"{_esc(decision.model)} on {_esc(scenario.gpu)} ({_esc(scenario.mode)}) at "
             f"{_esc(fmt.per_day(scenario.requests_per_day))}")
    traffic = (_kpis(_traffic_kpis(summary)) + traffic_charts
               + f"<h3>By model</h3>{_breakdown(explore.breakdown(con, 'model'))}"
               + f"<h3>By task type</h3>{_breakdown(explore.breakdown(con, 'task_type'))}"
               if summary.requests else "<p>No logged traffic in this workspace: every figure rests on the "
               "scenario's assumptions.</p>")
    assumptions = (_table(["assumption", "value"], [list(r) for r in assumption_rows(scenario)], text=(0, 1))
                   + "<p><small>Settings of the other deployment modes play no part here and are not shown."
                   "</small></p>" + _task_mix(scenario) + _volumes(scenario, summary))
    glossary = "<dl>" + "".join(f"<dt>{_esc(t)}</dt><dd>{_esc(d)}</dd>" for t, d in GLOSSARY) + "</dl>"
    sections = "".join(f"<h2>{_esc(t)}</h2>{body}" for t, body in extra_sections or [])
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{_esc(full_title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#111827}}
.wide{{overflow-x:auto}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #e5e7eb;padding:4px 8px;text-align:right}}
td.t,th.t{{text-align:left}}.kpi{{display:inline-block;margin:0 2em 1em 0}}.kpi b{{display:block;font-size:1.6em}}
.headline{{font-size:1.25em}}.caveat{{color:#92400e}}dt{{font-weight:bold;margin-top:.5em}}</style></head><body>
<h1>{_esc(full_title)}</h1>
<p class="scenario">{named} · {setup} · generated {generated}</p>
<h2>The decision</h2>
<p class="headline"><b>{_esc(decision.headline)}</b></p>
<p class="caveat">{_esc(decision.caveat)}</p>{kinds}
{_kpis(decision_figures(decision))}
<h2>Quality</h2>{_quality(decision, scenario)}
<h2>Cost only, before quality</h2>
<p><small>Everything served locally, whatever the quality: not the decision above.</small></p>{cost_text}
{cost_charts}
<h2>Logged traffic</h2>{traffic}
<h2>Assumptions</h2>{assumptions}
<h2>Glossary</h2>{glossary}
{sections}
<p><small>Formulas: analysis/economics/decision.py, analysis/economics/routing.py,
analysis/economics/cost_model.py and analysis/store/summary.py of llm-breakeven.</small></p>
</body></html>"""


def csv_exports(con: duckdb.DuckDBPyConnection, scenario: Scenario) -> dict[str, bytes]:
    """CSV files by name: daily totals, breakdowns by model and task type, the cost curve."""
    curve = projections.cost_curve(scenario.to_cost_inputs())
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
