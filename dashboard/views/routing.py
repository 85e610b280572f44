"""Routing: which segments go local and which stay on the API, priced with the Economics page's
scenario; blended figures, the cost-quality frontier, the counterfactual bill and a router to deploy."""

import json

import streamlit as st

from analysis.economics import counterfactual, router_export, routing
from analysis.economics import routing_segments as routing_data
from analysis.present import charts
from analysis.present import formatting as fmt
from analysis.quality.verdicts import scored_runs
from analysis.replay import runs as replay
from analysis.replay.demo_run import is_demo_run
from analysis.replay.providers.registry import parse_candidate_spec
from dashboard import components, routing_state, scenario_state

SEGMENT_LABELS = {"task_complexity": "task type × complexity", "task_type": "task type", "model": "model",
                  "provider": "provider", "team": "team", "user_id": "user", "operation": "operation"}
SIDE_LABELS = {"api": "API", "local": "local", "cascade": "cascade (local, then API)", "in-house": "in-house"}

st.title("Routing")
summary = components.workspace_summary()
if not summary.requests:
    st.info("No requests in this workspace yet: routing splits your logged traffic. Upload an export on the "
            "**Logs** page or pick the demo workspace.")
    st.stop()

runs = components.query(scored_runs)
run_labels = {r["run_id"]: f"{r['created_at']:%Y-%m-%d %H:%M} UTC · {r['sample_size']} requests · {r['run_id']}"
              for r in components.query(replay.list_runs).iter_rows(named=True)}
defaults = components.scenario_defaults()
scenario_state.seed(defaults)
routing_state.seed(runs)
key, control = routing_state.key, routing_state.control

with st.expander("Routing controls", expanded=True):
    c = st.columns(3)
    c[0].selectbox("Segment by", routing_state.SEGMENT_CHOICES, **control("segment_by"), format_func=SEGMENT_LABELS.get,
                   help="Each segment goes local or stays on the API as a whole.")
    c[0].radio("Routing mode", routing_state.MODES, **control("mode"), horizontal=True,
               help="Pre-routing sends each request to one side by its segment. Cascade tries the local model "
                    "first and escalates to the API when a check fails (invalid JSON, an unknown label): an "
                    "escalated request pays for both calls and waits for both.")
    c[1].number_input("Overall quality target (empty: none)", min_value=0.0, max_value=1.0, step=0.01,
                      **scenario_state.control("quality_target"),
                      help="0.9 = the split must keep 90% of measured answers right; empty: per-segment "
                           "non-inferiority only.")
    c[1].number_input("Non-inferiority margin", min_value=0.0, max_value=0.5, step=0.01, format="%.2f",
                      **scenario_state.control("noninferiority_margin"),
                      help="The non-inferiority margin: the largest quality loss against the API you accept "
                           "for a segment to go local (0.02 = 2 points of accuracy). A segment goes local only "
                           "when its replay shows, with 95% confidence, that it loses no more than this.")
    c[1].number_input("Local context window (tokens)", min_value=1, max_value=routing_state.MAX_CONTEXT_WINDOW,
                      step=1024, **control("context_window"),
                      help="Requests with more input tokens than this stay on the API.")
    if runs and st.session_state[key("run")] in runs:  # shown here, chosen in the sidebar
        c[2].selectbox("Replay run (quality)", list(runs), **control("run"), format_func=lambda r: run_labels.get(r, r),
                       disabled=True, help="The run and candidate are chosen once, in the sidebar.")
        if is_demo_run(st.session_state[key("run")]):
            c[2].caption("The demo's synthetic run (made-up answers): replay your own sample to measure yours.")
        c[2].selectbox("Candidate", runs[st.session_state[key("run")]], **control("candidate"), disabled=True,
                       help="Change it with the Candidate control in the sidebar.")
    else:
        c[2].caption("No scored replay run yet: quality is unknown, so nothing can go local on merit.")
    traffic = components.query(routing_data.segment_traffic, st.session_state[key("segment_by")],
                                st.session_state[key("context_window")])
    segments = [s.key for s in traffic.segments]
    routing_state.keep_known_segments(segments)
    c[2].multiselect("Must stay in-house (data residency)", segments, **control("in_house"),
                     help="These segments are served locally whatever the price or quality.")

choice = routing_state.current()
scenario = scenario_state.current(defaults)
scenario_state.publish(scenario, choice.to_query_params())
api_price = scenario.to_cost_inputs().api_cost_per_request
st.caption(f"Priced with the Economics page's scenario: {fmt.per_day(scenario.requests_per_day)}, API "
           f"{fmt.usd(api_price)} per request{' at Batch rates' if scenario.batch_discount else ''}, {scenario.gpu} at "
           f"{fmt.usd(scenario.gpu_hourly_usd)}/hour ({scenario.mode}). Change those on the **Economics** page.")

quality = (components.query(routing_data.segment_quality, choice.run, choice.candidate, choice.segment_by)
           if choice.run else {})
rec = routing.recommend(traffic, quality, scenario, choice.policy())
plan = rec.plan
decision = routing_state.decision(scenario, runs, rec)
st.markdown(f"#### {components.as_text(decision.headline)}")
st.caption(components.as_text(decision.caveat))

cards = components.kpi_row()
components.kpi(cards, "Split cost / month", fmt.usd(plan.monthly_usd),
               f"Per month: API {fmt.usd(plan.api_usd)} + GPU {fmt.usd(plan.gpu_usd)}")
components.kpi(cards, "All-API cost / month", fmt.usd(rec.current_monthly_usd),
               "Per month: today's traffic priced at the scenario's API cost")
components.kpi(cards, "Savings / month", fmt.usd(rec.savings_monthly_usd),
               "Per month: all-API cost − split cost")
components.kpi(cards, "Served locally", fmt.percent(plan.local_share),
               f"Share of requests: {fmt.per_day(plan.local_requests_per_day)}; API calls: "
               f"{fmt.percent(plan.api_call_share)} of requests (a cascade's escalations included)")
components.kpi(cards, "API spend moved", fmt.percent(plan.local_spend_share),
               "Share of today's API dollars that the split no longer pays the API")
cards = components.kpi_row()
components.kpi(cards, "Blended quality", fmt.percent(plan.quality),
               f"Requests-weighted mean over the measured segments ({fmt.percent(plan.quality_coverage)} of "
               "requests) of each one's quality: accuracy against the ground truth where the requests have "
               "labels, else agreement with the incumbent's logged answers (the API then counts as right)")
components.kpi(cards, "Quality all on the API", fmt.percent(rec.current_quality),
               "The incumbent on the same segments, by the same measure: its accuracy where there are "
               "labels, 100% where quality is agreement with it")
components.kpi(cards, "Latency p50 / p95",
               f"{fmt.duration_ms(plan.latency_p50_ms)} / {fmt.duration_ms(plan.latency_p95_ms)}",
               "Typical (p50) and slow-end (p95: 1 request in 20 is slower) response time under the split: "
               "each path's figure weighted by its requests (a cascade waits for both calls), over the "
               f"segments with latency figures ({fmt.percent(plan.latency_coverage)} of requests). A segment "
               f"with fewer than {routing_data.MIN_LATENCY_REQUESTS} timed logged requests has no latency "
               "figure (too few to tell); '–': none has one.")
over = plan.over_capacity_requests_per_day
components.kpi(cards, "GPUs", fmt.compact(plan.gpus) if plan.gpus else "–", f"{scenario.gpu}, {scenario.mode}"
               + (f"; {fmt.per_day(over)} over capacity priced on the API" if over else ""))
for note in rec.notes:
    st.warning(components.as_text(note))
if not quality:
    st.info("No scored replay results for this workspace yet, so every segment stays on the API. Replay a "
            "sample on the **Replay** page and score it on the **Quality** page to find out which can go local.")

st.subheader("Recommended split")
st.dataframe([{
    "segment": d.key, "side": SIDE_LABELS[d.side], "requests": fmt.percent(d.request_share),
    "req/day": fmt.compact(d.requests_per_day), "local req/day": fmt.compact(d.local_requests_per_day),
    "API $/month": fmt.usd(d.api_usd), "all-API $/month": fmt.usd(d.api_usd_if_all_api),
    "local quality": fmt.percent(d.local_accuracy), "API quality": fmt.percent(d.api_accuracy),
    "too long": fmt.percent(d.too_long_share), "why": d.reason,
} for d in rec.segments], hide_index=True, key="rt_split")
st.plotly_chart(charts.routing_split(rec.segments), key="rt_split_chart")

unmeasured = sorted((d for d in rec.segments if d.local_accuracy is None and d.side == "api" and d.too_long_share < 1),
                    key=lambda d: -d.api_usd_if_all_api)
if unmeasured:
    st.subheader("Could go local once measured")
    what_if = routing.recommend(traffic, quality, scenario, routing.RoutingPolicy(
        choice.mode, frozenset(choice.in_house), force_local=frozenset(d.key for d in unmeasured)), with_frontier=False)
    st.caption(f"Segments without a quality measurement, the biggest API spend first. Sent local as they are, "
               f"the bill would be {fmt.usd(what_if.plan.monthly_usd)}/month instead of "
               f"{fmt.usd(plan.monthly_usd)} (GPU time included); whether quality holds is what a replay measures.")
    st.dataframe([{"segment": d.key, "requests": fmt.percent(d.request_share),
                   "API $/month": fmt.usd(d.api_usd_if_all_api),
                   "too long for the local window": fmt.percent(d.too_long_share)} for d in unmeasured],
                 hide_index=True, key="rt_unmeasured")

if any(p.quality is not None for p in rec.frontier):
    st.subheader("Cost-quality frontier")
    st.caption("One point per routing threshold: the segments whose quality gap to the API is at most the "
               "threshold go local. Blue points are efficient (no other point is both cheaper and better); "
               "the star is the recommended split.")
    cards = components.kpi_row()
    components.kpi(cards, "CPT(50%)", fmt.percent(rec.cpt50, 0),
                   "How much of the movable traffic must still go to the API to close half of the quality "
                   "gap between all-local and all-API (RouteLLM's call-performance threshold). Lower is "
                   "better: 20% means a fifth of the requests on the API already gives half of the gain.")
    components.kpi(cards, "CPT(80%)", fmt.percent(rec.cpt80, 0),
                   "The same for 80% of the quality gap: the API share needed to get 80% of the way "
                   "from all-local quality to all-API quality.")
    components.kpi(cards, "APGR", fmt.percent(rec.apgr, 0),
                   "Average performance gap recovered: over every API share from 0% to 100%, the average part "
                   "of the all-local vs all-API quality gap this routing closes. 50% is what sending "
                   "requests to the API at random gives; higher is better.")
    st.plotly_chart(charts.routing_frontier(rec.frontier, plan), key="rt_frontier")

st.subheader("Counterfactual bill")
st.caption("Each logged day all on the API (its logged or computed costs; failed calls are not billed), and "
           "as it would have cost under this split: API calls at those prices plus the GPU time of a fleet "
           "sized for that day (never $0).")
bill = counterfactual.counterfactual_bill(components.query(routing_data.daily_traffic, choice.segment_by, choice.context_window),
                                          rec, quality, scenario)
st.plotly_chart(charts.counterfactual_bill(bill), key="rt_bill")

st.subheader("Router export")
local_model = (parse_candidate_spec(choice.candidate).model if choice.candidate else scenario.candidate_model)
api_model = summary.by_model[0]["model"] if summary.by_model else "api-model"
rules = router_export.router_rules(rec, choice.policy(), local_model, api_model)
exports = {
    "JSON rules": (json.dumps(rules, indent=2), "json", "router.json", "application/json"),
    "Python": (router_export.router_python(rules), "python", "router.py", "text/x-python"),
    "LiteLLM config": (router_export.litellm_config(rules), "yaml", "litellm_config.yaml", "application/yaml"),
}
for tab, (text, language, file_name, mime) in zip(st.tabs(list(exports)), exports.values(), strict=True):
    tab.code(text, language=language)
    tab.download_button(f"Download {file_name}", text, file_name=file_name, mime=mime, key=f"rt_download_{language}",
                        on_click="ignore")
