"""analysis.economics.routing on hand-made segments where the optimum is known, the frontier and RouteLLM's
metrics, the SQL aggregates of analysis.economics.routing_segments, and the counterfactual bill."""

from __future__ import annotations

from datetime import date

import pytest
from test_score_runner import build_run

from analysis.economics.cost_model import DAYS_PER_MONTH as D
from analysis.economics.counterfactual import counterfactual_bill
from analysis.economics.routing import RoutingPolicy, cpt_apgr, recommend
from analysis.economics.routing_segments import (
    DayTraffic,
    SegmentQuality,
    SegmentStats,
    Traffic,
    daily_traffic,
    segment_quality,
    segment_traffic,
)
from analysis.economics.scenario import Scenario
from analysis.errors import UserError
from analysis.quality.scoring.runner import score_run

approx = pytest.approx
GOOD = SegmentQuality(n=5000, local_accuracy=0.95, api_accuracy=0.95)  # non-inferior at a 2-point margin
WORSE = SegmentQuality(n=5000, local_accuracy=0.80, api_accuracy=0.95)


def scenario(t: Traffic, **changes) -> Scenario:
    """The logged day at its logged prices (so segments map 1:1 to requests/day and $/day); one
    $0.20/h GPU (= $146/month) serves 8,640 requests/day."""
    base = dict(requests_per_day=t.requests, api_cost_per_request=t.cost_usd / t.requests, gpu="L4",
                gpu_hourly_usd=0.2, capacity_rps_per_gpu=0.1, target_utilisation=1.0, peak_to_average=1.0)
    return Scenario(**{**base, **changes})


def traffic(*segments: SegmentStats) -> Traffic:
    return Traffic(tuple(segments), days_covered=1)


def route(segments, quality, policy=RoutingPolicy(), **changes):
    t = traffic(*segments)
    return recommend(t, quality, scenario(t, **changes), policy)


# A: 6,000/day at $0.002 ($365/month), B: 3,000/day at $0.001 ($91.25), C: 1,000/day at $0.0005 ($15.21).
A, B, C = SegmentStats("A", 6000, 12.0), SegmentStats("B", 3000, 3.0), SegmentStats("C", 1000, 0.5)
GPU_MONTH = 0.2 * 730


def test_gpu_step_picks_the_segments_that_fit_one_gpu():
    """A+B needs 9,000/day > 8,640: a second GPU. A+C fits one: the optimum, though B saves more than C."""
    rec = route((A, B, C), {"A": GOOD, "B": GOOD, "C": GOOD})
    assert rec.sides() == {"A": "local", "B": "api", "C": "local"}
    assert rec.search == "exhaustive"
    assert rec.plan.gpus == 1 and rec.plan.gpu_usd == approx(GPU_MONTH)
    assert rec.plan.monthly_usd == approx(GPU_MONTH + 3.0 * D)
    assert rec.current_monthly_usd == approx(15.5 * D)
    assert rec.savings_monthly_usd == approx(15.5 * D - GPU_MONTH - 3.0 * D)
    assert rec.plan.local_share == approx(0.7) and rec.plan.local_spend_share == approx(12.5 / 15.5)
    assert rec.plan.local_requests_per_day == approx(7000)
    assert "GPU steps" in {d.key: d.reason for d in rec.segments}["B"]


def test_a_small_local_share_is_not_worth_a_gpu():
    """Only C may go local: it saves $15.21/month, a GPU costs $146: everything stays on the API."""
    rec = route((A, B, C), {"A": WORSE, "B": WORSE, "C": GOOD})
    assert set(rec.sides().values()) == {"api"}
    assert rec.plan.gpu_usd == 0 and rec.plan.gpus is None and rec.plan.monthly_usd == approx(15.5 * D)
    reasons = {d.key: d.reason for d in rec.segments}
    assert reasons["A"].startswith("quality: ") and "more (GPU steps)" in reasons["C"]


def test_unknown_quality_stays_on_the_api_unless_forced():
    rec = route((A, B, C), {})
    assert set(rec.sides().values()) == {"api"}
    assert all("quality unknown" in d.reason for d in rec.segments)
    forced = route((A, B, C), {}, RoutingPolicy(force_local=frozenset({"A"})))
    assert forced.sides()["A"] == "local" and forced.plan.quality is None and forced.plan.quality_coverage == 0


def test_residency_forces_local_whatever_the_price_and_quality():
    """C is inferior and too small for a GPU, yet must stay in-house: it goes local, even its
    too-long requests (a conflict that is noted)."""
    c_long = SegmentStats("C", 1000, 0.5, too_long=100, too_long_usd=0.2)
    rec = route((c_long,), {"C": WORSE}, RoutingPolicy(in_house=frozenset({"C"})))
    assert rec.sides() == {"C": "in-house"}
    assert rec.plan.api_usd == 0 and rec.plan.monthly_usd == approx(GPU_MONTH)
    assert rec.plan.local_requests_per_day == approx(1000)
    assert rec.plan.quality == approx(0.80)
    assert any("context window" in note for note in rec.notes)


def test_residency_tagged_requests_stay_local_inside_an_api_segment():
    a = SegmentStats("A", 6000, 12.0, in_house=600, in_house_usd=1.2)
    rec = route((a,), {"A": WORSE})
    assert rec.sides() == {"A": "api"}
    assert rec.plan.local_requests_per_day == approx(600) and rec.plan.gpus == 1
    assert rec.plan.api_usd == approx(10.8 * D)
    assert rec.plan.quality == approx((5400 * 0.95 + 600 * 0.80) / 6000)


def test_requests_longer_than_the_window_stay_on_the_api():
    a = SegmentStats("A", 6000, 12.0, too_long=1000, too_long_usd=4.0)
    all_long = SegmentStats("L", 500, 5.0, too_long=500, too_long_usd=5.0)
    rec = route((a, all_long), {"A": GOOD, "L": GOOD})
    assert rec.sides() == {"A": "local", "L": "api"}
    assert {d.key: d.reason for d in rec.segments}["L"] == "every request is longer than the local context window"
    decision = rec.segments[0]
    assert decision.too_long_share == approx(1 / 6) and decision.local_requests_per_day == approx(5000)
    assert rec.plan.api_usd == approx((4.0 + 5.0) * D)
    assert rec.plan.monthly_usd == approx(GPU_MONTH + 9.0 * D)


def test_blended_latency_leaves_out_segments_without_latencies_and_says_how_much():
    timed = SegmentStats("A", 6000, 12.0, api_p50_ms=800.0, api_p95_ms=2000.0)
    failed_only = SegmentStats("B", 2000, 0.0)  # every logged call failed: no latency
    plan = route((timed, failed_only), {}).plan
    assert plan.latency_p50_ms == approx(800.0) and plan.latency_p95_ms == approx(2000.0)
    assert plan.latency_coverage == approx(0.75)


def test_cascade_pays_local_plus_escalations_and_waits_for_both():
    a = SegmentStats("A", 6000, 12.0, api_p50_ms=800.0, api_p95_ms=2000.0)
    q = SegmentQuality(n=5000, local_accuracy=0.90, api_accuracy=0.95, escalation_rate=0.1,
                       local_p50_ms=200.0, local_p95_ms=500.0)
    assert q.cascade == approx(0.90 + 0.1 * 0.95)
    rec = route((a,), {"A": q}, RoutingPolicy(mode="cascade"))
    assert rec.sides() == {"A": "cascade"}
    plan, decision = rec.plan, rec.segments[0]
    assert plan.local_requests_per_day == approx(6000)  # every request tries local first
    assert plan.api_usd == approx(0.1 * 12.0 * D) and plan.monthly_usd == approx(GPU_MONTH + 1.2 * D)
    assert plan.api_call_share == approx(0.1) and plan.local_spend_share == approx(0.9)
    assert decision.escalated_latency_ms == approx(200 + 800)
    assert plan.latency_p50_ms == approx(200 + 0.1 * 800) and plan.latency_p95_ms == approx(500 + 0.1 * 2000)
    assert plan.quality == approx(0.995)
    # Pre-routing the same segment: 5 points worse than the API, so it stays there.
    assert route((a,), {"A": q}).sides() == {"A": "api"}


def test_quality_target_limits_the_split():
    """A local costs less but drags quality to (6000·0.94 + 4000·0.99)/10000 = 0.96."""
    d = SegmentStats("D", 4000, 2.0)
    qa, qd = SegmentQuality(n=20000, local_accuracy=0.94, api_accuracy=0.95), \
        SegmentQuality(n=20000, local_accuracy=0.99, api_accuracy=0.99)
    loose = route((A, d), {"A": qa, "D": qd}, quality_target=0.95)
    assert loose.sides()["A"] == "local" and loose.plan.quality == approx(0.96)
    strict = route((A, d), {"A": qa, "D": qd}, quality_target=0.965)
    assert strict.sides()["A"] == "api"
    assert "quality target" in {x.key: x.reason for x in strict.segments}["A"]
    impossible = route((A, d), {"A": qa, "D": qd}, quality_target=0.999)
    assert set(impossible.sides().values()) == {"api"} and impossible.notes


def test_exhaustive_and_greedy_agree_on_linear_costs():
    """Serverless GPU time is linear: every segment whose API cost beats the GPU time goes local."""
    segs = [SegmentStats(f"s{i:02d}", 1000, 1000 * (0.0001 * i)) for i in range(1, 15)]
    quality = {s.key: GOOD for s in segs}
    # one GPU-second serves 0.1 requests: $0.2/h / 3600 / 0.1 = $0.000556 per request.
    greedy = route(segs, quality, mode="serverless", cold_starts_per_day=0, serverless_usd_per_second=0.2 / 3600,
                   serverless_idle_timeout_s=0)
    assert greedy.search == "greedy"
    assert {k for k, v in greedy.sides().items() if v == "local"} == {f"s{i:02d}" for i in range(6, 15)}
    exhaustive = route(segs[:10], quality, mode="serverless", cold_starts_per_day=0, serverless_usd_per_second=0.2 / 3600,
                       serverless_idle_timeout_s=0)
    assert exhaustive.search == "exhaustive"
    assert {k for k, v in exhaustive.sides().items() if v == "local"} == {f"s{i:02d}" for i in range(6, 11)}


def test_frontier_is_monotone_and_metrics_follow_the_curve():
    segs = [SegmentStats(k, 2500, 2500 * 0.002) for k in "WXYZ"]
    quality = {k: SegmentQuality(n=5000, local_accuracy=acc, api_accuracy=0.95)
               for k, acc in zip("WXYZ", (0.95, 0.93, 0.90, 0.75))}
    rec = route(segs, quality, capacity_rps_per_gpu=1.0)
    points = rec.frontier
    assert len(points) == 5
    shares = [p.movable_api_share for p in points]
    qualities = [p.quality for p in points]
    assert shares == approx([0, 0.25, 0.5, 0.75, 1.0])
    assert qualities == sorted(qualities) and qualities[0] == approx((0.95 + 0.93 + 0.90 + 0.75) / 4)
    assert qualities[-1] == approx(0.95)
    efficient = sorted((p for p in points if p.efficient), key=lambda p: p.monthly_usd)
    assert [p.quality for p in efficient] == sorted(p.quality for p in efficient)
    gap = 0.95 - qualities[0]
    pgr = [(q - qualities[0]) / gap for q in qualities]  # 0, .741, .926, 1, 1
    assert rec.cpt50 == approx(0.25 * 0.5 / pgr[1]) and rec.cpt80 == approx(0.25 + 0.25 * (0.8 - pgr[1]) / (pgr[2] - pgr[1]))
    assert rec.apgr == approx(sum((a + b) / 2 * 0.25 for a, b in zip(pgr, pgr[1:])))


def test_cpt_and_apgr_on_a_hand_computed_curve():
    """PGR 0, .75, 1 at shares 0, .5, 1: CPT(50%) = .5·(.5/.75) = 1/3, CPT(80%) = .5 + .5·(.05/.25)
    = .6, APGR = .5·(0 + .75)/2 + .5·(.75 + 1)/2 = .625."""
    assert cpt_apgr([(0.0, 0.6), (0.5, 0.9), (1.0, 1.0)]) == approx((1 / 3, 0.6, 0.625))
    assert cpt_apgr([(1.0, 1.0), (0.0, 0.6), (0.5, 0.9)]) == approx((1 / 3, 0.6, 0.625))
    assert cpt_apgr([(0.0, 0.9), (1.0, 0.9)]) == (None, None, None)


def test_scenario_volume_and_price_scale_the_logged_segments():
    rec = route((A, B, C), {}, requests_per_day=20_000, api_cost_per_request=0.00155 * 3)
    assert rec.current_monthly_usd == approx(15.5 * D * 2 * 3)


def _log(con):
    con.execute("""
        INSERT INTO requests (request_id, source_id, ts, status, model, provider, task_type, complexity,
                              input_tokens, output_tokens, cost_usd, latency_ms, tags)
        SELECT 'r' || i, 's', TIMESTAMP '2026-03-02' + INTERVAL (i % 2) DAY, 'ok', 'm', 'openai',
               CASE WHEN i < 60 THEN 'classification' ELSE 'extraction' END, CASE WHEN i % 3 = 0 THEN 0.1 ELSE 0.8 END,
               CASE WHEN i % 10 = 0 THEN 9000 ELSE 100 END, 5, CASE WHEN i % 20 = 1 THEN NULL ELSE 0.01 END,
               100.0 + i, CASE WHEN i % 25 = 0 THEN ['pii'] ELSE ['team:' || (i % 2)] END
        FROM range(100) t(i)""")


def test_segment_traffic_counts_long_and_in_house_requests(con):
    _log(con)
    t = segment_traffic(con, context_window=8192, residency_tags=("pii",))
    by = {s.key: s for s in t.segments}
    assert t.requests == 100 and t.days_covered == 2
    assert set(by) == {"classification/low", "classification/high", "extraction/low", "extraction/high"}
    cl = by["classification/low"]  # i < 60, i % 3 == 0: 20 requests; long: i % 30 == 0 -> 0, 30; pii: 0, 50? (50 % 3 != 0)
    assert cl.requests == 20 and cl.in_house == 1 and cl.conflicts == 1 and cl.too_long == 1
    # Unpriced requests (model 'm' is unknown to genai-prices) are costed at their cell's mean.
    assert t.cost_usd == approx(100 * 0.01) and sum(s.unpriced for s in t.segments) == 5
    assert by["classification/low"].p95_input_tokens is not None
    teams = {s.key: s.requests for s in segment_traffic(con, segment_by="tag:team:").segments}
    assert teams == {"0": 48, "1": 48, "(none)": 4}
    days = daily_traffic(con, residency_tags=("pii",))
    assert [d.day for d in days] == [date(2026, 3, 2), date(2026, 3, 3)]
    assert sum(s.requests for d in days for s in d.segments) == 100
    with pytest.raises(UserError, match="segment_by"):
        segment_traffic(con, segment_by="input_text; DROP TABLE requests")


def test_counterfactual_bill_prices_gpu_time_day_by_day():
    day = lambda d, n: DayTraffic(d, (SegmentStats("A", n, n * 0.002), SegmentStats("B", 100, 0.1)))  # noqa: E731
    days = [day(date(2026, 3, 1), 6000), day(date(2026, 3, 2), 9000)]
    t = traffic(A, SegmentStats("B", 100, 0.1))
    rec = recommend(t, {"A": GOOD}, scenario(t))
    assert rec.sides() == {"A": "local", "B": "api"}
    bill = counterfactual_bill(days, rec, {"A": GOOD}, scenario(t))
    assert [b.gpus for b in bill] == [1, 2]  # 9,000/day needs a second 8,640/day GPU
    assert bill[0].gpu_usd == approx(GPU_MONTH / D) and bill[1].gpu_usd == approx(2 * GPU_MONTH / D)
    assert [b.api_usd for b in bill] == approx([0.1, 0.1])
    assert [b.logged_usd for b in bill] == approx([12.1, 18.1])
    assert bill[0].total_usd == approx(0.1 + 0.2 * 24)


def test_segment_quality_from_a_scored_run(con):
    """Per task type: right, wrong label, no known label (a failed check), failed call (a failed
    check), against ground truth with the incumbent scored too."""
    plan = [("yes", "yes", "yes"), ("yes", "no", "yes"), ("yes", "maybe not sure", "yes"), ("yes", None, "yes"),
            ("no", "no", "yes")]
    items = [{"request_id": f"q{i}", "label": label, "incumbent": inc, "task_type": "classification",
              "local:a": answer, "local:a#latency": 100.0 * (i + 1)}
             for i, (label, answer, inc) in enumerate(plan)]
    build_run(con, items, candidates=("local:a",), adapter={"labels": ["yes", "no"]})
    score_run(con, "run1")
    q = segment_quality(con, segment_by="task_type")["classification"]
    assert q.n == 5 and q.local_accuracy == approx(2 / 5) and q.api_accuracy == approx(4 / 5)
    assert q.escalation_rate == approx(2 / 5)
    # cascade: q0 local right, q1 local wrong (no escalation), q2/q3 escalate to the right API, q4 local right
    assert q.cascade == approx(4 / 5)
    assert (q.local_wins, q.api_wins, q.cascade_wins, q.cascade_losses) == (1, 3, 1, 1)
    assert q.local_p50_ms == approx(250.0)  # the ok calls: 100, 200, 300, 500
    assert segment_quality(con, run_id="nope") == {}


def test_segments_with_too_few_timed_requests_have_unknown_latency_in_the_blend(con):
    """Logged API latency needs MIN_LATENCY_REQUESTS timed requests per segment: of _log's four
    segments only classification/high (40 requests, latencies 100 + i ms) has a figure, and the
    blend covers its 40% of the requests alone, untouched by the unknown ones."""
    from analysis.quality.verdicts import MIN_LATENCY_REQUESTS

    _log(con)
    t = segment_traffic(con)
    by = {s.key: s for s in t.segments}
    timed = {key for key, s in by.items() if s.api_p50_ms is not None}
    assert timed == {key for key, s in by.items() if s.api_timed_requests >= MIN_LATENCY_REQUESTS} == {
        "classification/high"}
    assert all(s.api_p95_ms is None for key, s in by.items() if key not in timed)
    plan = recommend(t, {}, scenario(t)).plan
    assert plan.latency_coverage == approx(0.4)
    assert plan.latency_p50_ms == approx(by["classification/high"].api_p50_ms)
    assert plan.latency_p95_ms == approx(by["classification/high"].api_p95_ms)
