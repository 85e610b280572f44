"""Economics: API cost vs self-hosting at any volume, where self-hosting is cheaper, the capacity
behind it, savings and sensitivity."""

import streamlit as st

from analysis.economics import catalogue, comparison, projections, scenario_store
from analysis.economics import cost_model as economics
from analysis.economics.gpu_choice import recommended
from analysis.economics.token_shape import token_shapes
from analysis.economics.workspace_defaults import probe_measurements, probe_prediction
from analysis.errors import UserError
from analysis.present import capacity, charts
from analysis.present import formatting as fmt
from analysis.quality.verdicts import scored_runs
from dashboard import components, routing_state, scenario_state

SELF_HOST_FORMULA = {
    "dedicated": "replicas x GPUs per replica x hourly x 730 + ops + fine-tuning / amortisation months",
    "scheduled": "GPU-hours the volume needs x hourly + ops + fine-tuning / amortisation months",
    "serverless": "(busy GPU-seconds + the idle time a container stays up after a request) x the serverless "
                  "price per second + cold starts + ops + fine-tuning / amortisation months",
    "owned": "servers x (price / depreciation months + colocation) + energy at full power x PUE + ops "
             "+ fine-tuning / amortisation months",
}

st.title("Economics")
if not components.workspace_summary().requests:
    st.info("No requests in this workspace yet: the defaults come from your logs. Upload an export on "
            "the **Logs** page or pick the demo workspace.")
    st.stop()

defaults = components.scenario_defaults()
scenario_state.seed(defaults)
with st.expander("Scenario", expanded=True):
    scenario_state.economics_controls(defaults)
scenario = scenario_state.current(defaults)
scenario_state.publish(scenario)
gpu = catalogue.gpu(scenario.gpu)

inputs = scenario.to_cost_inputs()
result = comparison.evaluate(inputs)
be = result.breakeven
decision = routing_state.decision(scenario, components.query(scored_runs))
st.markdown(f"#### {components.as_text(decision.headline)}")
st.caption(components.as_text(decision.caveat))
if decision.traffic.batch.share > 0:
    st.caption(components.as_text(decision.traffic.sentence()))
st.markdown(f"**Cost only, before quality** (every request self-hosted): "
            f"{components.as_text(comparison.headline(inputs, scenario.requests_per_day))}")
cards = components.kpi_row()
components.kpi(cards, "API per month", fmt.usd(result.api_monthly_usd),
               "Requests per day x 30.4 days x the API cost per request.")
components.kpi(cards, "Self-hosting per month", fmt.usd(result.self_host.total_usd),
               f"{SELF_HOST_FORMULA[scenario.mode]}. {result.self_host.note}".strip())
components.kpi(cards, "Savings per month", fmt.usd(result.savings_monthly_usd),
               "API minus self-hosting at today's volume (negative: the API is cheaper).")
components.kpi(cards, "Self-hosting first cheaper at",
               f"{fmt.compact(be.requests_per_day)}/day" if be.requests_per_day is not None else be.status,
               "The smallest volume where self-hosting costs no more than the API. On whole GPUs it can be "
               "cheaper on some volume ranges and not on others: the shaded ranges of the chart. " + be.reason)
components.kpi(cards, "GPUs", str(result.self_host.gpus or "–"),
               f"{scenario.gpus_per_replica()} GPU(s) per replica; payback of fine-tuning: "
               f"{fmt.compact(result.payback_months)} months" if result.payback_months is not None
               else f"{scenario.gpus_per_replica()} GPU(s) per replica; no fine-tuning to pay back")
st.caption(f"{gpu.name}: {fmt.usd(gpu.hourly_usd)}/hour on demand ({gpu.price_citation}). "
           f"{economics.MODE_NOTES[scenario.mode]}")

st.subheader("Capacity per GPU")
if scenario.capacity_source == "sizing":
    st.write(capacity.sizing_sentence(scenario.sizing()))
elif scenario.capacity_source == "probe":
    st.write(f"{fmt.compact(scenario.capacity_rps_per_gpu, 2)} requests/s per GPU, measured by your probe of this "
             "model on this GPU (it wins over the sizing model).")
else:
    st.write(f"{fmt.compact(scenario.capacity_rps_per_gpu, 2)} requests/s per GPU: your own figure.")
for probe in components.query(probe_measurements)[:1]:
    st.caption(capacity.probe_sentence(probe, probe_prediction(probe, scenario)))
with st.expander("Why this capacity"):
    try:
        sizing = scenario.sizing()
    except UserError as exc:
        components.show_user_error(exc)
    else:
        st.dataframe(capacity.sizing_rows(sizing), hide_index=True, key="econ_sizing")
        if shapes := components.query(token_shapes):
            st.caption("Your logs' request shape per task type (the capacity above uses the whole workload's "
                       "mean and p95):")
            st.dataframe(capacity.task_shape_rows(shapes, scenario), hide_index=True, key="econ_task_shapes")
        st.caption("The sizing model (analysis/economics/sizing.py) is a roofline of one replica, calibrated on "
                   "published benchmarks (median error 1.27x, worst 2.2x); a probe of your own endpoint on this GPU "
                   "replaces it. Its constants and their sources:")
        st.dataframe(capacity.constant_rows(sizing), hide_index=True, key="econ_constants")
options = components.cached_gpu_options(scenario.to_json())
best = recommended(options)
with st.expander("Which GPU: every GPU and deployment at today's volume"
                 + (f" (cheapest feasible: {best.gpu}, {best.mode})" if best else " (none feasible)")):
    st.dataframe(capacity.gpu_option_rows(options, best), hide_index=True, key="econ_gpus")
    st.caption("Feasible: the model fits on at most 8 of the GPU, one request at a time meets your latency "
               "targets, and the deployment suits the work (batch windows only without a latency target). "
               "The recommendation is the feasible row cheapest at today's volume; the defaults start there.")
with st.expander(f"Which models fit on {gpu.name}s"):
    st.dataframe(capacity.fit_rows(gpu.name, scenario.token_shape_p95), hide_index=True, key="econ_fit")
    st.caption("GPUs per replica each catalogue model needs at its published precision and at 4 bits, with "
               "your request shape; beyond 8 GPUs it does not fit one server.")

st.subheader("Monthly cost vs volume")
st.plotly_chart(charts.cost_curve(projections.cost_curve(inputs), be, scenario.requests_per_day), key="econ_curve")
left, right = st.columns(2)
with left:
    st.subheader("Sensitivity (±50%)")
    st.plotly_chart(charts.tornado(projections.sensitivity(inputs), result.savings_monthly_usd), key="econ_tornado")
    st.caption("An assumption without a bar leaves the savings unchanged at ±50% (e.g. the same number of GPUs "
               "still suffices).")
with right:
    st.subheader("Next 12 months")
    st.plotly_chart(charts.growth(projections.growth_projection(inputs)), key="econ_growth")

st.subheader("Share this scenario")
name = st.text_input("Name (optional)", key="econ_save_name")
if st.button("Save scenario", key="econ_save"):
    with components.writing("saving a scenario") as con:
        sid = scenario_store.save(con, scenario, name or None)
    st.session_state["econ_saved_id"] = sid
if sid := st.session_state.get("econ_saved_id"):
    st.success("Saved. Send this link; it opens the same numbers in a fresh browser:")
    components.show_share_link(st, sid)
