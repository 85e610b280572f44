"""The decision: one verdict for one chosen candidate, that every page, the report and the CLI
state alike (Overview's headline, Economics, Routing, the HTML report, `breakeven decide`).

Inputs: the scenario (volume, prices, the model to self-host, GPU and deployment), the workspace's
traffic per segment and the chosen replay run and candidate's quality per segment, and the
routing policy. The decision is `routing.recommend` of those (the cheapest split whose segments
each hold quality, `analysis.economics.routing`), read as:
- verdict: 'self-host' when every request goes local, 'hybrid' when some do, 'api' when none;
- local share (of requests and of API spend), the monthly bill both ways at today's volume and
  the savings, all the recommendation's own figures;
- the quality caveat: what the evidence is (run, candidate, replayed requests, synthetic or not),
  and the segments kept on the API because quality does not hold there or is unknown;
- the traffic's two kinds (`Scenario.traffic_split`): interactive and Batch API requests/day and
  shares, and the peak-to-average the fleet is sized for (`analysis.economics.traffic_kind`);
- beside it, cost only, before quality: `cost_model.evaluate` of the whole traffic self-hosted,
  with the volume ranges where that is cheaper (`BreakEven.regions`) and its headline.
The headline states the verdict first; it never reports the cost-only saving as the decision's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Literal

import duckdb

from analysis.economics import comparison
from analysis.economics.models import find_model
from analysis.economics.routing import Recommendation, RoutingPolicy, recommend
from analysis.economics.routing_segments import (
    DEFAULT_CONTEXT_WINDOW,
    DEFAULT_SEGMENT,
    SegmentQuality,
    Traffic,
    segment_quality,
    segment_traffic,
)
from analysis.economics.scenario import Scenario
from analysis.economics.traffic_kind import TrafficSplit
from analysis.present.formatting import compact, percent, usd
from analysis.quality.candidate_choice import best_candidate
from analysis.quality.verdicts import scored_runs
from analysis.replay.demo_run import default_run, is_demo_run

Verdict = Literal["self-host", "hybrid", "api"]


@dataclass(frozen=True)
class Evidence:
    """What the quality verdicts rest on: the replay run and candidate, how many of its answers
    were compared per segment in total, and whether the run is the demo's synthetic one."""
    run_id: str | None
    candidate: str | None
    compared: int
    synthetic: bool


@dataclass(frozen=True)
class Decision:
    """The one answer (module rules). Money per month at the scenario's requests/day."""
    verdict: Verdict
    headline: str
    caveat: str
    model: str
    gpu: str
    mode: str
    gpus: int | None
    requests_per_day: float
    all_api_monthly_usd: float
    monthly_usd: float
    savings_monthly_usd: float
    local_share: float
    local_spend_share: float
    local_segments: tuple[str, ...]
    quality_fails: tuple[str, ...]
    quality_unknown: tuple[str, ...]
    evidence: Evidence
    cost_only: comparison.Economics
    cost_only_headline: str
    recommendation: Recommendation
    traffic: TrafficSplit

    def summary(self) -> dict:
        """The decision's figures as plain values (JSON, the report): everything but the
        recommendation's per-segment detail and the cost-only curve."""
        return {"verdict": self.verdict, "headline": self.headline, "caveat": self.caveat, "model": self.model,
                "gpu": self.gpu, "mode": self.mode, "gpus": self.gpus, "requests_per_day": self.requests_per_day,
                "all_api_monthly_usd": self.all_api_monthly_usd, "monthly_usd": self.monthly_usd,
                "savings_monthly_usd": self.savings_monthly_usd, "local_share": self.local_share,
                "local_spend_share": self.local_spend_share, "local_segments": list(self.local_segments),
                "quality_fails": list(self.quality_fails), "quality_unknown": list(self.quality_unknown),
                "evidence": asdict(self.evidence), "traffic": self.traffic.to_dict(),
                "traffic_note": self.traffic.sentence(), "cost_only_headline": self.cost_only_headline,
                "cost_only": {"self_host_monthly_usd": self.cost_only.self_host.total_usd,
                              "savings_monthly_usd": self.cost_only.savings_monthly_usd,
                              "first_cheaper_at": self.cost_only.breakeven.requests_per_day,
                              "regions": [asdict(r) for r in self.cost_only.breakeven.regions]}}


def _segments(recommendation: Recommendation) -> dict[str, tuple[str, ...]]:
    """Segments by why they are where they are: 'local'; on the API because quality 'fails', is
    'unknown', or holds but local would cost more ('dearer')."""
    found: dict[str, list[str]] = {"local": [], "fails": [], "unknown": [], "dearer": []}
    for decision in recommendation.segments:
        if decision.side != "api":
            found["local"].append(decision.key)
        elif decision.verdict is None:
            found["unknown"].append(decision.key)
        elif decision.reason.startswith("non-inferior"):
            found["dearer"].append(decision.key)
        else:
            found["fails"].append(decision.key)
    return {why: tuple(keys) for why, keys in found.items()}


def _names(keys: tuple[str, ...], limit: int = 4) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _caveat(evidence: Evidence, segments: dict[str, tuple[str, ...]], priced_model: str) -> str:
    if evidence.run_id is None:
        return ("Quality unknown: no candidate has been replayed and scored on this workspace's requests, "
                "so nothing goes local on merit. Replay a sample and score it (Replay page).")
    source = (f"Only if quality holds: measured on {evidence.compared:,} replayed answers of {evidence.candidate} "
              f"(run {evidence.run_id}{', the demo' + chr(39) + 's synthetic run' if evidence.synthetic else ''}).")
    if segments["fails"]:
        source += f" It does not hold for {_names(segments['fails'])}: those stay on the API."
    if segments["unknown"]:
        source += f" Unknown for {_names(segments['unknown'])} (no replayed answer there): on the API."
    if segments["dearer"]:
        source += f" It holds for {_names(segments['dearer'])}, but serving them locally would cost more."
    card = find_model(evidence.candidate or "")
    if card is not None and card.display_name != priced_model:
        source += f" The price is for {priced_model}, the quality for {card.display_name}: choose one candidate."
    return source


def _headline(verdict: Verdict, recommendation: Recommendation, scenario: Scenario, model: str,
              gpus: int | None, evidence: Evidence, local: tuple[str, ...]) -> str:
    plan, today = recommendation.plan, compact(scenario.requests_per_day)
    fleet = f"{gpus} {scenario.gpu}{'s' if gpus > 1 else ''}" if gpus else scenario.gpu
    where = f"{model} on {fleet} ({scenario.mode})"
    if verdict == "api":
        if evidence.run_id is None:
            why = "no candidate's quality has been measured yet"
        elif not any(d.side == "api" and d.reason.startswith("non-inferior") for d in recommendation.segments):
            why = f"{evidence.candidate} does not match the API's quality on any segment"
        else:
            why = "serving the segments that hold quality locally would cost more than the API"
        return (f"Stay on the API at today's {today} requests/day: {why} "
                f"(all-API bill {usd(recommendation.current_monthly_usd)}/month).")
    share = "all requests" if verdict == "self-host" else f"{percent(plan.local_share)} of requests ({_names(local)})"
    return (f"Serve {share} locally with {where}{', the rest on the API' if verdict == 'hybrid' else ''}: "
            f"{usd(recommendation.savings_monthly_usd)}/month saved at today's {today} requests/day "
            f"({usd(recommendation.current_monthly_usd)} all on the API, {usd(plan.monthly_usd)} with the split).")


def decide(traffic: Traffic, quality: Mapping[str, SegmentQuality], scenario: Scenario,
           policy: RoutingPolicy = RoutingPolicy(), evidence: Evidence | None = None,
           recommendation: Recommendation | None = None) -> Decision:
    """The decision of the module rules (`recommendation`: the same `recommend(...)` when the
    caller already has it, so a page never computes two)."""
    evidence = evidence or Evidence(run_id=None, candidate=None, compared=0, synthetic=False)
    recommendation = recommendation or recommend(traffic, quality, scenario, policy)
    plan = recommendation.plan
    segments = _segments(recommendation)
    local = segments["local"]
    verdict: Verdict = ("api" if not local or plan.local_share <= 0
                        else "self-host" if plan.local_share >= 1 - 1e-9 else "hybrid")
    card = find_model(scenario.candidate_model)
    model = card.display_name if card else scenario.candidate_model
    inputs = scenario.to_cost_inputs()
    return Decision(
        verdict=verdict,
        headline=_headline(verdict, recommendation, scenario, model, plan.gpus, evidence, local),
        caveat=_caveat(evidence, segments, model), model=model, gpu=scenario.gpu, mode=scenario.mode,
        gpus=plan.gpus, requests_per_day=scenario.requests_per_day,
        all_api_monthly_usd=recommendation.current_monthly_usd, monthly_usd=plan.monthly_usd,
        savings_monthly_usd=recommendation.savings_monthly_usd, local_share=plan.local_share,
        local_spend_share=plan.local_spend_share, local_segments=local, quality_fails=segments["fails"],
        quality_unknown=segments["unknown"], evidence=evidence, cost_only=comparison.evaluate(inputs),
        cost_only_headline="Cost only, before quality: " + comparison.headline(inputs, scenario.requests_per_day),
        recommendation=recommendation, traffic=scenario.traffic_split())


def evidence_of(quality: Mapping[str, SegmentQuality], run_id: str | None, candidate: str | None,
                synthetic: bool) -> Evidence:
    """The evidence record of a run's per-segment quality: answers compared summed over segments."""
    return Evidence(run_id=run_id, candidate=candidate, compared=sum(q.n for q in quality.values()),
                    synthetic=synthetic)


def workspace_decision(con: duckdb.DuckDBPyConnection, scenario: Scenario, run_id: str | None = None,
                       candidate: str | None = None, segment_by: str = DEFAULT_SEGMENT,
                       context_window: int = DEFAULT_CONTEXT_WINDOW, policy: RoutingPolicy = RoutingPolicy(),
                       residency_tags: tuple[str, ...] = ()) -> Decision:
    """`decide` over a workspace: its traffic per segment and the quality of `run_id` and
    `candidate`; without them, `candidate_choice.best_candidate`'s (the dashboard's default: real
    runs before the demo's); with a run only, its most scored candidate."""
    if run_id is None and candidate is None and (best := best_candidate(con)) is not None:
        run_id, candidate = best.run_id, best.candidate
    runs = scored_runs(con)
    run_id = run_id or default_run(runs)
    candidate = candidate or next(iter(runs.get(run_id) or []), None)
    traffic = segment_traffic(con, segment_by, context_window, residency_tags)
    quality = segment_quality(con, run_id, candidate, segment_by) if run_id else {}
    evidence = evidence_of(quality, run_id, candidate, bool(run_id) and is_demo_run(run_id))
    return decide(traffic, quality, scenario, policy, evidence)
