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


def counterfactual_bill(days: Sequence[DayTraffic], recommendation: Recommendation,
                        quality: Mapping[str, SegmentQuality], scenario: Scenario) -> list[BillDay]:
    """Each logged day under `recommendation`'s sides: API dollars of the requests left on the API (logged
    prices; a cascade's escalations at the segment's mean), plus that day's GPU cost =
    self-hosting's monthly cost at the day's local volume / 30.4167 (a dedicated fleet sized for
    that day with the scenario's peak ratio; ops and amortised fine-tuning included)."""
    sides, price, bill = recommendation.sides(), gpu_pricer(scenario.to_cost_inputs()), []
    for day in days:
        segments = scale_segments(day.segments, quality, 1.0, 1.0, 0.0)
        result = sum((outcome(segment, sides.get(segment.key, "api")) for segment in segments), Outcome())
        logged_usd = sum(segment.api_usd for segment in segments)
        local, saved = result.local_requests, logged_usd - result.api_usd
        gpu_usd_per_month, gpus, _ = price(local * DAYS_PER_MONTH, saved / local if local else 0.0)
        gpu_usd = gpu_usd_per_month / DAYS_PER_MONTH
        bill.append(BillDay(day=day.day.isoformat() if day.day else None,
                            requests=int(sum(segment.requests for segment in segments)), logged_usd=logged_usd,
                            api_usd=result.api_usd, gpu_usd=gpu_usd, total_usd=result.api_usd + gpu_usd,
                            local_requests=local, gpus=gpus))
    return bill
