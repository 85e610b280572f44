"""analysis.economics.cost_model against hand-worked cases. A month is 730 h = 30.416667 days throughout."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from analysis.economics.cost_model import (
    DAYS_PER_MONTH,
    HOURS_PER_MONTH,
    CostInputs,
    api_monthly_cost,
    blended_cost_per_request,
    breakeven,
    capacity_requests_per_day,
    cold_start_monthly_cost,
    cost_curve,
    cost_per_1k,
    dedicated_monthly_cost,
    evaluate,
    fixed_monthly_cost,
    gpu_hours_per_month,
    gpus_needed,
    growth_projection,
    headline,
    monthly_savings,
    payback_months,
    peak_requests_per_second,
    requests_per_day_served,
    self_host_cost,
    sensitivity,
)

D = 30.416667  # days per month, rounded, for the hand calculations below
approx = pytest.approx


def issue_example(**changes) -> CostInputs:
    """Issue 5: API $0.0013/request, 10,000 requests/day, one dedicated $1/h GPU, no ops or
    fine-tuning, ample capacity."""
    base = CostInputs(requests_per_day=10_000, api_mix=((1.0, 0.0013),), gpu_hourly_usd=1.0,
                      capacity_rps_per_gpu=1_000.0)
    return replace(base, **changes)


def stepped(**changes) -> CostInputs:
    """One GPU serves 1 req/s × 0.5 utilisation × 86,400 / peak 2 = 21,600 requests/day."""
    base = CostInputs(requests_per_day=10_000, api_mix=((1.0, 0.002),), gpu_hourly_usd=1.0,
                      capacity_rps_per_gpu=1.0, target_utilisation=0.5, peak_to_average=2.0,
                      ops_usd_per_month=1_000.0)
    return replace(base, **changes)


# --- the issue's example ---------------------------------------------------------------------


def test_issue_example_costs_and_breakeven():
    e = evaluate(issue_example())
    assert e.api_monthly_usd == approx(10_000 * D * 0.0013, rel=1e-6)  # 395.42
    assert round(e.api_monthly_usd) == 395
    assert e.self_host.monthly_usd == approx(730.0)
    assert e.self_host.gpus == 1
    assert e.breakeven.status == "at"
    assert e.breakeven.requests_per_day == approx(730 / (D * 0.0013), rel=1e-6)  # 18,461.5
    assert 18_450 < e.breakeven.requests_per_day < 18_470
    assert "18,462" in e.breakeven.reason
    assert e.savings_monthly_usd == approx(395.416667 - 730, rel=1e-6)
    assert e.payback_months is None  # no savings
    assert e.api_per_1k_usd == approx(1.3)
    assert e.self_host_per_1k_usd == approx(730 / (10_000 * D) * 1000, rel=1e-6)  # $2.40


def test_month_conventions():
    assert HOURS_PER_MONTH == 730
    assert DAYS_PER_MONTH == approx(30.4167, abs=1e-4)


# --- API side -------------------------------------------------------------------------------


def test_api_monthly_cost():
    assert api_monthly_cost(1_000, 0.002) == approx(1_000 * D * 0.002, rel=1e-6)  # 60.83
    assert api_monthly_cost(0, 0.002) == 0


def test_blended_mix_normalises_shares():
    assert blended_cost_per_request([(0.6, 0.001), (0.4, 0.003)]) == approx(0.0018)
    assert blended_cost_per_request([(3, 0.001), (2, 0.003)]) == approx(0.0018)
    x = issue_example(api_mix=((0.6, 0.001), (0.4, 0.003)))
    assert evaluate(x).api_monthly_usd == approx(10_000 * D * 0.0018, rel=1e-6)


# --- dedicated ------------------------------------------------------------------------------


def test_peak_and_gpus_needed():
    assert peak_requests_per_second(86_400, 3) == 3.0
    assert requests_per_day_served(1, 1.0, 0.5, 2.0) == 21_600
    assert gpus_needed(0, 1.0, 0.5, 2.0) == 1
    assert gpus_needed(21_600, 1.0, 0.5, 2.0) == 1
    assert gpus_needed(21_601, 1.0, 0.5, 2.0) == 2
    assert gpus_needed(43_200, 1.0, 0.5, 2.0) == 2
    assert gpus_needed(43_201, 1.0, 0.5, 2.0) == 3


def test_dedicated_formula_and_fixed_costs():
    assert fixed_monthly_cost(100, 1_200, 12) == 200
    assert dedicated_monthly_cost(3, 2.0, 200) == 3 * 2.0 * 730 + 200


def test_second_gpu_step():
    x = stepped()
    one, two = self_host_cost(x, 21_600), self_host_cost(x, 21_601)
    assert (one.gpus, two.gpus) == (1, 2)
    assert one.monthly_usd == approx(730 + 1_000)
    assert two.monthly_usd == approx(2 * 730 + 1_000)
    assert two.gpu_hours == 2 * 730


def test_breakeven_lands_on_the_second_step():
    # One GPU's traffic (21,600/day) costs 21,600 × D × 0.002 = $1,314 on the API; each GPU costs
    # $730, so each step gains $584 on the $1,000 ops: step 1 falls short (584 < 1,000), step 2
    # clears it (1,168 >= 1,000). Break-even = (2 × 730 + 1,000) / (D × 0.002) = 40,438 /day.
    b = breakeven(stepped())
    assert b.status == "at"
    assert b.requests_per_day == approx(2_460 / (D * 0.002), rel=1e-6)
    assert 21_600 < b.requests_per_day <= 43_200
    assert "2 GPUs" in b.reason
    # It's the smallest: just below, self-hosting costs more; at it, no more.
    assert monthly_savings(stepped(), b.requests_per_day) == approx(0, abs=1e-6)
    assert monthly_savings(stepped(), b.requests_per_day - 1) < 0
    assert monthly_savings(stepped(), 21_600) < 0


def test_breakeven_matches_a_brute_force_scan():
    for x in (stepped(), stepped(ops_usd_per_month=3_000), stepped(api_mix=((1, 0.005),)),
              # 864/day per GPU, $1,314 of API per GPU-step: the 4th step clears $2,000 of ops
              issue_example(capacity_rps_per_gpu=0.01, api_mix=((1, 0.05),), ops_usd_per_month=2_000)):
        b = breakeven(x)
        assert b.status == "at"
        scan = next(v for v in range(0, 2_000_000, 10) if monthly_savings(x, v) >= 0)
        assert b.requests_per_day <= scan < b.requests_per_day + 10


def test_breakeven_never_when_each_gpu_loses_money():
    # One GPU's traffic costs 21,600 × D × 0.001 = $657 on the API < $730 for the GPU.
    x = stepped(api_mix=((1.0, 0.001),))
    b = breakeven(x)
    assert (b.status, b.requests_per_day) == ("never", None)
    assert "$657" in b.reason and "$730" in b.reason
    assert all(monthly_savings(x, v) < 0 for v in (1, 1e3, 21_600, 1e5, 1e7))


def test_breakeven_never_within_a_fixed_fleet():
    # 1 GPU × 0.1 req/s × 86,400 = 8,640 requests/day, but the API only reaches $730 at 18,462.
    x = issue_example(gpu_count=1, capacity_rps_per_gpu=0.1)
    assert capacity_requests_per_day(x) == approx(8_640)
    b = breakeven(x)
    assert (b.status, b.requests_per_day) == ("never", None)
    assert "8,640" in b.reason and "18,462" in b.reason


def test_fixed_fleet_reports_over_capacity_and_prices_it_on_the_api():
    x = issue_example(gpu_count=1, capacity_rps_per_gpu=0.1)
    own = self_host_cost(x)
    assert own.served_requests_per_day == approx(8_640)
    assert own.over_capacity_requests_per_day == approx(1_360)
    assert own.overflow_api_usd == approx(1_360 * D * 0.0013, rel=1e-6)
    assert own.total_usd == approx(730 + 1_360 * D * 0.0013, rel=1e-6)
    assert own.gpus == 1


def test_fixed_fleet_breakeven_within_capacity():
    x = issue_example(gpu_count=2)
    b = breakeven(x)
    assert b.requests_per_day == approx(1_460 / (D * 0.0013), rel=1e-6)


def test_breakeven_always_above_the_floor():
    b = breakeven(issue_example(), floor_requests_per_day=100_000)
    assert (b.status, b.requests_per_day) == ("always", 100_000)
    # Free self-hosting beats the API at any volume.
    free = issue_example(gpu_hourly_usd=0.0)
    assert breakeven(free).status == "always"


def test_breakeven_never_when_the_api_is_free():
    b = breakeven(issue_example(api_mix=((1.0, 0.0),)))
    assert b.status == "never" and "nothing" in b.reason


# --- scheduled ------------------------------------------------------------------------------


def scheduled(**changes) -> CostInputs:
    base = CostInputs(requests_per_day=100_000, api_mix=((1.0, 0.0013),), gpu_hourly_usd=2.0,
                      capacity_rps_per_gpu=10.0, target_utilisation=0.5, mode="scheduled",
                      ops_usd_per_month=200.0)
    return replace(base, **changes)


def test_scheduled_cost():
    # 100,000 × D = 3,041,667 requests / (10 × 3600 × 0.5) = 168.98 GPU-hours × $2 + $200.
    assert gpu_hours_per_month(100_000, 10.0, 0.5) == approx(3_041_666.7 / 18_000, rel=1e-6)
    own = self_host_cost(scheduled())
    assert own.gpu_hours == approx(168.981, rel=1e-4)
    assert own.monthly_usd == approx(168.981 * 2 + 200, rel=1e-4)
    assert own.gpus is None
    assert "can wait" in own.note


def test_scheduled_breakeven_is_linear():
    # Self-hosting costs 2 × D / 18,000 = $0.0033796 per (request/day) per month, the API
    # D × 0.0013 = $0.0395417: break-even = 200 / (0.0395417 − 0.0033796) = 5,530.7 /day.
    b = breakeven(scheduled())
    assert b.status == "at"
    assert b.requests_per_day == approx(200 / (D * 0.0013 - 2 * D / 18_000), rel=1e-6)
    assert monthly_savings(scheduled(), b.requests_per_day) == approx(0, abs=1e-6)


def test_scheduled_never_when_gpu_time_costs_more_per_request():
    b = breakeven(scheduled(gpu_hourly_usd=50.0))  # $50 / 18,000 = $0.00278 > $0.0013 a request
    assert b.status == "never" and "per" in b.reason


def test_scheduled_always_without_fixed_costs():
    assert breakeven(scheduled(ops_usd_per_month=0.0)).status == "always"


def test_scheduled_fixed_count_capacity_uses_the_whole_month():
    # 1 GPU × 730 h × 3,600 × 10 × 0.5 / D = 432,000 requests/day, whatever the peak.
    x = scheduled(gpu_count=1, peak_to_average=4.0)
    assert capacity_requests_per_day(x) == approx(432_000)


# --- serverless -----------------------------------------------------------------------------


def test_serverless_cost():
    # $3.60/h = $0.001/s. 43,200 × D / 5 req/s = 262,800 busy seconds = $262.80;
    # cold starts 10/day × 20 s × $0.001 × D = $6.083.
    x = CostInputs(requests_per_day=43_200, api_mix=((1.0, 0.001),), gpu_hourly_usd=3.6,
                   capacity_rps_per_gpu=5.0, mode="serverless", cold_starts_per_day=10,
                   cold_start_seconds=20)
    assert cold_start_monthly_cost(10, 20, 3.6) == approx(10 * 20 * 0.001 * D, rel=1e-6)
    own = self_host_cost(x)
    assert own.gpu_hours * 3600 == approx(262_800, rel=1e-6)
    assert own.monthly_usd == approx(262.80 + 6.0833, rel=1e-4)
    # Break-even: fixed $6.083 / (D × 0.001 − 3.6 × D / (3600 × 5)) = 6.083 / 0.0243333 = 250.
    assert breakeven(x).requests_per_day == approx(250, rel=1e-6)


# --- savings, payback, per 1k -------------------------------------------------------------


def test_savings_and_payback():
    # 40,000/day: API 40,000 × D × 0.0013 = $1,581.67; self $730 + $1,200 / 12 = $830.
    x = issue_example(requests_per_day=40_000, fine_tuning_usd=1_200)
    assert monthly_savings(x) == approx(1_581.667 - 830, rel=1e-6)
    assert payback_months(x) == approx(1_200 / (1_581.667 - 730), rel=1e-6)  # 1.41 months
    assert payback_months(issue_example(requests_per_day=40_000)) == 0
    assert payback_months(issue_example(fine_tuning_usd=1_200)) is None


def test_cost_per_1k():
    assert cost_per_1k(608.3333, 20_000) == approx(1.0, rel=1e-6)
    assert cost_per_1k(100, 0) is None
    assert evaluate(issue_example(requests_per_day=0)).self_host_per_1k_usd is None


# --- growth ---------------------------------------------------------------------------------


def test_growth_compounds_monthly():
    rows = growth_projection(issue_example(requests_per_day=1_000, growth_per_month=0.1), months=3)
    assert [r.month for r in rows] == [0, 1, 2]
    assert [r.requests_per_day for r in rows] == approx([1_000, 1_100, 1_210])
    assert [r.api_usd for r in rows] == approx([v * D * 0.0013 for v in (1_000, 1_100, 1_210)], rel=1e-6)
    assert all(r.self_host_usd == approx(730) for r in rows)
    assert rows[-1].cumulative_savings_usd == approx(sum(r.savings_usd for r in rows))


def test_growth_crosses_a_gpu_step():
    rows = growth_projection(stepped(requests_per_day=20_000, growth_per_month=0.2), months=3)
    assert [r.gpus for r in rows] == [1, 2, 2]  # 20,000; 24,000; 28,800 vs 21,600 per GPU


# --- curves ---------------------------------------------------------------------------------


def test_curve_grid_and_steps():
    x = stepped()
    points = cost_curve(x)
    volumes = [p.requests_per_day for p in points]
    assert volumes == sorted(volumes)
    assert volumes[0] == approx(10) and volumes[-1] == approx(1e8)
    at_edge = [p for p in points if p.requests_per_day == approx(21_600)]
    assert [p.gpus for p in at_edge] == [1, 2]  # a vertical jump at the first step
    assert at_edge[1].self_host_usd - at_edge[0].self_host_usd == approx(730)
    assert all(p.api_usd == approx(p.requests_per_day * D * 0.002, rel=1e-6) for p in points)
    grid_only = cost_curve(x, stop=1e3)  # no step below 1,000/day: 2 decades × 10 + 1 points
    assert len(grid_only) == 21


def test_curve_caps_the_step_points():
    x = stepped(capacity_rps_per_gpu=0.001)  # 21.6 requests/day per GPU: millions of steps
    assert len(cost_curve(x, max_steps=50)) == 71 + 100


def test_curve_fixed_fleet_marks_over_capacity():
    points = cost_curve(issue_example(gpu_count=1, capacity_rps_per_gpu=0.1))
    assert any(p.requests_per_day == approx(8_640) for p in points)
    assert all((p.over_capacity_requests_per_day > 0) == (p.requests_per_day > 8_640 + 1e-6) for p in points)


# --- sensitivity ----------------------------------------------------------------------------


def test_sensitivity_directions():
    x = stepped(api_mix=((1.0, 0.004),), target_utilisation=0.8)
    rows = {r.param: r for r in sensitivity(x)}
    assert set(rows) == {"gpu_hourly_usd", "capacity_rps_per_gpu", "target_utilisation",
                         "api_cost_per_request", "requests_per_day"}
    gpu = rows["gpu_hourly_usd"]
    assert (gpu.low_value, gpu.high_value) == (0.5, 1.5)
    assert gpu.breakeven_low < gpu.breakeven_high  # dearer GPUs: later break-even
    assert gpu.savings_low > gpu.savings_high
    api = rows["api_cost_per_request"]
    assert api.low_value == approx(0.002) and api.high_value == approx(0.006)
    assert api.breakeven_low > api.breakeven_high
    assert api.savings_low < api.savings_high
    cap = rows["capacity_rps_per_gpu"]
    assert cap.breakeven_low >= cap.breakeven_high
    util = rows["target_utilisation"]
    assert (util.low_value, util.high_value) == (0.4, 1.0)  # 1.2 clamped to 1
    volume = rows["requests_per_day"]
    assert volume.breakeven_low == volume.breakeven_high == breakeven(x).requests_per_day
    assert volume.savings_low != volume.savings_high


def test_sensitivity_reports_never_as_none():
    rows = {r.param: r for r in sensitivity(stepped())}
    # At half the API price one GPU's traffic costs 21,600 × D × 0.001 = $657 < $730: never.
    assert rows["api_cost_per_request"].breakeven_low is None
    assert rows["api_cost_per_request"].breakeven_high is not None


# --- inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"target_utilisation": 0.0}, "target_utilisation"),
    ({"target_utilisation": 1.2}, "target_utilisation"),
    ({"peak_to_average": 0.5}, "peak_to_average"),
    ({"capacity_rps_per_gpu": 0.0}, "capacity"),
    ({"api_mix": ()}, "api_mix"),
    ({"api_mix": ((0.0, 0.001),)}, "shares"),
    ({"gpu_count": 0}, "gpu_count"),
    ({"mode": "spot"}, "mode"),
])
def test_inputs_are_validated(changes, message):
    with pytest.raises(ValueError, match=message):
        issue_example(**changes)


def test_large_volumes_stay_finite():
    e = evaluate(stepped(requests_per_day=1e8))
    assert e.self_host.gpus == math.ceil(1e8 / 21_600)
    assert math.isfinite(e.savings_monthly_usd)


def test_headline_states_breakeven_and_today():
    assert headline(issue_example(), 10_000) == (
        "Self-hosting pays off above 18.5k requests/day; today you run 10k.")
    never = issue_example(capacity_rps_per_gpu=0.01)  # one GPU serves 432/day, worth $5.7 of API
    assert headline(never, 10_000).startswith("Self-hosting does not pay off at any volume")
