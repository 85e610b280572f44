"""The cost model: API vs self-hosting per month, the break-even volume, cost curves, growth and
sensitivity. Pure functions over a `CostInputs`. Money in USD; a month is 730 hours = 30.4167 days.

Self-hosting with a fixed GPU count serves at most `capacity_requests_per_day`; volume above that
is "over capacity" and is priced as staying on the API, so both sides always serve every request."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from analysis.present.formatting import compact

HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
SECONDS_PER_DAY = 86_400.0

Mode = Literal["dedicated", "scheduled", "serverless"]
MODE_NOTES: dict[Mode, str] = {
    "dedicated": "Dedicated GPUs running 24/7, sized for the peak hour.",
    "scheduled": "Scheduled batch windows: only valid for work that can wait for the next window "
    "(no interactive latency).",
    "serverless": "Serverless per-second GPU billing: requests after an idle spell wait for a cold "
    "start.",
}


@dataclass(frozen=True)
class CostInputs:
    """Every number the cost model needs. `api_mix` is ((share, USD per request), ...), one pair per
    task type (shares need not sum to 1); `gpu_count` None sizes the fleet automatically."""
    requests_per_day: float
    api_mix: tuple[tuple[float, float], ...]
    gpu_hourly_usd: float
    capacity_rps_per_gpu: float
    target_utilisation: float = 1.0
    peak_to_average: float = 1.0
    mode: Mode = "dedicated"
    gpu_count: int | None = None
    ops_usd_per_month: float = 0.0
    fine_tuning_usd: float = 0.0
    amortisation_months: float = 12.0
    growth_per_month: float = 0.0
    cold_starts_per_day: float = 0.0
    cold_start_seconds: float = 0.0

    def __post_init__(self) -> None:
        mix = self.api_mix
        checks = [
            (self.requests_per_day >= 0, "requests_per_day must be >= 0"),
            (bool(mix) and all(s >= 0 and c >= 0 for s, c in mix), "api_mix needs (share, cost) pairs >= 0"),
            (sum(s for s, _ in mix) > 0, "api_mix shares must not all be 0"),
            (self.capacity_rps_per_gpu > 0, "capacity_rps_per_gpu must be > 0"),
            (0 < self.target_utilisation <= 1, "target_utilisation must be in (0, 1]"),
            (self.peak_to_average >= 1, "peak_to_average must be >= 1 (a peak is never below the mean)"),
            (self.mode in MODE_NOTES, f"mode must be one of {', '.join(MODE_NOTES)}"),
            (self.gpu_count is None or self.gpu_count >= 1, "gpu_count must be >= 1 or None (auto)"),
            (min(self.gpu_hourly_usd, self.ops_usd_per_month, self.fine_tuning_usd, self.cold_starts_per_day,
                 self.cold_start_seconds) >= 0, "prices, costs and cold starts must be >= 0"),
            (self.amortisation_months > 0, "amortisation_months must be > 0"),
            (self.growth_per_month > -1, "growth_per_month must be > -1"),
        ]
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def api_cost_per_request(self) -> float:
        """The blended API cost per request of `api_mix`."""
        return blended_cost_per_request(self.api_mix)


def blended_cost_per_request(mix: Sequence[tuple[float, float]]) -> float:
    """Σ shareᵢ × costᵢ / Σ shareᵢ over (share, cost per request) pairs."""
    return sum(s * c for s, c in mix) / sum(s for s, _ in mix)


def api_monthly_cost(requests_per_day: float, cost_per_request: float) -> float:
    """requests/day × DAYS_PER_MONTH × cost per request."""
    return requests_per_day * DAYS_PER_MONTH * cost_per_request


def peak_requests_per_second(requests_per_day: float, peak_to_average: float) -> float:
    """requests/day / 86,400 × peak-to-average."""
    return requests_per_day / SECONDS_PER_DAY * peak_to_average


def gpus_needed(requests_per_day: float, capacity_rps_per_gpu: float, utilisation: float,
                peak_to_average: float) -> int:
    """max(1, ceil(peak requests/s / (capacity per GPU × utilisation)))."""
    gpus = peak_requests_per_second(requests_per_day, peak_to_average) / (capacity_rps_per_gpu * utilisation)
    # A volume computed back from a step edge lands a hair above the integer: no extra GPU for that.
    return max(1, math.ceil(gpus - 1e-9))


def requests_per_day_served(gpus: int, capacity_rps_per_gpu: float, utilisation: float,
                            peak_to_average: float) -> float:
    """The most requests/day `gpus` serve at the peak: gpus × capacity × utilisation × 86,400 /
    peak-to-average (the inverse of `gpus_needed`)."""
    return gpus * capacity_rps_per_gpu * utilisation * SECONDS_PER_DAY / peak_to_average


def fixed_monthly_cost(ops_usd_per_month: float, fine_tuning_usd: float, amortisation_months: float) -> float:
    """ops + fine-tuning / amortisation months."""
    return ops_usd_per_month + fine_tuning_usd / amortisation_months


def dedicated_monthly_cost(gpus: int, gpu_hourly_usd: float, fixed_usd: float) -> float:
    """GPUs × hourly price × 730 + fixed (ops + amortised fine-tuning)."""
    return gpus * gpu_hourly_usd * HOURS_PER_MONTH + fixed_usd


def gpu_hours_per_month(requests_per_day: float, capacity_rps_per_gpu: float, utilisation: float) -> float:
    """Busy GPU-hours: monthly requests / (capacity × 3600 × utilisation), monthly requests =
    requests/day × DAYS_PER_MONTH. Scheduled mode pays these hours; serverless pays them by the
    second (busy seconds = 3600 × hours)."""
    return requests_per_day * DAYS_PER_MONTH / (capacity_rps_per_gpu * 3600 * utilisation)


def cold_start_monthly_cost(cold_starts_per_day: float, cold_start_seconds: float,
                            gpu_hourly_usd: float) -> float:
    """cold starts/day × DAYS_PER_MONTH × cold-start seconds × price per second (hourly / 3600)."""
    return cold_starts_per_day * DAYS_PER_MONTH * cold_start_seconds * gpu_hourly_usd / 3600


def cost_per_1k(monthly_usd: float, requests_per_day: float) -> float | None:
    """monthly cost / (requests/day × DAYS_PER_MONTH) × 1000; None at zero volume."""
    if requests_per_day <= 0:
        return None
    return monthly_usd / (requests_per_day * DAYS_PER_MONTH) * 1000


@dataclass(frozen=True)
class SelfHostCost:
    """Self-hosting at one volume. `monthly_usd` is the setup's bill; `overflow_api_usd` what the
    over-capacity volume costs on the API; `total_usd` both. `gpus` is the 24/7 fleet (dedicated
    only); `gpu_hours` the GPU-hours billed per month."""
    mode: Mode
    monthly_usd: float
    gpus: int | None
    gpu_hours: float
    served_requests_per_day: float
    over_capacity_requests_per_day: float
    overflow_api_usd: float
    note: str

    @property
    def total_usd(self) -> float:
        """monthly_usd + overflow_api_usd."""
        return self.monthly_usd + self.overflow_api_usd


def capacity_requests_per_day(x: CostInputs) -> float:
    """The most requests/day the setup serves: unbounded (inf) with an automatic GPU count; with
    n fixed GPUs, requests_per_day_served(n, ...) for dedicated and serverless (n = the most
    replicas at the peak), and n × capacity × utilisation × 86,400 for scheduled (the n × 730
    GPU-hours of a month, where work waits out the peaks)."""
    if x.gpu_count is None:
        return math.inf
    peak = 1.0 if x.mode == "scheduled" else x.peak_to_average
    return requests_per_day_served(x.gpu_count, x.capacity_rps_per_gpu, x.target_utilisation, peak)


def _one_gpu(x: CostInputs) -> float:
    return requests_per_day_served(1, x.capacity_rps_per_gpu, x.target_utilisation, x.peak_to_average)


def _fixed(x: CostInputs) -> float:
    # The part of the self-hosting bill that doesn't move with volume.
    fixed = fixed_monthly_cost(x.ops_usd_per_month, x.fine_tuning_usd, x.amortisation_months)
    if x.mode == "serverless":
        fixed += cold_start_monthly_cost(x.cold_starts_per_day, x.cold_start_seconds, x.gpu_hourly_usd)
    return fixed


def self_host_cost(x: CostInputs, requests_per_day: float | None = None,
                   gpus: int | None = None) -> SelfHostCost:
    """Self-hosting cost at `requests_per_day` (default x.requests_per_day), served = min(volume,
    capacity_requests_per_day):
      dedicated:  GPUs = gpus, else x.gpu_count, else gpus_needed(served); monthly =
                  dedicated_monthly_cost(GPUs, hourly, ops + FT / amortisation)
      scheduled:  monthly = gpu_hours_per_month(served) × hourly + ops + FT / amortisation
      serverless: monthly = busy seconds × hourly / 3600 + cold_start_monthly_cost + ops + FT / am.
    The over-capacity volume is priced on the API (overflow_api_usd)."""
    volume = x.requests_per_day if requests_per_day is None else requests_per_day
    served = min(volume, capacity_requests_per_day(x))
    over = volume - served
    overflow = api_monthly_cost(over, x.api_cost_per_request)
    u, c = x.target_utilisation, x.capacity_rps_per_gpu
    if x.mode == "dedicated":
        fleet = gpus or x.gpu_count or gpus_needed(served, c, u, x.peak_to_average)
        monthly = dedicated_monthly_cost(fleet, x.gpu_hourly_usd, _fixed(x))
        hours = fleet * HOURS_PER_MONTH
        return SelfHostCost(x.mode, monthly, fleet, hours, served, over, overflow, MODE_NOTES[x.mode])
    hours = gpu_hours_per_month(served, c, u)
    monthly = hours * x.gpu_hourly_usd + _fixed(x)
    return SelfHostCost(x.mode, monthly, None, hours, served, over, overflow, MODE_NOTES[x.mode])


def monthly_savings(x: CostInputs, requests_per_day: float | None = None) -> float:
    """API monthly cost − self-hosting total (setup + over-capacity volume on the API); > 0 means
    self-hosting saves money."""
    volume = x.requests_per_day if requests_per_day is None else requests_per_day
    return api_monthly_cost(volume, x.api_cost_per_request) - self_host_cost(x, volume).total_usd


def payback_months(x: CostInputs) -> float | None:
    """fine-tuning cost / monthly savings before amortisation (savings + FT / amortisation months);
    None when self-hosting saves nothing even before paying off the fine-tuning."""
    before = monthly_savings(x) + x.fine_tuning_usd / x.amortisation_months
    return x.fine_tuning_usd / before if before > 0 else None


@dataclass(frozen=True)
class BreakEven:
    """The smallest requests/day at which self-hosting costs no more than the API ('at'), the floor
    when it already does there ('always'), or None ('never'), with the reason in words."""
    requests_per_day: float | None
    status: Literal["at", "never", "always"]
    reason: str


def _first_step(margin: float, fixed: float) -> int:
    """Smallest k >= 1 with k × margin >= fixed (margin > 0)."""
    k = max(1, math.ceil(fixed / margin))
    while k > 1 and (k - 1) * margin >= fixed:  # the float quotient's ceil can be one off
        k -= 1
    while k * margin < fixed:
        k += 1
    return k


def breakeven(x: CostInputs, floor_requests_per_day: float = 0.0) -> BreakEven:
    """Smallest v >= floor with self-hosting total(v) <= API(v) = v × DAYS_PER_MONTH × a (a = blended
    API cost per request), solved exactly:
      dedicated: on each GPU-count step k, self-hosting is the constant S_k = k × H + F (H = hourly ×
        730, F = fixed) over volumes up to v_k = k × v₁ (v₁ = requests_per_day_served(1, ...)); the
        API reaches S_k at S_k / (DAYS_PER_MONTH × a), inside the step iff k × (v₁ × DAYS_PER_MONTH ×
        a − H) >= F. The first such k (from the floor's step, or the fixed count) gives the answer;
        if the API's bill for v₁ requests/day is no more than H, no step ever qualifies: 'never'.
      scheduled / serverless: self-hosting is linear, s × v + F with s = hourly × DAYS_PER_MONTH /
        (3600 × capacity × utilisation), so v = F / (DAYS_PER_MONTH × a − s), 'never' if s >= that.
    'never' also when v exceeds capacity_requests_per_day (a fixed count); 'always' when v <= floor."""
    floor = floor_requests_per_day
    api_slope = DAYS_PER_MONTH * x.api_cost_per_request
    fixed, cap = _fixed(x), capacity_requests_per_day(x)
    if self_host_cost(x, floor).total_usd <= api_monthly_cost(floor, x.api_cost_per_request):
        return BreakEven(floor, "always", f"self-hosting already costs no more than the API at "
                                          f"{floor:,.0f} requests/day")
    if api_slope <= 0:
        return BreakEven(None, "never", "the API costs nothing per request")
    if x.mode == "dedicated":
        hourly_month = x.gpu_hourly_usd * HOURS_PER_MONTH
        if x.gpu_count is not None:
            steps = x.gpu_count
        else:
            one_gpu = _one_gpu(x)
            margin = one_gpu * api_slope - hourly_month
            if margin <= 0:
                return BreakEven(None, "never", (
                    f"one GPU's worth of traffic ({one_gpu:,.0f} requests/day) costs "
                    f"${one_gpu * api_slope:,.2f}/month on the API, no more than the GPU's "
                    f"${hourly_month:,.2f}/month: the API stays cheaper at every volume"))
            steps = max(_first_step(margin, fixed), self_host_cost(x, floor).gpus or 1)
        cost = dedicated_monthly_cost(steps, x.gpu_hourly_usd, fixed)
        volume = cost / api_slope
        setup = f"self-hosting on {steps} GPU{'s' if steps > 1 else ''} (${cost:,.2f}/month)"
    else:
        per_volume = gpu_hours_per_month(1, x.capacity_rps_per_gpu, x.target_utilisation) * x.gpu_hourly_usd
        if per_volume >= api_slope:
            return BreakEven(None, "never", (
                f"a request costs ${per_volume / DAYS_PER_MONTH:.6f} in GPU time, no less than the "
                f"API's ${x.api_cost_per_request:.6f}: the API stays cheaper at every volume"))
        volume = fixed / (api_slope - per_volume)
        setup = f"self-hosting ({x.mode}, ${fixed:,.2f}/month fixed)"
    if volume > cap:
        return BreakEven(None, "never", (
            f"{setup} only matches the API at {volume:,.0f} requests/day, beyond the {cap:,.0f} "
            f"requests/day that the fixed {x.gpu_count} GPU(s) serve at {x.target_utilisation:.0%} "
            "utilisation"))
    return BreakEven(volume, "at", f"{setup} costs what the API charges at {volume:,.0f} requests/day")


def headline(x: CostInputs, today_requests_per_day: float) -> str:
    """The answer in one sentence: breakeven(x) against today's volume, e.g. "Self-hosting pays off
    above 18.5k requests/day; today you run 10k." (or why it never / always does)."""
    be, today = breakeven(x), compact(today_requests_per_day)
    if be.status == "never":
        return f"Self-hosting does not pay off at any volume in this setup; today you run {today} requests/day."
    if be.status == "always":
        return f"Self-hosting costs no more than the API at any volume; today you run {today} requests/day."
    return f"Self-hosting pays off above {compact(be.requests_per_day)} requests/day; today you run {today}."


@dataclass(frozen=True)
class Economics:
    """Both sides at today's volume, the break-even, savings, payback and cost per 1k requests
    (self-hosting per 1k served requests)."""
    requests_per_day: float
    api_monthly_usd: float
    self_host: SelfHostCost
    savings_monthly_usd: float
    payback_months: float | None
    api_per_1k_usd: float
    self_host_per_1k_usd: float | None
    breakeven: BreakEven


def evaluate(x: CostInputs, floor_requests_per_day: float = 0.0) -> Economics:
    """api_monthly_cost, self_host_cost, monthly_savings, payback_months, cost_per_1k on both
    sides (API: 1000 × a) and breakeven, all at x.requests_per_day."""
    own = self_host_cost(x)
    return Economics(
        requests_per_day=x.requests_per_day,
        api_monthly_usd=api_monthly_cost(x.requests_per_day, x.api_cost_per_request),
        self_host=own,
        savings_monthly_usd=monthly_savings(x),
        payback_months=payback_months(x),
        api_per_1k_usd=1000 * x.api_cost_per_request,
        self_host_per_1k_usd=cost_per_1k(own.monthly_usd, own.served_requests_per_day),
        breakeven=breakeven(x, floor_requests_per_day),
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
    for an automatic dedicated fleet, each GPU-step edge v_k = k × v₁ inside the range (the first
    `max_steps`) twice, at k then k + 1 GPUs, so a chart draws the jump as a vertical line; and the
    capacity edge of a fixed count. Sorted by volume, then GPUs."""
    if not 0 < start < stop:
        raise ValueError(f"need 0 < start < stop, got {start}, {stop}")
    lo, hi = math.log10(start), math.log10(stop)
    n = round((hi - lo) * points_per_decade)
    points = [_point(x, 10 ** (lo + (hi - lo) * i / n)) for i in range(n + 1)]
    cap = capacity_requests_per_day(x)
    if start <= cap <= stop:
        points.append(_point(x, cap))
    if x.mode == "dedicated" and x.gpu_count is None:
        one_gpu = _one_gpu(x)
        first = max(1, math.ceil(start / one_gpu))
        for k in range(first, first + max_steps):
            if k * one_gpu > stop:
                break
            points += [_point(x, k * one_gpu, k), _point(x, k * one_gpu, k + 1)]
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
    monthly savings there."""
    param: str
    low_value: float
    high_value: float
    breakeven_low: float | None
    breakeven_high: float | None
    savings_low: float
    savings_high: float


def _scaled(x: CostInputs, param: str, factor: float) -> tuple[CostInputs, float]:
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
