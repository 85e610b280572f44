"""The counterfactual bill: the logged traffic, day by day, as it would have cost under a split
(`analysis.economics.routing`), with self-hosting priced by GPU time, never as $0. Per day: the API dollars
of the requests left on the API at their logged prices (a cascade's escalations at the segment's
mean), plus self-hosting's monthly cost at that day's local volume / 30.4167: a dedicated fleet
sized for that day with the scenario's peak ratio, ops and amortised fine-tuning included."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from analysis.economics.cost_model import DAYS_PER_MONTH
from analysis.economics.routing import Outcome, Recommendation, gpu_pricer, outcome, scale_segments
from analysis.economics.routing_segments import DayTraffic, SegmentQuality
from analysis.economics.scenario import Scenario


@dataclass(frozen=True)
class BillDay:
    """One logged day as billed (logged) and as it would have cost under a split."""
    day: str | None
    requests: int
    logged_usd: float
    api_usd: float
    gpu_usd: float
    total_usd: float
    local_requests: float
    gpus: int | None


def counterfactual_bill(days: Sequence[DayTraffic], rec: Recommendation, quality: Mapping[str, SegmentQuality],
                        scenario: Scenario) -> list[BillDay]:
    """Each logged day under `rec`'s sides: API dollars of the requests left on the API (logged
    prices; a cascade's escalations at the segment's mean), plus that day's GPU cost =
    self-hosting's monthly cost at the day's local volume / 30.4167 (a dedicated fleet sized for
    that day with the scenario's peak ratio; ops and amortised fine-tuning included)."""
    x, sides = scenario.to_cost_inputs(), rec.sides()
    price, bill = gpu_pricer(x), []
    for d in days:
        segs = scale_segments(d.segments, quality, 1.0, 1.0, 0.0)
        out = sum((outcome(s, sides.get(s.key, "api")) for s in segs), Outcome())
        saved = sum(s.api_usd for s in segs) - out.api_usd
        gpu, gpus, _ = price(out.local * DAYS_PER_MONTH, saved / out.local if out.local else 0.0)
        bill.append(BillDay(d.day.isoformat() if d.day else None, int(sum(s.requests for s in segs)),
                            sum(s.api_usd for s in segs), out.api_usd, gpu / DAYS_PER_MONTH,
                            out.api_usd + gpu / DAYS_PER_MONTH, out.local, gpus))
    return bill
