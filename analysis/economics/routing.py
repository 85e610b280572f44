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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
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
class Seg:
    """A segment's requests and API dollars in one period (a month, or a logged day)."""
    key: str
    requests: float
    too_long: float
    in_house: float
    api_usd: float
    too_long_usd: float
    in_house_usd: float
    q: SegmentQuality | None
    api_p50: float | None
    api_p95: float | None
    conflicts: float = 0.0


def scale_segments(segments: Sequence[SegmentStats], quality: Mapping[str, SegmentQuality], volume: float,
                   usd: float, flat: float) -> list[Seg]:
    """Scale each segment's counts by `volume` and its dollars by `usd` (or `flat` $ per request)."""
    def money(logged: float, n: int) -> float:
        return logged * usd if usd else n * volume * flat
    return [Seg(s.key, s.requests * volume, s.too_long * volume, s.in_house * volume, money(s.cost_usd, s.requests),
                money(s.too_long_usd, s.too_long), money(s.in_house_usd, s.in_house), quality.get(s.key),
                s.api_p50_ms, s.api_p95_ms, s.conflicts * volume) for s in segments]


@dataclass(frozen=True)
class Outcome:
    """Requests local, API calls, API dollars, requests measured, Σ quality, Σ latencies (ms) over
    the `timed` requests whose latency is known on their side (failed-only segments have none)."""
    local: float = 0.0
    api_calls: float = 0.0
    api_usd: float = 0.0
    measured: float = 0.0
    quality: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    timed: float = 0.0

    def __add__(self, o: Outcome) -> Outcome:
        return Outcome(self.local + o.local, self.api_calls + o.api_calls, self.api_usd + o.api_usd,
                       self.measured + o.measured, self.quality + o.quality, self.p50 + o.p50,
                       self.p95 + o.p95, self.timed + o.timed)


def outcome(s: Seg, side: Side) -> Outcome:
    """One segment's requests local, API calls, API dollars, Σ quality and Σ latency on `side`; a
    segment's latency counts only when every part of it (API, local, cascaded) has a known latency."""
    q, e = s.q, (s.q.escalation_rate if s.q and side == "cascade" else 0.0)
    if side == "api":
        local, api_req, api_usd, cascaded = s.in_house, s.requests - s.in_house, s.api_usd - s.in_house_usd, 0.0
    else:
        keep = 0.0 if side == "in-house" else s.too_long  # an in-house segment keeps even too-long requests
        local, api_req, api_usd = s.requests - keep, keep, s.too_long_usd if keep else 0.0
        cascaded = s.requests - s.too_long - s.in_house if side == "cascade" else 0.0
        api_usd += e * (s.api_usd - s.too_long_usd - s.in_house_usd)
    only = local - cascaded

    def lat(api: float | None, own: float | None) -> float | None:
        parts = [(api_req, api), (only, own), (cascaded, None if own is None or api is None else own + e * api)]
        return None if any(n > 0 and v is None for n, v in parts) else sum(n * v for n, v in parts if n > 0)

    quality = 0.0 if q is None else api_req * q.api_accuracy + only * q.local_accuracy + cascaded * q.cascade
    p50, p95 = lat(s.api_p50, q and q.local_p50_ms), lat(s.api_p95, q and q.local_p95_ms)
    timed = s.requests if p50 is not None and p95 is not None else 0.0
    return Outcome(local, api_req + e * cascaded, api_usd, s.requests if q else 0.0, quality,
                   p50 if timed else 0.0, p95 if timed else 0.0, timed)


def gpu_pricer(x: CostInputs):
    """A function (monthly local requests, $ per over-capacity request) -> (USD/month incl. the
    over-capacity volume on the API, GPUs, over-capacity requests/day); memoised per GPU count
    for an automatic dedicated fleet, whose cost only moves in steps."""
    memo: dict[int, float] = {}

    def price(local: float, api_rate: float) -> tuple[float, int | None, float]:
        if local <= 1e-9:
            return 0.0, None, 0.0
        day = local / DAYS_PER_MONTH
        if x.mode == "dedicated" and x.gpu_count is None:
            k = gpus_needed(day, x.capacity_rps_per_gpu, x.target_utilisation, x.peak_to_average)
            if k not in memo:
                memo[k] = self_host_cost(x, day).monthly_usd
            return memo[k], k, 0.0
        own = self_host_cost(x, day)
        over = own.over_capacity_requests_per_day
        return own.monthly_usd + over * DAYS_PER_MONTH * api_rate, own.gpus, over
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


def _plan(segs: list[Seg], sides: Mapping[str, Side], price) -> Plan:
    out = sum((outcome(s, sides.get(s.key, "api")) for s in segs), Outcome())
    total, current = sum(s.requests for s in segs) or 1.0, sum(s.api_usd for s in segs)
    saved = current - out.api_usd
    gpu, gpus, over = price(out.local, saved / out.local if out.local else 0.0)
    return Plan(tuple(k for k, v in sides.items() if v != "api"), out.api_usd + gpu, out.api_usd, gpu, gpus,
                out.local / DAYS_PER_MONTH, out.local / total, out.api_calls / total, saved / current if current else 0.0,
                out.quality / out.measured if out.measured else None, out.measured / total,
                out.p50 / out.timed if out.timed else None, out.p95 / out.timed if out.timed else None,
                out.timed / total, over)


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
        return {d.key: d.side for d in self.segments}

    def to_dict(self) -> dict:
        return asdict(self)


def _search(segs: list[Seg], fixed: dict[str, Side], free: list[str], local_side: Side, price,
            target: float | None) -> tuple[dict[str, Side], str, bool]:
    """(best sides, 'exhaustive' | 'greedy', whether any split met the target), module rule.
    Each free segment moves the API dollars, local requests and Σ quality by a fixed delta, so a
    candidate costs base + Σ deltas + GPU(local volume): subset sums, no re-pricing of segments."""
    by_key = {s.key: s for s in segs}
    base = sum((outcome(s, fixed.get(s.key, "api")) for s in segs), Outcome())
    current = sum(s.api_usd for s in segs)
    deltas = []
    for k in free:
        a, b = outcome(by_key[k], "api"), outcome(by_key[k], local_side)
        deltas.append((b.api_usd - a.api_usd, b.local - a.local, b.quality - a.quality))
    floor = None if target is None or not base.measured else target * base.measured - 1e-9

    if len(free) <= EXHAUSTIVE_LIMIT:  # subset sums: mask = mask without its lowest bit + that bit
        kind, size = "exhaustive", 1 << len(free)
        usd, loc, qual = [0.0] * size, [0.0] * size, [0.0] * size
        for mask in range(1, size):
            rest, (du, dl, dq) = mask & (mask - 1), deltas[(mask & -mask).bit_length() - 1]
            usd[mask], loc[mask], qual[mask] = usd[rest] + du, loc[rest] + dl, qual[rest] + dq
    else:  # prefixes, the most API dollars saved per request moved local first
        order = sorted(range(len(free)), key=lambda i: deltas[i][0] / deltas[i][1] if deltas[i][1] > 0 else math.inf)
        kind, usd, loc, qual = "greedy", [0.0], [0.0], [0.0]
        for i in order:
            for sums, d in zip((usd, loc, qual), deltas[i]):
                sums.append(sums[-1] + d)
    best, best_cost = None, math.inf
    for m in range(len(usd)):
        if floor is not None and base.quality + qual[m] < floor:
            continue
        api, local = base.api_usd + usd[m], base.local + loc[m]
        c = api + price(local, (current - api) / local if local > 0 else 0.0)[0]
        if c < best_cost - 1e-9:
            best, best_cost = m, c
    if best is None:
        return {**fixed, **{k: "api" for k in free}}, kind, False
    chosen = ([free[i] for i in range(len(free)) if best >> i & 1] if kind == "exhaustive"
              else [free[i] for i in order[:best]])
    return {**fixed, **{k: "api" for k in free}, **{k: local_side for k in chosen}}, kind, True


def recommend(traffic: Traffic, quality: Mapping[str, SegmentQuality], scenario: Scenario,
              policy: RoutingPolicy = RoutingPolicy(), with_frontier: bool = True) -> Recommendation:
    """The recommendation of the module rule at the scenario's volume, prices and GPU setup."""
    x, n, logged = scenario.to_cost_inputs(), traffic.requests, traffic.cost_usd
    volume = x.requests_per_day * DAYS_PER_MONTH / n if n else 0.0  # monthly scaling (module rule)
    usd = volume * x.api_cost_per_request / (logged / n) if logged > 0 else 0.0
    segs, price = scale_segments(traffic.segments, quality, volume, usd, x.api_cost_per_request), gpu_pricer(x)
    local_side: Side = "cascade" if policy.mode == "cascade" else "local"
    margin, target = scenario.noninferiority_margin, scenario.quality_target
    fixed, reasons, verdicts, free = {}, {}, {}, []
    for s in segs:
        v = s.q.verdict(local_side == "cascade", margin, policy.confidence) if s.q else None
        verdicts[s.key] = v.text if v else None
        if s.key in policy.in_house:
            fixed[s.key], reasons[s.key] = "in-house", "must stay in-house (data residency): local whatever the price"
        elif s.key in policy.force_api:
            fixed[s.key], reasons[s.key] = "api", "kept on the API by the user"
        elif s.key in policy.force_local:
            fixed[s.key], reasons[s.key] = local_side, "sent local by the user"
        elif s.q is None:
            fixed[s.key], reasons[s.key] = "api", ("quality unknown (no replayed answer in this segment "
                                                   "compared with the API's): stays on the API")
        elif v.verdict != "non-inferior":
            fixed[s.key], reasons[s.key] = "api", f"quality: {v.text}"
        elif s.requests <= s.too_long:
            fixed[s.key], reasons[s.key] = "api", "every request is longer than the local context window"
        else:
            free.append(s.key)
    sides, search, feasible = _search(segs, fixed, free, local_side, price, target)
    notes = [] if feasible else [f"no split reaches the quality target {target:.1%}: every segment with a "
                                 "choice stays on the API"]
    plan = _plan(segs, sides, price)
    for k in free:
        other = _plan(segs, {**sides, k: "api" if sides[k] != "api" else local_side}, price)
        if sides[k] != "api":
            reasons[k] = f"non-inferior; going local saves ${other.monthly_usd - plan.monthly_usd:,.2f}/month"
        elif target is not None and other.quality is not None and other.quality < target - 1e-12:
            reasons[k] = f"non-inferior, but local would miss the quality target {target:.1%}"
        else:
            reasons[k] = (f"non-inferior, but local would cost ${other.monthly_usd - plan.monthly_usd:,.2f}/month "
                          "more (GPU steps)")
    if any(s.conflicts for s in segs) or any(s.too_long for s in segs if s.key in policy.in_house):
        notes.append("some in-house requests exceed the local context window: they stay local, truncated "
                     "or on a longer-context deployment")
    if x.mode == "scheduled":
        notes.append("scheduled mode: only valid for work that can wait for the next batch window")
    current = sum(s.api_usd for s in segs)
    measured = sum(s.requests for s in segs if s.q)
    api_quality = sum(s.requests * s.q.api_accuracy for s in segs if s.q) / measured if measured else None
    decisions = tuple(_decision(s, sides.get(s.key, "api"), reasons[s.key], verdicts[s.key], segs) for s in segs)
    forced = {k: v for k, v in fixed.items() if k in policy.in_house | policy.force_local | policy.force_api}
    points = frontier(segs, forced, local_side, price) if with_frontier else []
    curve = [(p.movable_api_share, p.quality) for p in points if p.quality is not None]
    cpt50, cpt80, apgr = cpt_apgr(curve) if len(curve) > 1 else (None, None, None)
    return Recommendation(policy.mode, plan, current, api_quality, current - plan.monthly_usd, decisions, search,
                          tuple(points), cpt50, cpt80, apgr, traffic.segment_by, traffic.context_window,
                          traffic.residency_tags, tuple(notes))


def _decision(s: Seg, side: Side, reason: str, verdict_text: str | None, segs: list[Seg]) -> SegmentDecision:
    out, total, q = outcome(s, side), sum(x.requests for x in segs) or 1.0, s.q
    escalated = q.local_p50_ms + s.api_p50 if q and q.local_p50_ms is not None and s.api_p50 is not None else None
    n = s.requests or 1.0
    return SegmentDecision(
        s.key, side, reason, s.requests / total, s.requests / DAYS_PER_MONTH, out.local / DAYS_PER_MONTH,
        out.api_usd, s.api_usd, s.too_long / n, s.in_house / n, s.conflicts / DAYS_PER_MONTH,
        q.local_accuracy if q else None, q.api_accuracy if q else None,
        out.quality / out.measured if out.measured else None, verdict_text,
        q.escalation_rate if q and side == "cascade" else 0.0, escalated if side == "cascade" else None)


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


def frontier(segs: list[Seg], forced: Mapping[str, Side], local_side: Side, price) -> list[FrontierPoint]:
    """Points from all-local to all-API over the movable segments (measured, not forced by the
    user or residency; unmeasured ones stay on the API), segments going local in increasing order
    of their gap (ties together), so the movable API share falls as the threshold rises."""
    def gap(s: Seg) -> float:
        return s.q.api_accuracy - (s.q.cascade if local_side == "cascade" else s.q.local_accuracy)
    movable = sorted((s for s in segs if s.q and s.key not in forced), key=gap)
    moving = sum(s.requests for s in movable)
    groups: list[tuple[float | None, list[Seg]]] = [(None, [])]
    for s in movable:
        if groups[-1][0] is not None and abs(groups[-1][0] - gap(s)) < 1e-12:
            groups[-1][1].append(s)
        else:
            groups.append((gap(s), [s]))
    points, chosen = [], []
    for threshold, group in groups:
        chosen += [s.key for s in group]
        sides = {**forced, **{k: local_side for k in chosen}}
        plan = _plan(segs, sides, price)
        calls = sum(outcome(s, sides.get(s.key, "api")).api_calls for s in movable)
        points.append(FrontierPoint(threshold, tuple(chosen), plan.api_call_share,
                                    calls / moving if moving else 0.0, plan.monthly_usd, plan.quality))
    points.reverse()

    def dominated(p: FrontierPoint) -> bool:
        qp = p.quality if p.quality is not None else 0.0
        return any(o.monthly_usd <= p.monthly_usd and (o.quality or 0.0) >= qp
                   and (o.monthly_usd < p.monthly_usd - 1e-9 or (o.quality or 0.0) > qp + 1e-12) for o in points)
    return [FrontierPoint(**{**asdict(p), "efficient": not dominated(p)}) for p in points]


def cpt_apgr(curve: Sequence[tuple[float, float]]) -> tuple[float | None, float | None, float | None]:
    """RouteLLM's metrics on a quality-vs-API-share curve [(share, quality)], piecewise linear
    between points sorted by share: PGR(s) = (q(s) − q_weak) / (q_strong − q_weak), weak and
    strong the qualities at the smallest and largest share; CPT(p) = the smallest share with
    PGR >= p (interpolated); APGR = ∫ PGR ds / (largest − smallest share). All None when the gap
    is 0."""
    pts = sorted(curve)
    (x0, weak), (x1, strong) = pts[0], pts[-1]
    if strong - weak <= 1e-12 or x1 <= x0:
        return None, None, None
    pgr = [(x, (q - weak) / (strong - weak)) for x, q in pts]

    def cpt(p: float) -> float | None:
        if pgr[0][1] >= p - 1e-12:
            return pgr[0][0]
        for (xa, ya), (xb, yb) in zip(pgr, pgr[1:]):
            if yb >= p - 1e-12:
                return xa + (xb - xa) * (p - ya) / (yb - ya)
        return None
    area = sum((xb - xa) * (ya + yb) / 2 for (xa, ya), (xb, yb) in zip(pgr, pgr[1:]))
    return cpt(0.5), cpt(0.8), area / (x1 - x0)
