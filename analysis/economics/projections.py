"""The comparison drawn over volume and time: the cost curve (both sides from 10 to 1e8
requests/day), the growth projection (the next months at the scenario's growth) and the sensitivity
of the savings to each assumption (±swing). Over `analysis.economics.cost_model` and
`analysis.economics.comparison`."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from analysis.economics.comparison import breakeven
from analysis.economics.cost_model import (
    CostInputs,
    api_monthly_cost,
    capacity_requests_per_day,
    monthly_savings,
    replica_requests_per_day,
    self_host_cost,
    sized_for_peak,
)


@dataclass(frozen=True)
class CurvePoint:
    """Monthly cost of both sides at one volume; self_host_usd includes over-capacity volume priced
    on the API."""
    requests_per_day: float
    api_usd: float
    self_host_usd: float
    gpus: int | None
    over_capacity_requests_per_day: float


def cost_curve(x: CostInputs, start: float = 10.0, stop: float = 1e8, points_per_decade: int = 10,
               max_steps: int = 200) -> list[CurvePoint]:
    """Both monthly costs on the log grid 10^(log10 start + i / points_per_decade) up to stop, plus,
    for an automatic dedicated or owned fleet, each replica-step edge v_k = k × V (V = one
    replica's volume) inside the range (the first `max_steps`) twice, at k then k + 1 replicas, so
    a chart draws the jump as a vertical line; and the capacity edge of a fixed count. Sorted by
    volume, then GPUs."""
    if not 0 < start < stop:
        raise ValueError(f"need 0 < start < stop, got {start}, {stop}")
    lo, hi = math.log10(start), math.log10(stop)
    n = round((hi - lo) * points_per_decade)
    points = [_point(x, 10 ** (lo + (hi - lo) * i / n)) for i in range(n + 1)]
    cap = capacity_requests_per_day(x)
    if start <= cap <= stop:
        points.append(_point(x, cap))
    if sized_for_peak(x) and x.gpu_count is None:
        volume, r = replica_requests_per_day(x), x.gpus_per_replica
        first = max(1, math.ceil(start / volume))
        for k in range(first, first + max_steps):
            if k * volume > stop:
                break
            points += [_point(x, k * volume, k * r), _point(x, k * volume, (k + 1) * r)]
    return sorted(points, key=lambda p: (p.requests_per_day, p.gpus or 0))


def _point(x: CostInputs, volume: float, gpus: int | None = None) -> CurvePoint:
    own = self_host_cost(x, volume, gpus)
    api = api_monthly_cost(volume, x.api_cost_per_request)
    return CurvePoint(volume, api, own.total_usd, own.gpus, own.over_capacity_requests_per_day)


@dataclass(frozen=True)
class GrowthPoint:
    """One month of the projection (month 0 = this month)."""
    month: int
    requests_per_day: float
    api_usd: float
    self_host_usd: float
    gpus: int | None
    savings_usd: float
    cumulative_savings_usd: float


def growth_projection(x: CostInputs, months: int = 12) -> list[GrowthPoint]:
    """For m = 0 .. months−1: volume v_m = requests/day × (1 + growth per month)^m, both monthly
    costs at v_m (self-hosting total incl. over-capacity), savings = API − self-hosting and their
    running sum."""
    rows, running = [], 0.0
    for m in range(months):
        volume = x.requests_per_day * (1 + x.growth_per_month) ** m
        api, own = api_monthly_cost(volume, x.api_cost_per_request), self_host_cost(x, volume)
        running += api - own.total_usd
        rows.append(GrowthPoint(m, volume, api, own.total_usd, own.gpus, api - own.total_usd, running))
    return rows


@dataclass(frozen=True)
class SensitivityRow:
    """One bar of a tornado chart: the parameter at low/high and the break-even (None: never) and
    monthly savings there. In mode serverless with a serverless price, 'gpu_hourly_usd' swings that
    price per GPU-second and reports it per hour (× 3600)."""
    param: str
    low_value: float
    high_value: float
    breakeven_low: float | None
    breakeven_high: float | None
    savings_low: float
    savings_high: float


def _scaled(x: CostInputs, param: str, factor: float) -> tuple[CostInputs, float]:
    if param == "gpu_hourly_usd" and x.mode == "serverless" and x.serverless_usd_per_second is not None:
        # The GPU price serverless pays is its price per second: reported per hour (× 3600).
        price = x.serverless_usd_per_second * factor
        return replace(x, serverless_usd_per_second=price, gpu_hourly_usd=x.gpu_hourly_usd * factor), price * 3600
    if param == "api_cost_per_request":
        scaled = replace(x, api_mix=tuple((s, c * factor) for s, c in x.api_mix))
        return scaled, scaled.api_cost_per_request
    value = getattr(x, param) * factor
    if param == "target_utilisation":
        value = min(1.0, value)
    return replace(x, **{param: value}), value


SENSITIVITY_PARAMS = ("gpu_hourly_usd", "capacity_rps_per_gpu", "target_utilisation",
                      "api_cost_per_request", "requests_per_day")


def sensitivity(x: CostInputs, swing: float = 0.5,
                floor_requests_per_day: float = 0.0) -> list[SensitivityRow]:
    """For each of SENSITIVITY_PARAMS, the value × (1 − swing) and × (1 + swing) (utilisation
    clamped to <= 1), with breakeven(...).requests_per_day and monthly_savings there; everything
    else as in x. Volume moves the savings only: the break-even does not depend on it."""
    rows = []
    for param in SENSITIVITY_PARAMS:
        low, low_value = _scaled(x, param, 1 - swing)
        high, high_value = _scaled(x, param, 1 + swing)
        rows.append(SensitivityRow(
            param, low_value, high_value,
            breakeven(low, floor_requests_per_day).requests_per_day,
            breakeven(high, floor_requests_per_day).requests_per_day,
            monthly_savings(low), monthly_savings(high),
        ))
    return rows
