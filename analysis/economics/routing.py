"""The local/API split: which segments go local, priced honestly, with its cost-quality frontier.
Pure Python over `analysis.economics.routing_segments` aggregates (a handful of segments): milliseconds per scenario.

Volumes: a segment's monthly requests = its share of the logged requests × the scenario's
requests/day × 30.4167. API dollars: its logged (or priced) cost × the scenario's blended API cost
per request / the logged mean (so the scenario's API price and batch discount apply); without any
logged cost, the scenario's cost per request.
Sides: 'api'; 'local' (pre-routing: the segment's requests go local); 'cascade' (local first,
escalated to the API when the runtime check fails: an escalated request pays both calls, at the
segment's mean API cost, and waits for both); 'in-house' (all local, never escalated). Whatever
the side, in-house requests (residency tags) stay local, and too-long requests (over the local
window) go to the API, except in an in-house segment.
GPU cost: `economics.self_host_cost` of the scenario at the local volume (a step function for
dedicated GPUs; $0 only when nothing is local); volume over a fixed fleet's capacity is priced
at the mean API cost of the requests moved local.
Quality: Σ requests × accuracy of their path / requests, over segments with a SegmentQuality
(`quality_coverage` = their share of requests). Latency (p50 and p95 alike): the requests-weighted
mean of each path's figure; a cascade's path is local + escalation rate × API (an escalated
request waits for both), so the "p95" is a mix of p95s, not a true percentile.
Recommendation: a segment may go local only with a "non-inferior" verdict (`analysis.quality.stats`, paired
when discordant counts are known) at the scenario's margin, or when forced; unknown quality stays
on the API. Among the rest, the cheapest set of local segments whose blended quality meets the
scenario's quality_target: every subset when at most EXHAUSTIVE_LIMIT segments are free, else each
prefix of the segments ordered by API dollars saved per request moved local (greedy frontier).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from analysis.economics.cost_model import DAYS_PER_MONTH, CostInputs, gpus_needed, self_host_cost
from analysis.economics.routing_segments import SegmentQuality, SegmentStats, Traffic
from analysis.economics.scenario import Scenario

Side = Literal["api", "local", "cascade", "in-house"]
Mode = Literal["pre-routing", "cascade"]
EXHAUSTIVE_LIMIT = 12


@dataclass(frozen=True)
class RoutingPolicy:
    """The user's choices: the mode; segments that must stay in-house (local whatever the price);
    segments forced local (e.g. unknown quality) or forced to the API; the verdicts' confidence."""
    mode: Mode = "pre-routing"
    in_house: frozenset[str] = frozenset()
    force_local: frozenset[str] = frozenset()
    force_api: frozenset[str] = frozenset()
    confidence: float = 0.95


@dataclass(frozen=True)
class SegmentVolume:
    """A segment's requests and API dollars in one period (a month, or a logged day)."""
    key: str
    requests: float
    too_long: float
    in_house: float
    api_usd: float
    too_long_usd: float
    in_house_usd: float
    quality: SegmentQuality | None
    api_p50_ms: float | None
    api_p95_ms: float | None
    conflicts: float = 0.0


def scale_segments(segments: Sequence[SegmentStats], quality: Mapping[str, SegmentQuality], request_scale: float,
                   usd_scale: float, usd_per_request: float) -> list[SegmentVolume]:
    """Scale each segment's counts by `request_scale` and its dollars by `usd_scale` (or, when that
    is 0, price each scaled request at `usd_per_request`)."""
    def dollars(logged_usd: float, requests: int) -> float:
        return logged_usd * usd_scale if usd_scale else requests * request_scale * usd_per_request
    return [SegmentVolume(key=segment.key, requests=segment.requests * request_scale,
                          too_long=segment.too_long * request_scale, in_house=segment.in_house * request_scale,
                          api_usd=dollars(segment.cost_usd, segment.requests),
                          too_long_usd=dollars(segment.too_long_usd, segment.too_long),
                          in_house_usd=dollars(segment.in_house_usd, segment.in_house),
                          quality=quality.get(segment.key), api_p50_ms=segment.api_p50_ms,
                          api_p95_ms=segment.api_p95_ms, conflicts=segment.conflicts * request_scale)
            for segment in segments]


@dataclass
class Outcome:
    """Requests local, API calls, API dollars, requests measured, Σ quality, Σ latencies (ms) over
    the `timed_requests` whose latency is known on their side (failed-only segments have none).
    Never mutated; not frozen because thousands are built per scenario and a frozen one costs
    more than twice as much to build."""
    local_requests: float = 0.0
    api_calls: float = 0.0
    api_usd: float = 0.0
    measured_requests: float = 0.0
    quality_sum: float = 0.0
    latency_p50_sum_ms: float = 0.0
    latency_p95_sum_ms: float = 0.0
    timed_requests: float = 0.0

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(local_requests=self.local_requests + other.local_requests,
                       api_calls=self.api_calls + other.api_calls, api_usd=self.api_usd + other.api_usd,
                       measured_requests=self.measured_requests + other.measured_requests,
                       quality_sum=self.quality_sum + other.quality_sum,
                       latency_p50_sum_ms=self.latency_p50_sum_ms + other.latency_p50_sum_ms,
                       latency_p95_sum_ms=self.latency_p95_sum_ms + other.latency_p95_sum_ms,
                       timed_requests=self.timed_requests + other.timed_requests)


def outcome(segment: SegmentVolume, side: Side) -> Outcome:
    """One segment's requests local, API calls, API dollars, Σ quality and Σ latency on `side`; a
    segment's latency counts only when every part of it (API, local, cascaded) has a known latency."""
    quality = segment.quality
    escalation_rate = quality.escalation_rate if quality is not None and side == "cascade" else 0.0
    if side == "api":
        local = segment.in_house
        api_requests = segment.requests - segment.in_house
        api_usd = segment.api_usd - segment.in_house_usd
        cascaded = 0.0
    else:
        kept_on_api = 0.0 if side == "in-house" else segment.too_long  # an in-house segment keeps even too-long ones
        local = segment.requests - kept_on_api
        api_requests = kept_on_api
        api_usd = segment.too_long_usd if kept_on_api else 0.0
        cascaded = segment.requests - segment.too_long - segment.in_house if side == "cascade" else 0.0
        api_usd += escalation_rate * (segment.api_usd - segment.too_long_usd - segment.in_house_usd)
    local_only = local - cascaded

    def latency_sum(api_ms: float | None, local_ms: float | None) -> float | None:
        """Σ requests × latency over the paths with requests; None when one of them has no latency."""
        escalated_ms = None if local_ms is None or api_ms is None else local_ms + escalation_rate * api_ms
        paths = [(api_requests, api_ms), (local_only, local_ms), (cascaded, escalated_ms)]
        if any(requests > 0 and ms is None for requests, ms in paths):
            return None
        return sum(requests * ms for requests, ms in paths if requests > 0)

    if quality is None:
        quality_sum, local_p50_ms, local_p95_ms = 0.0, None, None
    else:
        quality_sum = (api_requests * quality.api_accuracy + local_only * quality.local_accuracy
                       + cascaded * quality.cascade)
        local_p50_ms, local_p95_ms = quality.local_p50_ms, quality.local_p95_ms
    p50, p95 = latency_sum(segment.api_p50_ms, local_p50_ms), latency_sum(segment.api_p95_ms, local_p95_ms)
    timed = segment.requests if p50 is not None and p95 is not None else 0.0
    return Outcome(local_requests=local, api_calls=api_requests + escalation_rate * cascaded, api_usd=api_usd,
                   measured_requests=segment.requests if quality is not None else 0.0, quality_sum=quality_sum,
                   latency_p50_sum_ms=p50 if timed else 0.0, latency_p95_sum_ms=p95 if timed else 0.0,
                   timed_requests=timed)


Pricer = Callable[[float, float], tuple[float, int | None, float]]


def gpu_pricer(inputs: CostInputs) -> Pricer:
    """A function (monthly local requests, $ per over-capacity request) -> (USD/month incl. the
    over-capacity volume on the API, GPUs, over-capacity requests/day); memoised per GPU count
    for an automatic dedicated fleet, whose cost only moves in steps."""
    cost_by_gpus: dict[int, float] = {}

    def price(local_requests: float, api_usd_per_request: float) -> tuple[float, int | None, float]:
        if local_requests <= 1e-9:
            return 0.0, None, 0.0
        requests_per_day = local_requests / DAYS_PER_MONTH
        if inputs.mode == "dedicated" and inputs.gpu_count is None:
            gpus = gpus_needed(requests_per_day, inputs.capacity_rps_per_gpu, inputs.target_utilisation,
                               inputs.peak_to_average)
            if gpus not in cost_by_gpus:
                cost_by_gpus[gpus] = self_host_cost(inputs, requests_per_day).monthly_usd
            return cost_by_gpus[gpus], gpus, 0.0
        cost = self_host_cost(inputs, requests_per_day)
        over_capacity = cost.over_capacity_requests_per_day
        return cost.monthly_usd + over_capacity * DAYS_PER_MONTH * api_usd_per_request, cost.gpus, over_capacity
    return price


@dataclass(frozen=True)
class Plan:
    """One split priced: monthly USD (API + GPU), GPUs (dedicated), request and spend shares that
    leave the API, blended quality (None: nothing measured) and its coverage, latencies (ms) and
    theirs."""
    local_segments: tuple[str, ...]
    monthly_usd: float
    api_usd: float
    gpu_usd: float
    gpus: int | None
    local_requests_per_day: float
    local_share: float
    api_call_share: float
    local_spend_share: float
    quality: float | None
    quality_coverage: float
    latency_p50_ms: float | None  # request-weighted over the segments with known latencies
    latency_p95_ms: float | None
    latency_coverage: float  # share of requests in segments whose latency is known
    over_capacity_requests_per_day: float


def _plan(segments: list[SegmentVolume], sides: Mapping[str, Side], price: Pricer) -> Plan:
    combined = sum((outcome(segment, sides.get(segment.key, "api")) for segment in segments), Outcome())
    requests = sum(segment.requests for segment in segments) or 1.0
    current_api_usd = sum(segment.api_usd for segment in segments)
    saved = current_api_usd - combined.api_usd
    local, measured, timed = combined.local_requests, combined.measured_requests, combined.timed_requests
    gpu_usd, gpus, over_capacity = price(local, saved / local if local else 0.0)
    return Plan(local_segments=tuple(key for key, side in sides.items() if side != "api"),
                monthly_usd=combined.api_usd + gpu_usd, api_usd=combined.api_usd, gpu_usd=gpu_usd, gpus=gpus,
                local_requests_per_day=local / DAYS_PER_MONTH, local_share=local / requests,
                api_call_share=combined.api_calls / requests,
                local_spend_share=saved / current_api_usd if current_api_usd else 0.0,
                quality=combined.quality_sum / measured if measured else None, quality_coverage=measured / requests,
                latency_p50_ms=combined.latency_p50_sum_ms / timed if timed else None,
                latency_p95_ms=combined.latency_p95_sum_ms / timed if timed else None,
                latency_coverage=timed / requests, over_capacity_requests_per_day=over_capacity)


@dataclass(frozen=True)
class SegmentDecision:
    """A segment's side in the recommendation and why, with its per-month figures at that side."""
    key: str
    side: Side
    reason: str
    request_share: float
    requests_per_day: float
    local_requests_per_day: float
    api_usd: float
    api_usd_if_all_api: float
    too_long_share: float
    in_house_share: float
    conflicts_per_day: float
    local_accuracy: float | None
    api_accuracy: float | None
    expected_quality: float | None
    verdict: str | None
    escalation_rate: float
    escalated_latency_ms: float | None


@dataclass(frozen=True)
class Recommendation:
    """The cheapest admissible split (`plan`), the all-API bill it replaces, the decisions, the
    frontier with CPT/APGR, and notes. `search`: 'exhaustive' or 'greedy'."""
    mode: Mode
    plan: Plan
    current_monthly_usd: float
    current_quality: float | None
    savings_monthly_usd: float
    segments: tuple[SegmentDecision, ...]
    search: str
    frontier: tuple[FrontierPoint, ...] = ()
    cpt50: float | None = None
    cpt80: float | None = None
    apgr: float | None = None
    segment_by: str = ""
    context_window: int = 0
    residency_tags: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def sides(self) -> dict[str, Side]:
        return {decision.key: decision.side for decision in self.segments}

    def to_dict(self) -> dict:
        return asdict(self)


# What moving one free segment local changes: (API dollars, local requests, Σ quality).
Delta = tuple[float, float, float]


def _delta(segment: SegmentVolume, local_side: Side) -> Delta:
    on_api, local = outcome(segment, "api"), outcome(segment, local_side)
    return (local.api_usd - on_api.api_usd, local.local_requests - on_api.local_requests,
            local.quality_sum - on_api.quality_sum)


def _saving_order(deltas: Sequence[Delta]) -> list[int]:
    """Indices of the free segments, the most API dollars saved per request moved local first."""
    def api_usd_per_local_request(index: int) -> float:
        api_usd_delta, local_delta, _ = deltas[index]
        return api_usd_delta / local_delta if local_delta > 0 else math.inf
    return sorted(range(len(deltas)), key=api_usd_per_local_request)


SubsetSums = tuple[list[float], list[float], list[float]]  # Σ API dollars, Σ local requests, Σ quality


def _subset_sums(deltas: Sequence[Delta]) -> SubsetSums:
    """The deltas summed over every subset, indexed by bit mask: a mask's sums are those of the
    mask without its lowest bit plus that bit's delta."""
    size = 1 << len(deltas)
    api_usd, local, quality = [0.0] * size, [0.0] * size, [0.0] * size
    for mask in range(1, size):
        rest = mask & (mask - 1)
        api_usd_delta, local_delta, quality_delta = deltas[(mask & -mask).bit_length() - 1]
        api_usd[mask], local[mask], quality[mask] = (api_usd[rest] + api_usd_delta, local[rest] + local_delta,
                                                     quality[rest] + quality_delta)
    return api_usd, local, quality


def _prefix_sums(deltas: Sequence[Delta], order: Sequence[int]) -> SubsetSums:
    """The deltas summed over each prefix of `order` (the empty one first)."""
    api_usd, local, quality = [0.0], [0.0], [0.0]
    for index in order:
        for sums, change in zip((api_usd, local, quality), deltas[index]):
            sums.append(sums[-1] + change)
    return api_usd, local, quality


def _cheapest(base: Outcome, sums: SubsetSums, current_api_usd: float, quality_floor: float | None,
              price: Pricer) -> int | None:
    """The index of the cheapest candidate whose Σ quality reaches `quality_floor`; None if none does."""
    api_usd_sums, local_sums, quality_sums = sums
    best, best_cost = None, math.inf
    for index in range(len(api_usd_sums)):
        if quality_floor is not None and base.quality_sum + quality_sums[index] < quality_floor:
            continue
        api_usd, local = base.api_usd + api_usd_sums[index], base.local_requests + local_sums[index]
        cost = api_usd + price(local, (current_api_usd - api_usd) / local if local > 0 else 0.0)[0]
        if cost < best_cost - 1e-9:
            best, best_cost = index, cost
    return best


def _search(segments: list[SegmentVolume], fixed: dict[str, Side], free: list[str], local_side: Side,
            price: Pricer, target: float | None) -> tuple[dict[str, Side], str, bool]:
    """(best sides, 'exhaustive' | 'greedy', whether any split met the target), module rule.
    Each free segment moves the API dollars, local requests and Σ quality by a fixed delta, so a
    candidate costs base + Σ deltas + GPU(local volume): subset sums, no re-pricing of segments."""
    by_key = {segment.key: segment for segment in segments}
    base = sum((outcome(segment, fixed.get(segment.key, "api")) for segment in segments), Outcome())
    current_api_usd = sum(segment.api_usd for segment in segments)
    deltas = [_delta(by_key[key], local_side) for key in free]
    quality_floor = (None if target is None or not base.measured_requests
                     else target * base.measured_requests - 1e-9)
    if len(free) <= EXHAUSTIVE_LIMIT:
        search, sums = "exhaustive", _subset_sums(deltas)
    else:
        order = _saving_order(deltas)
        search, sums = "greedy", _prefix_sums(deltas, order)
    best = _cheapest(base, sums, current_api_usd, quality_floor, price)
    all_api: dict[str, Side] = {**fixed, **{key: "api" for key in free}}
    if best is None:
        return all_api, search, False
    chosen = ([key for bit, key in enumerate(free) if best >> bit & 1] if search == "exhaustive"
              else [free[index] for index in order[:best]])
    return {**all_api, **{key: local_side for key in chosen}}, search, True


@dataclass(frozen=True)
class _Triage:
    """Segments whose side is settled before the search (with why), the free ones, and verdicts."""
    fixed: dict[str, Side]
    reasons: dict[str, str]
    verdicts: dict[str, str | None]
    free: list[str]


def _triage(segments: list[SegmentVolume], policy: RoutingPolicy, local_side: Side, margin: float) -> _Triage:
    """Each segment's verdict, and its fixed side and reason unless the search may choose it (module rule)."""
    fixed: dict[str, Side] = {}
    reasons: dict[str, str] = {}
    verdicts: dict[str, str | None] = {}
    free: list[str] = []
    for segment in segments:
        key, quality = segment.key, segment.quality
        noninferiority = (quality.verdict(local_side == "cascade", margin, policy.confidence)
                          if quality is not None else None)
        verdicts[key] = noninferiority.text if noninferiority is not None else None
        if key in policy.in_house:
            fixed[key], reasons[key] = "in-house", "must stay in-house (data residency): local whatever the price"
        elif key in policy.force_api:
            fixed[key], reasons[key] = "api", "kept on the API by the user"
        elif key in policy.force_local:
            fixed[key], reasons[key] = local_side, "sent local by the user"
        elif noninferiority is None:
            fixed[key], reasons[key] = "api", ("quality unknown (no replayed answer in this segment "
                                               "compared with the API's): stays on the API")
        elif noninferiority.verdict != "non-inferior":
            fixed[key], reasons[key] = "api", f"quality: {noninferiority.text}"
        elif segment.requests <= segment.too_long:
            fixed[key], reasons[key] = "api", "every request is longer than the local context window"
        else:
            free.append(key)
    return _Triage(fixed=fixed, reasons=reasons, verdicts=verdicts, free=free)


def _free_reasons(segments: list[SegmentVolume], sides: Mapping[str, Side], free: list[str], plan: Plan,
                  local_side: Side, price: Pricer, target: float | None) -> dict[str, str]:
    """Why the search put each free segment where it did: the split priced with that segment moved."""
    reasons = {}
    for key in free:
        moved = _plan(segments, {**sides, key: "api" if sides[key] != "api" else local_side}, price)
        if sides[key] != "api":
            reasons[key] = f"non-inferior; going local saves ${moved.monthly_usd - plan.monthly_usd:,.2f}/month"
        elif target is not None and moved.quality is not None and moved.quality < target - 1e-12:
            reasons[key] = f"non-inferior, but local would miss the quality target {target:.1%}"
        else:
            reasons[key] = (f"non-inferior, but local would cost ${moved.monthly_usd - plan.monthly_usd:,.2f}/month "
                            "more (GPU steps)")
    return reasons


def _notes(segments: list[SegmentVolume], policy: RoutingPolicy, inputs: CostInputs, feasible: bool,
           target: float | None) -> list[str]:
    notes = [] if feasible else [f"no split reaches the quality target {target:.1%}: every segment with a "
                                 "choice stays on the API"]
    if (any(segment.conflicts for segment in segments)
            or any(segment.too_long for segment in segments if segment.key in policy.in_house)):
        notes.append("some in-house requests exceed the local context window: they stay local, truncated "
                     "or on a longer-context deployment")
    if inputs.mode == "scheduled":
        notes.append("scheduled mode: only valid for work that can wait for the next batch window")
    return notes


def recommend(traffic: Traffic, quality: Mapping[str, SegmentQuality], scenario: Scenario,
              policy: RoutingPolicy = RoutingPolicy(), with_frontier: bool = True) -> Recommendation:
    """The recommendation of the module rule at the scenario's volume, prices and GPU setup."""
    inputs, logged_requests, logged_usd = scenario.to_cost_inputs(), traffic.requests, traffic.cost_usd
    # monthly scaling (module rule)
    request_scale = inputs.requests_per_day * DAYS_PER_MONTH / logged_requests if logged_requests else 0.0
    usd_scale = (request_scale * inputs.api_cost_per_request / (logged_usd / logged_requests)
                 if logged_usd > 0 else 0.0)
    segments = scale_segments(traffic.segments, quality, request_scale, usd_scale, inputs.api_cost_per_request)
    price = gpu_pricer(inputs)
    local_side: Side = "cascade" if policy.mode == "cascade" else "local"
    target = scenario.quality_target
    triage = _triage(segments, policy, local_side, scenario.noninferiority_margin)
    sides, search, feasible = _search(segments, triage.fixed, triage.free, local_side, price, target)
    plan = _plan(segments, sides, price)
    reasons = {**triage.reasons, **_free_reasons(segments, sides, triage.free, plan, local_side, price, target)}

    current_api_usd = sum(segment.api_usd for segment in segments)
    measured = sum(segment.requests for segment in segments if segment.quality is not None)
    api_quality = (sum(segment.requests * segment.quality.api_accuracy
                       for segment in segments if segment.quality is not None) / measured if measured else None)
    total_requests = sum(segment.requests for segment in segments) or 1.0
    decisions = tuple(_decision(segment, sides.get(segment.key, "api"), reasons[segment.key],
                                triage.verdicts[segment.key], total_requests) for segment in segments)
    chosen_by_user = policy.in_house | policy.force_local | policy.force_api
    forced = {key: side for key, side in triage.fixed.items() if key in chosen_by_user}
    points = frontier(segments, forced, local_side, price) if with_frontier else []
    curve = [(point.movable_api_share, point.quality) for point in points if point.quality is not None]
    cpt50, cpt80, apgr = cpt_apgr(curve) if len(curve) > 1 else (None, None, None)
    return Recommendation(mode=policy.mode, plan=plan, current_monthly_usd=current_api_usd,
                          current_quality=api_quality, savings_monthly_usd=current_api_usd - plan.monthly_usd,
                          segments=decisions, search=search, frontier=tuple(points), cpt50=cpt50, cpt80=cpt80,
                          apgr=apgr, segment_by=traffic.segment_by, context_window=traffic.context_window,
                          residency_tags=traffic.residency_tags,
                          notes=tuple(_notes(segments, policy, inputs, feasible, target)))


def _decision(segment: SegmentVolume, side: Side, reason: str, verdict_text: str | None,
              total_requests: float) -> SegmentDecision:
    result, quality, cascade = outcome(segment, side), segment.quality, side == "cascade"
    escalated_ms = (quality.local_p50_ms + segment.api_p50_ms
                    if quality is not None and quality.local_p50_ms is not None and segment.api_p50_ms is not None
                    else None)
    requests = segment.requests or 1.0
    return SegmentDecision(
        key=segment.key, side=side, reason=reason, request_share=segment.requests / total_requests,
        requests_per_day=segment.requests / DAYS_PER_MONTH,
        local_requests_per_day=result.local_requests / DAYS_PER_MONTH,
        api_usd=result.api_usd, api_usd_if_all_api=segment.api_usd, too_long_share=segment.too_long / requests,
        in_house_share=segment.in_house / requests, conflicts_per_day=segment.conflicts / DAYS_PER_MONTH,
        local_accuracy=quality.local_accuracy if quality is not None else None,
        api_accuracy=quality.api_accuracy if quality is not None else None,
        expected_quality=result.quality_sum / result.measured_requests if result.measured_requests else None,
        verdict=verdict_text, escalation_rate=quality.escalation_rate if quality is not None and cascade else 0.0,
        escalated_latency_ms=escalated_ms if cascade else None)


@dataclass(frozen=True)
class FrontierPoint:
    """One routing threshold: segments whose quality gap (API − local accuracy) is at most
    `threshold` go local. API shares count API calls (escalations included) over all requests
    and over the movable ones; efficient: no other point is both cheaper and better."""
    threshold: float | None
    local_segments: tuple[str, ...]
    api_share: float
    movable_api_share: float
    monthly_usd: float
    quality: float | None
    efficient: bool = True


def frontier(segments: list[SegmentVolume], forced: Mapping[str, Side], local_side: Side,
             price: Pricer) -> list[FrontierPoint]:
    """Points from all-local to all-API over the movable segments (measured, not forced by the
    user or residency; unmeasured ones stay on the API), segments going local in increasing order
    of their gap (ties together), so the movable API share falls as the threshold rises."""
    def gap(segment: SegmentVolume) -> float:
        quality = segment.quality
        return quality.api_accuracy - (quality.cascade if local_side == "cascade" else quality.local_accuracy)
    movable = sorted((segment for segment in segments if segment.quality is not None and segment.key not in forced),
                     key=gap)
    movable_requests = sum(segment.requests for segment in movable)
    groups: list[tuple[float | None, list[SegmentVolume]]] = [(None, [])]  # (threshold, segments at that gap)
    for segment in movable:
        if groups[-1][0] is not None and abs(groups[-1][0] - gap(segment)) < 1e-12:
            groups[-1][1].append(segment)
        else:
            groups.append((gap(segment), [segment]))
    points, chosen = [], []
    for threshold, group in groups:
        chosen += [segment.key for segment in group]
        sides = {**forced, **{key: local_side for key in chosen}}
        plan = _plan(segments, sides, price)
        api_calls = sum(outcome(segment, sides.get(segment.key, "api")).api_calls for segment in movable)
        points.append(FrontierPoint(threshold=threshold, local_segments=tuple(chosen), api_share=plan.api_call_share,
                                    movable_api_share=api_calls / movable_requests if movable_requests else 0.0,
                                    monthly_usd=plan.monthly_usd, quality=plan.quality))
    points.reverse()
    return [replace(point, efficient=not _dominated(point, points)) for point in points]


def _dominated(point: FrontierPoint, points: Sequence[FrontierPoint]) -> bool:
    """Whether another point costs no more and is no worse, and is cheaper or better (no quality
    counts as 0)."""
    quality = point.quality if point.quality is not None else 0.0
    return any(other.monthly_usd <= point.monthly_usd and (other.quality or 0.0) >= quality
               and (other.monthly_usd < point.monthly_usd - 1e-9 or (other.quality or 0.0) > quality + 1e-12)
               for other in points)


def cpt_apgr(curve: Sequence[tuple[float, float]]) -> tuple[float | None, float | None, float | None]:
    """RouteLLM's metrics on a quality-vs-API-share curve [(share, quality)], piecewise linear
    between points sorted by share: PGR(s) = (q(s) − q_weak) / (q_strong − q_weak), weak and
    strong the qualities at the smallest and largest share; CPT(p) = the smallest share with
    PGR >= p (interpolated); APGR = ∫ PGR ds / (largest − smallest share). All None when the gap
    is 0."""
    points = sorted(curve)
    (smallest_share, weak), (largest_share, strong) = points[0], points[-1]
    if strong - weak <= 1e-12 or largest_share <= smallest_share:
        return None, None, None
    gains = [(share, (quality - weak) / (strong - weak)) for share, quality in points]  # (share, PGR)
    pieces = list(zip(gains, gains[1:]))  # the curve's linear pieces

    def cpt(target_gain: float) -> float | None:
        if gains[0][1] >= target_gain - 1e-12:
            return gains[0][0]
        for (share_a, gain_a), (share_b, gain_b) in pieces:
            if gain_b >= target_gain - 1e-12:
                return share_a + (share_b - share_a) * (target_gain - gain_a) / (gain_b - gain_a)
        return None
    area = sum((share_b - share_a) * (gain_a + gain_b) / 2 for (share_a, gain_a), (share_b, gain_b) in pieces)
    return cpt(0.5), cpt(0.8), area / (largest_share - smallest_share)
