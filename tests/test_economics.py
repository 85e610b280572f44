"""analysis.economics.cost_model against hand-worked cases. A month is 730 h = 30.416667 days throughout."""

from __future__ import annotations

import math
import random
import time
from dataclasses import replace

import pytest

from analysis.economics.comparison import MAX_LISTED_STEPS, Region, breakeven, cheaper_regions, evaluate, headline
from analysis.economics.cost_model import (
    DAYS_PER_MONTH,
    HOURS_PER_MONTH,
    MODE_NOTES,
    CostInputError,
    CostInputs,
    OwnedHardware,
    api_monthly_cost,
    blended_cost_per_request,
    capacity_requests_per_day,
    cold_start_monthly_cost,
    cost_per_1k,
    dedicated_monthly_cost,
    default_owned_hardware,
    fixed_monthly_cost,
    gpu_hours_per_month,
    gpus_needed,
    monthly_savings,
    payback_months,
    peak_requests_per_second,
    requests_per_day_served,
    self_host_cost,
    serverless_billed_seconds_per_day,
    serverless_usd_per_second,
)
from analysis.economics.projections import cost_curve, growth_projection, sensitivity
from analysis.errors import UserError
from analysis.present import charts
from analysis.reference import read_json

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
    assert math.isclose(DAYS_PER_MONTH, 30.4167, abs_tol=1e-4)


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


def serverless(**changes) -> CostInputs:
    """864 requests/day (λ = 0.01/s), a GPU serving 0.5 requests/s at full use (2 busy seconds a
    request), $0.0005 per GPU-second serverless (the on-demand price, $0.90/h, is not used), a
    100 s idle window, 10 cold starts a day of 30 s, $100/month of ops; the API charges $0.002."""
    base = CostInputs(requests_per_day=864, api_mix=((1.0, 0.002),), gpu_hourly_usd=0.9,
                      capacity_rps_per_gpu=0.5, mode="serverless", serverless_usd_per_second=0.0005,
                      serverless_idle_timeout_s=100.0, cold_starts_per_day=10, cold_start_seconds=30,
                      ops_usd_per_month=100.0)
    return replace(base, **changes)


def test_serverless_month_by_hand():
    # Busy: 864 × 2 s = 1,728 GPU-s a day, ρ = 1,728 / 86,400 = 0.02. λT = 0.01 × 100 = 1, so the
    # idle tail is 86,400 × 0.98 × (1 − e^−1) = 84,672 × 0.632121 = 53,522.9 s: 55,250.9 s billed a
    # day, = 1 − 0.98 × e^−1 = 63.95% of the day. Month: 55,250.9 × D × $0.0005 = $840.27; cold
    # starts 10 × 30 s × $0.0005 × D = $4.5625; ops $100: $944.84.
    billed = 1_728 + 86_400 * 0.98 * (1 - math.exp(-1))
    assert billed == approx(55_250.9, abs=0.1)
    assert serverless_billed_seconds_per_day(864, 0.5, 1.0, 100.0) == approx(billed, rel=1e-12)
    own = self_host_cost(serverless())
    assert own.gpu_hours == approx(billed * D / 3600, rel=1e-6)
    assert own.monthly_usd == approx(840.274 + 4.5625 + 100, rel=1e-6)
    assert own.note == MODE_NOTES["serverless"]
    # Without the idle window only the busy seconds are billed: 1,728 × D × $0.0005 = $26.28.
    assert self_host_cost(serverless(serverless_idle_timeout_s=0.0)).monthly_usd == approx(26.28 + 4.5625 + 100,
                                                                                           rel=1e-4)
    # A 2-GPU container (tensor parallel): the same 1,728 busy GPU-seconds (capacity is per GPU), but
    # the container is busy 1% of its day and idles on both GPUs; cold starts bill both GPUs.
    pair = self_host_cost(serverless(gpus_per_replica=2))
    assert pair.monthly_usd == approx((1_728 + 2 * 86_400 * 0.99 * (1 - math.exp(-1))) * D * 0.0005
                                      + 2 * 4.5625 + 100, rel=1e-6)


def test_serverless_price_replaces_the_hourly_rate():
    x = serverless(serverless_idle_timeout_s=0.0)
    assert serverless_usd_per_second(x) == 0.0005 != x.gpu_hourly_usd / 3600
    assert self_host_cost(x).monthly_usd == self_host_cost(replace(x, gpu_hourly_usd=99.0)).monthly_usd
    fallback = replace(x, serverless_usd_per_second=None)
    assert serverless_usd_per_second(fallback) == 0.9 / 3600
    assert self_host_cost(fallback).monthly_usd == approx(1_728 * D * 0.00025 + 10 * 30 * 0.00025 * D + 100)
    assert "on-demand hourly rate / 3600" in self_host_cost(fallback).note
    with pytest.raises(CostInputError, match="serverless_idle_timeout_s"):
        serverless(serverless_idle_timeout_s=-1.0)
    with pytest.raises(CostInputError, match="serverless_usd_per_second"):
        serverless(serverless_usd_per_second=-0.1)


def test_serverless_idle_tail_matches_a_simulated_queue():
    """The formula 1 − (1 − ρ) e^(−λT) for the billed share of the day against a simulated single
    container: Poisson arrivals, 2 s of work each, first come first served, up T seconds after its
    last piece of work."""
    rng = random.Random(5)
    for rate, idle in ((0.01, 100.0), (0.05, 20.0), (0.2, 3.0)):
        clock = free_at = billed = 0.0
        for _ in range(100_000):
            clock += rng.expovariate(rate)
            if clock > free_at:
                billed += min(clock - free_at, idle)  # idle spell, billed up to the timeout
                free_at = clock
            billed += 2.0
            free_at += 2.0
        share = serverless_billed_seconds_per_day(rate * 86_400, 0.5, 1.0, idle) / 86_400
        assert billed / free_at == approx(share, rel=0.02), (rate, idle)


def test_serverless_at_high_volume_costs_a_container_around_the_clock():
    """The property: serverless GPU-seconds lie between the busy seconds and the dedicated fleet's
    (the same GPUs sized for the average, peak 1, at the same utilisation), and never undercut that
    fleet by a whole replica; once the traffic keeps a container warm (λT >= 10) it costs at least a
    replica running 24/7 × (1 − e^(−λT)) at the serverless price, however little work there is."""
    rng = random.Random(3)
    for _ in range(500):
        volume, capacity = 10 ** rng.uniform(0, 8), 10 ** rng.uniform(-1, 1.5)
        u, idle, r = rng.uniform(0.3, 1.0), rng.uniform(0, 600), rng.choice([1, 2, 4])
        billed = serverless_billed_seconds_per_day(volume, capacity, u, idle, r)
        busy = volume / (capacity * u)
        fleet = gpus_needed(volume, capacity, u, 1.0, r) * 86_400
        assert busy * (1 - 1e-12) <= billed <= fleet * (1 + 1e-12)
        assert billed >= fleet - r * 86_400
        if volume / 86_400 * idle >= 10:
            assert billed >= r * 86_400 * (1 - math.exp(-volume / 86_400 * idle)) * (1 - 1e-12)
    # So at the same price per GPU-second a busy endpoint costs what a dedicated replica does:
    # 8,640/day with a 60 s window (λT = 6) keeps the container up 99.8% of the day.
    x = serverless(requests_per_day=8_640, serverless_idle_timeout_s=60.0, cold_starts_per_day=0, ops_usd_per_month=0)
    dedicated = replace(x, mode="dedicated", gpu_hourly_usd=0.0005 * 3600)
    assert self_host_cost(x).monthly_usd == approx(self_host_cost(dedicated).monthly_usd, rel=0.003)
    assert self_host_cost(x).monthly_usd <= self_host_cost(dedicated).monthly_usd


def test_serverless_breakeven_with_an_idle_window():
    # The API: D × $0.002 = $0.060833 per request/day a month; busy time D × 0.0005 × 2 = $0.030417:
    # margin m = $0.030417. One container is busy all day from V = 43,200/day. Fixed F = $104.5625.
    x = serverless()
    be = breakeven(x)
    first = be.requests_per_day
    assert be.status == "at" and be.regions == (Region(first, None, None, None),)
    assert be.stays_cheaper_from_requests_per_day == first
    assert monthly_savings(x, first) >= 0 > monthly_savings(x, first * (1 - 1e-9))
    assert 864 < first < 43_200  # the idle tail, not the busy time, is what 864/day loses on
    assert monthly_savings(x, 864) < 0 <= monthly_savings(x, 43_200)
    # At $0.00098/s a request's busy time costs $0.00196: m = D × $0.00004 = $0.0012167, and F =
    # $100 + 10 × 30 × $0.00098 × D = $108.94 is not won back before V: the crossing is on the
    # linear stretch, at F / m = 89,542 requests/day, as without an idle window.
    far = serverless(serverless_usd_per_second=0.00098)
    assert monthly_savings(far, 43_200) < 0
    assert breakeven(far).requests_per_day == approx(108.9425 / (D * 0.00004), rel=1e-6)
    assert breakeven(far).requests_per_day == approx(breakeven(replace(far, serverless_idle_timeout_s=0.0))
                                                     .requests_per_day, rel=1e-12)
    # Busy time alone dearer than the API: never, whatever the idle window.
    assert breakeven(serverless(serverless_usd_per_second=0.001)).status == "never"
    # A fixed count: what it cannot serve stays on the API, and too small a count never wins.
    assert breakeven(serverless(gpu_count=1, peak_to_average=10.0)).status == "never"
    assert "never" not in headline(x, 100_000) and "self-hosting is cheaper" in headline(x, 100_000)
    # With no fixed costs and a request cheaper on the API than a lone request's busy + idle time,
    # the savings dip first: volume 0 (both sides $0) is not listed as a region.
    free = serverless(ops_usd_per_month=0.0, cold_starts_per_day=0.0)
    assert breakeven(free).requests_per_day > 0 and breakeven(free).regions[0].from_requests_per_day > 0


def test_serverless_sensitivity_swings_the_serverless_price():
    rows = {r.param: r for r in sensitivity(serverless())}
    gpu = rows["gpu_hourly_usd"]
    assert (gpu.low_value, gpu.high_value) == (approx(0.0005 * 0.5 * 3600), approx(0.0005 * 1.5 * 3600))
    assert gpu.savings_low > gpu.savings_high


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
    with pytest.raises(UserError, match=message):  # CostInputError is both
        issue_example(**changes)


def test_large_volumes_stay_finite():
    e = evaluate(stepped(requests_per_day=1e8))
    assert e.self_host.gpus == math.ceil(1e8 / 21_600)
    assert math.isfinite(e.savings_monthly_usd)


def test_headline_states_todays_verdict_first():
    # API $395 vs $730 self-hosting at 10k; from 18,462/day one GPU serves everything for $730.
    assert headline(issue_example(), 10_000) == (
        "At today's 10k requests/day the API is cheaper by $335/month ($395 vs $730 self-hosting). "
        "Self-hosting is cheaper from 18.5k requests/day on.")
    assert headline(issue_example(), 40_000) == (
        "At today's 40k requests/day self-hosting is cheaper by $852/month ($730 vs $1.6k on the API); "
        "it stays cheaper from 18.5k requests/day on.")
    never = issue_example(capacity_rps_per_gpu=0.01)  # one GPU serves 864/day, worth $34 of API
    assert headline(never, 10_000).startswith(  # 24 GPUs today
        "At today's 10k requests/day the API is cheaper by $8.4k/month ($395 vs $8.8k self-hosting). "
        "Self-hosting is never cheaper at any volume in this setup: one GPU's worth of traffic (864 requests/day) costs $34.16/month on the API, no more than the "
        "GPU's $730.00/month")
    assert headline(issue_example(gpu_hourly_usd=0.0), 10_000) == (
        "At today's 10k requests/day self-hosting is cheaper by $395/month ($0 vs $395 on the API); "
        "it is cheaper at every volume.")


# --- where self-hosting is cheaper: regions on GPU steps ------------------------------------


def staircase(**changes) -> CostInputs:
    """The issue's hand-worked case: API $0.002/request, $2.50/h GPUs serving 2 requests/s at 0.6
    utilisation and peak 3, so one GPU covers 2 × 0.6 × 86,400 / 3 = 34,560 requests/day; $500 of
    ops; 80,000 requests/day today."""
    base = CostInputs(requests_per_day=80_000, api_mix=((1.0, 0.002),), gpu_hourly_usd=2.5,
                      capacity_rps_per_gpu=2.0, target_utilisation=0.6, peak_to_average=3.0,
                      ops_usd_per_month=500.0)
    return replace(base, **changes)


def test_staircase_wins_on_intervals_not_above_a_point():
    # k GPUs cost k × $1,825 + $500; the API costs D × 0.002 = $0.060833 per (request/day) a month,
    # so it reaches step k's bill at (1,825k + 500) / 0.060833 and the step ends at 34,560k.
    # k = 1: $2,325 needs 38,219 > 34,560: lost. k = 2: 68,219 <= 69,120: won on 68,219–69,120.
    # k = 3: 98,219 (the API loses again from 69,120 to 98,219). Each step gains $277.40 on the API
    # at its top (34,560 × 0.060833 − 1,825), so from k = 10 on (10 × 277.4 >= 500 + 2,102.4, the
    # API's bill for one step) a step wins whole: for good from step 9's crossing, 278,219.
    x = staircase()
    be = breakeven(x)
    assert be.status == "at"
    assert be.requests_per_day == approx(68_219.18, abs=1)
    assert "2 GPUs" in be.reason and "68,219" in be.reason
    regions = be.regions
    assert [(r.from_requests_per_day, r.to_requests_per_day, r.gpus_at_start, r.gpus_at_end)
            for r in regions[:3]] == [
        (approx(68_219.18, abs=1), 69_120, 2, 2),
        (approx(98_219.18, abs=1), 103_680, 3, 3),
        (approx(128_219.18, abs=1), 138_240, 4, 4)]
    assert len(regions) == 8 and all(r.gpus_at_start == r.gpus_at_end == k for k, r in enumerate(regions[:7], 2))
    assert regions[-1] == Region(approx(278_219.18, abs=1), None, 9, None)
    assert be.stays_cheaper_from_requests_per_day == approx(278_219.18, abs=1)
    assert be.unlisted_between is None
    assert cheaper_regions(x) == list(regions)
    assert [r.from_requests_per_day for r in cheaper_regions(x, start=100_000)][:2] == [100_000, approx(128_219.18)]


def test_staircase_regions_match_a_scan():
    x = staircase()
    regions = breakeven(x).regions
    for volume in range(50_000, 400_000, 37):
        assert any(r.includes(volume) for r in regions) == (monthly_savings(x, volume) >= 0), volume


def test_staircase_today_the_api_is_cheaper_and_the_headline_says_so_first():
    x = staircase()
    e = evaluate(x)
    assert e.savings_monthly_usd == approx(80_000 * D * 0.002 - 5_975, rel=1e-6)  # -$1,108
    assert not e.self_hosting_cheaper
    assert e.self_host.gpus == 3
    text = headline(x, 80_000)
    assert text == (
        "At today's 80k requests/day the API is cheaper by $1.1k/month ($4.9k vs $6k self-hosting). "
        "Self-hosting is cheaper at 68.2k–69.1k, 98.2k–103.7k, 128.2k–138.2k, 4 more intervals up to 276.5k "
        "and from 278.2k requests/day on.")
    assert "pays off above" not in text
    assert headline(x, 68_500).startswith("At today's 68.5k requests/day self-hosting is cheaper by $17.08/month")
    assert headline(x, 300_000).endswith("; it stays cheaper from 278.2k requests/day on.")


def test_many_steps_are_solved_in_closed_form():
    # 21.6 requests/day per GPU ($730/month) against $730.24 of API: each step gains $0.24 on $1,000
    # of ops, so the first win is step ceil(1,000 / 0.24) = 4,167 and every step wins whole from
    # (1,000 + 730.24) / 0.24 = 7,209.3 on: 3,000 intermittent steps, more than are listed.
    x = stepped(capacity_rps_per_gpu=0.001, api_mix=((1.0, 730.24 / (21.6 * D)),))
    start = time.perf_counter()
    be = breakeven(x)
    assert time.perf_counter() - start < 0.02
    assert be.regions[0].gpus_at_start == 4_167
    assert be.regions[-1].gpus_at_start == 7_209
    assert be.stays_cheaper_from_requests_per_day == approx((7_209 * 730 + 1_000) / (D * 730.24 / (21.6 * D)))
    assert be.unlisted_between == (approx((4_167 + MAX_LISTED_STEPS - 1) * 21.6),
                                   be.stays_cheaper_from_requests_per_day)
    assert len(be.regions) == MAX_LISTED_STEPS + 1
    stays = be.stays_cheaper_from_requests_per_day
    below = 7_208 * 21.6  # the top of step 7,208, which wins only its last $0.0001 or so
    assert monthly_savings(x, (below + stays) / 2) < 0 <= monthly_savings(x, stays + 1)
    assert all(monthly_savings(x, v) >= 0 for v in (stays * 1.01, stays * 3, 1e7, 1e8))


def test_fixed_fleet_and_linear_modes_give_one_region_or_none():
    assert breakeven(issue_example(gpu_count=2)).regions == (Region(approx(1_460 / (D * 0.0013)), None, 2, None),)
    assert breakeven(issue_example(gpu_count=1, capacity_rps_per_gpu=0.1)).regions == ()
    assert breakeven(scheduled()).regions == (Region(approx(5_530.7, abs=0.1), None, None, None),)
    assert breakeven(scheduled(gpu_hourly_usd=50.0)).regions == ()
    # A crossing beyond the horizon is still exact, but no region is listed.
    far = breakeven(scheduled(ops_usd_per_month=5e8))
    assert far.status == "at" and far.requests_per_day > 1e8 and far.regions == ()
    assert "not cheaper below" in headline(scheduled(ops_usd_per_month=5e8), 100_000)


def random_inputs(rng: random.Random) -> CostInputs:
    mode = rng.choice(["dedicated", "dedicated", "owned", "scheduled", "serverless"])
    replica = rng.choice([1, 1, 2, 4])
    owned = OwnedHardware(
        server_price_usd=rng.uniform(2e4, 3e5), gpus_per_server=rng.choice([1, 2, 4, 8]),
        depreciation_months=rng.uniform(24, 72), power_kw_per_gpu=rng.uniform(0.2, 1.0),
        power_kw_per_server_base=rng.uniform(0.3, 5.0), pue=rng.uniform(1.1, 1.8),
        electricity_usd_per_kwh=rng.uniform(0.05, 0.3), colocation_usd_per_server_month=rng.uniform(0, 2_500),
    ) if mode == "owned" else None
    return CostInputs(
        requests_per_day=10 ** rng.uniform(2, 7), api_mix=((1.0, 10 ** rng.uniform(-4, -1.5)),),
        gpu_hourly_usd=rng.uniform(0.3, 5.0), capacity_rps_per_gpu=10 ** rng.uniform(-1, 1.5),
        target_utilisation=rng.uniform(0.3, 1.0), peak_to_average=rng.uniform(1.0, 5.0), mode=mode,
        gpu_count=replica * rng.randint(1, 6) if rng.random() < 0.2 else None, gpus_per_replica=replica,
        owned=owned, ops_usd_per_month=rng.choice([0.0, rng.uniform(0, 5_000)]),
        fine_tuning_usd=rng.choice([0.0, rng.uniform(0, 20_000)]), cold_starts_per_day=rng.uniform(0, 50),
        cold_start_seconds=rng.uniform(0, 60),
    )


def check_headline_and_regions(x: CostInputs, rng: random.Random, case: int) -> bool:
    """The headline's verdict, the first crossing and the regions all agree with monthly_savings
    (at today's volume and 20 random ones); True when self-hosting is no dearer today."""
    e = evaluate(x)
    be, today, savings = e.breakeven, x.requests_per_day, e.savings_monthly_usd
    text = headline(x, today)
    verdict = text.split(")")[0]
    assert "pays off above" not in text
    assert e.self_hosting_cheaper == (savings >= 0)
    if savings > 0:
        assert "self-hosting is cheaper" in verdict, (case, x, text)
    elif savings < 0:
        assert "the API is cheaper" in verdict, (case, x, text)
    if be.regions:
        assert be.requests_per_day == be.regions[0].from_requests_per_day
    if be.requests_per_day:
        assert monthly_savings(x, be.requests_per_day) >= -1e-6 * api_monthly_cost(be.requests_per_day, 1)
        assert monthly_savings(x, be.requests_per_day * (1 - 1e-9)) < 0
    skip = be.unlisted_between or (math.inf, math.inf)
    for volume in [today] + [10 ** rng.uniform(0, 8) for _ in range(20)]:
        if not skip[0] <= volume <= skip[1]:
            inside = any(r.includes(volume) for r in be.regions)
            assert inside == (monthly_savings(x, volume) >= 0), (case, x, volume)
    return savings >= 0


def test_headline_and_regions_never_contradict_the_savings():
    rng = random.Random(13)
    verdicts = {"self-hosting": 0, "API": 0}
    for case in range(300):
        cheaper = check_headline_and_regions(random_inputs(rng), rng, case)
        verdicts["self-hosting" if cheaper else "API"] += 1
    assert min(verdicts.values()) > 50  # both verdicts well represented


def test_serverless_with_an_idle_window_never_contradicts_the_savings():
    """Random serverless setups with a per-second price and an idle window (nonlinear in volume,
    crossing found by bisection), fixed GPU counts and no fixed costs included."""
    rng = random.Random(17)
    verdicts = {"self-hosting": 0, "API": 0}
    for case in range(300):
        x = replace(random_inputs(rng), mode="serverless", owned=None,
                    serverless_usd_per_second=rng.uniform(0.3, 6.0) / 3600,
                    serverless_idle_timeout_s=rng.choice([1.0, 5.0, 60.0, 300.0, rng.uniform(0, 1200)]))
        if rng.random() < 0.15:
            x = replace(x, ops_usd_per_month=0.0, fine_tuning_usd=0.0, cold_starts_per_day=0.0)
        cheaper = check_headline_and_regions(x, rng, case)
        verdicts["self-hosting" if cheaper else "API"] += 1
        be = breakeven(x)
        assert len(be.regions) <= 1 and be.unlisted_between is None
        if be.regions:
            assert be.regions[0].to_requests_per_day is None  # once cheaper, cheaper for good
    assert min(verdicts.values()) > 50


# --- whole replicas ---------------------------------------------------------------------------


def test_tensor_parallel_replicas_double_the_step():
    # One replica = 2 GPUs serving 2 × 21,600 = 43,200 requests/day.
    assert gpus_needed(10_000, 1.0, 0.5, 2.0, gpus_per_replica=2) == 2
    assert gpus_needed(43_200, 1.0, 0.5, 2.0, gpus_per_replica=2) == 2
    assert gpus_needed(43_201, 1.0, 0.5, 2.0, gpus_per_replica=2) == 4
    x = stepped(gpus_per_replica=2)
    assert [self_host_cost(x, v).gpus for v in (10_000, 21_601, 43_201, 86_401)] == [2, 2, 4, 6]
    assert self_host_cost(x, 10_000).monthly_usd == approx(2 * 730 + 1_000)
    edge = [p for p in cost_curve(x) if p.requests_per_day == approx(43_200)]
    assert [p.gpus for p in edge] == [2, 4]
    assert not any(p.requests_per_day == approx(21_600) and p.gpus for p in cost_curve(x) if p.gpus == 1)
    # Each replica step gains 43,200 × D × 0.002 − 1,460 = $1,168 on $1,000 of ops: step 1 wins,
    # from (2 × 730 + 1,000) / (D × 0.002) = 40,438 requests/day.
    assert breakeven(x).requests_per_day == approx(2_460 / (D * 0.002), rel=1e-6)
    assert breakeven(x).regions[0].gpus_at_start == 2


def test_a_fixed_count_must_be_whole_replicas():
    with pytest.raises(CostInputError, match=r"multiple of gpus_per_replica \(2\)"):
        stepped(gpus_per_replica=2, gpu_count=3)
    assert self_host_cost(stepped(gpus_per_replica=2, gpu_count=4)).gpus == 4
    with pytest.raises(CostInputError, match="gpus_per_replica"):
        stepped(gpus_per_replica=0)


# --- owned hardware ---------------------------------------------------------------------------


def owned(**changes) -> CostInputs:
    """Servers of 2 GPUs bought for $36,000 over 36 months ($1,000/month) + $100 colocation; 0.5 kW
    per GPU and 0.5 kW per server base, PUE 1.5, $0.20/kWh: a kW for a month costs 1.5 × 730 ×
    0.2 = $219, so each GPU draws $109.50 and each server $1,000 + $100 + $109.50 = $1,209.50.
    One GPU serves 1 request/s = 86,400 requests/day; the API charges $0.0005 a request."""
    hardware = OwnedHardware(server_price_usd=36_000, gpus_per_server=2, depreciation_months=36,
                             power_kw_per_gpu=0.5, power_kw_per_server_base=0.5, pue=1.5,
                             electricity_usd_per_kwh=0.2, colocation_usd_per_server_month=100)
    base = CostInputs(requests_per_day=100_000, api_mix=((1.0, 0.0005),), gpu_hourly_usd=99.0,
                      capacity_rps_per_gpu=1.0, mode="owned", owned=hardware)
    return replace(base, **changes)


def test_owned_hardware_by_hand():
    hardware = owned().owned
    assert hardware.servers(3) == 2
    assert hardware.server_monthly_usd == approx(1_209.5)
    assert hardware.monthly_usd(1) == approx(1_209.5 + 109.5)  # 1,319
    assert hardware.monthly_usd(2) == approx(1_209.5 + 219)  # 1,428.50
    assert hardware.monthly_usd(3) == approx(2 * 1_209.5 + 328.5)  # 2,747.50
    own = self_host_cost(owned(ops_usd_per_month=200))
    assert (own.gpus, own.monthly_usd) == (2, approx(1_428.5 + 200))  # 100,000/day needs 2 GPUs
    assert own.note == MODE_NOTES["owned"]


def test_owned_breakeven_steps_with_the_servers():
    # The API: D × 0.0005 = $0.015208 per (request/day) a month, $1,314 for one GPU's 86,400/day.
    # 1 GPU ($1,319): lost. 2 GPUs ($1,428.50, same server): from 93,929 to 172,800. 3 GPUs open a
    # second server ($2,747.50 > $1,314 × 2 at the step's bottom): from 180,658 on; 4 GPUs ($2,857)
    # and every later step win whole.
    be = breakeven(owned())
    assert be.regions == (Region(approx(1_428.5 / (D * 0.0005)), 172_800, 2, 2),
                          Region(approx(2_747.5 / (D * 0.0005)), None, 3, None))
    assert "2 owned GPUs in 1 server" in be.reason
    x = owned()
    for volume in range(10_000, 2_000_000, 997):
        assert any(r.includes(volume) for r in be.regions) == (monthly_savings(x, volume) >= 0)


def test_owned_mode_needs_hardware_and_ignores_the_hourly_price():
    with pytest.raises(CostInputError, match="owned"):
        owned(owned=None)
    assert self_host_cost(owned()).monthly_usd == self_host_cost(owned(gpu_hourly_usd=0.0)).monthly_usd


def test_owned_defaults_are_cited():
    data = read_json("owned_hardware.json")
    for name, figure in data["figures"].items():
        assert figure["source"] and figure["url"].startswith("https://") and figure["as_of"], name
    hardware = default_owned_hardware()
    assert hardware.gpus_per_server == 8 and hardware.power_kw_per_gpu == 0.7
    assert hardware.power_kw_per_server_base == approx(10.2 - 8 * 0.7)
    assert hardware.colocation_usd_per_server_month == approx(196 * 10.2)
    assert 1.3 <= hardware.pue <= 1.6
    # Energy at full power 24/7 is a minor share of a full server's month.
    energy = 10.2 * hardware.energy_usd_per_kw_month
    assert energy < 0.2 * hardware.monthly_usd(8)


# --- the chart --------------------------------------------------------------------------------


def test_cost_chart_shades_where_self_hosting_is_cheaper():
    x = staircase()
    be = breakeven(x)
    fig = charts.cost_curve(cost_curve(x), be, 80_000)
    shapes = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(s.x0, s.x1) for s in shapes[:2]] == [(approx(68_219.18, abs=1), 69_120), (approx(98_219.18, abs=1), 103_680)]
    assert shapes[-1].x1 == approx(1e8)  # the open-ended region runs to the chart's edge
    assert [s.showlegend for s in shapes].count(True) == 1 and len(shapes) == len(be.regions)
