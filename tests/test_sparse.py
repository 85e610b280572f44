"""Sparse logs stay honest (#17 item 6): per-day figures over the calendar span and over the days
that had requests, both named; the daily chart on a calendar axis with one-day bars; latency
percentiles from fewer than MIN_LATENCY_REQUESTS requests are unknown, not "5 ms"."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from pytest import approx
from streamlit.testing.v1 import AppTest
from test_score_runner import build_run

from analysis.economics import routing
from analysis.economics.routing_segments import segment_traffic
from analysis.economics.scenario import Scenario
from analysis.economics.workspace_defaults import scenario_defaults
from analysis.ingest import ingest_file
from analysis.present import charts
from analysis.quality.verdicts import MIN_LATENCY_REQUESTS, latency_table
from analysis.settings import get_settings
from analysis.store.database import open_db
from analysis.store.summary import summarise

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
SAMPLES = ("openai-batch/genai_navirag_batch_output.jsonl", "openai-batch/genai_navirag_batch_input.jsonl",
           "litellm/spend_logs_payload.json")


def _sparse(con, shared_dir) -> None:
    """The issue's logs: 65 Batch requests on 2024-10-24 and one LiteLLM test call (4.6 ms) on
    2025-01-24, 93 calendar days apart."""
    for name in SAMPLES:
        ingest_file(con, shared_dir / "samples" / name)


def _insert(con, day: str, count: int, latency_ms: float | None = 100.0, ts_missing: bool = False) -> None:
    con.execute("""INSERT INTO requests (request_id, source_id, ts, status, model, task_type, cost_usd, latency_ms)
                   SELECT ? || i, 's', ?, 'ok', 'm', 'classification', 0.01, ? + i FROM range(?) t(i)""",
                [f"{day}-", None if ts_missing else datetime.fromisoformat(day), latency_ms, count])


def test_two_days_93_days_apart_give_both_rates(con, shared_dir):
    _sparse(con, shared_dir)
    s = summarise(con)
    assert (s.requests, s.days_covered, s.active_days) == (66, 93, 2)
    assert s.requests_per_day == approx(66 / 93)  # the calendar rate: 0.71, the figure
    assert s.requests_per_active_day == approx(33)
    assert s.monthly_spend_usd == approx(s.cost_usd / 93 * 730 / 24)  # spend stays per calendar day
    assert s.to_dict()["active_days"] == 2 and s.to_dict()["requests_per_active_day"] == approx(33)


def test_undated_requests_count_in_totals_but_on_no_day(con):
    _insert(con, "2026-03-02", 4)
    _insert(con, "2026-03-04", 2)
    _insert(con, "2026-03-09", 3, ts_missing=True)
    s = summarise(con)
    assert (s.requests, s.undated_requests, s.days_covered, s.active_days) == (9, 3, 3, 2)
    assert (s.requests_per_day, s.requests_per_active_day) == approx((6 / 3, 6 / 2))  # dated requests only


def test_without_any_timestamp_no_rate_is_made_up(con):
    """One call without a time is no day's traffic: per-day and monthly figures are unknown (the
    issue saw one undated call extrapolated into a month as if it covered one day)."""
    _insert(con, "2026-03-02", 5, ts_missing=True)
    s = summarise(con)
    assert (s.days_covered, s.active_days, s.undated_requests) == (0, 0, 5)
    assert (s.requests_per_day, s.requests_per_active_day, s.monthly_spend_usd) == (None, None, None)
    assert scenario_defaults(con).requests_per_day == Scenario().requests_per_day  # the base's assumption stays


def test_the_scenario_volume_is_the_calendar_rate(con, shared_dir):
    _sparse(con, shared_dir)
    s = summarise(con)
    assert scenario_defaults(con).requests_per_day == approx(s.requests_per_day)
    assert scenario_defaults(con).requests_per_day != approx(s.requests_per_active_day)


def test_the_daily_chart_keeps_days_a_day_wide_and_shows_the_gap(con, shared_dir):
    _sparse(con, shared_dir)
    figure = charts.daily(summarise(con).by_day)
    bars, requests = figure.data
    one_day_ms = 24 * 3600 * 1000
    assert figure.layout.xaxis.type == "date"
    assert bars.width == approx(0.8 * one_day_ms)  # not stretched over the 92 empty days
    start, end = (datetime.fromisoformat(str(x)) for x in figure.layout.xaxis.range)
    assert (end - start).days == 94  # the whole span, half a day either side
    assert len(requests.x) == 93 and requests.connectgaps is False
    assert [y for y in requests.y if y is not None] == [65, 1]  # the 91 days between: a gap, not a line


def test_a_short_span_gets_a_tick_per_day_and_a_single_day_stays_one_bar():
    by_day = [{"day": d, "requests": 3, "cost_usd": 0.1} for d in ("2026-03-02", "2026-03-05")]
    assert charts.daily(by_day).layout.xaxis.dtick == 24 * 3600 * 1000
    single = charts.daily(by_day[:1])
    assert single.layout.xaxis.type == "category" and single.data[0].width is None


def test_one_logged_call_gives_no_latency_figure(con, shared_dir):
    """The issue's "latency p50/p95 5 ms / 5 ms" on Routing: one LiteLLM test call is no p95."""
    _sparse(con, shared_dir)
    traffic = segment_traffic(con, segment_by="model")
    litellm = next(s for s in traffic.segments if s.key == "gpt-4o")
    assert litellm.api_timed_requests == 1 and (litellm.api_p50_ms, litellm.api_p95_ms) == (None, None)
    plan = routing.recommend(traffic, {}, Scenario(requests_per_day=1_000)).plan
    assert (plan.latency_p50_ms, plan.latency_p95_ms, plan.latency_coverage) == (None, None, 0.0)


def test_latency_needs_the_minimum_number_of_timed_requests(con):
    _insert(con, "2026-03-02", MIN_LATENCY_REQUESTS - 1)
    [few] = segment_traffic(con, segment_by="model").segments
    assert (few.api_timed_requests, few.api_p50_ms) == (MIN_LATENCY_REQUESTS - 1, None)
    _insert(con, "2026-03-03", 1, latency_ms=500.0)
    [enough] = segment_traffic(con, segment_by="model").segments
    assert enough.api_timed_requests == MIN_LATENCY_REQUESTS and enough.api_p50_ms == approx(114.5)  # 100..128 and 500


@pytest.mark.parametrize("answers, known", [(MIN_LATENCY_REQUESTS - 1, False), (MIN_LATENCY_REQUESTS, True)])
def test_quality_latency_table_says_too_few(con, answers, known):
    items = [{"request_id": f"l{i}", "label": "x", "local:a": "x", "local:a#latency": 100.0 + i, "latency_ms": 900.0,
              "ttft_ms": 50.0} for i in range(answers)]
    build_run(con, items)
    table = {r["candidate"]: r for r in latency_table(con, "run1").to_dicts()}
    for row in table.values():
        assert row["timed"] == answers
        figures = [row[f"{q}_{k}"] for q in ("p50", "p95", "p99") for k in ("ms", "low", "high")]
        assert all(v is not None for v in figures) if known else all(v is None for v in figures)
    assert (table["incumbent"]["ttft_p50_ms"] is not None) == known


@pytest.fixture
def sparse_dir(shared_dir, data_dir):
    con = open_db("sparse", settings=get_settings(data_dir=data_dir))
    _sparse(con, shared_dir)
    con.close()
    return data_dir


def test_overview_names_both_rates_and_the_empty_days(sparse_dir):
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params["ws"] = "sparse"
    app.run()
    assert not app.exception, app.exception
    metrics = {m.label: m for m in app.metric}
    assert (metrics["Requests per day"].value, metrics["Requests per active day"].value) == ("0.71", "33")
    assert "calendar day" in metrics["Requests per day"].help and "scenario" in metrics["Requests per day"].help
    assert "93" in metrics["Requests per day"].help and "2 days" in metrics["Requests per active day"].help
    assert any("requests on 2 of the 93 days" in c.value for c in app.caption)
    assert not any("analysis." in (m.help or "") for m in app.metric)  # plain words, no function names
    [chart] = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    assert chart["layout"]["xaxis"]["type"] == "date"


def test_routing_shows_no_latency_from_one_call(sparse_dir):
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params["ws"] = "sparse"
    app.run()
    app.switch_page("views/routing.py").run()
    assert not app.exception, app.exception
    latency = next(m for m in app.metric if m.label == "Latency p50 / p95")
    assert latency.value == "– / –" and f"fewer than {MIN_LATENCY_REQUESTS}" in latency.help
