"""API vs self-hosting compared over every volume: the ranges where self-hosting is cheaper
(`cheaper_regions`, exact per replica step), the break-even, today's verdict and the headline that
states it first, and `evaluate` (both sides at today's volume). Over `analysis.economics.cost_model`.
On GPU steps self-hosting wins on a set of volume intervals, not above one point, so no headline says
"pays off above X" when self-hosting loses at today's volume."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from analysis.economics.cost_model import (
    DAYS_PER_MONTH,
    HOURS_PER_MONTH,
    SECONDS_PER_DAY,
    CostInputs,
    SelfHostCost,
    api_monthly_cost,
    capacity_requests_per_day,
    cost_per_1k,
    fixed_monthly_usd,
    fleet_monthly_cost,
    gpu_hours_per_month,
    gpus_needed,
    monthly_savings,
    payback_months,
    replica_requests_per_day,
    self_host_cost,
    serverless_usd_per_second,
    sized_for_peak,
)
from analysis.present.formatting import compact, usd

# Regions are listed up to this volume (the cost curve's default range), or today's if higher.
HORIZON_REQUESTS_PER_DAY = 1e8
# Steps examined one by one where winning is intermittent; the rest is solved in closed form.
MAX_LISTED_STEPS = 200


@dataclass(frozen=True)
class Region:
    """Volumes from `from_requests_per_day` to `to_requests_per_day` (both included) where
    self-hosting costs no more than the API; `to_requests_per_day` None: open-ended, self-hosting
    stays cheaper beyond the horizon too. `gpus_at_start` / `gpus_at_end`: the fleet at either end
    (None for scheduled and serverless, and at an open end)."""
    from_requests_per_day: float
    to_requests_per_day: float | None
    gpus_at_start: int | None
    gpus_at_end: int | None

    def includes(self, requests_per_day: float) -> bool:
        """from <= volume <= to (no upper bound when open-ended)."""
        top = self.to_requests_per_day
        return self.from_requests_per_day <= requests_per_day and (top is None or requests_per_day <= top)


def default_horizon(today_requests_per_day: float) -> float:
    """How far up regions are listed: max(HORIZON_REQUESTS_PER_DAY = 1e8, today's volume). The
    first crossing and where self-hosting stays cheaper are exact at any volume."""
    return max(HORIZON_REQUESTS_PER_DAY, today_requests_per_day)


def _smallest_in_class(predicate: Callable[[int], bool], residue: int, period: int, estimate: float,
                       lowest: int) -> int:
    """Smallest k >= lowest with k ≡ residue (mod period) and predicate(k), for a predicate that
    is monotone within the class and whose real threshold is about `estimate`: start at the
    estimate and correct the float error by a few steps either way."""
    k = max(lowest, math.ceil(estimate))
    k += (residue - k) % period
    # Below ~1e15 requests/day the float estimate is at most a step or two off; beyond, exactness is moot.
    for _ in range(64):
        if k - period < lowest or not predicate(k - period):
            break
        k -= period
    for _ in range(64):
        if predicate(k):
            break
        k += period
    return k


@dataclass(frozen=True)
class _Staircase:
    """Self-hosting on an automatically sized fleet of whole replicas. Step k (k replicas, k × r
    GPUs) serves volumes in ((k − 1) × V, k × V], V = `replica_requests_per_day`, for the constant
    cost(k) = fleet cost + fixed F. The fleet cost is k × average + server × ((−k × r) mod G) / G:
    linear in k plus the unfilled part of the last owned server (G GPUs per server; G = 1 and
    server = 0 for rented GPUs), a pattern that repeats every P = G / gcd(G, r) steps. Within one
    residue class of k mod P the unfilled share q = ((−k × r) mod G) / G is fixed, so the API's
    bill at the step's top minus cost(k) is k × m − F − server × q, m = s × V − average (s = API
    dollars per month per request/day): linear in k. Step k wins at its top from k >= (F + server × q) / m, and wins whole (the API
    already costs more at the step's bottom) from k >= (F + server × q + s × V) / m; so from the
    largest of those whole-step thresholds on, self-hosting stays cheaper for good."""
    x: CostInputs
    volume: float
    api_slope: float
    fixed: float
    average: float
    server: float
    gpus_per_server: int

    @classmethod
    def of(cls, x: CostInputs) -> _Staircase:
        r = x.gpus_per_replica
        if x.mode == "owned":
            hardware = x.owned
            server, per_server = hardware.server_monthly_usd, hardware.gpus_per_server
            average = r * (hardware.gpu_monthly_usd + server / per_server)
        else:
            average, server, per_server = r * x.gpu_hourly_usd * HOURS_PER_MONTH, 0.0, 1
        return cls(x, replica_requests_per_day(x), DAYS_PER_MONTH * x.api_cost_per_request, fixed_monthly_usd(x), average,
                   server, per_server)

    @property
    def margin(self) -> float:
        """m = s × V − average: what each replica gains on the API on average."""
        return self.api_slope * self.volume - self.average

    @property
    def period(self) -> int:
        return self.gpus_per_server // math.gcd(self.gpus_per_server, self.x.gpus_per_replica)

    def cost(self, k: int) -> float:
        return fleet_monthly_cost(self.x, k * self.x.gpus_per_replica) + self.fixed

    def wins_at_top(self, k: int) -> bool:
        return self.cost(k) <= self.api_slope * k * self.volume

    def wins_whole(self, k: int) -> bool:
        return self.cost(k) <= self.api_slope * (k - 1) * self.volume

    def thresholds(self, predicate: Callable[[int], bool], extra: float, lowest: int) -> list[int]:
        """Per residue class, the smallest k >= lowest where predicate holds, estimated as
        (F + extra + server × q) / m."""
        r, per_server = self.x.gpus_per_replica, self.gpus_per_server
        return [_smallest_in_class(predicate, residue, self.period,
                                   (self.fixed + extra + self.server * ((-residue * r) % per_server) / per_server)
                                   / self.margin, lowest)
                for residue in range(1, self.period + 1)]


@dataclass(frozen=True)
class _Solution:
    regions: tuple[Region, ...]
    first: float | None  # smallest volume >= start where self-hosting costs no more, at any volume
    stays_from: float | None  # from here on self-hosting never costs more, at any volume
    unlisted: tuple[float, float] | None
    reason: str


def _setup(x: CostInputs, gpus: int, cost: float) -> str:
    fleet = f"{gpus} GPU{'s' if gpus > 1 else ''}"
    if x.mode == "owned":
        servers = x.owned.servers(gpus)
        fleet = f"{gpus} owned GPU{'s' if gpus > 1 else ''} in {servers} server{'s' if servers > 1 else ''}"
    return f"self-hosting on {fleet} (${cost:,.2f}/month)"


def _crossed(setup: str, first: float, start: float) -> str:
    if first <= start and start > 0:
        return f"self-hosting already costs no more than the API at {start:,.0f} requests/day"
    return f"{setup} costs what the API charges at {first:,.0f} requests/day"


def _never(reason: str) -> _Solution:
    return _Solution((), None, None, None, reason)


def _solve_staircase(x: CostInputs, start: float, horizon: float) -> _Solution:
    """The regions of an automatically sized fleet (see `_Staircase`): the first winning step from
    start's step on and the step K from which every step wins whole come in closed form (O(P));
    only the steps in between, where winning is intermittent, are walked, at most
    MAX_LISTED_STEPS of them and none above the horizon."""
    steps = _Staircase.of(x)
    r, volume, slope = x.gpus_per_replica, steps.volume, steps.api_slope
    if steps.margin <= 0:
        unit = "GPU" if r == 1 else f"{r}-GPU replica"
        share = " (with its share of the server, power and colocation)" if x.mode == "owned" else ""
        return _never(f"one {unit}'s worth of traffic ({volume:,.0f} requests/day) costs "
                      f"${volume * slope:,.2f}/month on the API, no more than the {unit}'s "
                      f"${steps.average:,.2f}/month{share}: the API stays cheaper at every volume")
    start_step = gpus_needed(start, x.capacity_rps_per_gpu, x.target_utilisation, x.peak_to_average, r) // r
    first_step = min(steps.thresholds(steps.wins_at_top, 0.0, start_step))
    first = max(start, steps.cost(first_step) / slope)
    reason = _crossed(_setup(x, first_step * r, steps.cost(first_step)), first, start)
    stays_step = max(steps.thresholds(steps.wins_whole, slope * volume, 1)) - steps.period + 1
    stays_from = steps.cost(stays_step - 1) / slope if stays_step > 1 else 0.0
    if stays_from <= start:
        return _Solution((Region(start, None, start_step * r, None),), first, stays_from, None, reason)
    regions: list[Region] = []
    unlisted = None
    for k in range(first_step, stays_step - 1):
        bottom, top = (k - 1) * volume, k * volume
        if bottom > horizon:
            break
        if k - first_step == MAX_LISTED_STEPS:
            unlisted = (bottom, min(stays_from, horizon))
            break
        cost = steps.cost(k)
        if cost > slope * top:
            continue
        if regions and regions[-1].to_requests_per_day == bottom and cost <= slope * bottom:
            regions[-1] = replace(regions[-1], to_requests_per_day=top, gpus_at_end=k * r)
        else:
            regions.append(Region(max(start, bottom, cost / slope), top, k * r, k * r))
    if stays_from <= horizon:
        regions.append(Region(stays_from, None, (stays_step - 1) * r, None))
    return _Solution(tuple(regions), first, stays_from, unlisted, reason)


def _busy_cost_per_volume(x: CostInputs) -> float:
    """GPU dollars per month per request/day of busy time: scheduled hourly × DAYS_PER_MONTH /
    (3600 × capacity × utilisation); serverless the same at its price per GPU-second × 3600."""
    hourly = serverless_usd_per_second(x) * 3600 if x.mode == "serverless" else x.gpu_hourly_usd
    return gpu_hours_per_month(1, x.capacity_rps_per_gpu, x.target_utilisation) * hourly


def _solve_linear(x: CostInputs, start: float, horizon: float) -> _Solution:
    """Scheduled, serverless without an idle window, and any fixed fleet: savings(v) = gain ×
    min(v, capacity) − cost, with gain = s − GPU dollars per month per request/day
    (`_busy_cost_per_volume`) and cost = F, or gain = s and cost = the fixed fleet's whole bill.
    Self-hosting wins from cost / gain on, for good (past capacity the savings stay constant), if
    that is within capacity; else never."""
    slope, cap = DAYS_PER_MONTH * x.api_cost_per_request, capacity_requests_per_day(x)
    gpus = x.gpu_count if sized_for_peak(x) else None
    if gpus is not None:
        gain, cost = slope, fleet_monthly_cost(x, gpus) + fixed_monthly_usd(x)
        setup = _setup(x, gpus, cost)
    else:
        per_volume = _busy_cost_per_volume(x)
        gain, cost = slope - per_volume, fixed_monthly_usd(x)
        if gain <= 0:
            return _never(f"a request costs ${per_volume / DAYS_PER_MONTH:.6f} in GPU time, no less than "
                          f"the API's ${x.api_cost_per_request:.6f}: the API stays cheaper at every volume")
        setup = f"self-hosting ({x.mode}, ${cost:,.2f}/month fixed)"
    crossing = cost / gain
    if crossing > cap:
        return _never(f"{setup} only matches the API at {crossing:,.0f} requests/day, beyond the {cap:,.0f} "
                      f"requests/day that the fixed {x.gpu_count} GPU(s) serve at {x.target_utilisation:.0%} "
                      "utilisation")
    first = max(start, crossing)
    regions = (Region(first, None, gpus, None),) if first <= horizon else ()
    return _Solution(regions, first, crossing, None, _crossed(setup, first, start))


# Bisection steps for a serverless crossing: enough to pin it to 1e-13 of its value from any bracket.
_BISECTION_STEPS = 200


def _first_nonnegative(savings: Callable[[float], float], low: float, high: float) -> float:
    """The smallest volume in (low, high] with savings >= 0, for savings < 0 at low and >= 0 at
    high that change sign once in between: bisection down to 1e-13 of the volume (or adjacent
    floats), returning the end where savings >= 0 holds as computed."""
    for _ in range(_BISECTION_STEPS):
        if high - low <= 1e-13 * high:
            break
        middle = (low + high) / 2
        if middle in (low, high):
            break
        if savings(middle) >= 0:
            high = middle
        else:
            low = middle
    return high


def _solve_serverless(x: CostInputs, start: float, horizon: float) -> _Solution:
    """Serverless with an idle window T > 0 (`serverless_billed_seconds_per_day`), solved exactly
    up to a bisection to 1e-13. With s = DAYS_PER_MONTH × API cost per request, p the price per
    GPU-second, F the fixed costs (cold starts, ops, fine-tuning), V = r × 86,400 × capacity ×
    utilisation the volume that keeps one container busy all day, k = 1 / V and a = T / 86,400:

      savings(v) = s × v − p × DAYS_PER_MONTH × r × 86,400 × (1 − (1 − k v) e^(−a v)) − F   (v < V)
      savings(v) = m × v − F,  m = s − p × DAYS_PER_MONTH / (capacity × utilisation)          (v >= V)

    and constant past a fixed count's capacity. The first line is convex (the idle tail grows ever
    slower), the second linear with the busy-time margin m, no more than the first line's slope at V
    (the idle tail stops growing there). So with m <= 0 self-hosting never wins (savings <= max(−F, m V − F) <= 0 before V,
    falling after; only v = 0 can tie with F = 0). With m > 0 savings fall to a minimum at v*
    (0 when they rise from the start; found by bisecting the sign of the closed-form slope) and
    rise from there: self-hosting wins from the one crossing β >= v* on, for good, found by
    bisection on [v*, V] if savings(V) >= 0 and else β = F / m as in `_solve_linear` (never when
    that lies beyond a fixed count's capacity). Where F = 0 and savings dip first, the isolated
    v = 0 (both sides cost nothing) is not listed."""
    api = x.api_cost_per_request
    slope, cap = DAYS_PER_MONTH * api, capacity_requests_per_day(x)
    price, idle, fixed = serverless_usd_per_second(x), x.serverless_idle_timeout_s, fixed_monthly_usd(x)
    per_volume = _busy_cost_per_volume(x)
    setup = f"serverless at ${price:.6f}/GPU-second with a {idle:g} s idle window (${fixed:,.2f}/month fixed)"
    margin = slope - per_volume
    if margin <= 0:
        return _never(f"a request costs ${per_volume / DAYS_PER_MONTH:.6f} in serverless GPU time before any idle "
                      f"tail, no less than the API's ${api:.6f}: the API stays cheaper at every volume")
    container_day = x.gpus_per_replica * SECONDS_PER_DAY
    full = container_day * x.capacity_rps_per_gpu * x.target_utilisation  # V: one container busy all day
    k, a = 1 / full, idle / SECONDS_PER_DAY

    def savings(volume: float) -> float:
        return monthly_savings(x, volume)

    def rising(volume: float) -> bool:
        # d savings / dv > 0 below V: s − p × D × r × 86,400 × e^(−a v) × (k + a (1 − k v)).
        return slope - price * DAYS_PER_MONTH * container_day * math.exp(-a * volume) * (k + a * (1 - k * volume)) > 0

    top = min(full, cap)
    if rising(0.0):
        bottom = 0.0
    elif not rising(top):
        bottom = top
    else:
        low, high = 0.0, top
        for _ in range(_BISECTION_STEPS):
            middle = (low + high) / 2
            if middle in (low, high):
                break
            low, high = (low, middle) if rising(middle) else (middle, high)
        bottom = high
    if savings(bottom) >= 0:
        crossing = bottom
    elif savings(top) >= 0:
        crossing = _first_nonnegative(savings, bottom, top)
    elif cap > full:
        crossing = fixed / margin
        if crossing > cap:
            crossing = math.inf
    else:
        crossing = math.inf
    if crossing == math.inf:
        return _never(f"{setup} costs more than the API up to the {cap:,.0f} requests/day that the fixed "
                      f"{x.gpu_count} GPU(s) serve at {x.target_utilisation:.0%} utilisation; above that "
                      "the volume stays on the API")
    first = max(start, crossing)
    regions = (Region(first, None, None, None),) if first <= horizon else ()
    return _Solution(regions, first, crossing, None, _crossed(setup, first, start))


def _solve(x: CostInputs, start: float, horizon: float) -> _Solution:
    if x.api_cost_per_request <= 0:
        return _never("the API costs nothing per request")
    if sized_for_peak(x) and x.gpu_count is None:
        return _solve_staircase(x, start, horizon)
    if x.mode == "serverless" and x.serverless_idle_timeout_s > 0:
        return _solve_serverless(x, start, horizon)
    return _solve_linear(x, start, horizon)


def cheaper_regions(x: CostInputs, start: float = 0.0, horizon: float | None = None) -> list[Region]:
    """The volume intervals from `start` up to `horizon` (default `default_horizon` of today's
    volume) where self-hosting costs no more than the API, solved exactly, adjacent ones merged;
    the last is open-ended (to None) where self-hosting stays cheaper for good. An automatically
    sized dedicated or owned fleet wins on part of each replica step ([max(S_k / s, v_{k−1}), v_k]
    on step k, S_k its bill, s = DAYS_PER_MONTH × API cost per request, v_k = k × one replica's
    volume), so its regions can be many; scheduled, serverless and fixed fleets give one region or
    none. At most MAX_LISTED_STEPS intermittent steps are listed: see BreakEven.unlisted_between."""
    return list(_solve(x, start, default_horizon(x.requests_per_day) if horizon is None else horizon).regions)


@dataclass(frozen=True)
class BreakEven:
    """Where self-hosting costs no more than the API. `requests_per_day`: the first crossing, the
    smallest volume >= the floor where it does (None: at no volume); `status`: 'always' when it
    does at every volume from the floor on, 'never' when at none, else 'at'; `reason` in words.
    `regions` lists every such interval up to `horizon_requests_per_day` (`cheaper_regions`);
    `stays_cheaper_from_requests_per_day` is where self-hosting stops losing for good (None:
    never), exact at any volume; `unlisted_between` (from, to) a stretch where the intervals
    alternate over more than MAX_LISTED_STEPS steps and are not listed (None: the list is
    complete)."""
    requests_per_day: float | None
    status: Literal["at", "never", "always"]
    reason: str
    regions: tuple[Region, ...]
    stays_cheaper_from_requests_per_day: float | None
    unlisted_between: tuple[float, float] | None
    horizon_requests_per_day: float


def breakeven(x: CostInputs, floor_requests_per_day: float = 0.0,
              horizon_requests_per_day: float | None = None) -> BreakEven:
    """The first crossing from the floor on, where self-hosting stays cheaper, and the regions up to
    the horizon (default `default_horizon(x.requests_per_day)`), as in `cheaper_regions`:
      dedicated / owned, automatic fleet: with s = DAYS_PER_MONTH × API cost per request, V one
        replica's volume and S_k the bill on k replicas, step k wins where s × v >= S_k, i.e. from
        S_k / s up to its top k × V; the first such k and the step from which every step wins whole
        are solved per residue class (see `_Staircase`). 'never' if a replica's traffic costs no
        more on the API than the replica (m = s × V − average cost per replica <= 0).
      scheduled / serverless without an idle window / a fixed fleet: linear, see `_solve_linear`;
        'never' if the GPU time per request costs no less than the API or the crossing lies beyond
        the fixed capacity.
      serverless with an idle window: convex then linear in volume, one crossing found by
        bisection, see `_solve_serverless`."""
    floor = floor_requests_per_day
    horizon = default_horizon(x.requests_per_day) if horizon_requests_per_day is None else horizon_requests_per_day
    solved = _solve(x, floor, horizon)
    if solved.first is None:
        status = "never"
    elif solved.stays_from is not None and solved.stays_from <= floor:
        status = "always"
    else:
        status = "at"
    return BreakEven(
        requests_per_day=solved.first,
        status=status,
        reason=solved.reason,
        regions=solved.regions,
        stays_cheaper_from_requests_per_day=solved.stays_from,
        unlisted_between=solved.unlisted,
        horizon_requests_per_day=horizon,
    )


SHOWN_REGIONS = 3


def _interval(start: float, end: float) -> str:
    """'68.2k–69.1k', with up to 3 decimals where both ends would read the same ('90.007k–90.014k'),
    and one volume where they still do (an interval narrower than the rounding: '90,007')."""
    for digits in range(1, 4):
        if compact(start, digits) != compact(end, digits):
            return f"{compact(start, digits)}–{compact(end, digits)}"
    return f"{start:,.0f}" if f"{start:,.0f}" == f"{end:,.0f}" else f"{start:,.0f}–{end:,.0f}"


def _where_cheaper(be: BreakEven) -> str:
    """'at 68.2k–69.1k, 98.2k–103.7k, 128.2k–138.2k, 5 more intervals up to 241.9k and from
    278.2k requests/day on'."""
    bounded = [r for r in be.regions if r.to_requests_per_day is not None]
    parts = [_interval(r.from_requests_per_day, r.to_requests_per_day) for r in bounded[:SHOWN_REGIONS]]
    hidden = len(bounded) - SHOWN_REGIONS
    if be.unlisted_between is not None:
        parts.append(f"more intervals up to {compact(be.unlisted_between[1])}")
    elif hidden > 0:
        parts.append(f"{hidden} more interval{'s' if hidden > 1 else ''} up to "
                     f"{compact(bounded[-1].to_requests_per_day)}")
    last = be.regions[-1]
    if last.to_requests_per_day is None:
        parts.append(f"from {compact(last.from_requests_per_day)}")
    listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    prefix = "" if listed.startswith("from") else "at "
    if last.to_requests_per_day is None:
        return f"{prefix}{listed} requests/day on"
    return f"{prefix}{listed} requests/day (listed up to {compact(be.horizon_requests_per_day)})"


def headline(x: CostInputs, today_requests_per_day: float) -> str:
    """The answer in two sentences, today's verdict first (from both monthly costs at today's
    volume, so it always agrees with `monthly_savings`), then where self-hosting is cheaper, e.g.
    "At today's 80k requests/day the API is cheaper by $1.1k/month ($4.9k vs $6k self-hosting).
    Self-hosting is cheaper at 68.2k–69.1k, 98.2k–103.7k, 128.2k–138.2k, 4 more intervals up to
    276.5k and from 278.2k requests/day on." Regions up to `default_horizon(today)`."""
    today = today_requests_per_day
    be = breakeven(x, horizon_requests_per_day=default_horizon(today))
    api = api_monthly_cost(today, x.api_cost_per_request)
    own = self_host_cost(x, today).total_usd
    at = f"At today's {compact(today)} requests/day"
    if own < api:
        verdict = f"{at} self-hosting is cheaper by {usd(api - own)}/month ({usd(own)} vs {usd(api)} on the API)"
    elif own == api:
        verdict = f"{at} self-hosting costs the same as the API ({usd(own)}/month)"
    else:
        verdict = f"{at} the API is cheaper by {usd(own - api)}/month ({usd(api)} vs {usd(own)} self-hosting)"
    if be.status == "never":
        return f"{verdict}. Self-hosting is never cheaper at any volume in this setup: {be.reason}."
    if be.status == "always":
        return f"{verdict}; it is cheaper at every volume."
    if not be.regions:
        return (f"{verdict}. Self-hosting is not cheaper below {compact(be.requests_per_day)} requests/day "
                f"in this setup: {be.reason}.")
    stays_from = be.stays_cheaper_from_requests_per_day
    if own <= api and stays_from is not None and stays_from <= today:
        return f"{verdict}; it stays cheaper from {compact(stays_from)} requests/day on."
    return f"{verdict}. Self-hosting is cheaper {_where_cheaper(be)}."


@dataclass(frozen=True)
class Economics:
    """Both sides at today's volume, today's verdict (`self_hosting_cheaper`: savings >= 0), where
    self-hosting is cheaper (`breakeven`: first crossing and regions), savings, payback and cost
    per 1k requests (self-hosting per 1k served requests)."""
    requests_per_day: float
    api_monthly_usd: float
    self_host: SelfHostCost
    savings_monthly_usd: float
    self_hosting_cheaper: bool
    payback_months: float | None
    api_per_1k_usd: float
    self_host_per_1k_usd: float | None
    breakeven: BreakEven


def evaluate(x: CostInputs, floor_requests_per_day: float = 0.0) -> Economics:
    """api_monthly_cost, self_host_cost, monthly_savings, payback_months, cost_per_1k on both
    sides (API: 1000 × a) and breakeven, all at x.requests_per_day."""
    own = self_host_cost(x)
    savings = monthly_savings(x)
    return Economics(
        requests_per_day=x.requests_per_day,
        api_monthly_usd=api_monthly_cost(x.requests_per_day, x.api_cost_per_request),
        self_host=own,
        savings_monthly_usd=savings,
        self_hosting_cheaper=savings >= 0,
        payback_months=payback_months(x),
        api_per_1k_usd=1000 * x.api_cost_per_request,
        self_host_per_1k_usd=cost_per_1k(own.monthly_usd, own.served_requests_per_day),
        breakeven=breakeven(x, floor_requests_per_day),
    )
