"""analysis.economics.workspace_defaults on a workspace filled by SQL with a known daily/weekly rhythm and
growth: 30 whole days from Monday 2026-01-05, 20 requests per hour × 3 from 09:00 to 16:59 UTC,
× 0.5 on weekends, × 1.1^(day / 30.4167) (10% a month)."""

from __future__ import annotations

import pytest

from analysis.economics.cost_model import DAYS_PER_MONTH
from analysis.economics.prices import unit_prices
from analysis.economics.scenario import Scenario
from analysis.economics.token_shape import workload_shape
from analysis.economics.workspace_defaults import (
    api_costs,
    growth_per_month,
    peak_to_average,
    probe_measurements,
    probe_on_catalogue_gpu,
    scenario_defaults,
)
from analysis.store.database import scalar
from analysis.store.summary import summarise

approx = pytest.approx


def fill(con, days: int = 30, growth: float = 0.10, base: float = 20.0) -> None:
    """Every 4th request of an hour is extraction priced by genai-prices (cost NULL, gpt-4o-mini,
    1000 in / 100 out); the rest classification at a logged $0.001, every 10th of those through a
    Batch API at a logged $0.0005 (= $0.001 at the standard rate)."""
    con.execute(f"""
        INSERT INTO requests (request_id, source_id, ts, status, model, provider, task_type, complexity,
                              input_tokens, output_tokens, cost_usd, cost_source, latency_ms, is_batch)
        WITH grid AS (
            SELECT d, h, CAST(round({base} * pow({1 + growth}, d / {DAYS_PER_MONTH})
                                    * CASE WHEN isodow(DATE '2026-01-05' + d::INTEGER) >= 6 THEN 0.5 ELSE 1 END
                                    * CASE WHEN h BETWEEN 9 AND 16 THEN 3 ELSE 1 END) AS INTEGER) AS n
            FROM range({days}) a(d), range(24) b(h))
        SELECT 'r' || d || '-' || h || '-' || i, 's',
               TIMESTAMP '2026-01-05' + INTERVAL (d) DAY + INTERVAL (h) HOUR + INTERVAL 1 SECOND * (i * 3600 // n),
               'ok', 'gpt-4o-mini', 'openai', CASE WHEN i % 4 = 0 THEN 'extraction' ELSE 'classification' END,
               0.5, 1000, 100,
               CASE WHEN i % 4 = 0 THEN NULL WHEN i % 10 = 1 THEN 0.0005 ELSE 0.001 END,
               CASE WHEN i % 4 = 0 THEN 'unknown' ELSE 'logged' END, 250.0, i % 4 <> 0 AND i % 10 = 1
        FROM (SELECT *, unnest(range(n)) AS i FROM grid)""")


def test_defaults_from_a_workspace_with_rhythm_and_growth(con):
    fill(con)
    summary = summarise(con)
    s = scenario_defaults(con)
    assert summary.days_covered == 30
    assert s.requests_per_day == approx(summary.requests / 30)
    # Whole weeks cancel the weekly rhythm: the fitted growth is the generated 10% a month.
    assert s.growth_per_month == approx(0.10, abs=0.005)
    # Hourly weights: 8 hours × 3 + 16 × 1 = 40, busiest hour 3 -> 3 × 24 / 40 = 1.8.
    assert s.peak_to_average == approx(1.8, abs=0.01)
    extraction = unit_prices("gpt-4o-mini", "openai").cost(1000, 100)
    by_task = s.api_cost_by_task
    assert by_task["classification"].cost_per_request == approx(0.001)
    assert by_task["extraction"].cost_per_request == approx(extraction)
    assert by_task["extraction"].share == approx(scalar(con, "SELECT avg((task_type = 'extraction')::INT) FROM requests"))
    assert s.api_cost_per_request == approx(by_task["extraction"].share * extraction
                                            + by_task["classification"].share * 0.001)
    assert s.batch_discount is False and s.capacity_source == "sizing"


def test_failed_calls_cost_nothing_so_the_api_bill_is_the_logged_spend(con):
    """APIs don't bill failed calls: a failed request without a logged cost counts as $0 (it used
    to be priced from its prompt tokens), so the API cost per request × requests/day is the
    Overview's monthly spend."""
    fill(con, days=3)
    con.execute("UPDATE requests SET is_batch = false, cost_usd = 0.001 WHERE is_batch").fetchall()  # standard rate
    con.execute("""UPDATE requests SET status = 'error', output_tokens = NULL
                   WHERE cost_usd IS NULL AND right(request_id, 2) IN ('-0', '-4')""").fetchall()
    assert scalar(con, "SELECT count(*) FROM requests WHERE status = 'error'") > 0
    # As ingest does: the ok requests without a logged cost are priced (computed), the failed ones not.
    extraction = unit_prices("gpt-4o-mini", "openai").cost(1000, 100)
    con.execute("UPDATE requests SET cost_usd = ?, cost_source = 'computed' WHERE cost_usd IS NULL AND status = 'ok'",
                [extraction]).fetchall()
    s = scenario_defaults(con)
    summary = summarise(con)
    assert s.api_cost_per_request == approx(scalar(con, "SELECT sum(cost_usd) FROM requests") / summary.requests)
    assert s.api_cost_per_request * summary.requests_per_day * DAYS_PER_MONTH == approx(summary.monthly_spend_usd)
    # A model genai-prices does not know, one call of which failed: its group has no price, so it
    # is left out of the mean instead of reading as free.
    con.execute("""INSERT INTO requests (request_id, source_id, ts, status, model, task_type, input_tokens,
                                         output_tokens, cost_source, is_batch)
                   SELECT 'acme' || i, 's', TIMESTAMP '2026-01-05 10:00:00', CASE WHEN i = 0 THEN 'error' ELSE 'ok' END,
                          'acme-private-llm', 'extraction', 100, 5, 'unknown', false FROM range(20) t(i)""").fetchall()
    acme = next(c for c in api_costs(con) if c.model == "acme-private-llm")
    assert (acme.requests, acme.priced, acme.cost_per_request) == (20, 0, None)
    assert scenario_defaults(con).api_cost_per_request == approx(s.api_cost_per_request)


def test_defaults_keep_the_base_where_the_logs_say_nothing(con):
    base = Scenario(gpu="A100 80GB", ops_usd_per_month=500, growth_per_month=0.03)
    assert scenario_defaults(con, base) == base  # empty workspace
    fill(con, days=10)
    s = scenario_defaults(con, base)
    assert growth_per_month(con) is None and s.growth_per_month == 0.03  # < 14 days: no fit
    assert s.gpu == "A100 80GB" and s.ops_usd_per_month == 500
    assert s.requests_per_day == approx(summarise(con).requests / 10)


def test_shrinking_traffic_gives_negative_growth(con):
    fill(con, days=28, growth=-0.2)
    assert growth_per_month(con) == approx(-0.2, abs=0.01)
    assert peak_to_average(con) == approx(1.8, abs=0.01)


def test_mostly_batch_traffic_turns_the_batch_discount_on(con):
    fill(con, days=2)
    con.execute("UPDATE requests SET is_batch = true")
    assert scenario_defaults(con).batch_discount is True
    costs = {(c.task_type, c.model): c for c in api_costs(con)}
    # logged batch costs are divided by the batch ratio (0.5) to give the standard rate
    logged = scalar(con, "SELECT avg(cost_usd) FROM requests WHERE task_type = 'classification'")
    assert costs[("classification", "gpt-4o-mini")].cost_per_request == approx(logged / 0.5)


def _probe_row(probe_id: str, when: str, model: str, concurrency: int, rps: float, ok: bool,
               hardware: str | None = "H100 80GB") -> list:
    return [probe_id, when, model, f"openai-compat:http://gpu-box:8000/v1:{model}", concurrency, 32, 0, 10.0,
            rps, rps * 50, 800.0, 1500.0 if ok else 12_000.0, ok, 10_000.0, 256, hardware]


def _insert(con, *probes) -> None:
    con.executemany("INSERT INTO probe_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", probes)


def test_a_probe_is_the_capacity_of_the_gpu_it_measured_only(con):
    """A measurement stands for the capacity of the catalogue model and GPU it measured: the
    defaults take that model, that GPU and the measured figure; a probe of unknown hardware or of
    this computer's CPU is never any GPU's capacity."""
    fill(con, days=2)
    assert probe_measurements(con) == [] and scenario_defaults(con).capacity_source == "sizing"
    _insert(con, _probe_row("cpu", "2026-03-01 10:00", "llama3.1:8b", 1, 0.9, True, "this computer (2 CPU cores)"),
            _probe_row("unknown", "2026-02-15 10:00", "llama3.1:8b", 1, 3.0, True, None))
    assert [p.probe_id for p in probe_measurements(con)] == ["cpu", "unknown"]
    assert probe_on_catalogue_gpu(con) is None and scenario_defaults(con).capacity_source == "sizing"
    _insert(con, _probe_row("old", "2026-01-01 10:00", "meta-llama/Llama-3.1-8B-Instruct", 8, 9.0, True),
            _probe_row("new", "2026-02-01 10:00", "qwen3:8b", 1, 1.5, True),
            _probe_row("new", "2026-02-01 10:01", "qwen3:8b", 4, 4.2, True),
            _probe_row("new", "2026-02-01 10:02", "qwen3:8b", 16, 7.0, False))
    probe, model, gpu = probe_on_catalogue_gpu(con)
    assert (probe.probe_id, probe.capacity_rps, model, gpu) == ("new", approx(4.2), "qwen3-8b", "H100 80GB")
    s = scenario_defaults(con)
    assert (s.candidate_model, s.gpu, s.capacity_rps_per_gpu, s.capacity_source) == (
        "qwen3-8b", "H100 80GB", approx(4.2), "probe")
    assert Scenario.from_dict({"gpu": "L4"}, s).capacity_source == "sizing"  # never another GPU's capacity
    _insert(con, _probe_row("slow", "2026-03-02 10:00", "qwen3:8b", 1, 0.3, False))
    assert probe_measurements(con)[0].capacity_rps is None  # the latest probe kept no level under its target
    assert probe_on_catalogue_gpu(con)[0].probe_id == "new"


def test_token_shape_and_batch_traffic_reach_the_defaults(con):
    fill(con, days=3)
    shape = workload_shape(con)
    s = scenario_defaults(con)
    assert (s.input_length, s.output_length) == (approx(shape.input_tokens_mean), approx(shape.output_tokens_mean))
    assert s.output_length_p95 == approx(shape.output_tokens_p95) and s.peak_to_average > 1 and s.ttft_p95_ms
    con.execute("UPDATE requests SET is_batch = true")
    batch = scenario_defaults(con)
    assert (batch.peak_to_average, batch.ttft_p95_ms, batch.latency_p95_ms, batch.batch_discount) == (
        1.0, None, None, True)


def test_fast_growth_over_three_weeks(con):
    """21 days leave 19 interior days, 13 whole-week windows: still exact for 50% a month."""
    fill(con, days=21, growth=0.5, base=50.0)
    assert growth_per_month(con) == approx(0.5, abs=0.01)


def test_sparse_logs_give_no_growth(con):
    """A few requests scattered over months (some weeks none): fitting only the weeks with requests
    read falling traffic as growth; too little to tell, so the base scenario's growth stays."""
    con.execute("""INSERT INTO requests (request_id, source_id, ts, model, status, is_batch)
                   SELECT 'r' || i, 's', TIMESTAMP '2026-01-01' + INTERVAL (i * 9) DAY, 'gpt-4o-mini', 'ok', false
                   FROM range(12) t(i)""").fetchall()
    assert growth_per_month(con) is None
    con.execute("DELETE FROM requests").fetchall()
    con.execute("""INSERT INTO requests (request_id, source_id, ts, model, status, is_batch)
                   SELECT 'r' || i, 's', TIMESTAMP '2026-01-01' + INTERVAL (i * 12) HOUR, 'gpt-4o-mini', 'ok', false
                   FROM range(60) t(i)""").fetchall()  # every week has requests, but 14 a week
    assert growth_per_month(con) is None


def test_less_than_a_day_of_logs_gives_no_peak_to_average(con):
    """One hour's burst would read as a peak of 24 and make self-hosting look hopeless."""
    con.execute("""INSERT INTO requests (request_id, source_id, ts, model, status, is_batch)
                   SELECT 'r' || i, 's', TIMESTAMP '2026-03-02 10:00' + i * INTERVAL 1 MINUTE, 'gpt-4o-mini', 'ok', false
                   FROM range(50) t(i)""").fetchall()
    assert peak_to_average(con) is None
    assert scenario_defaults(con).peak_to_average == Scenario().peak_to_average
    con.execute("""INSERT INTO requests (request_id, source_id, ts, model, status, is_batch)
                   VALUES ('late', 's', TIMESTAMP '2026-03-03 10:00', 'gpt-4o-mini', 'ok', false)""").fetchall()
    assert peak_to_average(con) == approx(51 * 24 / 51)  # every request in the 10:00 hour
