"""Plotly figures built from analysis results, shared by the dashboard pages and the HTML report.
Figures only draw numbers computed elsewhere in `analysis`; they compute nothing themselves."""

from __future__ import annotations

import plotly.graph_objects as go

from analysis import economics
from analysis import formatting as fmt

API_COLOUR, LOCAL_COLOUR, MARK_COLOUR = "#dc2626", "#2563eb", "#6b7280"
SENSITIVITY_LABELS = {
    "gpu_hourly_usd": "GPU price", "capacity_rps_per_gpu": "Capacity per GPU",
    "target_utilisation": "Utilisation", "api_cost_per_request": "API price", "requests_per_day": "Volume",
}


def cost_curve(curve: list[economics.CurvePoint], breakeven: economics.BreakEven, today: float) -> go.Figure:
    """Monthly cost vs requests/day (log x): the API line, the self-hosting steps, the break-even
    and today's volume marked."""
    x = [p.requests_per_day for p in curve]
    fig = go.Figure()
    fig.add_scatter(x=x, y=[p.api_usd for p in curve], name="API", line_color=API_COLOUR,
                    hovertemplate="%{x:,.0f} req/day<br>API $%{y:,.0f}/month<extra></extra>")
    fig.add_scatter(x=x, y=[p.self_host_usd for p in curve], name="Self-hosting", line_color=LOCAL_COLOUR,
                    customdata=[p.gpus or 0 for p in curve],
                    hovertemplate="%{x:,.0f} req/day<br>self-hosting $%{y:,.0f}/month"
                                  "<br>%{customdata} GPU(s)<extra></extra>")
    if breakeven.requests_per_day is not None:
        fig.add_vline(x=breakeven.requests_per_day, line_dash="dash", line_color=MARK_COLOUR,
                      annotation_text=f"break-even {fmt.per_day(breakeven.requests_per_day)}")
    if today > 0:
        fig.add_vline(x=today, line_dash="dot", line_color="#16a34a",
                      annotation_text=f"today {fmt.per_day(today)}", annotation_position="bottom right")
    fig.update_layout(xaxis_title="Requests per day (log scale)", yaxis_title="Cost per month (USD, log scale)",
                      xaxis_type="log", yaxis_type="log", height=420, legend_orientation="h",
                      margin={"t": 30})
    return fig


def tornado(rows: list[economics.SensitivityRow], base_savings: float) -> go.Figure:
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
                      legend_orientation="h", margin={"t": 30})
    return fig


def growth(points: list[economics.GrowthPoint]) -> go.Figure:
    """Both monthly costs over the projection months."""
    months = [p.month for p in points]
    fig = go.Figure()
    fig.add_scatter(x=months, y=[p.api_usd for p in points], name="API", line_color=API_COLOUR,
                    hovertemplate="month %{x}<br>$%{y:,.0f}<extra></extra>")
    fig.add_scatter(x=months, y=[p.self_host_usd for p in points], name="Self-hosting", line_color=LOCAL_COLOUR,
                    hovertemplate="month %{x}<br>$%{y:,.0f}<extra></extra>")
    fig.update_layout(xaxis_title="Months from now", yaxis_title="Cost per month (USD)", height=300,
                      legend_orientation="h", margin={"t": 30})
    return fig


def daily(by_day: list[dict]) -> go.Figure:
    """Spend (bars) and requests (line, right axis) per UTC day."""
    days = [d["day"] for d in by_day]
    fig = go.Figure()
    fig.add_bar(x=days, y=[d["cost_usd"] for d in by_day], name="Spend (USD)",
                hovertemplate="%{x}<br>$%{y:,.2f}<extra></extra>")
    fig.add_scatter(x=days, y=[d["requests"] for d in by_day], name="Requests", mode="lines+markers",
                    yaxis="y2", hovertemplate="%{x}<br>%{y:,} requests<extra></extra>")
    fig.update_layout(height=340, legend_orientation="h", margin={"t": 30},
                      yaxis={"title": "Spend (USD/day)"},
                      yaxis2={"title": "Requests/day", "overlaying": "y", "side": "right"})
    return fig
