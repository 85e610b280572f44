"""Plotly figures built from analysis results, shared by the dashboard pages and the HTML report.
Figures only draw numbers computed elsewhere in `analysis`; they compute nothing themselves."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import plotly.graph_objects as go
import polars as pl

from analysis.economics import comparison, projections, routing
from analysis.economics.counterfactual import BillDay
from analysis.present import formatting as fmt

API_COLOUR, LOCAL_COLOUR, MARK_COLOUR = "#dc2626", "#2563eb", "#6b7280"
TOP_LEGEND = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}  # clear of the x-axis title
DAY_MS = 86_400_000  # Plotly's date axes count in milliseconds
BAR_WIDTH_MS = 0.8 * DAY_MS  # a day's bar, with a gap to the next day's
DAILY_TICKS_UP_TO_DAYS = 15  # a shorter span gets one labelled tick per day
SENSITIVITY_LABELS = {
    "gpu_hourly_usd": "GPU price", "capacity_rps_per_gpu": "Capacity per GPU",
    "target_utilisation": "Utilisation", "api_cost_per_request": "API price", "requests_per_day": "Volume",
}


def cost_curve(curve: list[projections.CurvePoint], breakeven: comparison.BreakEven, today: float) -> go.Figure:
    """Monthly cost vs requests/day (log x): the API line, the self-hosting steps, the volumes where
    self-hosting is cheaper shaded (`breakeven.regions`, clipped to the curve's range), the first
    break-even and today's volume marked."""
    x = [p.requests_per_day for p in curve]
    fig = go.Figure()
    left, right = min(x), max(x)
    shaded = [(max(r.from_requests_per_day, left), min(r.to_requests_per_day or right, right))
              for r in breakeven.regions]
    for i, (start, end) in enumerate(s for s in shaded if s[0] < s[1]):
        fig.add_vrect(x0=start, x1=end, fillcolor=LOCAL_COLOUR, opacity=0.1, line_width=0, layer="below",
                      name="self-hosting cheaper", legendgroup="cheaper", showlegend=i == 0)
    fig.add_scatter(x=x, y=[p.api_usd for p in curve], name="API", line_color=API_COLOUR,
                    hovertemplate="%{x:,.0f} req/day<br>API $%{y:,.0f}/month<extra></extra>")
    fig.add_scatter(x=x, y=[p.self_host_usd for p in curve], name="Self-hosting", line_color=LOCAL_COLOUR,
                    customdata=[p.gpus or 0 for p in curve],
                    hovertemplate="%{x:,.0f} req/day<br>self-hosting $%{y:,.0f}/month"
                                  "<br>%{customdata} GPU(s)<extra></extra>")
    if breakeven.requests_per_day is not None and left <= breakeven.requests_per_day <= right:
        _log_x_mark(fig, breakeven.requests_per_day, f"break-even {fmt.per_day(breakeven.requests_per_day)}",
                    MARK_COLOUR, "dash", top=True)
    if today > 0:
        _log_x_mark(fig, today, f"today {fmt.per_day(today)}", "#16a34a", "dot", top=False)
    fig.update_layout(xaxis_title="Requests per day (log scale)", yaxis_title="Cost per month (USD, log scale)",
                      xaxis_type="log", yaxis_type="log", height=420, legend=TOP_LEGEND, margin={"t": 60})
    return fit_labels(fig)


def fit_labels(fig: go.Figure) -> go.Figure:
    """Grow the margins to hold every axis's tick labels and title (Plotly's fixed default margins
    cut a long label or title, e.g. '$100k' ticks beside a y title, or a right-hand axis)."""
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def _log_x_mark(fig: go.Figure, x: float, text: str, colour: str, dash: str, top: bool) -> None:
    """A labelled vertical line on a log x axis. Plotly places annotations on a log axis at
    log10(x) (shapes at x), so add_vline's own label would land at 10^x, off the chart."""
    fig.add_vline(x=x, line_dash=dash, line_color=colour)
    fig.add_annotation(x=math.log10(x), xref="x", y=1 if top else 0, yref="paper", text=text, showarrow=False,
                       xanchor="left", yanchor="top" if top else "bottom", xshift=4, font_color=colour)


def tornado(rows: list[projections.SensitivityRow], base_savings: float) -> go.Figure:
    """Monthly savings at -50% and +50% of each assumption, as bars around today's savings."""
    labels = [SENSITIVITY_LABELS.get(r.param, r.param) for r in rows]
    fig = go.Figure()
    fig.add_bar(y=labels, x=[r.savings_low - base_savings for r in rows], base=base_savings, orientation="h",
                name="-50%", marker_color="#93c5fd",
                customdata=[[r.low_value, r.savings_low] for r in rows],
                hovertemplate="%{y} at %{customdata[0]:,.4g}<br>savings $%{customdata[1]:,.0f}/month<extra></extra>")
    fig.add_bar(y=labels, x=[r.savings_high - base_savings for r in rows], base=base_savings, orientation="h",
                name="+50%", marker_color="#1d4ed8",
                customdata=[[r.high_value, r.savings_high] for r in rows],
                hovertemplate="%{y} at %{customdata[0]:,.4g}<br>savings $%{customdata[1]:,.0f}/month<extra></extra>")
    fig.add_vline(x=base_savings, line_color=MARK_COLOUR)
    fig.update_layout(barmode="overlay", xaxis_title="Monthly savings of self-hosting (USD)", height=320,
                      legend=TOP_LEGEND, margin={"t": 60})
    return fit_labels(fig)


def growth(points: list[projections.GrowthPoint]) -> go.Figure:
    """Both monthly costs over the projection months."""
    months = [p.month for p in points]
    fig = go.Figure()
    fig.add_scatter(x=months, y=[p.api_usd for p in points], name="API", line_color=API_COLOUR,
                    hovertemplate="month %{x}<br>$%{y:,.0f}<extra></extra>")
    fig.add_scatter(x=months, y=[p.self_host_usd for p in points], name="Self-hosting", line_color=LOCAL_COLOUR,
                    hovertemplate="month %{x}<br>$%{y:,.0f}<extra></extra>")
    fig.update_layout(xaxis_title="Months from now", yaxis_title="Cost per month (USD)", height=300,
                      legend=TOP_LEGEND, margin={"t": 60})
    return fit_labels(fig)


def daily(by_day: list[dict]) -> go.Figure:
    """Spend (bars) and requests (markers, joined across consecutive days; right axis) per UTC day,
    on a calendar axis: each bar is one day wide wherever the days fall, and a day without requests
    is an empty slot, so two logged days months apart stay two thin bars with the gap visible. A
    single day is one labelled bar (`_one_day_as_category`)."""
    days = [date.fromisoformat(d["day"]) for d in by_day]
    calendar = len(set(days)) > 1
    every_day = _calendar(days) if calendar else days
    requests = dict(zip(days, (d["requests"] for d in by_day), strict=True))
    per_day = {"xperiod": DAY_MS, "xperiodalignment": "middle"} if calendar else {}
    fig = go.Figure()
    fig.add_bar(x=days, y=[d["cost_usd"] for d in by_day], name="Spend (USD)", **per_day,
                **({"width": BAR_WIDTH_MS} if calendar else {}), customdata=[d["day"] for d in by_day],
                hovertemplate="%{customdata}<br>$%{y:,.2f}<extra></extra>")
    fig.add_scatter(x=every_day, y=[requests.get(day) for day in every_day], name="Requests", mode="lines+markers",
                    connectgaps=False, yaxis="y2", **per_day, customdata=[day.isoformat() for day in every_day],
                    hovertemplate="%{customdata}<br>%{y:,} requests<extra></extra>")
    fig.update_layout(height=340, legend=TOP_LEGEND, margin={"t": 60}, xaxis_title="Day (UTC)",
                      yaxis={"title": "Spend (USD/day)", "rangemode": "tozero"},
                      yaxis2={"title": "Requests/day", "overlaying": "y", "side": "right", "rangemode": "tozero"})
    return fit_labels(_day_axis(fig, days) if calendar else _one_day_as_category(fig, days))


def _calendar(days: Sequence[date]) -> list[date]:
    """Every day from the first to the last of `days` (none: [])."""
    if not days:
        return []
    first = min(days)
    return [first + timedelta(n) for n in range((max(days) - first).days + 1)]


def _day_axis(fig: go.Figure, days: Sequence[date]) -> go.Figure:
    """A date x axis from half a day before the first day to half a day after the last, labelled
    per day when the span is short (Plotly's own ticks could fall on hours)."""
    first, last = min(days), max(days)
    fig.update_xaxes(type="date", ticklabelmode="period",
                     range=[datetime.combine(first, time()) - timedelta(hours=12),
                            datetime.combine(last, time()) + timedelta(hours=36)])
    if (last - first).days < DAILY_TICKS_UP_TO_DAYS:
        fig.update_xaxes(dtick=DAY_MS, tickformat="%b %d")
    return fig


def _one_day_as_category(fig: go.Figure, days: Sequence) -> go.Figure:
    """A single logged day on a date axis gets sub-millisecond ticks and a bar one millisecond wide
    stretched across the chart, so it is shown as a plain category instead."""
    if len(set(days)) == 1:
        fig.update_xaxes(type="category")
    return fig


# The colour of a segment's locally served part by its side (an API segment's in-house requests: local).
SIDE_COLOURS = {"api": LOCAL_COLOUR, "local": LOCAL_COLOUR, "cascade": "#7c3aed", "in-house": "#0d9488"}


def quality_intervals(table: pl.DataFrame) -> go.Figure:
    """Accuracy (or agreement) per task type, one marker per candidate x reference, with its
    Wilson interval as error bars (`analysis.quality.verdicts.quality_table` rows)."""
    fig = go.Figure()
    for (candidate, reference), part in table.group_by(["candidate", "reference"], maintain_order=True):
        acc = [a * 100 for a in part["accuracy"]]
        fig.add_scatter(
            x=part["task_type"].to_list(), y=acc, mode="markers", name=f"{_short(candidate)} ({reference})",
            error_y={"type": "data", "symmetric": False,
                     "array": [h * 100 - a for h, a in zip(part["ci_high"], acc)],
                     "arrayminus": [a - lo * 100 for lo, a in zip(part["ci_low"], acc)]},
            customdata=list(zip(part["n"], [lo * 100 for lo in part["ci_low"]], [h * 100 for h in part["ci_high"]],
                                part["verdict"])),
            hovertemplate="%{x}: %{y:.1f}% of %{customdata[0]}<br>95% interval %{customdata[1]:.1f}%"
                          "–%{customdata[2]:.1f}%<br>%{customdata[3]}<extra></extra>")
    fig.update_layout(xaxis_title="Task type", yaxis_title="Accuracy / agreement (%)", yaxis_range=[0, 105],
                      height=360, legend=TOP_LEGEND, margin={"t": 60}, scattermode="group")
    return fig


def latency_quantiles(table: pl.DataFrame) -> go.Figure:
    """Latency p50/p95/p99 per candidate with bootstrap intervals, and time to first token
    p50/p95 (`analysis.quality.verdicts.latency_table` rows), in milliseconds."""
    names = [_short(c) for c in table["candidate"]]
    fig = go.Figure()
    for q, shade in (("p50", "#93c5fd"), ("p95", "#3b82f6"), ("p99", "#1e3a8a")):
        value = table[f"{q}_ms"].to_list()
        fig.add_bar(x=names, y=value, name=f"latency {q}", marker_color=shade,
                    error_y={"type": "data", "symmetric": False,
                             "array": [(h - v) if h is not None and v is not None else 0
                                       for h, v in zip(table[f"{q}_high"], value)],
                             "arrayminus": [(v - lo) if lo is not None and v is not None else 0
                                            for lo, v in zip(table[f"{q}_low"], value)]},
                    hovertemplate=f"%{{x}}<br>{q} %{{y:,.0f}} ms<extra></extra>")
    for q, shade in (("p50", "#fca5a5"), ("p95", "#b91c1c")):
        fig.add_bar(x=names, y=table[f"ttft_{q}_ms"].to_list(), name=f"time to first token {q}",
                    marker_color=shade, hovertemplate=f"%{{x}}<br>TTFT {q} %{{y:,.0f}} ms<extra></extra>")
    fig.update_layout(barmode="group", xaxis_title="Candidate", yaxis_title="Milliseconds", height=360,
                      legend=TOP_LEGEND, margin={"t": 60})
    return fig


def confusion_heatmap(matrix: pl.DataFrame) -> go.Figure:
    """Counts of (reference label, predicted label) (`analysis.quality.verdicts.confusion_matrix`)."""
    refs = sorted(set(matrix["reference_label"]))
    preds = refs + sorted(set(matrix["predicted_label"]) - set(refs))
    counts = {(r, p): n for r, p, n in matrix.select("reference_label", "predicted_label", "n").iter_rows()}
    z = [[counts.get((r, p), 0) for p in preds] for r in refs]
    fig = go.Figure(go.Heatmap(
        x=preds, y=refs, z=z, colorscale="Blues", text=z, texttemplate="%{text}", colorbar_title="Requests",
        hovertemplate="reference %{y}<br>predicted %{x}<br>%{z} requests<extra></extra>"))
    fig.update_layout(xaxis_title="Predicted label", yaxis_title="Reference label", yaxis_autorange="reversed",
                      height=max(300, 60 + 28 * len(refs)), margin={"t": 30})
    return fig


def routing_split(decisions: Sequence[routing.SegmentDecision]) -> go.Figure:
    """Requests per day of each segment, split into the part served locally and the part left on
    the API, coloured by the segment's side; hover: shares and monthly API dollars."""
    keys = [d.key for d in decisions]
    custom = [[d.side, d.request_share * 100, d.api_usd, d.api_usd_if_all_api, d.verdict or "not measured"]
              for d in decisions]
    hover = ("%{y}: %{x:,.0f} req/day<br>side %{customdata[0]}, %{customdata[1]:.1f}% of requests"
             "<br>API $%{customdata[2]:,.0f}/month (all-API $%{customdata[3]:,.0f})<br>%{customdata[4]}<extra></extra>")
    fig = go.Figure()
    fig.add_bar(y=keys, x=[d.local_requests_per_day for d in decisions], orientation="h", name="served locally",
                marker_color=[SIDE_COLOURS[d.side] for d in decisions], customdata=custom, hovertemplate=hover)
    fig.add_bar(y=keys, x=[d.requests_per_day - d.local_requests_per_day for d in decisions], orientation="h",
                name="on the API", marker_color=API_COLOUR, opacity=0.35, customdata=custom, hovertemplate=hover)
    fig.update_layout(barmode="stack", xaxis_title="Requests per day", yaxis_title="Segment",
                      yaxis_autorange="reversed", height=max(260, 60 + 26 * len(keys)), legend=TOP_LEGEND,
                      margin={"t": 60})
    return fig


def routing_frontier(points: Sequence[routing.FrontierPoint], chosen: routing.Plan) -> go.Figure:
    """Monthly cost vs blended quality of each routing threshold (efficient points joined), and
    the recommended split marked."""
    measured = [p for p in points if p.quality is not None]
    custom = [[p.api_share * 100, ", ".join(p.local_segments) or "none"] for p in measured]
    fig = go.Figure()
    fig.add_scatter(x=[p.monthly_usd for p in measured], y=[p.quality * 100 for p in measured], mode="markers",
                    name="thresholds", marker={"size": 9, "color": [LOCAL_COLOUR if p.efficient else MARK_COLOUR
                                                                    for p in measured]},
                    customdata=custom,
                    hovertemplate="$%{x:,.0f}/month, quality %{y:.1f}%<br>%{customdata[0]:.1f}% of requests "
                                  "call the API<br>local: %{customdata[1]}<extra></extra>")
    efficient = sorted((p for p in measured if p.efficient), key=lambda p: p.monthly_usd)
    fig.add_scatter(x=[p.monthly_usd for p in efficient], y=[p.quality * 100 for p in efficient], mode="lines",
                    name="frontier", line={"color": LOCAL_COLOUR, "dash": "dot"}, hoverinfo="skip")
    if chosen.quality is not None:
        fig.add_scatter(x=[chosen.monthly_usd], y=[chosen.quality * 100], mode="markers", name="recommended",
                        marker={"symbol": "star", "size": 18, "color": "#16a34a"},
                        hovertemplate="recommended: $%{x:,.0f}/month, quality %{y:.1f}%<extra></extra>")
    fig.update_layout(xaxis_title="Monthly cost (USD, API + GPU)", yaxis_title="Blended quality (%)", height=380,
                      legend=TOP_LEGEND, margin={"t": 60})
    return fig


def counterfactual_bill(bill: Sequence[BillDay]) -> go.Figure:
    """Each logged day: what it cost (line) and what it would have cost under the split (API and
    GPU stacked bars), in USD per day."""
    days = [d.day or "(no date)" for d in bill]
    fig = go.Figure()
    fig.add_bar(x=days, y=[d.api_usd for d in bill], name="API under the split", marker_color=API_COLOUR,
                hovertemplate="%{x}<br>API $%{y:,.2f}<extra></extra>")
    fig.add_bar(x=days, y=[d.gpu_usd for d in bill], name="GPU time under the split", marker_color=LOCAL_COLOUR,
                customdata=[d.gpus or 0 for d in bill],
                hovertemplate="%{x}<br>GPU $%{y:,.2f} (%{customdata} GPU(s))<extra></extra>")
    fig.add_scatter(x=days, y=[d.logged_usd for d in bill], name="all on the API", mode="lines+markers",
                    line_color=MARK_COLOUR, hovertemplate="%{x}<br>all API $%{y:,.2f}<extra></extra>")
    fig.update_layout(barmode="stack", xaxis_title="Day (UTC)", yaxis_title="Cost per day (USD)", height=340,
                      legend=TOP_LEGEND, margin={"t": 60})
    return _one_day_as_category(fig, days)


def _short(candidate: str) -> str:
    """A candidate spec without its base URL: 'openai-compat:http://h:1/v1:m' -> 'openai-compat:m'."""
    provider, _, rest = candidate.partition(":")
    return f"{provider}:{rest.rsplit(':', 1)[-1]}" if rest.startswith(("http://", "https://")) else candidate
